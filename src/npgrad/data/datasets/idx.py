"""The IDX format (MNIST, Fashion-MNIST) and the MNIST / FashionMNIST datasets.

IDX layout: a big-endian 4-byte magic ``0x0000TTDD`` (``TT`` the element type, ``DD`` the
number of dimensions), ``DD`` big-endian uint32 sizes, then the elements, big-endian, in C
order. MNIST images are ``0x00000803`` (uint8, 3 dims: N x 28 x 28) and labels
``0x00000801`` (uint8, 1 dim). Files may be gzip-compressed; this is detected from the
content, not the name.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from npgrad.data.dataset import TensorDataset, check_labels
from npgrad.errors import DataError, MissingFileError

# IDX element-type code -> big-endian NumPy dtype.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def _describe_magic(magic: int) -> str:
    dtype = _IDX_DTYPES.get((magic >> 8) & 0xFF)
    return f"{np.dtype(dtype).name if dtype else 'unknown type'}, {magic & 0xFF} dims"


# DEFLATE expands at most 1032:1; a gzip file claiming more data than that is truncated, not a bomb to unpack.
_MAX_GZIP_RATIO = 1032
_CHUNK = 1 << 22


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes of ``stream``, read in chunks so that memory follows the data, not the request."""
    parts, left = [], size
    while left > 0:
        part = stream.read(min(left, _CHUNK))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or not) into an array of its shape and native-endian dtype.

    The header is checked before the data is read: sizes against the file's length (a gzip file
    against the most its length can decompress to), and a gzip stream is decompressed in chunks
    and never beyond what the header promises (plus one byte, to detect trailing data).

    Raises:
        DataError (a ValueError): naming the file, for a bad magic number (or not ``expected_magic``),
            a truncated header or data section, a size of 0 in the header, trailing bytes after the
            data, or corrupt gzip data.
    """
    path = Path(path)
    file_size = path.stat().st_size
    with open(path, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream: BinaryIO = gzip.GzipFile(fileobj=raw) if gz else raw
        try:
            return _parse_idx(path.name, stream, file_size, gz, expected_magic)
        except (OSError, EOFError, zlib.error) as e:
            if not gz:
                raise
            raise DataError(f"{path.name}: corrupt or truncated gzip data ({e})") from e


def _parse_idx(name: str, stream: BinaryIO, file_size: int, gz: bool, expected_magic: int | None) -> np.ndarray:
    head = _read_exactly(stream, 4)
    if len(head) < 4:
        raise DataError(f"{name}: truncated IDX file: {len(head)} bytes, too short for the 4-byte magic number")
    (magic,) = struct.unpack(">I", head)
    ndim, type_code = magic & 0xFF, (magic >> 8) & 0xFF
    if expected_magic is not None and magic != expected_magic:
        raise DataError(f"{name}: bad magic number 0x{magic:08X}, expected 0x{expected_magic:08X} "
                        f"({_describe_magic(expected_magic)})")
    if magic >> 16 or type_code not in _IDX_DTYPES or ndim == 0:
        raise DataError(f"{name}: bad magic number 0x{magic:08X}: not an IDX file")
    header = 4 + 4 * ndim
    sizes = _read_exactly(stream, 4 * ndim)
    if len(sizes) < 4 * ndim:
        raise DataError(f"{name}: truncated IDX file: the header needs {header} bytes, the file has {4 + len(sizes)}")
    shape = struct.unpack(f">{ndim}I", sizes)
    items = f"{shape[0]} items" + (" of " + "x".join(map(str, shape[1:])) if ndim > 1 else "")
    if 0 in shape:
        raise DataError(f"{name}: empty IDX file: header says {items}")
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if gz:
        most = _MAX_GZIP_RATIO * file_size
        if expected > most:
            raise DataError(f"{name}: truncated IDX file: header says {items} ({expected} bytes) but a gzip file of "
                            f"{file_size} bytes holds at most {most}")
        data = _read_exactly(stream, expected + 1)
        found, more = len(data), len(data) > expected
    else:
        found = file_size - header
        more = found > expected
        data = _read_exactly(stream, expected) if found == expected else b""
    if found != expected:
        kind, only = ("malformed", "more than " if gz else "") if more else ("truncated", "only ")
        shown = expected if gz and more else found
        raise DataError(f"{name}: {kind} IDX file: header says {items} ({expected} bytes) but {only}{shown} bytes follow")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzipped (deterministically: mtime 0) if the name ends in .gz."""
    path = Path(path)
    array = np.asarray(array)
    codes = {np.dtype(d).newbyteorder("="): code for code, d in _IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None or array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"write_idx: cannot store a {array.ndim}-D {array.dtype} array in IDX")
    header = struct.pack(f">I{array.ndim}I", (code << 8) | array.ndim, *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=9, mtime=0)
    path.write_bytes(payload)


class MNIST(TensorDataset):
    """MNIST from the standard IDX files in ``root`` (gzipped or not).

    Items are ``(uint8 (1, 28, 28), label)``; ``data`` holds all images ``(N, 1, 28, 28)``.

    Args:
        root: the folder holding ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``
            (``train=True``) or the ``t10k-*`` pair (``train=False``).
        download: fetch the missing files from ``mirrors`` (default `MIRRORS`) into ``root``,
            checking their MD5 against `RESOURCES`. Existing files are used as they are.
        mirrors: base URLs tried in order (the file name is appended).
    """

    MIRRORS: Sequence[str] = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
    # File name -> MD5 of the published gzipped file.
    RESOURCES: dict[str, str] = {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }
    CLASSES: Sequence[str] = tuple(str(d) for d in range(10))

    def __init__(self, root: str | os.PathLike, train: bool = True, download: bool = False,
                 mirrors: Sequence[str] | None = None) -> None:
        root = Path(root)
        prefix = "train" if train else "t10k"
        stems = [f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"]
        missing = [s + ".gz" for s in stems if not (root / s).is_file() and not (root / f"{s}.gz").is_file()]
        if missing and download:
            from npgrad.data.datasets._download import download_files

            download_files({name: self.RESOURCES[name] for name in missing}, root,
                           self.MIRRORS if mirrors is None else mirrors, dataset=type(self).__name__)
        elif missing:
            raise MissingFileError(
                f"{type(self).__name__}: missing {', '.join(missing)} in {root.resolve()}; place the IDX files there "
                f"(gzipped or not) or pass download=True")
        images_path, labels_path = (root / s if (root / s).is_file() else root / f"{s}.gz" for s in stems)
        images = read_idx(images_path, IMAGES_MAGIC)
        labels = read_idx(labels_path, LABELS_MAGIC)
        if len(images) != len(labels):
            raise DataError(f"{type(self).__name__}: {images_path.name} has {len(images)} images "
                             f"but {labels_path.name} has {len(labels)} labels")
        check_labels(labels, len(self.CLASSES), labels_path.name)
        super().__init__(images[:, None], labels.astype(np.int64), self.CLASSES)
        self.root = root
        self.train = train


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando): the MNIST file format and layout with 10 clothing classes."""

    MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
    RESOURCES = {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    }
    CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
