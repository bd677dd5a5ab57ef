import datetime
import re
import subprocess
import sys
import time

import pytest

from npgrad import distributed as dist


def test_import_npgrad_never_imports_mpi4py():
    code = ("import sys, npgrad, npgrad.distributed, npgrad.nn, npgrad.data, npgrad.train, npgrad.cli; "
            "print('mpi4py' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_uninitialized_group_is_an_error():
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(ValueError, match="backend must be 'mpi'"):
        dist.init_process_group("gloo")


def test_bad_timeouts_are_errors_before_mpi_is_loaded(monkeypatch):
    with pytest.raises(ValueError, match="timeout must be positive"):
        dist.init_process_group(timeout=datetime.timedelta(0))
    with pytest.raises(TypeError, match="timeout must be a datetime.timedelta, got int"):
        dist.init_process_group(timeout=30)
    for text in ("soon", "0", "-5", "inf", "nan"):
        monkeypatch.setenv("NPGRAD_DIST_TIMEOUT", text)
        with pytest.raises(ValueError, match=f"NPGRAD_DIST_TIMEOUT must be a positive number of seconds, got '{text}'"):
            dist.init_process_group()
    assert not dist.is_initialized()


def test_mpiexec_command_names_this_python():
    pytest.importorskip("mpi4py")
    command = dist.mpiexec_command(3, ["-m", "npgrad", "train"])
    assert command[1:] == ["-n", "3", sys.executable, "-m", "npgrad", "train"]
    with pytest.raises(ValueError, match="nproc"):
        dist.mpiexec_command(0, [])


@pytest.mark.mpi
def test_world_of_one(mpirun):
    mpirun("""
        import numpy as np
        import npgrad.distributed as dist
        dist.init_process_group()
        assert (dist.get_rank(), dist.get_world_size()) == (0, 1)
        x = np.arange(4.0)
        dist.all_reduce(x, op="mean")
        dist.broadcast(x)
        assert x.tolist() == [0, 1, 2, 3]
        assert [a.tolist() for a in dist.all_gather(None, x)] == [[0, 1, 2, 3]]
    """, n=1)


@pytest.mark.mpi
def test_collectives_on_two_ranks(mpirun):
    mpirun("""
        import numpy as np
        import npgrad
        import npgrad.distributed as dist
        dist.init_process_group()
        rank, world = dist.get_rank(), dist.get_world_size()
        assert world == 2
        for dtype in (np.float32, np.float64, np.int32, np.int64):
            for shape in ((), (0,), (3,), (2, 3, 4)):
                base = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
                mine = np.array(base * (rank + 1), dtype=dtype)  # rank 0: base, rank 1: 2 base
                for op, expected in (("sum", 3 * base), ("max", 2 * base), ("min", base)):
                    x = mine.copy()
                    assert dist.all_reduce(x, op=op) is None
                    assert x.dtype == dtype and x.shape == shape and np.array_equal(x, expected), (dtype, shape, op, x)
                if np.issubdtype(dtype, np.floating):
                    x = mine.copy()
                    dist.all_reduce(x, op="mean")
                    assert np.array_equal(x, 1.5 * base), (dtype, shape, x)
                else:
                    try:
                        dist.all_reduce(mine.copy(), op="mean")
                    except TypeError as error:
                        assert "floating" in str(error)
                    else:
                        raise AssertionError("mean of integers accepted")
        # a Tensor, in place; a non-contiguous view; a non-blocking reduction
        t = npgrad.Tensor(np.full((2, 2), rank + 1.0, np.float32))
        data = t.data
        dist.all_reduce(t)
        assert t.data is data and t.data.tolist() == [[3, 3], [3, 3]]
        m = np.zeros((4, 4), np.float32)
        m[::2, ::2] = rank + 1
        dist.all_reduce(m[::2, ::2], op="max")
        assert m[::2, ::2].tolist() == [[2, 2], [2, 2]] and m[1::2].sum() == 0
        x = np.full(1000, float(rank), np.float64)
        work = dist.all_reduce(x, op="mean", async_op=True)
        work.wait()
        assert work.is_completed() and np.all(x == 0.5)
        # broadcast from either rank, all_gather into new arrays or into a list
        for src in (0, 1):
            b = np.full(3, rank, np.int64)
            dist.broadcast(b, src=src)
            assert b.tolist() == [src] * 3
        gathered = dist.all_gather(None, np.array([rank, 10 + rank], np.float32))
        assert [g.tolist() for g in gathered] == [[0, 10], [1, 11]]
        targets = [npgrad.zeros(2), npgrad.zeros(2)]
        dist.all_gather(targets, np.array([rank, 10 + rank], np.float32))
        assert [t.data.tolist() for t in targets] == [[0, 10], [1, 11]]
        try:
            dist.all_gather(None, np.zeros(rank + 1))
        except ValueError as error:
            assert "same shape" in str(error)
        else:
            raise AssertionError("all_gather of different shapes accepted")
        for bad in (lambda: dist.all_reduce([1.0]), lambda: dist.all_reduce(x, op="avg"), lambda: dist.broadcast(x, src=2)):
            try:
                bad()
            except (TypeError, ValueError):
                pass
            else:
                raise AssertionError("bad argument accepted")
        dist.barrier()
        print("ok", rank)
    """)


@pytest.mark.mpi
def test_a_failing_rank_ends_the_job(mpirun):
    start = time.monotonic()
    done = mpirun("""
        import numpy as np
        import npgrad.distributed as dist
        dist.init_process_group()
        if dist.get_rank() == 1:
            raise ValueError("boom on purpose")
        dist.all_reduce(np.zeros(3))   # rank 0 would wait here forever
    """, check=False, timeout=60)
    assert done.returncode != 0
    assert "rank 1 failed" in done.stderr and "boom on purpose" in done.stderr
    assert time.monotonic() - start < 30


@pytest.mark.mpi
def test_a_killed_rank_ends_the_job(mpirun):
    start = time.monotonic()
    done = mpirun("""
        import os, signal
        import numpy as np
        import npgrad.distributed as dist
        dist.init_process_group()
        if dist.get_rank() == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        dist.all_reduce(np.zeros(3))
    """, check=False, timeout=60)
    assert done.returncode != 0
    assert time.monotonic() - start < 30


@pytest.mark.mpi
@pytest.mark.parametrize("collective, expected", [
    ("dist.barrier()", "barrier"),
    ("dist.all_reduce(np.zeros(3), async_op=True).wait()", "all_reduce(op='sum')"),
    ("dist.broadcast(np.zeros(3), src=1)", "broadcast(src=1)"),
    ("dist.all_gather(None, np.zeros(3))", "all_gather"),
])
def test_a_stuck_rank_times_the_collective_out(mpirun, collective, expected):
    """Rank 1 never reaches the collective: rank 0 gives up after the timeout, names it, and aborts the job.

    (The blocking all_reduce: tests/cli/test_commands.py, a stuck rank in `npgrad train`.)"""
    start = time.monotonic()
    done = mpirun(f"""
        import datetime, time
        import numpy as np
        import npgrad.distributed as dist
        dist.init_process_group(timeout=datetime.timedelta(seconds=1.5))
        if dist.get_rank() == 1:
            time.sleep(120)
        {collective}
        print("passed the collective")
    """, check=False, timeout=60)
    assert done.returncode != 0 and "passed the collective" not in done.stdout
    # the watchdog looks every timeout / 10: it notices within 1.5-1.7 s
    assert re.search(rf"rank 0 of 2: {re.escape(expected)} timed out after 1\.[5-7] s \(timeout 0:00:01\.500000",
                     done.stderr), done.stderr
    assert "aborting the job" in done.stderr
    assert time.monotonic() - start < 30


@pytest.mark.mpi
def test_the_timeout_ends_the_job_below_mpi_thread_multiple(mpirun):
    """At MPI_THREAD_SERIALIZED the watchdog may not call MPI_Abort: it ends its own process, mpiexec the rest."""
    start = time.monotonic()
    done = mpirun("""
        import datetime, time
        import mpi4py
        mpi4py.rc.thread_level = "serialized"
        import numpy as np
        import npgrad.distributed as dist
        dist.init_process_group(timeout=datetime.timedelta(seconds=1.5))
        if dist.get_rank() == 1:
            time.sleep(120)
        dist.all_reduce(np.zeros(3))
        print("passed the collective")
    """, check=False, timeout=60)
    assert done.returncode != 0 and "passed the collective" not in done.stdout
    assert "rank 0 of 2: all_reduce(op='sum') timed out" in done.stderr, done.stderr
    assert time.monotonic() - start < 30
