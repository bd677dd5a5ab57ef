"""``torch.utils.data.sampler``'s samplers: iterables of dataset indices for ``DataLoader(sampler=...)``.

The random ones draw a fresh order from npgrad's global generator at each iteration (each
epoch), as PyTorch's draw from its default generator, so `npgrad.manual_seed` fixes them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from npgrad.random import generator


class Sampler:
    """Base class: ``iter(sampler)`` yields dataset indices, ``len(sampler)`` counts them."""

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Any) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation of the dataset's indices, or ``num_samples`` draws with ``replacement``."""

    def __init__(self, data_source: Any, replacement: bool = False, num_samples: int | None = None) -> None:
        if num_samples is not None and (not isinstance(num_samples, int) or num_samples <= 0):
            raise ValueError(f"RandomSampler: num_samples must be a positive int, got {num_samples!r}")
        self.data_source, self.replacement = data_source, bool(replacement)
        self._num_samples = num_samples

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        if self.replacement:
            return iter(generator().integers(0, n, self.num_samples).tolist())
        # without replacement, more samples than items come as several permutations (as PyTorch's)
        rounds = -(-self.num_samples // n)
        order = np.concatenate([generator().permutation(n) for _ in range(rounds)])[:self.num_samples]
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order."""

    def __init__(self, indices: Sequence[int]) -> None:
        self.indices = np.asarray(list(indices), dtype=np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices[generator().permutation(len(self.indices))].tolist())

    def __len__(self) -> int:
        return len(self.indices)
