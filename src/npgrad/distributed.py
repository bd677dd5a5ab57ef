"""Collective communication over MPI (mpi4py): what data-parallel training needs, PyTorch-shaped.

    mpiexec -n 4 python train.py          # every process runs the same script

    import npgrad.distributed as dist
    dist.init_process_group()             # the world is MPI's COMM_WORLD
    dist.get_rank(), dist.get_world_size()
    dist.all_reduce(grad, op="mean")      # in place, on an ndarray or a Tensor's data
    dist.broadcast(weights, src=0)

mpi4py is imported by `init_process_group` only: ``import npgrad`` and ``import
npgrad.distributed`` never load MPI, and a process that never calls `init_process_group` stays a
plain single process. The collectives work in place on NumPy arrays or on the ``data`` of npgrad
Tensors (no autograd: they are for gradients, buffers and metrics). Differences from PyTorch:
ops are strings (``"sum"``, ``"mean"``, ``"max"``, ``"min"``), there is one backend (MPI) and one
group (the world).

Failure: `init_process_group` installs an exception hook that aborts the whole MPI job when a
rank dies of an uncaught exception, so the other ranks do not wait forever in a collective. A rank
that is stuck instead (an endless loop, a dead disk, a deadlock before a collective) is caught by
the timeout: every collective waits at most ``timeout`` (PyTorch's default, 30 minutes; the
``NPGRAD_DIST_TIMEOUT`` environment variable, in seconds, sets it for a launch, e.g.
``NPGRAD_DIST_TIMEOUT=120 mpiexec -n 4 npgrad train ...``) for the other ranks, then prints which
rank timed out in which collective and aborts the job (``MPI_Abort``). The collectives are MPI's
own blocking calls (``Allreduce``, ``Bcast``, ``Allgather``, ``Barrier``; ``Iallreduce`` + ``Wait``
for ``async_op``), so MPI makes progress at full speed while a rank waits; the timeout is kept by
a watchdog thread that wakes every ``timeout / 10`` (at most every second) and aborts the job when
the collective in progress started longer than ``timeout`` ago. It needs MPI's
``MPI_THREAD_MULTIPLE`` (mpi4py's default) to call ``MPI_Abort`` while the main thread is inside
MPI; at a lower thread level it ends its own process instead (``mpiexec`` then ends the others).
"""

from __future__ import annotations

import datetime
import os
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from npgrad.tensor import Tensor

OPS = ("sum", "mean", "max", "min")

_comm: Any = None  # mpi4py's COMM_WORLD once initialised
_MPI: Any = None

DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)  # PyTorch's default_pg_timeout
TIMEOUT_VARIABLE = "NPGRAD_DIST_TIMEOUT"
_timeout_s = DEFAULT_TIMEOUT.total_seconds()
_WATCH_PERIOD_MAX_S = 1.0  # the watchdog's longest sleep: what a timeout can be overrun by
_in_progress: tuple[str, float] | None = None  # (collective, time.monotonic() at its start) while one runs
_FORWARD_S = 0.5  # MPI_Abort can kill mpiexec before it has forwarded the last lines the ranks wrote


def _import_mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as error:  # mpi4py absent, or present without an MPI library to load
        raise ImportError(
            "npgrad.distributed needs mpi4py and an MPI library: pip install 'npgrad[distributed]' "
            f"(mpi4py and the mpich wheel), or mpi4py built against your system MPI ({error})"
        ) from error
    return MPI


def _resolve_timeout(timeout: datetime.timedelta | None) -> float:
    """Seconds: ``timeout``, else the ``NPGRAD_DIST_TIMEOUT`` environment variable, else 30 minutes."""
    if timeout is None:
        text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
        if not text:
            return DEFAULT_TIMEOUT.total_seconds()
        try:
            seconds = float(text)
        except ValueError:
            seconds = float("nan")
        if not seconds > 0 or seconds == float("inf"):
            raise ValueError(f"init_process_group: the environment variable {TIMEOUT_VARIABLE} must be a positive "
                             f"number of seconds, got {text!r}")
        return seconds
    if not isinstance(timeout, datetime.timedelta):
        raise TypeError(f"init_process_group: timeout must be a datetime.timedelta, got {type(timeout).__name__}")
    if timeout.total_seconds() <= 0:
        raise ValueError(f"init_process_group: timeout must be positive, got {timeout}")
    return timeout.total_seconds()


def init_process_group(backend: str = "mpi", timeout: datetime.timedelta | None = None) -> None:
    """Join the world of the processes started by ``mpiexec`` (one process alone is a world of 1).

    ``timeout``: how long any collective waits for the other ranks before this rank prints which
    collective timed out and aborts the job; default the ``NPGRAD_DIST_TIMEOUT`` environment
    variable (seconds), else 30 minutes as in PyTorch. Idempotent (a second call changes nothing).
    Installs an exception hook that prints the traceback with the rank and calls ``MPI_Abort``,
    so one failing rank ends the job instead of leaving the others blocked.
    """
    global _comm, _MPI, _timeout_s
    if backend != "mpi":
        raise ValueError(f"init_process_group: backend must be 'mpi' (the only one npgrad has), got {backend!r}")
    if _comm is not None:
        return
    _timeout_s = _resolve_timeout(timeout)
    _MPI = _import_mpi()
    _comm = _MPI.COMM_WORLD
    if _comm.Get_size() > 1:
        previous = sys.excepthook

        def abort_job(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
            if _comm is None:  # the group was destroyed: nothing to abort
                previous(kind, value, tb)
                return
            sys.stderr.write(f"npgrad.distributed: rank {_comm.Get_rank()} failed:\n")
            sys.stderr.write("".join(traceback.format_exception(kind, value, tb)))
            abort(1)

        sys.excepthook = abort_job
        multiple = _MPI.Query_thread() == _MPI.THREAD_MULTIPLE
        threading.Thread(target=_watch, args=(_timeout_s, multiple), name="npgrad-dist-watchdog", daemon=True).start()


# What mpiexec tells its processes, read without loading MPI: MPICH / Intel MPI (PMI), Open MPI.
_WORLD_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")


def launched_world_size() -> int:
    """The number of processes ``mpiexec`` started this one among (1 when not under ``mpiexec``). No MPI import."""
    for name in _WORLD_SIZE_VARIABLES:
        value = os.environ.get(name)
        if value and value.isdigit():
            return int(value)
    return 1


def destroy_process_group() -> None:
    """Forget the world (MPI itself is finalised at exit by mpi4py)."""
    global _comm
    _comm = None


def abort(code: int = 1) -> None:
    """End every process of the job (``MPI_Abort``), e.g. after an error on this rank alone.

    Flushes this process's output and waits half a second first, so that ``mpiexec`` forwards
    what was just printed (the reason for the abort) before it kills the job.
    """
    comm = _world()
    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(_FORWARD_S)
    comm.Abort(code)


def is_available() -> bool:
    """True when mpi4py and an MPI library can be imported (imports them to find out)."""
    try:
        _import_mpi()
    except ImportError:
        return False
    return True


def is_initialized() -> bool:
    """True after `init_process_group`. Never imports mpi4py."""
    return _comm is not None


def _world() -> Any:
    if _comm is None:
        raise RuntimeError("npgrad.distributed: the process group is not initialized; call init_process_group() first")
    return _comm


def get_rank() -> int:
    """This process's rank, 0 .. world size - 1."""
    return _world().Get_rank()


def get_world_size() -> int:
    """The number of processes."""
    return _world().Get_size()


def barrier() -> None:
    """Wait until every rank has reached this call."""
    comm = _world()
    if comm.Get_size() > 1:
        _call("barrier", comm.Barrier)


def _call(collective: str, blocking: Any, *args: Any, **kwargs: Any) -> Any:
    """``blocking(*args, **kwargs)``, an MPI call that waits for the other ranks, under the watchdog's timeout."""
    global _in_progress
    _in_progress = (collective, time.monotonic())
    try:
        return blocking(*args, **kwargs)
    finally:
        _in_progress = None


def _watch(timeout: float, can_abort: bool) -> None:
    """The watchdog thread's loop: end the job once a collective has been in progress longer than ``timeout``."""
    period = min(_WATCH_PERIOD_MAX_S, timeout / 10)
    while True:
        time.sleep(period)
        current = _in_progress  # one read: the main thread may replace it meanwhile
        if current is None or _comm is None:
            continue
        collective, start = current
        waited = time.monotonic() - start
        if waited > timeout:
            _time_out(collective, waited, can_abort)


def _time_out(collective: str, waited: float, can_abort: bool) -> None:
    sys.stderr.write(
        f"npgrad.distributed: rank {_comm.Get_rank()} of {_comm.Get_size()}: {collective} timed out after "
        f"{waited:.1f} s (timeout {datetime.timedelta(seconds=_timeout_s)}, set by init_process_group(timeout=...) "
        f"or {TIMEOUT_VARIABLE}=seconds): another rank never reached it (stuck, or far slower); aborting the job\n")
    if can_abort:
        abort(1)
    sys.stderr.flush()  # MPI_Abort from this thread is not allowed below MPI_THREAD_MULTIPLE: mpiexec ends the others
    time.sleep(_FORWARD_S)
    os._exit(1)


def _array(x: Any, name: str) -> np.ndarray:
    array = x.data if isinstance(x, Tensor) else x
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray or an npgrad Tensor (changed in place), got {type(x).__name__}")
    return array


def _mpi_op(op: str, name: str) -> Any:
    if op not in OPS:
        raise ValueError(f"{name}: op must be one of {', '.join(map(repr, OPS))}, got {op!r}")
    return {"sum": _MPI.SUM, "mean": _MPI.SUM, "max": _MPI.MAX, "min": _MPI.MIN}[op]


class Work:
    """The handle of a non-blocking collective (``async_op=True``): ``wait()`` completes it."""

    def __init__(self, request: Any, collective: str = "", finish: Any = None):
        self._request, self._collective, self._finish = request, collective, finish

    def wait(self) -> None:
        """Block until done (aborting the job after the group's timeout, as every collective does)."""
        if self._request is not None:
            _call(self._collective, self._request.Wait)
            self._request = None
            if self._finish is not None:
                self._finish()

    def is_completed(self) -> bool:
        return self._request is None or bool(self._request.Test())


def all_reduce(x: Any, op: str = "sum", async_op: bool = False) -> Work | None:
    """Reduce ``x`` (an ndarray or a Tensor, changed in place) over all ranks: every rank gets the result.

    ``op``: ``"sum"``, ``"mean"`` (the sum divided by the world size; floating dtypes only),
    ``"max"`` or ``"min"``. With ``async_op`` returns a `Work` at once (MPI ``Iallreduce``);
    ``x`` holds the result after its ``wait()``. A non-contiguous array goes through a copy.
    """
    comm = _world()
    array = _array(x, "all_reduce")
    mpi_op = _mpi_op(op, "all_reduce")
    if op == "mean" and not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"all_reduce: op='mean' needs a floating array, got dtype {array.dtype}")
    buffer = array if array.flags.c_contiguous else np.ascontiguousarray(array)
    world = comm.Get_size()

    def finish() -> None:
        if op == "mean" and world > 1:
            buffer[...] /= world
        if buffer is not array:
            array[...] = buffer

    if world == 1:
        finish()
        return Work(None) if async_op else None
    collective = f"all_reduce(op={op!r})"
    if async_op:
        return Work(comm.Iallreduce(_MPI.IN_PLACE, buffer, op=mpi_op), collective, finish)
    _call(collective, comm.Allreduce, _MPI.IN_PLACE, buffer, op=mpi_op)
    finish()
    return None


def broadcast(x: Any, src: int = 0) -> None:
    """Overwrite ``x`` (an ndarray or a Tensor, in place) on every rank with rank ``src``'s values.

    Shapes and dtypes must agree across ranks (they are not sent).
    """
    comm = _world()
    array = _array(x, "broadcast")
    if not 0 <= src < comm.Get_size():
        raise ValueError(f"broadcast: src must be a rank in 0..{comm.Get_size() - 1}, got {src}")
    if comm.Get_size() == 1:
        return
    buffer = array if array.flags.c_contiguous else np.ascontiguousarray(array)
    _call(f"broadcast(src={src})", comm.Bcast, buffer, root=src)
    if buffer is not array:
        array[...] = buffer


_DESCRIPTION_BYTES = 256  # "shape dtype" of an all_gather's array, sent first to check the ranks agree


def all_gather(tensor_list: list[Any] | None, x: Any) -> list[np.ndarray]:
    """Every rank's ``x`` (same shape and dtype on all ranks), in rank order.

    PyTorch's signature: when ``tensor_list`` is a list of world-size arrays or Tensors of ``x``'s
    shape they are filled in place; pass None to get new arrays. Returns the arrays.
    """
    comm = _world()
    array = np.ascontiguousarray(_array(x, "all_gather"))
    description = f"{array.shape} {array.dtype.str}".encode()
    if len(description) > _DESCRIPTION_BYTES:
        raise ValueError(f"all_gather: an array of {array.ndim} dimensions and dtype {array.dtype} is not supported")
    descriptions = np.zeros((comm.Get_size(), _DESCRIPTION_BYTES), np.uint8)
    descriptions[comm.Get_rank(), :len(description)] = np.frombuffer(description, np.uint8)
    _call("all_gather", comm.Allgather, _MPI.IN_PLACE, descriptions)
    if (descriptions != descriptions[0]).any():
        got = [bytes(d).rstrip(b"\0").decode() for d in descriptions]
        raise ValueError(f"all_gather: every rank must pass the same shape and dtype, got {got}")
    gathered = np.empty((comm.Get_size(), *array.shape), dtype=array.dtype)
    _call("all_gather", comm.Allgather, array, gathered)
    if tensor_list is None:
        return list(gathered)
    if len(tensor_list) != len(gathered):
        raise ValueError(f"all_gather: tensor_list must have one entry per rank ({len(gathered)}), got {len(tensor_list)}")
    targets = [_array(t, "all_gather") for t in tensor_list]
    for target, values in zip(targets, gathered):
        if target.shape != values.shape:
            raise ValueError(f"all_gather: tensor_list entries must have shape {values.shape}, got {target.shape}")
        target[...] = values
    return targets


def find_mpiexec() -> str:
    """The ``mpiexec`` to launch with: the one installed next to this Python (the mpich wheel's), else PATH's."""
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.is_file() else shutil.which("mpiexec")
    if found is None:
        raise FileNotFoundError(
            "no mpiexec found (next to the Python interpreter or on PATH): pip install 'npgrad[distributed]' "
            "for the mpich wheel, or load your cluster's MPI"
        )
    return found


def mpiexec_command(nproc: int, argv: Sequence[str]) -> list[str]:
    """``mpiexec -n nproc <this python> argv...``: the command that starts ``nproc`` ranks on this machine."""
    if nproc < 1:
        raise ValueError(f"mpiexec_command: nproc must be >= 1, got {nproc}")
    return [find_mpiexec(), "-n", str(nproc), sys.executable, *argv]
