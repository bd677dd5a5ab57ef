import threading

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


def test_invalid_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_dataset(), batch_size=0)
    with pytest.raises(ValueError, match="prefetch"):
        DataLoader(_dataset(), prefetch=-1)
