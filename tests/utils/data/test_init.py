import numpy as np
import pytest

import npgrad
from npgrad import data
from npgrad.utils.data import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split


def test_dataset_and_subset_are_npgrad_data_classes():
    assert Dataset is data.Dataset and Subset is data.Subset


def test_tensor_dataset_items_and_batches_are_tensors_as_in_pytorch():
    x = npgrad.arange(12, dtype=npgrad.float32).reshape(6, 2)
    y = npgrad.tensor([[0.5], [1.5], [2.5], [3.5], [4.5], [5.5]])  # float targets (regression), as d2l uses
    ds = TensorDataset(x, y)
    features, target = ds[2]
    assert isinstance(features, npgrad.Tensor) and features.tolist() == [4, 5] and target.tolist() == [2.5]
    batches = list(DataLoader(ds, batch_size=4))
    assert [tuple(b.shape for b in batch) for batch in batches] == [((4, 2), (4, 1)), ((2, 2), (2, 1))]
    assert all(isinstance(t, npgrad.Tensor) for batch in batches for t in batch)
    assert batches[0][0].dtype == np.float32  # no implicit scaling or conversion
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 1
    with pytest.raises(ValueError, match=r"same first dimension, got sizes \[6, 5\]"):
        TensorDataset(x, y[:5])


def test_shuffling_and_random_split_follow_manual_seed():
    ds = TensorDataset(npgrad.arange(20))

    def epoch_order():
        npgrad.manual_seed(3)
        return [b[0].tolist() for b in DataLoader(ds, batch_size=5, shuffle=True)]

    first, second = epoch_order(), epoch_order()
    assert first == second and sorted(sum(first, [])) == list(range(20)) and sum(first, []) != list(range(20))
    npgrad.manual_seed(1)
    a = random_split(ds, [15, 5])
    npgrad.manual_seed(1)
    b = random_split(ds, [0.75, 0.25])
    assert [list(s.indices) for s in a] == [list(s.indices) for s in b] and len(a[1]) == 5


def test_random_split_with_a_generator_as_kaggle_scripts_write_it():
    ds = TensorDataset(npgrad.arange(20))
    a = random_split(ds, [0.8, 0.2], generator=npgrad.Generator().manual_seed(42))
    npgrad.manual_seed(0)  # the global generator plays no part
    b = random_split(ds, [16, 4], generator=npgrad.Generator().manual_seed(42))
    c = random_split(ds, [16, 4], generator=npgrad.Generator().manual_seed(43))
    assert [list(s.indices) for s in a] == [list(s.indices) for s in b] != [list(s.indices) for s in c]
    assert sorted(list(a[0].indices) + list(a[1].indices)) == list(range(20))
    with pytest.raises(TypeError, match="generator must be an npgrad.Generator or None, got int"):
        random_split(ds, [16, 4], generator=42)


def test_num_workers_prefetches_in_a_thread_and_gives_the_same_batches():
    ds = TensorDataset(npgrad.arange(10))
    plain = [b[0].tolist() for b in DataLoader(ds, batch_size=3)]
    assert [b[0].tolist() for b in DataLoader(ds, batch_size=3, num_workers=2, pin_memory=True)] == plain
    with pytest.raises(ValueError, match="prefetch_factor needs num_workers > 0"):
        DataLoader(ds, prefetch_factor=2)


class Pairs(Dataset):
    def __len__(self):
        return 3

    def __getitem__(self, i):
        return {"x": np.full(2, i, np.float32), "y": i, "w": 0.5 * i, "name": f"item{i}"}


def test_default_collate_follows_pytorch_rules():
    batch = next(iter(DataLoader(Pairs(), batch_size=3)))
    assert batch["x"].shape == (3, 2) and batch["x"].dtype == np.float32
    assert batch["y"].dtype == np.int64 and batch["w"].dtype == np.float64 and batch["name"] == ["item0", "item1", "item2"]
    assert [t.tolist() for t in default_collate([(1, True), (2, False)])] == [[1, 2], [True, False]]
    with pytest.raises(ValueError, match="cannot stack items of different shapes"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match="got object"):
        default_collate([object()])


def test_custom_collate_fn_replaces_the_batching():
    loader = DataLoader(TensorDataset(npgrad.arange(4)), batch_size=2, collate_fn=lambda items: len(items))
    assert list(loader) == [2, 2]
    npgrad_loader = data.DataLoader(data.TensorDataset(np.zeros((4, 1, 2, 2), np.uint8), [0, 1, 0, 1]), batch_size=2,
                                    collate_fn=lambda items: [label for _, label in items])
    assert list(npgrad_loader) == [[0, 1], [0, 1]]  # no ToFloat on a collate_fn's batch
