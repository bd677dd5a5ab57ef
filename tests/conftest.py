import os
import subprocess
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

import npgrad


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed generator, and the global npgrad generator seeded too."""
    npgrad.manual_seed(0)
    return np.random.default_rng(0)


@pytest.fixture(params=[1, 3], ids=["1-thread", "3-threads"])
def threads(request, monkeypatch) -> int:
    """Run the test with npgrad's kernels on 1 thread, then split over 3 threads however small the work.

    With 3, every kernel that `npgrad._parallel` splits cuts its batch into up to three uneven
    pieces (a batch of 5: 1, 2 and 2 samples), so the test checks the pieces against its reference;
    matrix products split too (as they do once other kernels have run on the threads).
    """
    from npgrad import _parallel

    if request.param > 1 and not _parallel._blas_controllers():
        pytest.skip("threads need threadpoolctl")
    monkeypatch.setattr(_parallel, "MIN_PARALLEL_ELEMENTS", 0)
    monkeypatch.setattr(_parallel, "THREADS_SETTLE_S", float("inf"))
    before = _parallel.get_num_threads()
    _parallel.set_num_threads(request.param)
    yield request.param
    _parallel.set_num_threads(before)


SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture
def mpirun() -> Callable[..., subprocess.CompletedProcess]:
    """``mpirun(code, n=2)``: run Python ``code`` on ``n`` MPI ranks; fails the test unless every rank exits 0.

    Skips without mpi4py or an mpiexec. The ranks import this checkout's npgrad, one BLAS thread each.
    ``check=False`` returns the finished process whatever its status (for failure tests).
    """
    pytest.importorskip("mpi4py")
    from npgrad.distributed import find_mpiexec, mpiexec_command

    try:
        find_mpiexec()
    except FileNotFoundError as error:
        pytest.skip(str(error))

    def run(code: str, n: int = 2, check: bool = True, timeout: float = 60,
            argv: Sequence[str] = ()) -> subprocess.CompletedProcess:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]),
                   OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        command = mpiexec_command(n, ["-c", textwrap.dedent(code), *argv])
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
        if check and done.returncode != 0:
            pytest.fail(f"mpiexec -n {n} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}")
        return done

    return run
