import multiprocessing
import threading

import numpy as np
import pytest

import npgrad
from npgrad import _parallel


@pytest.mark.parametrize("n, parts, expected", [
    (10, 2, [(0, 5), (5, 10)]),
    (5, 3, [(0, 1), (1, 3), (3, 5)]),
    (2, 3, [(0, 1), (1, 2)]),
    (1, 4, [(0, 1)]),
    (0, 2, [(0, 0)]),
])
def test_ranges_cover_the_work_in_order_without_empty_pieces(n, parts, expected):
    assert _parallel.ranges(n, parts) == expected


def test_parallel_for_runs_every_range_on_its_own_thread_and_keeps_the_order(threads):
    seen = []

    def record(lo, hi):
        seen.append(threading.get_ident())
        return lo, hi

    assert _parallel.parallel_for(5, record) == _parallel.ranges(5, threads)
    assert len(set(seen)) == min(threads, 5)


def test_small_work_runs_inline_as_one_range(monkeypatch):
    if not _parallel._blas_controllers():
        pytest.skip("threads need threadpoolctl")
    monkeypatch.setattr(_parallel, "_num_threads", 2)
    assert _parallel.parallel_for(1000, lambda lo, hi: (lo, hi), work=_parallel.MIN_PARALLEL_ELEMENTS - 1) == [(0, 1000)]
    assert len(_parallel.parallel_for(1000, lambda lo, hi: (lo, hi), work=_parallel.MIN_PARALLEL_ELEMENTS)) == 2


def test_a_product_runs_on_blas_threads_unless_npgrad_threads_ran_within_the_settle_time(monkeypatch):
    blas = _parallel._blas_controllers()
    if not blas:
        pytest.skip("threads need threadpoolctl")
    monkeypatch.setattr(_parallel, "_num_threads", 2)
    monkeypatch.setattr(_parallel, "_last_split", -float("inf"))
    counts = [c.num_threads for c in blas]

    def product(lo, hi):
        return lo, hi, [c.num_threads for c in blas]

    assert _parallel.parallel_for(8, product, work=10**9, product=True) == [(0, 8, counts)]  # BLAS's own threads
    _parallel.parallel_for(8, lambda lo, hi: None, work=10**9)  # a kernel on npgrad's threads
    assert _parallel.parallel_for(8, product, work=10**9, product=True) == [(0, 4, [1] * len(blas)), (4, 8, [1] * len(blas))]
    monkeypatch.setattr(_parallel, "THREADS_SETTLE_S", 0.0)
    assert _parallel.parallel_for(8, product, work=10**9, product=True) == [(0, 8, counts)]


def test_an_exception_in_any_range_is_raised_after_all_ranges_finish(threads):
    finished = []

    def fail_last(lo, hi):
        if hi == 5:
            raise ValueError(f"range {lo}:{hi}")
        finished.append(lo)

    with pytest.raises(ValueError, match="range .*:5"):
        _parallel.parallel_for(5, fail_last)
    assert len(finished) == len(_parallel.ranges(5, threads)) - 1
    assert _parallel.parallel_for(2, lambda lo, hi: (lo, hi)) == _parallel.ranges(2, threads)  # the pool still works


def test_nested_calls_run_inline(threads):
    inner = _parallel.parallel_for(4, lambda lo, hi: _parallel.parallel_for(6, lambda a, b: (a, b)))
    assert inner == [[(0, 6)]] * len(_parallel.ranges(4, threads))


def test_blas_runs_one_thread_inside_the_ranges_and_is_restored_after(threads):
    blas = _parallel._blas_controllers()
    if not blas:
        pytest.skip("needs threadpoolctl")
    before = [c.num_threads for c in blas]
    inside = _parallel.parallel_for(3, lambda lo, hi: [c.num_threads for c in blas])
    assert all(counts == [1] * len(blas) for counts in inside) if threads > 1 else inside == [before]
    assert [c.num_threads for c in blas] == before


def test_map_batch_splits_axis_0_of_the_output_and_inputs(threads):
    x = np.arange(35.0).reshape(7, 5)
    out = _parallel.map_batch(lambda out, x, y: np.add(x, y, out=out), np.empty_like(x), x, 2 * x)
    np.testing.assert_array_equal(out, 3 * x)


def test_map_batch_of_a_0d_array_is_one_call(threads):
    assert npgrad.relu(npgrad.tensor(-2.0)).item() == 0.0 and npgrad.sigmoid(npgrad.tensor(0.0)).item() == 0.5


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "2"])
def test_set_num_threads_rejects_what_is_not_a_positive_integer(n):
    with pytest.raises(ValueError, match="positive integer"):
        npgrad.set_num_threads(n)


def test_num_threads_round_trip():
    before = npgrad.get_num_threads()
    try:
        npgrad.set_num_threads(1)
        assert npgrad.get_num_threads() == 1
    finally:
        npgrad.set_num_threads(before)
    assert before >= 1


def _split_in_child(queue):
    queue.put(_parallel.parallel_for(4, lambda lo, hi: (lo, hi), work=10**9))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_forked_child_starts_its_own_workers(threads):
    _parallel.parallel_for(4, lambda lo, hi: None, work=10**9)  # the parent's workers exist now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_split_in_child, args=(queue,))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0, "the child hung or failed"
    assert queue.get(timeout=5) == _parallel.ranges(4, threads)


def test_after_a_fork_the_child_has_no_workers_and_an_unheld_lock(monkeypatch):
    """What `os.register_at_fork` runs in the child: a lock another parent thread held at the fork stays held there."""
    monkeypatch.setattr(_parallel, "_workers", [object()])
    held = threading.Lock()
    held.acquire()
    monkeypatch.setattr(_parallel, "_lock", held)
    _parallel._forget_workers()
    assert _parallel._workers == [] and _parallel._lock is not held and not _parallel._lock.locked()
