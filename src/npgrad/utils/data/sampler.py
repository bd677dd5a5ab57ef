"""``torch.utils.data.sampler``'s samplers: iterables of dataset indices for ``DataLoader(sampler=...)``.

The random ones draw a fresh order at each iteration (each epoch) from their ``generator``
(an `npgrad.Generator`) or, by default, from npgrad's global generator, as PyTorch's draw from
its default generator, so `npgrad.manual_seed` fixes them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from npgrad.random import Generator, generator_of


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

    def __init__(self, data_source: Any, replacement: bool = False, num_samples: int | None = None,
                 generator: Generator | None = None) -> None:
        if num_samples is not None:
            _check_num_samples("RandomSampler", num_samples)
        self.data_source, self.replacement = data_source, bool(replacement)
        self._num_samples = num_samples
        self.generator = generator

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n, rng = len(self.data_source), generator_of(self.generator)
        if self.replacement:
            return iter(rng.integers(0, n, self.num_samples).tolist())
        # without replacement, more samples than items come as several permutations (as PyTorch's)
        rounds = -(-self.num_samples // n)
        order = np.concatenate([rng.permutation(n) for _ in range(rounds)])[:self.num_samples]
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order."""

    def __init__(self, indices: Sequence[int], generator: Generator | None = None) -> None:
        self.indices = np.asarray(list(indices), dtype=np.int64)
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices[generator_of(self.generator).permutation(len(self.indices))].tolist())

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices in ``[0, len(weights))``, index i drawn with probability ``weights[i] / sum(weights)``.

    PyTorch's semantics (``torch.multinomial``): the weights need not sum to 1; with
    ``replacement=False`` each draw is from the indices not drawn yet, in proportion to their
    weights, so ``num_samples`` may not exceed the number of positive weights. The usual use is
    class balancing: ``weights[i] = 1 / count[label[i]]``.
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: Generator | None = None) -> None:
        _check_num_samples("WeightedRandomSampler", num_samples)
        if not isinstance(replacement, bool):
            raise ValueError(f"WeightedRandomSampler: replacement must be a bool, got {replacement!r}")
        weights = np.asarray(weights, dtype=np.float64)  # a list, an array or a Tensor
        if weights.ndim != 1 or weights.size == 0:
            raise ValueError(f"WeightedRandomSampler: weights must be a non-empty 1-D sequence, got shape {weights.shape}")
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or not weights.sum() > 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and not all zero")
        if not replacement and num_samples > np.count_nonzero(weights):
            raise ValueError(f"WeightedRandomSampler: cannot draw {num_samples} samples without replacement from "
                             f"{np.count_nonzero(weights)} positive weights")
        self.weights, self.num_samples, self.replacement = weights, int(num_samples), replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        p = self.weights / self.weights.sum()
        draws = generator_of(self.generator).choice(len(p), size=self.num_samples, replace=self.replacement, p=p)
        return iter(draws.tolist())

    def __len__(self) -> int:
        return self.num_samples


def _check_num_samples(sampler: str, num_samples: Any) -> None:
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
        raise ValueError(f"{sampler}: num_samples must be a positive int, got {num_samples!r}")
