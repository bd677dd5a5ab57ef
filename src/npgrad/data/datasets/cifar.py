"""CIFAR-10 from its binary batches (or the python pickled batches).

Binary version (``cifar-10-batches-bin``): ``data_batch_1.bin`` ... ``data_batch_5.bin`` and
``test_batch.bin``, each a sequence of 3073-byte records: 1 label byte, then the 32x32 red,
green and blue planes (1024 bytes each, row-major) — already channel-first.

Python version (``cifar-10-batches-py``): ``data_batch_1`` ... ``test_batch``, pickled dicts
with ``data`` (uint8, N x 3072, same pixel order) and ``labels``. They are read with an
unpickler that only accepts NumPy arrays, so a malicious file cannot run code.
"""

from __future__ import annotations

import codecs
import os
import pickle
from pathlib import Path

import numpy as np

from npgrad.data.dataset import TensorDataset

try:  # the function NumPy arrays are pickled with; NumPy 1.x keeps it in numpy.core
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import _reconstruct

_RECORD = 1 + 3 * 32 * 32
_FOLDERS = ("", "cifar-10-batches-bin", "cifar-10-batches-py")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays, nothing else."""

    def find_class(self, module: str, name: str) -> object:
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return _reconstruct
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):  # how protocol-2 pickles written by Python 3 store bytes
            return codecs.encode
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR-10 batch")


def _read_binary_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = path.read_bytes()
    if not raw or len(raw) % _RECORD:
        raise ValueError(f"{path.name}: truncated CIFAR-10 binary batch: {len(raw)} bytes is not a whole, "
                         f"non-zero number of {_RECORD}-byte records (1 label byte + 3x32x32 pixels)")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _RECORD)
    return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].astype(np.int64)


def _read_python_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="latin1").load()
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path.name}: not a CIFAR-10 python batch ({type(e).__name__}: {e})") from e
    if data.ndim != 2 or data.shape[1] != _RECORD - 1 or len(labels) != len(data):
        raise ValueError(f"{path.name}: expected 'data' of shape (N, 3072) and N 'labels', "
                         f"got {data.shape} and {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


class CIFAR10(TensorDataset):
    """CIFAR-10: items ``(uint8 (3, 32, 32), label)``, 10 classes; ``data`` is ``(N, 3, 32, 32)``.

    Args:
        root: folder holding the batch files, directly or in the extracted archive's
            ``cifar-10-batches-bin`` (preferred) or ``cifar-10-batches-py`` sub-folder.
        train: the 50,000 images of ``data_batch_1..5``, else the 10,000 of ``test_batch``.
    """

    CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

    def __init__(self, root: str | os.PathLike, train: bool = True) -> None:
        root = Path(root)
        stems = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
        for folder in _FOLDERS:
            binary = [root / folder / f"{s}.bin" for s in stems]
            python = [root / folder / s for s in stems]
            if all(p.is_file() for p in binary):
                parts = [_read_binary_batch(p) for p in binary]
                break
            if all(p.is_file() for p in python):
                parts = [_read_python_batch(p) for p in python]
                break
        else:
            raise FileNotFoundError(
                f"CIFAR10: no {'training' if train else 'test'} batches in {root.resolve()}; place the binary version's "
                f"{', '.join(s + '.bin' for s in stems)} there or in its cifar-10-batches-bin folder "
                f"(https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz)")
        images = np.concatenate([images for images, _ in parts])
        labels = np.concatenate([labels for _, labels in parts])
        super().__init__(images, labels, self.CLASSES)
        self.root = root
        self.train = train
