import numpy as np
import pytest

from npgrad.data import Dataset, Subset, TensorDataset, random_split


def _images(n: int) -> np.ndarray:
    return np.arange(n * 4, dtype=np.uint8).reshape(n, 1, 2, 2)


class ListDataset(Dataset):
    """A dataset without get_batch."""

    classes = ["a", "b"]

    def __init__(self, n: int) -> None:
        self.images = _images(n)
        self.targets = np.arange(n) % 2

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i], int(self.targets[i])


def test_tensor_dataset_items_and_get_batch():
    ds = TensorDataset(_images(5), [0, 1, 2, 1, 0], classes=["x", "y", "z"])
    image, label = ds[3]
    assert np.array_equal(image, _images(5)[3]) and label == 1 and isinstance(label, int)
    assert len(ds) == 5 and ds.class_to_idx == {"x": 0, "y": 1, "z": 2}
    images, labels = ds.get_batch(np.array([4, 0, 3]))
    assert np.array_equal(images, _images(5)[[4, 0, 3]])
    assert labels.dtype == np.int64 and labels.tolist() == [0, 0, 1]


def test_tensor_dataset_unlabelled_yields_minus_one():
    ds = TensorDataset(_images(3))
    assert ds.targets is None and ds[1][1] == -1
    assert ds.get_batch([0, 2])[1].tolist() == [-1, -1]


def test_tensor_dataset_rejects_bad_targets():
    with pytest.raises(ValueError, match="3 integer labels"):
        TensorDataset(_images(3), [0, 1])
    with pytest.raises(ValueError, match="3 integer labels"):
        TensorDataset(_images(3), [0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="label 2 outside the known classes 0..1"):
        TensorDataset(_images(3), [0, 2, 1], classes=["a", "b"])


def test_subset_maps_indices_and_forwards_get_batch():
    base = TensorDataset(_images(6), [0, 1, 0, 1, 0, 1], classes=["a", "b"])
    sub = Subset(base, [5, 2, 3])
    assert len(sub) == 3 and sub.classes == ["a", "b"] and sub.targets.tolist() == [1, 0, 1]
    assert np.array_equal(sub[0][0], base[5][0])
    images, labels = sub.get_batch([2, 0])
    assert np.array_equal(images, _images(6)[[3, 5]]) and labels.tolist() == [1, 1]
    nested = Subset(sub, [1])
    assert np.array_equal(nested.get_batch([0])[0], _images(6)[[2]])


def test_subset_without_get_batch_in_base_has_none():
    sub = Subset(ListDataset(4), [3, 1])
    assert not hasattr(sub, "get_batch")
    assert sub[0][1] == 1 and sub.targets.tolist() == [1, 1]


def test_subset_rejects_out_of_range_indices():
    with pytest.raises(IndexError, match=r"\[0, 4\)"):
        Subset(ListDataset(4), [0, 4])


def test_random_split_partitions_reproducibly():
    ds = TensorDataset(_images(10), np.arange(10) % 3)
    parts = random_split(ds, [6, 3, 1], seed=7)
    assert [len(p) for p in parts] == [6, 3, 1]
    everything = np.concatenate([p.indices for p in parts])
    assert sorted(everything.tolist()) == list(range(10))
    again = random_split(ds, [6, 3, 1], seed=7)
    assert all(np.array_equal(a.indices, b.indices) for a, b in zip(parts, again))
    other = random_split(ds, [6, 3, 1], seed=8)
    assert not np.array_equal(parts[0].indices, other[0].indices)


def test_random_split_fractions_deal_the_remainder():
    assert [len(p) for p in random_split(TensorDataset(_images(11)), [0.5, 0.5], seed=0)] == [6, 5]
    assert [len(p) for p in random_split(TensorDataset(_images(10)), [0.7, 0.2, 0.1], seed=0)] == [7, 2, 1]


def test_random_split_rejects_bad_lengths():
    with pytest.raises(ValueError, match="do not add up"):
        random_split(TensorDataset(_images(10)), [6, 3], seed=0)
    with pytest.raises(ValueError, match="fractions summing to 1"):
        random_split(TensorDataset(_images(10)), [0.5, 0.2], seed=0)
