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
import io
import os
import pickle
from pathlib import Path

import numpy as np

from npgrad.data.dataset import TensorDataset
from npgrad.errors import DataError, MissingFileError

try:  # the function NumPy arrays are pickled with; NumPy 1.x keeps it in numpy.core
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import _reconstruct

_RECORD = 1 + 3 * 32 * 32
_BATCH_RECORDS = 10_000  # every published batch holds 10,000 images: a larger file is not a CIFAR-10 batch
# A python batch pickles the same 10,000 records plus file names (31 MB); twice that is a generous bound to check
# before unpickling, so a huge file is refused instead of loaded.
_MAX_PYTHON_BATCH_BYTES = 2 * _BATCH_RECORDS * _RECORD
_FOLDERS = ("", "cifar-10-batches-bin", "cifar-10-batches-py")
_CLASSES = 10


def _latin1_encode(text: str, encoding: str) -> bytes:
    """``codecs.encode`` for the one codec such pickles use; any other codec name is refused, not looked up."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refusing to rebuild bytes with the codec {encoding!r}")
    return codecs.encode(text, "latin1")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays, nothing else."""

    def find_class(self, module: str, name: str) -> object:
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return _reconstruct
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):  # how protocol-2 pickles written by Python 3 store bytes
            return _latin1_encode
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR-10 batch")


def _check_binary_size(path: Path, size: int) -> None:
    if 0 < size <= _BATCH_RECORDS * _RECORD and size % _RECORD == 0:
        return
    hint = ""
    if size and size % (_RECORD + 1) == 0:
        hint = ("; it is a whole number of 3074-byte records, the CIFAR-100 layout (coarse and fine label bytes), "
                "not CIFAR-10's")
    raise DataError(f"'{path}': not a CIFAR-10 binary batch: {size} bytes, expected a whole number (1 to "
                    f"{_BATCH_RECORDS}) of {_RECORD}-byte records (1 label byte, then 3x32x32 pixels){hint}")


def _check_batch_labels(path: Path, labels: np.ndarray) -> None:
    bad = np.flatnonzero((labels < 0) | (labels >= _CLASSES))
    if bad.size:
        raise DataError(f"'{path}', record {bad[0]}: label {labels[bad[0]]} outside the CIFAR-10 classes "
                        f"0..{_CLASSES - 1}")


def _read_binary_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    _check_binary_size(path, path.stat().st_size)  # before reading: a huge file is refused, not loaded
    with open(path, "rb") as f:
        raw = f.read(_BATCH_RECORDS * _RECORD + 1)  # bounded even if the file grew since stat
    _check_binary_size(path, len(raw))
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _RECORD)
    labels = records[:, 0].astype(np.int64)
    _check_batch_labels(path, labels)
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def _read_python_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    size = path.stat().st_size
    if size > _MAX_PYTHON_BATCH_BYTES:
        raise DataError(f"'{path}': not a CIFAR-10 python batch: {size} bytes, more than the "
                        f"{_MAX_PYTHON_BATCH_BYTES} a batch of {_BATCH_RECORDS} images can take")
    with open(path, "rb") as f:
        raw = f.read(_MAX_PYTHON_BATCH_BYTES)
    try:
        # From memory, not the file: a length field (FRAME, BINBYTES8) is then checked against the bytes there
        # are, where reading from the file first allocates what the field claims (a 9-byte file asked for 2^56
        # bytes). BYTEARRAY8 still allocates first: untouched pages (RSS stayed at 14 MB for 8 GiB), or a
        # MemoryError for more than the machine has, which is that field's doing, not a real shortage.
        batch = _ArrayUnpickler(io.BytesIO(raw), encoding="latin1").load()
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except Exception as e:
        # Only the file's content runs here (find_class admits no code): whatever it raises — the docs list
        # AttributeError, EOFError, ImportError, IndexError "but not necessarily limited to", and the fuzzer
        # found OverflowError, MemoryError and AttributeError — means a malformed batch.
        raise DataError(f"'{path}': not a CIFAR-10 python batch ({type(e).__name__}: {e})") from e
    if data.ndim != 2 or data.shape[1] != _RECORD - 1 or labels.shape != (len(data),) or not 0 < len(data) <= \
            _BATCH_RECORDS:
        raise DataError(f"'{path}': expected 'data' of shape (N, 3072) and N 'labels', 1 <= N <= {_BATCH_RECORDS}, "
                        f"got {data.shape} and {labels.shape}")
    _check_batch_labels(path, labels)
    return data.reshape(-1, 3, 32, 32), labels


class CIFAR10(TensorDataset):
    """CIFAR-10: items ``(uint8 (3, 32, 32), label)``, 10 classes; ``data`` is ``(N, 3, 32, 32)``.

    Args:
        root: folder holding the batch files, directly or in the extracted archive's
            ``cifar-10-batches-bin`` (preferred) or ``cifar-10-batches-py`` sub-folder.
        train: the 50,000 images of ``data_batch_1..5``, else the 10,000 of ``test_batch``.

    Raises:
        DataError (a ValueError): naming the file (and record): a binary batch that is not 1 to 10,000
            whole records (checked before it is read), a python batch over 61,460,000 bytes or not a pickled
            ``{data: (N, 3072) uint8, labels: N}``, a label outside 0..9.
        MissingFileError (a FileNotFoundError): no batches, or some of them missing (listed).
    """

    CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

    def __init__(self, root: str | os.PathLike, train: bool = True) -> None:
        root = Path(root)
        stems = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
        sets = [[root / folder / f"{stem}{ext}" for stem in stems] for folder in _FOLDERS for ext in (".bin", "")]
        complete = [paths for paths in sets if all(p.is_file() for p in paths)]
        if not complete:
            partial = next((paths for paths in sets if any(p.is_file() for p in paths)), None)
            if partial is not None:  # a partial download or extraction: say what is missing, not "no batches"
                missing = [p.name for p in partial if not p.is_file()]
                raise MissingFileError(f"CIFAR10: {', '.join(missing)} missing in '{partial[0].parent}' (the "
                                       f"{'training' if train else 'test'} set is {', '.join(p.name for p in partial)})")
            raise MissingFileError(
                f"CIFAR10: no {'training' if train else 'test'} batches in {root.resolve()}; place the binary version's "
                f"{', '.join(s + '.bin' for s in stems)} there or in its cifar-10-batches-bin folder "
                f"(https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz)")
        read = _read_binary_batch if complete[0][0].suffix == ".bin" else _read_python_batch
        parts = [read(p) for p in complete[0]]
        images = np.concatenate([images for images, _ in parts])
        labels = np.concatenate([labels for _, labels in parts])
        super().__init__(images, labels, self.CLASSES)
        self.root = root
        self.train = train
