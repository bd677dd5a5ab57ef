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


def test_weighted_random_sampler_draws_in_proportion_to_the_weights():
    npgrad.manual_seed(0)
    weights = [1.0, 3.0, 0.0, 6.0]  # need not sum to 1
    drawn = np.array(list(sampler.WeightedRandomSampler(weights, num_samples=20_000)))
    assert len(sampler.WeightedRandomSampler(weights, 7)) == 7
    frequencies = np.bincount(drawn, minlength=4) / len(drawn)
    np.testing.assert_allclose(frequencies, [0.1, 0.3, 0.0, 0.6], atol=0.01)  # 3 standard errors: 0.01
    without = [list(sampler.WeightedRandomSampler(npgrad.tensor(weights), 3, replacement=False)) for _ in range(300)]
    assert all(sorted(d) == [0, 1, 3] for d in without)  # each positive-weight index once, the zero one never
    first = np.bincount([d[0] for d in without], minlength=4) / 300
    assert first[3] > first[1] > first[0]  # the heaviest is most often drawn first


def test_weighted_random_sampler_refuses_what_pytorch_refuses():
    with pytest.raises(ValueError, match="num_samples must be a positive int, got 0"):
        sampler.WeightedRandomSampler([1.0], 0)
    with pytest.raises(ValueError, match="replacement must be a bool"):
        sampler.WeightedRandomSampler([1.0], 1, replacement=1)
    with pytest.raises(ValueError, match="weights must be a non-empty 1-D sequence"):
        sampler.WeightedRandomSampler([[1.0]], 1)
    for bad in ([1.0, -1.0], [0.0, 0.0], [1.0, float("inf")]):
        with pytest.raises(ValueError, match="finite, non-negative and not all zero"):
            sampler.WeightedRandomSampler(bad, 1)
    with pytest.raises(ValueError, match="cannot draw 3 samples without replacement from 2 positive weights"):
        sampler.WeightedRandomSampler([1.0, 0.0, 2.0], 3, replacement=False)


def test_a_generator_makes_samplers_and_loaders_independent_of_the_global_one():
    ds = TensorDataset(npgrad.arange(10))

    def orders():
        npgrad.manual_seed(123)
        g = npgrad.Generator().manual_seed(7)
        return (list(sampler.RandomSampler(ds, generator=g)), list(sampler.SubsetRandomSampler(range(5), generator=g)),
                list(sampler.WeightedRandomSampler([1.0] * 10, 5, generator=g)),
                [b[0].tolist() for b in DataLoader(ds, batch_size=5, shuffle=True, generator=g)])

    first = orders()
    assert first == orders()
    npgrad.manual_seed(123)
    after = npgrad.get_rng_state()
    orders()
    assert npgrad.get_rng_state() == after  # the global generator did not move
    assert sorted(first[0]) == list(range(10)) and sorted(first[1]) == list(range(5))
