"""``npgrad.utils.data``: ``torch.utils.data`` under its names, so PyTorch data code runs unchanged.

``Dataset``, ``Subset`` and ``DistributedSampler`` are `npgrad.data`'s own classes. The PyTorch
spellings whose semantics differ from `npgrad.data`'s image-oriented ones (items
``(uint8 image, int label)``, NumPy batches, scaled to [0, 1] by default) are here:

- `TensorDataset` ``(*tensors)``: item ``i`` is ``tuple(t[i] for t in tensors)``, of any shapes and dtypes;
- `DataLoader`: PyTorch's signature; batches are built by ``collate_fn`` (`default_collate`:
  Tensors, stacked) from the dataset's items, with no implicit scaling; its shuffling and
  `random_split` draw from npgrad's global generator, so `npgrad.manual_seed` makes them
  reproducible, as ``torch.manual_seed`` does.

Differences: ``num_workers > 0`` prepares batches in one background thread (npgrad starts no
worker processes, so ``worker_init_fn`` is never called); ``pin_memory`` and
``persistent_workers`` have nothing to act on. ``generator=`` takes an `npgrad.Generator`, whose
numbers differ from a ``torch.Generator``'s of the same seed.
"""

from __future__ import annotations

import collections.abc
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from npgrad import data as _data
from npgrad.random import Generator, generator_of
from npgrad.tensor import Tensor
from npgrad.utils.data import sampler
from npgrad.utils.data.sampler import (
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

Dataset = _data.Dataset
Subset = _data.Subset
DistributedSampler = _data.DistributedSampler

__all__ = ["DataLoader", "Dataset", "DistributedSampler", "RandomSampler", "Sampler", "SequentialSampler", "Subset",
           "SubsetRandomSampler", "TensorDataset", "WeightedRandomSampler", "default_collate", "random_split", "sampler"]


class TensorDataset(Dataset):
    """PyTorch's ``TensorDataset(*tensors)``: item ``i`` is ``(tensors[0][i], tensors[1][i], ...)``.

    The tensors (or arrays) must have the same length; items are Tensors viewing their rows.
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset: give at least one tensor")
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors)
        lengths = [len(t) for t in self.tensors]
        if len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset: the tensors must all have the same first dimension, got sizes {lengths}")

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(Tensor(t.data[index]) for t in self.tensors)


def default_collate(batch: list[Any]) -> Any:
    """PyTorch's batching rule: stack items into Tensors, recursing into tuples, lists and dicts.

    Tensors and NumPy arrays are stacked along a new first dimension; Python floats become a
    float64 Tensor, ints int64 and bools bool (as in PyTorch); strings stay a list; a tuple or
    list of fields gives a list of collated fields, a dict a dict, a namedtuple a namedtuple.
    """
    first = batch[0]
    if isinstance(first, (Tensor, np.ndarray, np.generic)):
        arrays = [np.asarray(item.data if isinstance(item, Tensor) else item) for item in batch]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise ValueError(f"default_collate: cannot stack items of different shapes {sorted(shapes)}")
        return Tensor(np.stack(arrays))
    if isinstance(first, bool):
        return Tensor(np.array(batch, dtype=np.bool_))
    if isinstance(first, int):
        return Tensor(np.array(batch, dtype=np.int64))
    if isinstance(first, float):
        return Tensor(np.array(batch, dtype=np.float64))
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, collections.abc.Mapping):
        return {key: default_collate([item[key] for item in batch]) for key in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(first, collections.abc.Sequence):
        if len({len(item) for item in batch}) != 1:
            raise ValueError("default_collate: every item of a batch must have the same number of fields")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(f"default_collate: items must hold Tensors, NumPy arrays, numbers, strings, dicts or sequences; "
                    f"got {type(first).__name__}")


def _seed_from(generator: Generator | None) -> int:
    """A seed drawn from ``generator`` (the global generator when None)."""
    return int(generator_of(generator).integers(2**63))


class DataLoader(_data.DataLoader):
    """PyTorch's ``DataLoader``: batches of ``collate_fn(items)`` (`default_collate`: Tensors).

    Args:
        dataset: anything with ``__len__`` and ``__getitem__`` (a `Dataset` subclass).
        batch_size, shuffle, sampler, drop_last: as in PyTorch (and `npgrad.data.DataLoader`).
        num_workers: 0 builds each batch when it is asked for; more prepares
            ``prefetch_factor`` (default 2) batches ahead in one background thread.
        collate_fn: ``f(list of items) -> batch``; `default_collate` when None.
        pin_memory, timeout, worker_init_fn, persistent_workers: accepted for PyTorch code; they
            have nothing to act on without worker processes or a GPU.
        generator: an `npgrad.Generator` seeding the shuffling (the global generator when None).
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False, sampler: Any = None,
                 num_workers: int = 0, collate_fn: Callable[[list[Any]], Any] | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn: Callable[[int], None] | None = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 generator: Generator | None = None) -> None:
        if num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be >= 0, got {num_workers}")
        if prefetch_factor is not None and num_workers == 0:
            raise ValueError("DataLoader: prefetch_factor needs num_workers > 0 (as in PyTorch)")
        super().__init__(dataset, batch_size=batch_size, shuffle=bool(shuffle), drop_last=drop_last,
                         seed=_seed_from(generator), prefetch=(prefetch_factor or 2) if num_workers else 0,
                         sampler=sampler, collate_fn=default_collate if collate_fn is None else collate_fn)
        self.num_workers = num_workers


def random_split(dataset: Any, lengths: Sequence[int | float], generator: Generator | None = None) -> list[Subset]:
    """`npgrad.data.random_split` with its permutation drawn from ``generator`` (an `npgrad.Generator`), or
    from npgrad's global generator when None (see `npgrad.manual_seed`)."""
    return _data.random_split(dataset, lengths, seed=_seed_from(generator))
