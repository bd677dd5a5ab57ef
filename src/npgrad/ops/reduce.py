"""Reductions over dimensions: sum, mean, var, std, amax/amin, max/min, argmax/argmin; cumsum, sort, topk.

Each takes PyTorch's ``dim``/``keepdim`` or NumPy's ``axis``/``keepdims``;
``dim=None`` reduces over everything. The backward spreads ``dout`` back over
the reduced dimensions (`_expand`).

``max``/``min`` follow PyTorch: with an int ``dim`` they return ``(values, indices)``
and the gradient goes to the selected element; without ``dim`` (or with NumPy's
``axis``) they return the values, like ``amax``/``amin``, which share the gradient
equally among ties and accept several dims.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from npgrad._utils import _UNSET, normalize_dims, resolve_dim, resolve_keepdim
from npgrad.function import Function
from npgrad.ops.elementwise import maximum, minimum
from npgrad.ops.shape import gather
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


class CumSum(Function):
    """out[..., i, ...] = sum of x[..., :i + 1, ...] along ``axis``;  dx = dout summed from the end (a reversed cumsum)."""

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        return np.cumsum(x, axis=axis)

    @staticmethod
    def backward(ctx, dout):
        return np.flip(np.cumsum(np.flip(dout, ctx.axis), axis=ctx.axis), ctx.axis)


class ValuesIndices(NamedTuple):
    """What ``max``/``min`` with a ``dim``, ``sort`` and ``topk`` return (PyTorch's ``torch.return_types``)."""

    values: Tensor
    indices: Tensor


def _reduce(op: str, fn: type[Function], x: Tensor, dim: Any, keepdim: Any, axis: Any, keepdims: Any, **extra: Any) -> Tensor:
    axes = normalize_dims(op, resolve_dim(op, dim, axis), x.ndim)
    return fn.apply(x, axes=axes, keepdim=resolve_keepdim(op, keepdim, keepdims), **extra)


def sum(x: Tensor, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
    """Sum over ``dim`` (int, tuple or None for all); ``axis``/``keepdims`` are aliases."""
    return _reduce("sum", Sum, x, dim, keepdim, axis, keepdims)


def mean(x: Tensor, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
    """Mean over ``dim`` (int, tuple or None for all); ``axis``/``keepdims`` are aliases."""
    return _reduce("mean", Mean, x, dim, keepdim, axis, keepdims)


def amax(x: Tensor, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
    """Maximum values over ``dim`` (int, tuple or None for all); the gradient is shared among tied maxima."""
    return _reduce("amax", Extremum, x, dim, keepdim, axis, keepdims, largest=True)


def amin(x: Tensor, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
    """Minimum values over ``dim`` (int, tuple or None for all); the gradient is shared among tied minima."""
    return _reduce("amin", Extremum, x, dim, keepdim, axis, keepdims, largest=False)


def _extremum(op: str, x: Tensor, dim: Any, keepdim: Any, axis: Any, keepdims: Any, largest: bool) -> Any:
    if isinstance(dim, Tensor):  # torch.max(input, other): the element-wise maximum
        return (maximum if largest else minimum)(x, dim)
    if dim is _UNSET or dim is None:  # no dim: the values over everything, or NumPy's axis= semantics
        return _reduce(op, Extremum, x, dim, keepdim, axis, keepdims, largest=largest)
    if axis is not _UNSET:
        raise TypeError(f"{op}: give either dim or axis, not both")
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be one int (it returns values and indices along it); use a{op} for several dims")
    (axis,) = normalize_dims(op, dim, x.ndim)
    indices = (np.argmax if largest else np.argmin)(x.data, axis=axis, keepdims=True)
    keep = resolve_keepdim(op, keepdim, keepdims)
    values = gather(x, axis, indices)
    if not keep:
        values, indices = values.squeeze(axis), np.squeeze(indices, axis=axis)
    return ValuesIndices(values, Tensor(indices))


def max(x: Tensor, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Any:
    """PyTorch's ``max``: over everything a value; with an int ``dim`` the pair ``(values, indices)``;
    with a Tensor in place of ``dim`` (``max(input, other)``) the element-wise maximum.

    With NumPy's ``axis`` (an int or a tuple) it returns the values, as ``amax`` does.
    """
    return _extremum("max", x, dim, keepdim, axis, keepdims, largest=True)


def min(x: Tensor, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Any:
    """PyTorch's ``min``: over everything a value; with an int ``dim`` the pair ``(values, indices)`` (see `max`)."""
    return _extremum("min", x, dim, keepdim, axis, keepdims, largest=False)


def _arg_extremum(op: str, x: Tensor, dim: Any, keepdim: Any, axis: Any, keepdims: Any) -> Tensor:
    d = resolve_dim(op, dim, axis)
    if d is not None:
        (d,) = normalize_dims(op, d, x.ndim)
    return Tensor((np.argmax if op == "argmax" else np.argmin)(x.data, axis=d, keepdims=resolve_keepdim(op, keepdim, keepdims)))


def argmax(x: Tensor, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
    """Indices (int64, no gradient) of the maxima along ``dim``; over the flattened tensor when ``dim`` is None."""
    return _arg_extremum("argmax", x, dim, keepdim, axis, keepdims)


def argmin(x: Tensor, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
    """Indices (int64, no gradient) of the minima along ``dim``; over the flattened tensor when ``dim`` is None."""
    return _arg_extremum("argmin", x, dim, keepdim, axis, keepdims)


def var(x: Tensor, dim: Any = _UNSET, unbiased: Any = _UNSET, keepdim: Any = _UNSET, *, correction: Any = _UNSET,
        axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
    """Variance over ``dim``: sum((x - mean)²) / (n - correction), PyTorch's default ``correction=1``.

    ``unbiased=False`` (PyTorch's older spelling) means ``correction=0``. Built from mean, sub,
    mul and sum, so its gradient is theirs.
    """
    if unbiased is not _UNSET and correction is not _UNSET:
        raise TypeError("var: give either unbiased or correction, not both")
    c = (1 if unbiased else 0) if unbiased is not _UNSET else 1 if correction is _UNSET else correction
    axes = normalize_dims("var", resolve_dim("var", dim, axis), x.ndim)
    keep = resolve_keepdim("var", keepdim, keepdims)
    centered = x - Mean.apply(x, axes=axes, keepdim=True)
    n = int(np.prod([x.shape[a] for a in axes]))
    return Sum.apply(centered * centered, axes=axes, keepdim=keep) / np.asarray(n - c, dtype=x.dtype)


def std(x: Tensor, dim: Any = _UNSET, unbiased: Any = _UNSET, keepdim: Any = _UNSET, *, correction: Any = _UNSET,
        axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
    """Standard deviation: the square root of `var` (same arguments)."""
    return var(x, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims).sqrt()


def norm(x: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Tensor:
    """The 2-norm (Frobenius for matrices) over ``dim`` (all dimensions when None): sqrt(sum(x²)).

    Only ``p=2`` / ``"fro"``; its gradient x / norm is undefined (nan) where the norm is 0.
    """
    if p not in (2, "fro"):
        raise ValueError(f"norm: only the 2-norm (p=2 or 'fro') is implemented, got p={p!r}")
    axes = normalize_dims("norm", dim, x.ndim)
    return Sum.apply(x * x, axes=axes, keepdim=bool(keepdim)).sqrt()


def cumsum(x: Tensor, dim: int) -> Tensor:
    """Running sums along ``dim``."""
    (axis,) = normalize_dims("cumsum", dim, x.ndim)
    return CumSum.apply(x, axis=axis)


def _sort_order(op: str, x: Tensor, dim: int, descending: bool) -> tuple[int, np.ndarray]:
    """The axis and the stable sorting permutation along it; NaN counts as the largest value, as in PyTorch."""
    (axis,) = normalize_dims(op, dim, x.ndim)
    if not descending:
        return axis, np.argsort(x.data, axis=axis, kind="stable")  # NumPy too sorts NaN last
    keys = np.moveaxis(x.data.astype(np.float64) if x.dtype.kind in "ub" else x.data, axis, -1)
    is_value = ~np.isnan(keys) if keys.dtype.kind == "f" else np.ones(keys.shape, bool)
    order = np.lexsort((-keys, is_value), axis=-1)  # NaN first, then the largest first; ties keep their order
    return axis, np.moveaxis(order, -1, axis)


def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> ValuesIndices:
    """``(values, indices)`` sorted along ``dim``; the values are differentiable. The sort is always stable."""
    axis, order = _sort_order("sort", x, dim, descending)
    return ValuesIndices(gather(x, axis, order), Tensor(order))


def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The indices that sort ``x`` along ``dim`` (int64, stable)."""
    return Tensor(_sort_order("argsort", x, dim, descending)[1])


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> ValuesIndices:
    """``(values, indices)`` of the ``k`` largest (or smallest) entries along ``dim``, largest first; values differentiable."""
    axis, order = _sort_order("topk", x, dim, descending=largest)
    if not 0 <= k <= x.shape[axis]:
        raise ValueError(f"topk: k={k} is out of range for dimension {dim} of size {x.shape[axis]}")
    order = order[(slice(None),) * axis + (slice(k),)]
    return ValuesIndices(gather(x, axis, order), Tensor(order))
