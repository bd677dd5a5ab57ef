"""DataLoader: iterate a dataset in ``(x, y)`` NumPy batches, reproducibly shuffled and augmented.

Reproducibility: epoch ``k`` of a loader with seed ``s`` draws its permutation and the ``rng``
passed to its transform from ``numpy.random.SeedSequence([s, k])``, so epoch ``k`` gives the
same batches whether or not epochs ``0..k-1`` ran in this process. Each ``iter(loader)``
runs the current epoch and advances the counter; `set_epoch` and `state_dict` /
`load_state_dict` move or restore it for an exact resume. A ``sampler`` (such as
`DistributedSampler`) replaces the permutation: the loader sets its epoch before each epoch.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from npgrad.data.dataset import Dataset
from npgrad.data.sampler import epoch_permutation, epoch_seeds
from npgrad.data.transforms import ToFloat

Batch = tuple[np.ndarray, np.ndarray]


def collate(items: list[tuple[np.ndarray, int]], indices: np.ndarray | None = None) -> Batch:
    """Stack dataset items into ``(images (B, C, H, W), labels int64 (B,))``.

    ``indices`` (the items' dataset indices) only improve the error message when the
    images differ in shape.
    """
    images = [image for image, _ in items]
    first = images[0].shape
    for i, image in enumerate(images):
        if image.shape != first:
            where = f" (dataset items {indices[0]} and {indices[i]})" if indices is not None else ""
            raise ValueError(f"cannot batch images of shapes {first} and {image.shape}{where}; "
                             f"give the dataset an image_size so every image is resized to one size")
    return np.stack(images), np.array([label for _, label in items], dtype=np.int64)


class DataLoader:
    """Batches ``(x, y)`` of a dataset: ``x`` = transformed images, ``y`` = int64 labels ``(B,)``.

    Args:
        dataset: a `Dataset`; when it has ``get_batch`` a batch is one vectorised gather,
            otherwise its items are fetched one by one and stacked (see `collate`).
        batch_size: items per batch; the last batch is smaller unless ``drop_last``.
        shuffle: a fresh permutation each epoch (see the module docstring), else in order.
        sampler: an iterable of dataset indices with a length (e.g. a `DistributedSampler`), read
            once per epoch instead of the loader's own order; its ``set_epoch`` (if any) is called
            with the loader's epoch first. Not with ``shuffle`` (the sampler decides the order).
        drop_last: drop the last batch when it has fewer than ``batch_size`` items.
        seed: seeds the shuffling and the random transforms (``None``: drawn once from OS
            entropy at construction and kept in `state_dict`).
        transform: ``f(batch, rng) -> batch`` applied to each uint8 batch ``(B, C, H, W)``.
            ``None`` applies `ToFloat` (float32 in [0, 1]); a given transform replaces it, so
            it is responsible for the conversion (end it with ``ToFloat()``, or
            ``ToFloat(), Normalize(...)``).
        prefetch: batches prepared ahead by a background thread (0 = none, everything runs in
            the iterating thread). Decoding, gathering and transforming then overlap with the
            caller's compute; most of NumPy and Pillow's decoders release the GIL.
        collate_fn: ``f(items) -> batch`` (PyTorch's): builds each batch from the list of dataset
            items instead of `collate`/``get_batch``, for datasets whose items are not
            ``(image, label)``. The batch is yielded as it returns: ``transform`` applies only
            when given.
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, transform: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
                 prefetch: int = 2, sampler: Any = None, collate_fn: Callable[[list[Any]], Any] | None = None) -> None:
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True are mutually exclusive (the sampler decides the order)")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        if prefetch < 0:
            raise ValueError(f"DataLoader: prefetch must be >= 0, got {prefetch}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = int(np.random.SeedSequence().entropy) if seed is None else int(seed)
        self.collate_fn = collate_fn
        self.transform = ToFloat() if transform is None and collate_fn is None else transform
        self.prefetch = int(prefetch)
        self.sampler = sampler
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.dataset if self.sampler is None else self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter(loader)`` run epoch ``epoch`` (its order and augmentation)."""
        self.epoch = int(epoch)

    def state_dict(self) -> dict[str, int]:
        """``{"epoch": next epoch to run, "seed": seed}``: JSON-serialisable."""
        return {"epoch": self.epoch, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restore a `state_dict`; ValueError unless both entries are non-negative integers."""
        epoch, seed = state["epoch"], state["seed"]
        for name, value in (("epoch", epoch), ("seed", seed)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"DataLoader.load_state_dict: {name} must be a non-negative integer, got {value!r:.60}")
        self.epoch, self.seed = int(epoch), int(seed)

    def __iter__(self) -> Iterator[Batch]:
        _, augment_seq = epoch_seeds(self.seed, self.epoch)
        if self.sampler is not None:
            if hasattr(self.sampler, "set_epoch"):
                self.sampler.set_epoch(self.epoch)
            order = np.fromiter(self.sampler, dtype=np.int64)
        elif self.shuffle:
            order = epoch_permutation(len(self.dataset), self.seed, self.epoch)
        else:
            order = np.arange(len(self.dataset))
        self.epoch += 1
        batches = self._batches(order, np.random.default_rng(augment_seq))
        return _prefetched(batches, self.prefetch) if self.prefetch else batches

    def _batches(self, order: np.ndarray, rng: np.random.Generator) -> Iterator[Batch]:
        get_batch = getattr(self.dataset, "get_batch", None)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            indices = order[start:start + self.batch_size]
            if self.collate_fn is not None:
                batch = self.collate_fn([self.dataset[int(i)] for i in indices])
                yield batch if self.transform is None else self.transform(batch, rng)
                continue
            if get_batch is not None:
                x, y = get_batch(indices)
            else:
                x, y = collate([self.dataset[int(i)] for i in indices], indices)
            yield self.transform(x, rng), y


_DONE = object()


def _prefetched(batches: Iterator[Batch], depth: int) -> Iterator[Batch]:
    """Run ``batches`` in a daemon thread, keeping up to ``depth`` items ready.

    An exception in the thread is re-raised in the consumer; abandoning the iterator (break,
    garbage collection) stops the thread at its next hand-off.
    """
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return not stop.is_set()
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not hand_over(batch):
                    return
        except BaseException as error:  # noqa: B036 - handed to the consumer, who re-raises it
            hand_over(error)
            return
        hand_over(_DONE)

    def consume() -> Iterator[Batch]:
        worker = threading.Thread(target=produce, name="npgrad-data-prefetch", daemon=True)
        worker.start()
        try:
            while (item := ready.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            # Emptying the queue wakes a worker blocked on it at once (waiting out its put timeout made every
            # abandoned iterator, even next(iter(loader)), cost the caller 80-100 ms). It exits at that
            # hand-off; a bounded wait means a finaliser running at an awkward moment (e.g. garbage
            # collection) can never hang on a worker still building a batch.
            with contextlib.suppress(queue.Empty):
                while True:
                    ready.get_nowait()
            worker.join(timeout=1.0)

    return consume()
