"""Intra-op parallelism: npgrad's large kernels split their batch across threads of this process.

NumPy releases the GIL inside its ufunc loops, copies and BLAS calls, so T Python threads that
run NumPy on T disjoint pieces of an array keep T cores busy. A kernel hands `parallel_for` a
function of a range ``[lo, hi)`` of its work (samples of the batch, usually): the calling thread
runs the first range, T-1 persistent worker threads run the others, and the call returns the
results in range order once all are done. T is `get_num_threads`, set by `set_num_threads`
(PyTorch's names; ``npgrad.set_num_threads``).

BLAS inside the ranges runs one thread. OpenBLAS (NumPy's BLAS) splits a matrix product over its
own threads, and after a product its idle threads spin for up to about a second (measured on
OpenBLAS 0.3.31), holding the core a worker needs: a split sigmoid ran 0.78 ms on a fresh
process and 1.75 ms right after one 2-thread product. So `parallel_for` sets BLAS to one thread
for its duration (each range computes its own products) and restores the setting after, leaving
NumPy code outside npgrad's kernels as fast as before. Setting it costs about a microsecond
(threadpoolctl's controller, found once). Without threadpoolctl, npgrad runs on one thread and
leaves BLAS alone. The other way round, a large product of the user's own, on BLAS's threads,
leaves them spinning into npgrad's next kernels (for up to that second).

T defaults to the cores BLAS would use (``OMP_NUM_THREADS=1`` or ``OPENBLAS_NUM_THREADS=1``
keep npgrad on one core too), at most the cores this process may run on.

The work runs as one range in the calling thread when T is 1, when it is small (a hand-off
costs 15-60 microseconds), and inside a range (no nesting). Calls from several threads at once
take turns; a forked child process starts its own workers.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

R = TypeVar("R")

# Below this many elements touched, a hand-off to a worker (15-60 microseconds: waking it, then
# waiting for it; an empty call measured 55) costs more than it saves: a ReLU of (256, 512) ran 44 us inline, 105 split.
MIN_PARALLEL_ELEMENTS = 1 << 19

# How long after a call on npgrad's threads a matrix product still avoids BLAS's threads (``product``
# in `parallel_for`): OpenBLAS's idle threads spin for 0.5-1 s after a product (measured).
THREADS_SETTLE_S = 1.0

_lock = threading.Lock()
_last_split = -float("inf")  # time.monotonic() of the last call that ran on npgrad's threads
_state = threading.local()  # .inside: this thread is running a range
_num_threads: int | None = None  # None: not decided yet (from BLAS's setting, at first use)
_blas: list[Any] | None = None  # threadpoolctl's BLAS controllers; [] when threadpoolctl is missing
_workers: list[_Worker] = []


class _Worker:
    """A daemon thread that runs one job at a time from its queue and reports (ok, value) back."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="npgrad-worker", daemon=True).start()

    def _loop(self) -> None:
        _state.inside = True
        while True:
            job = self.jobs.get()
            try:
                self.results.put((True, job()))
            except BaseException as error:  # reported to the caller, which re-raises it
                self.results.put((False, error))


def _forget_workers() -> None:
    """In a forked child: the parent's worker threads do not exist there, so start afresh."""
    global _lock
    _workers.clear()
    _lock = threading.Lock()  # a parent thread may have held it at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def _blas_controllers() -> list[Any]:
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas = []
        else:
            _blas = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas


def get_num_threads() -> int:
    """The threads npgrad's kernels use (PyTorch's ``torch.get_num_threads``); 1 without threadpoolctl."""
    global _num_threads
    if _num_threads is None:
        blas = _blas_controllers()
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        _num_threads = max(1, min(cores, max((c.num_threads for c in blas), default=1)))
    return _num_threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in npgrad's kernels from now on (PyTorch's ``torch.set_num_threads``).

    ``n`` >= 1; with 1 every kernel runs in the calling thread and BLAS keeps its own threads.
    Without threadpoolctl, only 1 is possible (BLAS's threads could not be held back).
    """
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive integer, got {n!r}")
    if n > 1 and not _blas_controllers():
        raise RuntimeError("set_num_threads: more than one thread needs threadpoolctl (pip install threadpoolctl)")
    _num_threads = n


def ranges(n: int, parts: int) -> list[tuple[int, int]]:
    """[0, n) cut into ``parts`` contiguous ranges as equal as possible (none empty; fewer if n < parts)."""
    parts = max(1, min(parts, n))
    return [(n * k // parts, n * (k + 1) // parts) for k in range(parts)]


def parallel_for(n: int, fn: Callable[[int, int], R], work: int | None = None, product: bool = False) -> list[R]:
    """``[fn(lo, hi) for (lo, hi) in ranges(n, T)]``, the ranges run on T threads at once, BLAS at one thread.

    ``work`` is the number of elements the whole call touches (default n): below
    `MIN_PARALLEL_ELEMENTS` everything runs in the calling thread as one range, ``[fn(0, n)]``
    (still with BLAS at one thread when T > 1, so that its threads never spin). The ranges must
    write disjoint memory. An exception in any range is raised here, after all have finished.

    ``product``: ``fn`` is one matrix product cut into pieces (rows, columns or batch), which BLAS's own threads
    compute faster than T single-threaded pieces (they share the packed operands: 12-15% faster for
    a linear layer's 256x784x512 product, batch 256). It then runs as ``[fn(0, n)]`` on BLAS's
    threads, unless some call ran on npgrad's threads within `THREADS_SETTLE_S` (BLAS's threads
    would be left spinning into the next one's, as above): whichever ran last keeps the cores.
    """
    global _last_split
    threads = get_num_threads()
    if threads == 1 or getattr(_state, "inside", False):
        return [fn(0, n)]
    if product and time.monotonic() - _last_split > THREADS_SETTLE_S:
        return [fn(0, n)]
    small = n < 2 or (n if work is None else work) < MIN_PARALLEL_ELEMENTS
    spans = [(0, n)] if small else ranges(n, threads)
    jobs = len(spans) - 1
    with _lock:  # one call at a time: the workers and the BLAS setting are shared
        while len(_workers) < jobs:
            _workers.append(_Worker())
        blas = _blas_controllers()
        saved = [c.num_threads for c in blas]
        for controller in blas:
            controller.set_num_threads(1)
        try:
            for worker, (lo, hi) in zip(_workers, spans[1:]):
                worker.jobs.put(lambda lo=lo, hi=hi: fn(lo, hi))
            _state.inside = True
            try:
                first: tuple[bool, Any] = (True, fn(*spans[0]))
            except BaseException as error:
                first = (False, error)
            finally:
                _state.inside = False
            outcomes = [first] + [worker.results.get() for worker in _workers[:jobs]]
        finally:
            for controller, count in zip(blas, saved):
                controller.set_num_threads(count)
            if jobs:
                _last_split = time.monotonic()
    for ok, value in outcomes:
        if not ok:
            raise value
    return [value for _, value in outcomes]


def map_batch(fn: Callable[..., object], out: Any, *inputs: Any) -> Any:
    """``fn(out[lo:hi], *(a[lo:hi] for a in inputs))`` over ranges of axis 0, in parallel; returns ``out``.

    For kernels that are independent along axis 0 (elementwise passes, per-sample pooling):
    ``out`` and every input share that axis. 0-d arrays run as one call.
    """
    if np.ndim(out) == 0:
        fn(out, *inputs)
        return out
    work = out.size + sum(np.size(a) for a in inputs)
    parallel_for(len(out), lambda lo, hi: fn(out[lo:hi], *(a[lo:hi] for a in inputs)), work=work)
    return out
