"""Argument normalisation shared by every operator (one home for each rule)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_UNSET: Any = object()


def resolve_dim(op: str, dim: Any = _UNSET, axis: Any = _UNSET, default: Any = None) -> Any:
    """Return the dimension argument given as PyTorch's ``dim`` or NumPy's ``axis``.

    Both spellings are accepted so both habits work; giving both is an error.
    """
    if dim is not _UNSET and axis is not _UNSET:
        raise TypeError(f"{op}: give either dim or axis, not both")
    if dim is not _UNSET:
        return dim
    if axis is not _UNSET:
        return axis
    return default


def resolve_keepdim(op: str, keepdim: Any = _UNSET, keepdims: Any = _UNSET) -> bool:
    """Return PyTorch's ``keepdim`` or its NumPy alias ``keepdims`` (default False)."""
    return bool(resolve_dim(op, keepdim, keepdims, default=False))


def normalize_dims(op: str, dim: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """Turn ``dim`` (None, an int or a sequence, negatives allowed) into sorted axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        d = int(d)
        if not -ndim <= d < max(ndim, 1):
            raise ValueError(f"{op}: dim {d} is out of range for a tensor with {ndim} dimensions")
        out.append(d % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dim} repeats a dimension")
    return tuple(sorted(out))


def pair(op: str, name: str, value: int | Sequence[int]) -> tuple[int, int]:
    """Normalise an int-or-pair argument (kernel_size, stride, padding, ...) to (h, w)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value), int(value))
    try:
        h, w = value  # type: ignore[misc]
        return (int(h), int(w))
    except (TypeError, ValueError):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}") from None



def check_same_dtype(op: str, x: Any, weight: Any, bias: Any) -> None:
    """A layer's input, weight and bias must share one dtype, as in PyTorch (npgrad never upcasts silently)."""
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != x.dtype):
        dtypes = f"input {x.dtype}, weight {weight.dtype}" + ("" if bias is None else f", bias {bias.dtype}")
        raise TypeError(f"{op}: input, weight and bias must have the same dtype, got {dtypes} "
                        "(convert the input with .float() or the layer with .double())")
