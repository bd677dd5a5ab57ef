"""Reductions over dimensions: sum, mean, max, min.

Each takes PyTorch's ``dim``/``keepdim`` or NumPy's ``axis``/``keepdims``;
``dim=None`` reduces over everything. The backward spreads ``dout`` back over
the reduced dimensions (`_expand`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npgrad._utils import _UNSET, normalize_dims, resolve_dim, resolve_keepdim
from npgrad.function import Function
from npgrad.tensor import Tensor


def _expand(dout: np.ndarray, axes: tuple[int, ...], keepdim: bool, shape: tuple[int, ...]) -> np.ndarray:
    """Broadcast a reduced gradient back to the input's ``shape`` (a read-only view)."""
    if not keepdim:
        dout = np.expand_dims(dout, axes)
    return np.broadcast_to(dout, shape)


class Sum(Function):
    """out = x summed over ``axes``;  dx = dout broadcast back."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.args = (axes, keepdim, x.shape)
        return np.sum(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, dout):
        return _expand(dout, *ctx.args)


class Mean(Function):
    """out = mean of x over ``axes``;  dx = dout / count, broadcast back."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.args = (axes, keepdim, x.shape)
        ctx.count = int(np.prod([x.shape[a] for a in axes]))
        return np.mean(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, dout):
        return _expand(dout / ctx.count, *ctx.args)


class Extremum(Function):
    """out = max (or min) of x over ``axes``.

    Like ``torch.amax``, the gradient is shared equally among tied extrema.
    """

    @staticmethod
    def forward(ctx, x, axes, keepdim, largest):
        out = (np.max if largest else np.min)(x, axis=axes, keepdims=True)
        is_extremum = x == out
        ctx.save_for_backward(is_extremum, is_extremum.sum(axis=axes, keepdims=True))
        ctx.args = (axes, keepdim, x.shape)
        return out if keepdim else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, dout):
        is_extremum, ties = ctx.saved
        axes, keepdim, shape = ctx.args
        if not keepdim:
            dout = np.expand_dims(dout, axes)
        return is_extremum * (dout / ties)


def _reduce(op: str, fn: type[Function], x: Tensor, dim: Any, keepdim: Any, axis: Any, keepdims: Any, **extra: Any) -> Tensor:
    axes = normalize_dims(op, resolve_dim(op, dim, axis), x.ndim)
    return fn.apply(x, axes=axes, keepdim=resolve_keepdim(op, keepdim, keepdims), **extra)


def sum(x: Tensor, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
    """Sum over ``dim`` (int, tuple or None for all); ``axis``/``keepdims`` are aliases."""
    return _reduce("sum", Sum, x, dim, keepdim, axis, keepdims)


def mean(x: Tensor, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
    """Mean over ``dim`` (int, tuple or None for all); ``axis``/``keepdims`` are aliases."""
    return _reduce("mean", Mean, x, dim, keepdim, axis, keepdims)


def max(x: Tensor, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
    """Maximum values over ``dim`` (like ``torch.amax``: values only; use ``argmax`` for indices)."""
    return _reduce("max", Extremum, x, dim, keepdim, axis, keepdims, largest=True)


def min(x: Tensor, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
    """Minimum values over ``dim`` (like ``torch.amin``: values only; use ``argmin`` for indices)."""
    return _reduce("min", Extremum, x, dim, keepdim, axis, keepdims, largest=False)
