import gc
import os
import threading
import time
import tracemalloc

import numpy as np
import pytest

from npgrad.data import Compose, DataLoader, Dataset, RandomCrop, RandomHorizontalFlip, TensorDataset, ToFloat


def _dataset(n: int = 10) -> TensorDataset:
    """Image i is filled with the value i, so a batch's first pixels spell out its indices."""
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 1, 3, 3)).copy()
    return TensorDataset(images, np.arange(n) % 4)


def _order(loader: DataLoader) -> list[int]:
    return [int(v) for x, _ in loader for v in np.rint(x[:, 0, 0, 0] * 255)]


class ItemDataset(Dataset):
    """Items only (no get_batch); ``shapes`` gives each image's (H, W)."""

    def __init__(self, shapes, fail_at=None):
        self.shapes, self.fail_at = shapes, fail_at

    def __len__(self):
        return len(self.shapes)

    def __getitem__(self, i):
        if i == self.fail_at:
            raise RuntimeError(f"item {i} is broken")
        return np.full((1, *self.shapes[i]), i, dtype=np.uint8), i % 2


@pytest.mark.parametrize("prefetch", [0, 2])
def test_batches_in_order_with_partial_last_batch(prefetch):
    loader = DataLoader(_dataset(10), batch_size=4, prefetch=prefetch)
    batches = list(loader)
    assert len(loader) == 3 and [len(x) for x, _ in batches] == [4, 4, 2]
    x, y = batches[0]
    assert x.dtype == np.float32 and x.shape == (4, 1, 3, 3) and y.dtype == np.int64
    assert np.allclose(x[:, 0, 0, 0], np.arange(4) / 255) and y.tolist() == [0, 1, 2, 3]
    assert _order(loader) == list(range(10))


def test_drop_last():
    loader = DataLoader(_dataset(10), batch_size=4, drop_last=True)
    assert len(loader) == 2 and [len(x) for x, _ in loader] == [4, 4]
    assert len(DataLoader(_dataset(3), batch_size=4, drop_last=True)) == 0
    assert list(DataLoader(_dataset(3), batch_size=4, drop_last=True)) == []


def test_shuffle_is_a_permutation_reproducible_per_epoch():
    a = DataLoader(_dataset(20), batch_size=6, shuffle=True, seed=3)
    epoch0, epoch1 = _order(a), _order(a)  # each iteration runs the next epoch
    assert sorted(epoch0) == list(range(20)) and sorted(epoch1) == list(range(20))
    assert epoch0 != epoch1 and epoch0 != list(range(20))
    b = DataLoader(_dataset(20), batch_size=6, shuffle=True, seed=3)
    b.set_epoch(1)  # epoch 1 directly, without running epoch 0 first
    assert _order(b) == epoch1
    assert _order(DataLoader(_dataset(20), batch_size=6, shuffle=True, seed=4)) != epoch0


def test_state_dict_resumes_the_next_epoch():
    a = DataLoader(_dataset(20), batch_size=5, shuffle=True)  # seed drawn from OS entropy
    _order(a)
    state = a.state_dict()
    assert state["epoch"] == 1
    expected = _order(a)
    b = DataLoader(_dataset(20), batch_size=5, shuffle=True)
    b.load_state_dict(state)
    assert _order(b) == expected


@pytest.mark.parametrize("prefetch", [0, 1, 3])
def test_augmentation_is_reproducible_and_independent_of_prefetch(prefetch):
    images = np.random.default_rng(0).integers(0, 256, (9, 1, 5, 5), dtype=np.uint8)
    ds = TensorDataset(images, np.zeros(9, dtype=np.int64))
    augment = Compose([RandomCrop(5, padding=1), RandomHorizontalFlip(), ToFloat()])

    def run(pf):
        loader = DataLoader(ds, batch_size=4, shuffle=True, seed=11, transform=augment, prefetch=pf)
        return [np.concatenate([x for x, _ in loader]) for _ in range(2)]

    reference = run(0)
    assert not np.array_equal(reference[0], reference[1])  # epochs differ
    assert all(np.array_equal(r, o) for r, o in zip(reference, run(prefetch)))


def test_given_transform_replaces_to_float():
    x, _ = next(iter(DataLoader(_dataset(4), batch_size=4, transform=lambda batch, rng: batch)))
    assert x.dtype == np.uint8 and x[:, 0, 0, 0].tolist() == [0, 1, 2, 3]


def test_item_datasets_are_stacked():
    ds = ItemDataset([(2, 3)] * 5)
    batches = list(DataLoader(ds, batch_size=2, prefetch=0))
    assert [x.shape for x, _ in batches] == [(2, 1, 2, 3), (2, 1, 2, 3), (1, 1, 2, 3)]
    assert batches[1][1].tolist() == [0, 1] and batches[1][1].dtype == np.int64
    assert np.allclose(batches[2][0], 4 / 255)


def test_images_of_different_shapes_cannot_be_batched():
    loader = DataLoader(ItemDataset([(2, 3), (2, 3), (4, 4)]), batch_size=3)
    with pytest.raises(ValueError, match=r"shapes \(1, 2, 3\) and \(1, 4, 4\) \(dataset items 0 and 2\).*image_size"):
        next(iter(loader))


def test_errors_in_the_prefetch_thread_reach_the_consumer():
    loader = DataLoader(ItemDataset([(1, 1)] * 8, fail_at=5), batch_size=2, prefetch=2)
    with pytest.raises(RuntimeError, match="item 5 is broken"):
        list(loader)


def test_abandoned_iteration_stops_the_prefetch_thread():
    before = threading.active_count()
    it = iter(DataLoader(_dataset(50), batch_size=1, prefetch=2))
    next(it)
    assert threading.active_count() == before + 1
    it.close()
    assert threading.active_count() == before


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class _Holder:
    """An object in a reference cycle: only the garbage collector frees it (and the iterator it holds)."""

    def __init__(self, it):
        self.it, self.me = it, self


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="RSS read from /proc")
def test_many_abandoned_iterators_leak_no_threads_and_no_memory():
    # 3 MiB float32 batches: keeping those of each abandoned iterator's queue would add 300 MiB or more
    loader = DataLoader(TensorDataset(np.zeros((64, 3, 64, 64), np.uint8), np.zeros(64, np.int64)), batch_size=16)
    threads = threading.active_count()
    traced, rss = {}, {}
    tracemalloc.start()
    try:
        for k in range(201):
            it = iter(loader)
            for _ in range(k % 4):  # dropped before the first batch, after one, mid-epoch, at the last
                next(it)
            if k % 5 == 0:
                it = _Holder(it)  # freed by the garbage collector, not when the name is rebound
            if k in (20, 100, 200):
                gc.collect()
                traced[k], rss[k] = tracemalloc.get_traced_memory()[0], _rss_mb()
    finally:
        tracemalloc.stop()
    assert threading.active_count() == threads
    # What NumPy and Python still hold: measured +1 kB from iterator 20 to 200 (one kept batch: 3 MiB).
    assert traced[200] - traced[20] < 2**20, traced
    # RSS never shrinks (npgrad keeps freed memory, and iterators in cycles wait for the collector): it rose to
    # a plateau, +1.5 MiB from iterator 100 to 200 (and 6 MiB over the next 800)
    assert rss[200] - rss[100] < 16, rss


def test_abandoning_an_iterator_does_not_wait_for_the_worker():
    loader = DataLoader(_dataset(50), batch_size=1, prefetch=2)
    waits = []
    for _ in range(10):
        it = iter(loader)
        next(it)
        time.sleep(0.02)  # the worker has filled the queue and waits to hand over the next batch
        start = time.perf_counter()
        del it
        waits.append(time.perf_counter() - start)
    # waiting out the worker's 0.1 s put timeout took 73-85 ms each; emptying the queue wakes it (0.2-3 ms)
    assert sum(waits) < 0.4, waits


def test_invalid_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_dataset(), batch_size=0)
    with pytest.raises(ValueError, match="prefetch"):
        DataLoader(_dataset(), prefetch=-1)
