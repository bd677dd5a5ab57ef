"""`DistributedSampler`: each of ``num_replicas`` processes draws a disjoint shard of the dataset.

Pass it as a `DataLoader`'s ``sampler``; the loader calls its ``set_epoch`` before each epoch
(in PyTorch the user does), so the shards change every epoch and a resumed run gets the same ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized

import numpy as np


def epoch_seeds(seed: int, epoch: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """The seeds of epoch ``epoch`` of a loader seeded ``seed``: (its permutation, its augmentation)."""
    order, augment = np.random.SeedSequence([seed, epoch]).spawn(2)
    return order, augment


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of ``n`` items in epoch ``epoch`` (the same for a `DataLoader` and a sampler)."""
    return np.random.default_rng(epoch_seeds(seed, epoch)[0]).permutation(n)


class DistributedSampler:
    """The indices of rank ``rank``'s shard of ``dataset``, out of ``num_replicas`` equal shards.

    PyTorch's semantics: each epoch the dataset's indices are shuffled (``shuffle``, seeded by
    ``seed`` and the epoch: `set_epoch`) or taken in order; unless ``drop_last`` the list is padded
    by repeating its start up to a multiple of ``num_replicas`` (so a few samples are seen twice),
    with ``drop_last`` its tail is dropped; rank r takes every ``num_replicas``-th index from r.
    Every shard has ``len(sampler)`` indices and the shards of one epoch are disjoint (apart from
    the padding).

    The permutation is the one a shuffling `DataLoader` with the same seed uses, and the shards
    interleave it, so ``num_replicas`` loaders of batch size b together read, batch by batch,
    exactly the batches of one loader of batch size ``num_replicas * b``.

    Difference from PyTorch: ``num_replicas`` and ``rank`` are required (`npgrad.data` does not
    depend on the rest of npgrad); pass ``dist.get_world_size()`` and ``dist.get_rank()``.
    """

    def __init__(self, dataset: Sized, num_replicas: int, rank: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False) -> None:
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: rank must be in [0, {num_replicas - 1}], got {rank}")
        self.dataset = dataset
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last and n % self.num_replicas:
            self.num_samples = n // self.num_replicas
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s permutation for the next iteration."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        indices = epoch_permutation(n, self.seed, self.epoch) if self.shuffle else np.arange(n)
        if self.total_size > n:
            indices = np.resize(indices, self.total_size)  # repeats the list from its start
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank::self.num_replicas].tolist())
