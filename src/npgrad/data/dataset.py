"""Datasets: the indexable collections a `DataLoader` draws batches from.

A dataset item is ``(image, label)``: ``image`` a ``uint8`` array of shape ``(C, H, W)``
(C = 1 grayscale, 3 RGB) and ``label`` an ``int`` (``-1`` when the dataset is unlabelled).
Every dataset exposes ``classes`` (class names, index = label), ``class_to_idx`` and
``targets`` (an ``int64`` array of all labels, or ``None`` when unlabelled).

Array-backed datasets (`TensorDataset` and its subclasses MNIST, FashionMNIST, CIFAR10)
also provide ``get_batch(indices) -> (images (B, C, H, W), labels int64 (B,))``, which the
DataLoader uses to build a batch with one fancy-indexing operation instead of ``B`` item
look-ups; `Subset` forwards it when the dataset it wraps has it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

UNLABELLED = -1
"""The label of every item of an unlabelled dataset."""


class Dataset:
    """Base class: ``len(ds)`` items, ``ds[i] -> (image uint8 (C, H, W), label int)``."""

    classes: Sequence[str] = ()
    targets: np.ndarray | None = None

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    @property
    def class_to_idx(self) -> dict[str, int]:
        """Class name -> label."""
        return {name: i for i, name in enumerate(self.classes)}


def check_labels(labels: np.ndarray, num_classes: int, source: str) -> None:
    """Raise if a label is outside ``[0, num_classes)`` (no check when ``num_classes`` is 0)."""
    if num_classes and labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise ValueError(f"{source}: label {bad} outside the known classes 0..{num_classes - 1}")


class TensorDataset(Dataset):
    """A dataset over in-memory arrays.

    Args:
        data: ``(N, ...)`` array; item ``i`` is ``data[i]`` (for images: ``uint8 (N, C, H, W)``).
        targets: ``(N,)`` integer labels, or ``None`` for an unlabelled dataset (labels ``-1``).
        classes: class names (index = label); when given, every label must index it.
    """

    def __init__(self, data: np.ndarray, targets: np.ndarray | Sequence[int] | None = None,
                 classes: Sequence[str] | None = None) -> None:
        data = np.asarray(data)
        if data.ndim == 0:
            raise ValueError("TensorDataset: data must have a leading sample axis, got a scalar")
        if targets is not None:
            targets = np.asarray(targets)
            if not np.issubdtype(targets.dtype, np.integer) or targets.shape != (len(data),):
                raise ValueError(f"TensorDataset: targets must be {len(data)} integer labels, "
                                 f"got shape {targets.shape} dtype {targets.dtype}")
            targets = targets.astype(np.int64, copy=False)
        self.data = data
        self.targets = targets
        self.classes = list(classes) if classes is not None else []
        if targets is not None:
            check_labels(targets, len(self.classes), type(self).__name__)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        label = UNLABELLED if self.targets is None else int(self.targets[index])
        return self.data[index], label

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(data[indices], labels int64 (B,))`` for an integer index array of length B."""
        indices = np.asarray(indices, dtype=np.intp)
        if self.targets is None:
            return self.data[indices], np.full(len(indices), UNLABELLED, dtype=np.int64)
        return self.data[indices], self.targets[indices]


class Subset(Dataset):
    """The items ``dataset[indices[i]]`` of another dataset, with its classes.

    ``get_batch`` is defined exactly when the wrapped dataset has it, so the DataLoader's
    vectorised path survives `random_split`.
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int] | np.ndarray) -> None:
        indices = np.asarray(indices, dtype=np.int64)
        if indices.ndim != 1:
            raise ValueError(f"Subset: indices must be 1-D, got shape {indices.shape}")
        if indices.size and (indices.min() < 0 or indices.max() >= len(dataset)):
            raise IndexError(f"Subset: indices must be in [0, {len(dataset)}) for a dataset of {len(dataset)} items")
        self.dataset = dataset
        self.indices = indices
        self.classes = dataset.classes
        base_targets = dataset.targets
        self.targets = None if base_targets is None else np.asarray(base_targets)[self.indices]
        if hasattr(dataset, "get_batch"):
            self.get_batch = self._get_batch

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.dataset[int(self.indices[index])]

    def _get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.dataset.get_batch(self.indices[np.asarray(indices, dtype=np.intp)])


def random_split(dataset: Dataset, lengths: Sequence[int | float], seed: int | None = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random `Subset` s.

    Args:
        lengths: item counts summing to ``len(dataset)``, or fractions summing to 1 (the
            counts are floored and the remaining items dealt one each to the first splits).
        seed: seeds the permutation (``None`` = fresh OS entropy, not reproducible).
    """
    n = len(dataset)
    if all(isinstance(k, (int, np.integer)) for k in lengths):
        counts = [int(k) for k in lengths]
    elif abs(sum(lengths) - 1.0) < 1e-6 and all(0 <= f <= 1 for f in lengths):
        counts = [int(np.floor(f * n + 1e-9)) for f in lengths]  # 0.29 * 100 is 28.999...96
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
    else:
        raise ValueError(f"random_split: lengths must be ints summing to {n} or fractions summing to 1, got {list(lengths)}")
    if sum(counts) != n or min(counts, default=0) < 0:
        raise ValueError(f"random_split: lengths {counts} do not add up to the dataset's {n} items")
    order = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum([0, *counts])
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
