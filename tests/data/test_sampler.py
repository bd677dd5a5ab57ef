import numpy as np
import pytest

from npgrad.data import DataLoader, DistributedSampler, TensorDataset


def _shards(n, replicas, **kwargs):
    return [list(DistributedSampler(range(n), replicas, rank, **kwargs)) for rank in range(replicas)]


@pytest.mark.parametrize("n, replicas", [(10, 2), (10, 3), (7, 4), (3, 5), (12, 1)])
def test_shards_are_disjoint_equal_and_cover_the_dataset(n, replicas):
    shards = _shards(n, replicas, seed=3)
    size = -(-n // replicas)
    assert all(len(s) == size for s in shards)
    assert len(DistributedSampler(range(n), replicas, 0)) == size
    flat = [i for s in shards for i in s]
    assert sorted(set(flat)) == list(range(n))  # complete
    padding = size * replicas - n
    assert len(flat) - len(set(flat)) == padding  # disjoint but for the padding
    # the padding repeats the start of the epoch's permutation, PyTorch's rule
    order = [shards[i % replicas][i // replicas] for i in range(size * replicas)]
    assert order[n:] == (order[:n] * (padding // n + 1))[:padding]


@pytest.mark.parametrize("n, replicas", [(10, 3), (7, 4), (12, 4)])
def test_drop_last_drops_the_tail_and_nothing_repeats(n, replicas):
    shards = _shards(n, replicas, drop_last=True)
    assert all(len(s) == n // replicas for s in shards)
    flat = [i for s in shards for i in s]
    assert len(set(flat)) == len(flat) == n // replicas * replicas


def test_fresh_permutation_each_epoch_deterministic_per_seed():
    def shard(seed, epoch):
        sampler = DistributedSampler(range(50), 2, 1, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert shard(0, 0) == shard(0, 0)
    assert shard(0, 0) != shard(0, 1) and shard(0, 0) != shard(1, 0)
    assert sorted(shard(0, 0) + list(DistributedSampler(range(50), 2, 0))) == list(range(50))
    assert list(DistributedSampler(range(6), 2, 1, shuffle=False)) == [1, 3, 5]


def test_sampler_checks_its_arguments():
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(range(4), 0, 0)
    with pytest.raises(ValueError, match="rank must be in"):
        DistributedSampler(range(4), 2, 2)


def _dataset(n):
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 1, 2, 2)).copy()
    return TensorDataset(images, np.arange(n) % 3)


def _ids(batch):
    return np.rint(batch[0][:, 0, 0, 0] * 255).astype(int).tolist()


def test_rank_loaders_together_read_the_batches_of_one_loader_of_the_global_batch():
    """2 loaders of batch 3 over the two shards = 1 shuffling loader of batch 6 with the same seed, every epoch."""
    data = _dataset(24)
    whole = DataLoader(data, batch_size=6, shuffle=True, seed=5, prefetch=0)
    ranks = [DataLoader(data, batch_size=3, seed=5, prefetch=0, sampler=DistributedSampler(data, 2, r, seed=5))
             for r in range(2)]
    for _ in range(3):  # each iter() is the next epoch, and the loader sets the sampler's epoch
        for big, *parts in zip(whole, *ranks):
            assert sorted(_ids(big)) == sorted(i for p in parts for i in _ids(p))
    assert [r.sampler.epoch for r in ranks] == [2, 2] and len(ranks[0]) == 4


def test_dataloader_rejects_sampler_with_shuffle():
    data = _dataset(4)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(data, shuffle=True, sampler=DistributedSampler(data, 2, 0))
