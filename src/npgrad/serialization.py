"""Checkpoints: `save` and `load` nested dicts/lists of arrays and plain values, in the safetensors format.

A checkpoint is a single ``.safetensors`` file: the arrays are its tensors and
everything else (the nesting, the dict keys, numbers, strings, None) is JSON
stored in the header's ``__metadata__`` under the key ``"npgrad"``. Nothing is
ever pickled, so loading a file cannot run code.

Tensor names are the dotted paths of the arrays (``{'model': {'fc.weight': w}}``
stores ``w`` as ``model.fc.weight``), so ``npgrad.save(model.state_dict(), path)``
is readable by ``safetensors.torch.load_file(path)`` with PyTorch's usual
names. The JSON records which name belongs to which position, so keys that
contain dots (or would collide) still load back exactly.

Writes are atomic: the file is written to a temporary file in the same
folder, flushed to disk and renamed over ``path``, so an interrupted save
(an exception, Ctrl-C, a crash) leaves the previous checkpoint intact.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import struct
from typing import Any

import numpy as np

from npgrad._dtypes import check_device
from npgrad._fileio import atomic_path
from npgrad.errors import CheckpointError
from npgrad.tensor import Tensor

_METADATA_KEY = "npgrad"
_FORMAT_VERSION = 1
# The dtypes that both safetensors and NumPy represent exactly.
_DTYPES = frozenset(
    map(np.dtype, "bool int8 uint8 int16 uint16 int32 uint32 int64 uint64 float16 float32 float64 complex64".split())
)
_KINDS = "dict, list, tuple, numpy array, Tensor, str, int, float, bool or None"


# ------------------------------------------------------------------- encoding
# JSON form of a value: null / true / 3 / "text" / [items...] for a list, and
# {"tensor": name}, {"float": "nan" | "inf" | "-inf"}, {"tuple": [...]} or
# {"dict": [[key, value], ...]} (keys are str or int; order kept).
class _Encoder:
    def __init__(self) -> None:
        self.tensors: dict[str, np.ndarray] = {}

    def encode(self, value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(value, Tensor):
            value = value.data
        if isinstance(value, np.ndarray):
            return {"tensor": self._add_array(value, path)}
        if isinstance(value, (np.bool_, np.integer, np.floating)):
            value = value.item()
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"float": repr(value)}
        if isinstance(value, dict):
            return {"dict": [[self._key(k, path), self.encode(v, (*path, str(k)))] for k, v in value.items()]}
        if isinstance(value, list):
            return [self.encode(v, (*path, str(i))) for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {"tuple": [self.encode(v, (*path, str(i))) for i, v in enumerate(value)]}
        raise TypeError(f"save: cannot store a {type(value).__name__} at {_where(path)}; a checkpoint holds {_KINDS}")

    def _key(self, key: Any, path: tuple[str, ...]) -> str | int:
        if isinstance(key, np.integer):
            key = int(key)
        if isinstance(key, (str, int)) and not isinstance(key, bool):
            return key
        raise TypeError(f"save: dict keys must be str or int, got {key!r} in {_where(path)}")

    def _add_array(self, array: np.ndarray, path: tuple[str, ...]) -> str:
        array = array.astype(array.dtype.newbyteorder("="), copy=False)
        if array.dtype not in _DTYPES:
            raise TypeError(f"save: cannot store an array of dtype {array.dtype} at {_where(path)}")
        base = ".".join(path) or "tensor"
        name, n = base, 1
        while name in self.tensors or name == "__metadata__":
            name, n = f"{base}__{n}", n + 1
        # safetensors writes the raw buffer: a non-contiguous view would be stored scrambled.
        # (np.ascontiguousarray would turn a 0-d array into shape (1,).)
        self.tensors[name] = array if array.flags.c_contiguous else array.copy(order="C")
        return name


def _where(path: tuple[str, ...]) -> str:
    return repr(".".join(path)) if path else "the top level"


def _decode(node: Any, tensors: dict[str, np.ndarray]) -> Any:
    if isinstance(node, list):
        return [_decode(v, tensors) for v in node]
    if not isinstance(node, dict):
        return node
    ((tag, body),) = node.items()
    if tag == "tensor":
        return tensors[body]
    if tag == "float":
        return float(body)
    if tag == "tuple":
        return tuple(_decode(v, tensors) for v in body)
    if tag == "dict":
        return {key: _decode(v, tensors) for key, v in body}
    raise ValueError(f"unknown entry {tag!r}")


# ---------------------------------------------------------------------- save
def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` to ``path`` as a safetensors checkpoint, atomically.

    Args:
        obj: nested dicts (str or int keys), lists and tuples of NumPy arrays,
            npgrad Tensors (stored as their arrays) and plain values: str, int,
            float (nan and inf included), bool, None. NumPy scalars are stored
            as the equivalent Python numbers. Arrays keep dtype and shape
            exactly (bool, int8-64, uint8-64, float16/32/64, complex64).
        path: the file to write; its folder must exist. An existing file is
            replaced only once the new one is completely on disk.

    Raises:
        TypeError: ``obj`` holds something else (the message says where).
        WriteError (an OSError): the file cannot be written (disk full, read-only folder...);
            the previous file is intact and no temporary file is left.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import save_file

    encoder = _Encoder()
    structure = encoder.encode(obj, ())
    metadata = {_METADATA_KEY: json.dumps({"version": _FORMAT_VERSION, "root": structure}, allow_nan=False)}
    with atomic_path(path) as tmp:
        try:
            save_file(encoder.tensors, tmp, metadata=metadata)
        except SafetensorError as error:  # an I/O failure (disk full...) inside the Rust writer: as the OSError it is
            code = re.search(r"(?:code: |os error )(\d+)", str(error))
            errno_ = int(code.group(1)) if code else errno.EIO
            raise OSError(errno_, os.strerror(errno_) if code else str(error)) from error


# ---------------------------------------------------------------------- load
def load(path: str | os.PathLike, map_location: Any = None, *, weights_only: bool | None = None) -> Any:
    """Read a checkpoint written by `save`: the same structure, with arrays as ``numpy.ndarray``.

    Tensors come back as arrays (dtypes and shapes bit-exact), tuples as
    tuples, dict keys as the same str/int keys. A safetensors file written by
    other tools (no npgrad metadata) loads as a flat ``{name: array}`` dict.

    ``map_location`` and ``weights_only`` are ``torch.load``'s: the location may be None, ``"cpu"``
    or ``npgrad.device("cpu")`` (the only device), and every npgrad file is weights-only (it
    holds arrays and plain values, never code), whichever value is passed.
    BF16 tensors (written by other tools) are upcast to float32, exactly.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError (a ValueError): the file is not a safetensors file, is
            truncated, holds a dtype NumPy cannot represent (F8...), a header
            nested too deeply, or damaged npgrad metadata; the message names the file.
    """
    check_device(map_location, "load: map_location")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such checkpoint file: {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"load: {path!r} is a folder, not a checkpoint file")
    header, data_start = _check_header(path)
    metadata = header.pop("__metadata__", None) or {}
    tensors = _read_tensors(path, header, data_start)
    if _METADATA_KEY not in metadata:
        return tensors
    try:
        document = json.loads(metadata[_METADATA_KEY])
        if document.get("version") != _FORMAT_VERSION:
            raise ValueError(f"unsupported npgrad checkpoint version {document.get('version')!r}")
        return _decode(document["root"], tensors)
    except RecursionError:
        raise _invalid(path, "its npgrad metadata is nested too deeply") from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise _invalid(path, f"its npgrad metadata is damaged ({type(error).__name__}: {error})") from error


def _invalid(path: str, reason: str) -> CheckpointError:
    return CheckpointError(f"{path!r} is not a valid checkpoint: {reason}")


# safetensors dtype names -> NumPy; BF16 is read as its upper 16 bits of a float32 (exact upcast).
_SAFETENSORS_DTYPES = {"BOOL": "?", "U8": "u1", "I8": "i1", "U16": "<u2", "I16": "<i2", "U32": "<u4", "I32": "<i4",
                       "U64": "<u8", "I64": "<i8", "F16": "<f2", "F32": "<f4", "F64": "<f8", "C64": "<c8", "BF16": "<u2"}


def _read_tensors(path: str, header: dict[str, Any], data_start: int) -> dict[str, np.ndarray]:
    """The tensors the (checked) header describes, as native-endian arrays; BF16 upcast to float32."""
    tensors = {}
    with open(path, "rb") as f:
        f.seek(data_start)
        data = f.read()
    for name, entry in header.items():
        try:
            dtype_name, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            if not (isinstance(shape, list) and all(isinstance(n, int) and n >= 0 for n in shape)):
                raise ValueError(f"shape {shape!r:.60}")
            if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= len(data)):
                raise ValueError(f"data_offsets {[begin, end]!r:.60}")
        except (KeyError, TypeError, ValueError) as error:
            raise _invalid(path, f"tensor {name!r:.60} has a malformed entry ({error})") from None
        if dtype_name not in _SAFETENSORS_DTYPES:
            raise _invalid(path, f"tensor {name!r:.60} has dtype {dtype_name!r:.20}, which npgrad cannot load "
                                 f"(supported: {', '.join(_SAFETENSORS_DTYPES)})")
        dtype = np.dtype(_SAFETENSORS_DTYPES[dtype_name])
        if end - begin != math.prod(shape) * dtype.itemsize:
            raise _invalid(path, f"tensor {name!r:.60} of shape {shape} and dtype {dtype_name} needs "
                                 f"{math.prod(shape) * dtype.itemsize} bytes, its offsets span {end - begin}")
        array = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=begin).reshape(shape)
        if dtype_name == "BF16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = array.astype(dtype.newbyteorder("=") if dtype_name != "BF16" else np.float32, copy=True)
    return tensors


def _check_header(path: str) -> tuple[dict[str, Any], int]:
    """Validate the safetensors framing of ``path``; return its header and where the data starts.

    Layout: an 8-byte little-endian header length N, N bytes of JSON header
    (``{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}``),
    then the data, whose size is the largest ``end``.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        prefix = f.read(9)
        if len(prefix) < 9 or prefix[8:9] != b"{":
            raise _invalid(path, "not in the safetensors format (no 8-byte header length followed by a JSON header)")
        (header_size,) = struct.unpack("<Q", prefix[:8])
        if header_size > size - 8:
            raise _invalid(path, f"file is truncated (header says {header_size} bytes of header, the file has {size} bytes)")
        f.seek(8)
        raw = f.read(header_size)
    try:
        header = json.loads(raw)
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        data_size = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        metadata = header.get("__metadata__") or {}
        if not isinstance(metadata, dict):
            raise ValueError("__metadata__ is not a JSON object")
    except RecursionError:
        raise _invalid(path, "not in the safetensors format (the header is nested too deeply)") from None
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise _invalid(path, f"not in the safetensors format (bad header: {error})") from error
    found = size - 8 - header_size
    if found < data_size:
        raise _invalid(path, f"file is truncated (header says {data_size} bytes of data, found {found})")
    return header, 8 + header_size
