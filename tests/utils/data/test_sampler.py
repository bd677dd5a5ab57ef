import numpy as np
import pytest

import npgrad
from npgrad.utils.data import DataLoader, TensorDataset, sampler


def test_sequential_and_random_samplers():
    ds = TensorDataset(npgrad.arange(10))
    assert list(sampler.SequentialSampler(ds)) == list(range(10))
    npgrad.manual_seed(0)
    first = list(sampler.RandomSampler(ds))
    second = list(sampler.RandomSampler(ds))
    assert sorted(first) == list(range(10)) and first != second  # a fresh order each iteration
    npgrad.manual_seed(0)
    assert list(sampler.RandomSampler(ds)) == first
    many = list(sampler.RandomSampler(ds, num_samples=25))
    assert len(many) == 25 and sorted(many[:10]) == list(range(10))
    drawn = list(sampler.RandomSampler(ds, replacement=True, num_samples=200))
    assert len(drawn) == 200 and set(drawn) == set(range(10))
    with pytest.raises(ValueError, match="num_samples must be a positive int"):
        sampler.RandomSampler(ds, num_samples=0)


def test_subset_random_sampler_in_a_dataloader_as_cs231n_splits_train_and_val():
    ds = TensorDataset(npgrad.arange(10))
    train = DataLoader(ds, batch_size=4, sampler=sampler.SubsetRandomSampler(range(7)))
    val = DataLoader(ds, batch_size=4, sampler=sampler.SubsetRandomSampler(range(7, 10)))
    seen = np.concatenate([b[0].data for b in train])
    assert len(train) == 2 and sorted(seen.tolist()) == list(range(7))
    assert sorted(np.concatenate([b[0].data for b in val]).tolist()) == [7, 8, 9]
