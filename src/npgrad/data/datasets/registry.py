"""The dataset registry: names → loaders with what the command line needs to know about them.

One `register_dataset` call adds a dataset that ``npgrad train --dataset NAME`` accepts, with
its aliases, its native image size and channels, its augmentation policy and its help line;
the command's choices and help text are generated from here::

    register_dataset("kmnist", lambda root, train: KMNIST(root, train=train), size=28, channels=1,
                     flip=False, files="the KMNIST IDX files", help="Kuzushiji-MNIST: the IDX files in --data-dir")

``factory(root, train)`` returns the training (``train=True``) or test split; ``root`` is the
``--data-dir`` folder, or None for a dataset that needs no files (``files=None``).
Registering builds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from npgrad.data.dataset import Dataset


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset.

    Attributes:
        name: the canonical name (run folders and configs use it).
        factory: ``factory(root: Path | None, train: bool) -> Dataset`` of ``(uint8 (C, H, W), label)`` items.
        size: native image side length (images are resized only when ``--image-size`` asks).
        channels: image channels (1 grayscale, 3 RGB).
        flip: whether random horizontal flips are a valid augmentation (mirrored digits are not digits).
        files: what ``--data-dir`` must hold, for error messages; None when the dataset needs no files.
        help: one line for ``npgrad train --help``.
        aliases: other accepted spellings.
    """

    name: str
    factory: Callable[[Path | None, bool], Dataset]
    size: int
    channels: int
    flip: bool
    files: str | None
    help: str
    aliases: tuple[str, ...] = ()

    def load(self, root: str | Path | None, train: bool) -> Dataset:
        """The training or test split, reading from ``root`` when the dataset has files."""
        return self.factory(None if self.files is None else Path(root), train)


_REGISTRY: dict[str, DatasetEntry] = {}
_ALIASES: dict[str, str] = {}


def _key(name: str) -> str:
    return name.lower().replace("_", "-")


def register_dataset(name: str, factory: Callable[[Path | None, bool], Dataset], *, size: int, channels: int,
                     flip: bool, help: str, files: str | None = None, aliases: tuple[str, ...] = ()) -> DatasetEntry:
    """Record a dataset under ``name`` and ``aliases`` (case- and ``_``/``-``-insensitive); returns its entry."""
    entry = DatasetEntry(name, factory, size, channels, flip, files, help, tuple(aliases))
    for key in map(_key, (name, *aliases)):
        if key in _ALIASES or key in ("folder", "csv"):
            raise ValueError(f"register_dataset: the name '{key}' is already taken")
    _REGISTRY[name] = entry
    _ALIASES.update({_key(k): name for k in (name, *aliases)})
    return entry


def unregister_dataset(name: str) -> None:
    """Remove ``name`` and its aliases (tests that register a toy dataset clean up with this)."""
    entry = _REGISTRY.pop(name)
    for key in map(_key, (name, *entry.aliases)):
        del _ALIASES[key]


def find_dataset(name: str) -> DatasetEntry | None:
    """The entry registered under ``name`` or one of its aliases, else None."""
    canonical = _ALIASES.get(_key(name))
    return None if canonical is None else _REGISTRY[canonical]


def datasets() -> list[DatasetEntry]:
    """The registered datasets, in registration order."""
    return list(_REGISTRY.values())


def _builtins() -> None:
    from npgrad.data.datasets.bundled import fashion_mnist_small
    from npgrad.data.datasets.cifar import CIFAR10
    from npgrad.data.datasets.idx import MNIST, FashionMNIST

    idx = "{train,t10k}-images-idx3-ubyte[.gz] and {train,t10k}-labels-idx1-ubyte[.gz]"
    register_dataset("fashion-mnist-small", lambda root, train: fashion_mnist_small(train=train), size=28, channels=1,
                     flip=True, help="a 10-class Fashion-MNIST subset shipped with npgrad (works offline)")
    register_dataset("fashion-mnist", lambda root, train: FashionMNIST(root, train=train), size=28, channels=1, flip=True,
                     files=idx, aliases=("fashionmnist",), help="the Fashion-MNIST IDX files in --data-dir")
    # Mirrored digits are other digits (or none): crops only.
    register_dataset("mnist", lambda root, train: MNIST(root, train=train), size=28, channels=1, flip=False, files=idx,
                     help="the MNIST IDX files (train-images-idx3-ubyte[.gz], ...) in --data-dir")
    register_dataset("cifar10", lambda root, train: CIFAR10(root, train=train), size=32, channels=3, flip=True,
                     files="data_batch_1..5 and test_batch (.bin or python pickles), directly or in cifar-10-batches-bin/-py",
                     aliases=("cifar-10",), help="the python or binary CIFAR-10 batches in --data-dir")


_builtins()
