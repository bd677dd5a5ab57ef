"""PyTorch's dtype and device names over NumPy's dtypes; npgrad has one device, the CPU.

``npgrad.float32`` *is* ``numpy.dtype("float32")``, so ``x.dtype == npgrad.float32``,
``x.dtype is npgrad.float32`` and ``np.zeros(3, npgrad.long)`` all work, and ``npgrad.dtype``
is ``numpy.dtype`` (``isinstance(x.dtype, npgrad.dtype)``). They print as NumPy's
(``float32``, not ``torch.float32``).

`device` mirrors ``torch.device``: ``device("cpu")``, ``device("cuda:0")``. Any device can be
named (code written for a GPU builds its ``device`` object first), but only the CPU can hold
data: moving a tensor or a module to another device raises (``npgrad.cuda.is_available()`` is
False, so the usual ``"cuda" if torch.cuda.is_available() else "cpu"`` picks the CPU).
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

dtype = np.dtype

float16 = half = np.dtype("float16")
float32 = float = np.dtype("float32")
float64 = double = np.dtype("float64")
uint8 = np.dtype("uint8")
int8 = np.dtype("int8")
int16 = short = np.dtype("int16")
int32 = int = np.dtype("int32")
int64 = long = np.dtype("int64")
bool = np.dtype("bool")
complex64 = cfloat = np.dtype("complex64")

DTYPE_NAMES = ("float16", "half", "float32", "float", "float64", "double", "uint8", "int8", "int16", "short",
               "int32", "int", "int64", "long", "bool", "complex64", "cfloat")


def get_default_dtype() -> np.dtype:
    """The dtype of tensors made from Python floats: float32 (npgrad has no ``set_default_dtype``)."""
    return float32


def as_dtype(value: Any, where: str) -> np.dtype:
    """``value`` (an npgrad/NumPy dtype, a NumPy scalar type or a dtype name) as a ``numpy.dtype``.

    Python's ``float`` and ``int`` map to float64 and int64, as NumPy (and PyTorch) read them.
    """
    try:
        return np.dtype(value)
    except TypeError:
        raise TypeError(f"{where}: expected a dtype such as npgrad.float32, got {value!r}") from None


class device:  # noqa: N801 - PyTorch's name
    """``device("cpu")``, ``device("cuda", 0)`` or ``device("cuda:0")``: where a tensor lives.

    Compares equal to another device of the same type and index, or to its string
    (``device("cpu") == "cpu"``).
    """

    __slots__ = ("type", "index")

    def __init__(self, type: str | device, index: builtins.int | None = None):  # noqa: A002 - PyTorch's name
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a device string such as 'cpu' or 'cuda:0', got {type!r}")
        name, colon, number = type.partition(":")
        if colon:
            if not number.isdigit() or index is not None:
                raise ValueError(f"device: invalid device string {type!r} (expected 'kind' or 'kind:index')")
            index = builtins.int(number)
        if not name.isidentifier():
            raise ValueError(f"device: invalid device string {type!r}")
        self.type = name
        self.index = index

    def __eq__(self, other: object) -> builtins.bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (TypeError, ValueError):
                return False
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> builtins.int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type={self.type!r}{index})"


CPU = device("cpu")


def check_device(value: Any, where: str) -> None:
    """Accept ``None``, ``"cpu"`` and ``device("cpu")``; raise for any other device."""
    if value is None:
        return
    if not isinstance(value, (str, device)):
        raise TypeError(f"{where}: device must be a string such as 'cpu' or an npgrad.device, got {value!r}")
    if device(value).type != "cpu":
        raise RuntimeError(
            f"{where}: npgrad computes on the CPU only, so it cannot use device {str(value)!r} "
            "(npgrad.cuda.is_available() is False)"
        )


def is_device_arg(value: Any) -> builtins.bool:
    """True for what ``.to(...)`` reads as a device: a string or a `device`."""
    return isinstance(value, (str, device))
