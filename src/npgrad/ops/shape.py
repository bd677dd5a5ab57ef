"""Operations that move values without changing them: reshape, permute, expand, repeat, indexing, gather, cat, stack, split."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from npgrad._utils import _UNSET, normalize_dims, resolve_dim
from npgrad.function import Function
from npgrad.ops.elementwise import unbroadcast
from npgrad.tensor import Tensor, _shape_arg, _values


class Reshape(Function):
    """out = x with a new shape (a view when NumPy can make one)."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, dout):
        return dout.reshape(ctx.in_shape)


class Permute(Function):
    """out = x with its dimensions reordered: out.shape[i] = x.shape[dims[i]]."""

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return np.transpose(x, dims)

    @staticmethod
    def backward(ctx, dout):
        return np.transpose(dout, np.argsort(ctx.dims))


class Expand(Function):
    """out = x broadcast to ``shape`` (a read-only view);  dx = dout summed over the stretched dimensions."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, dout):
        return unbroadcast(dout, ctx.in_shape)


def _is_basic_index(index: Any) -> bool:
    """True when ``index`` only slices (so no element is picked twice)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer)) for p in parts)


class GetItem(Function):
    """out = x[index];  dx = zeros with dout scattered back (added where an index repeats)."""

    @staticmethod
    def forward(ctx, x, index):
        ctx.args = (index, x.shape, x.dtype)
        return x[index]

    @staticmethod
    def backward(ctx, dout):
        index, shape, dtype = ctx.args
        dx = np.zeros(shape, dtype=dtype)
        if _is_basic_index(index):
            dx[index] = dout
        else:
            np.add.at(dx, index, dout)
        return dx


class Gather(Function):
    """out[i, j, k] = x[i, index[i, j, k], k] for ``axis`` 1 (PyTorch's ``gather``, ``np.take_along_axis``).

    ``index`` has x's number of dimensions and is no larger than x off ``axis``;
    dx = zeros with dout added back at ``index`` (repeated indices add up).
    """

    @staticmethod
    def forward(ctx, x, index, axis):
        ctx.args = (index, axis, x.shape, x.dtype)
        x = x[tuple(slice(None) if d == axis else slice(n) for d, n in enumerate(index.shape))]
        return np.take_along_axis(x, index, axis=axis)

    @staticmethod
    def backward(ctx, dout):
        index, axis, shape, dtype = ctx.args
        dx = np.zeros(shape, dtype)
        coords = list(np.indices(index.shape, sparse=True))  # each element's own coordinates ...
        coords[axis] = index  # ... with the gathered position on ``axis``
        np.add.at(dx, tuple(coords), dout)
        return dx


class Repeat(Function):
    """out = x tiled ``reps`` times along each dimension (PyTorch's ``repeat``, ``np.tile``);
    dx = dout cut into its tiles, summed: dout viewed as (r0, n0, r1, n1, ...) summed over the r axes.
    """

    @staticmethod
    def forward(ctx, x, reps):
        ctx.args = (reps, x.shape)
        return np.tile(x, reps)

    @staticmethod
    def backward(ctx, dout):
        reps, in_shape = ctx.args
        padded = (1,) * (len(reps) - len(in_shape)) + in_shape
        tiles = dout.reshape([size for pair in zip(reps, padded) for size in pair])
        return tiles.sum(axis=tuple(range(0, 2 * len(reps), 2))).reshape(in_shape)


class Concatenate(Function):
    """out = the inputs joined along ``axis``; each input's gradient is its slice of dout."""

    @staticmethod
    def forward(ctx, *xs, axis):
        ctx.axis = axis
        ctx.splits = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx, dout):
        return tuple(np.split(dout, ctx.splits, axis=ctx.axis))


class Stack(Function):
    """out = the inputs stacked along a new ``axis``; each gradient is one slice of dout."""

    @staticmethod
    def forward(ctx, *xs, axis):
        ctx.axis = axis
        return np.stack(xs, axis=axis)

    @staticmethod
    def backward(ctx, dout):
        return tuple(np.moveaxis(dout, ctx.axis, 0))


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """``x.reshape(2, -1)`` or ``x.reshape((2, -1))``; one dimension may be -1."""
    shape = _shape_arg(shape)
    try:
        return Reshape.apply(x, shape=shape)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.numel()} elements) into {shape}") from None


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dimensions ``start_dim`` .. ``end_dim`` (inclusive) into one, like ``torch.flatten``."""
    if x.ndim == 0:
        return reshape(x, 1)
    start, end = (d % x.ndim for d in (start_dim, end_dim))
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return reshape(x, *x.shape[:start], -1, *x.shape[end + 1 :])


def permute(x: Tensor, *dims: Any) -> Tensor:
    """Reorder dimensions: ``x.permute(0, 2, 3, 1)``."""
    dims = _shape_arg(dims)
    if sorted(d % max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {x.ndim} dimensions")
    return Permute.apply(x, dims=tuple(d % x.ndim for d in dims))


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap dimensions ``dim0`` and ``dim1``."""
    a, b = normalize_dims("transpose", dim0, x.ndim)[0], normalize_dims("transpose", dim1, x.ndim)[0]
    dims = list(range(x.ndim))
    dims[a], dims[b] = dims[b], dims[a]
    return Permute.apply(x, dims=tuple(dims))


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """Insert a dimension of size 1 at ``dim``."""
    dim = dim % (x.ndim + 1)
    return reshape(x, *x.shape[:dim], 1, *x.shape[dim:])


def squeeze(x: Tensor, dim: int | None = None) -> Tensor:
    """Remove dimensions of size 1 (only ``dim`` when given, if it has size 1)."""
    if dim is None:
        return reshape(x, *(n for n in x.shape if n != 1))
    (dim,) = normalize_dims("squeeze", dim, x.ndim)
    if x.shape[dim] != 1:
        return x
    return reshape(x, *x.shape[:dim], *x.shape[dim + 1 :])


def expand(x: Tensor, *sizes: Any) -> Tensor:
    """``x.expand(3, -1, 4)``: size-1 dimensions repeated (without copying) to ``sizes``; -1 keeps a size.

    New leading dimensions may be added, as in PyTorch.
    """
    sizes = _shape_arg(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: {len(sizes)} sizes given for a tensor of {x.ndim} dimensions (shape {x.shape})")
    shape = tuple(x.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(sizes))
    for i, n in enumerate(x.shape):
        if n != 1 and n != shape[lead + i]:
            raise ValueError(f"expand: dimension {i} has size {n}, which cannot be expanded to {shape[lead + i]} "
                             f"(only size-1 dimensions expand; shape {x.shape} to {sizes})")
    if any(n < 0 for n in shape):
        raise ValueError(f"expand: -1 is only allowed for existing dimensions, got sizes {sizes} for shape {x.shape}")
    return Expand.apply(x, shape=shape)


def index_arrays(index: Any) -> Any:
    """``index`` with the Tensors in it replaced by their arrays (for NumPy's indexing)."""
    if isinstance(index, tuple):
        return tuple(_values(p) for p in index)
    return _values(index)


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[index]`` with NumPy's indexing rules; Tensors inside ``index`` are used as arrays."""
    return GetItem.apply(x, index=index_arrays(index))


def _join(op: str, fn: type[Function], tensors: Sequence[Tensor], dim: Any, axis: Any, extra_dim: int) -> Tensor:
    if len(tensors) == 0:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    (axis,) = normalize_dims(op, resolve_dim(op, dim, axis, default=0), tensors[0].ndim + extra_dim)
    return fn.apply(*tensors, axis=axis)


def cat(tensors: Sequence[Tensor], dim: Any = _UNSET, *, axis: Any = _UNSET) -> Tensor:
    """Concatenate along an existing dimension (``dim`` or its alias ``axis``, default 0)."""
    return _join("cat", Concatenate, tensors, dim, axis, extra_dim=0)


def stack(tensors: Sequence[Tensor], dim: Any = _UNSET, *, axis: Any = _UNSET) -> Tensor:
    """Stack equally shaped tensors along a new dimension (``dim`` or ``axis``, default 0)."""
    return _join("stack", Stack, tensors, dim, axis, extra_dim=1)


def gather(x: Tensor, dim: int, index: Any) -> Tensor:
    """``out[i][j][k] = x[i][index[i][j][k]][k]`` for ``dim=1`` (PyTorch's ``gather``), differentiable in ``x``.

    ``index`` is an integer Tensor or array with as many dimensions as ``x``, no larger than
    ``x`` in the other dimensions; out has ``index``'s shape.
    """
    index = np.asarray(_values(index))
    (axis,) = normalize_dims("gather", dim, x.ndim)
    if not np.issubdtype(index.dtype, np.integer):
        raise TypeError(f"gather: index must be an integer tensor, got dtype {index.dtype}")
    if index.ndim != x.ndim or any(i > n for d, (i, n) in enumerate(zip(index.shape, x.shape)) if d != axis):
        raise ValueError(f"gather: index of shape {index.shape} does not fit input of shape {x.shape} along dim {dim} "
                         "(same number of dimensions, no larger off dim)")
    if index.size and (index.min() < -x.shape[axis] or index.max() >= x.shape[axis]):
        raise IndexError(f"gather: index out of range for dimension {dim} of size {x.shape[axis]}")
    return Gather.apply(x, index=index, axis=axis)


def repeat(x: Tensor, *sizes: Any) -> Tensor:
    """``x`` tiled ``sizes[i]`` times along dimension i (PyTorch's ``Tensor.repeat``; extra leading sizes add dimensions)."""
    reps = _shape_arg(sizes)
    if len(reps) < x.ndim:
        raise ValueError(f"repeat: give at least one size per dimension ({x.ndim}), got {reps}")
    if any(r < 0 for r in reps):
        raise ValueError(f"repeat: sizes must be non-negative, got {reps}")
    return Repeat.apply(x, reps=reps)


def split(x: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of ``x`` along ``dim``: of ``split_size`` each (the last may be smaller), or of the listed sizes."""
    (axis,) = normalize_dims("split", dim, x.ndim)
    length = x.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
        sizes = [min(split_size_or_sections, length - start) for start in range(0, length, split_size_or_sections)]
    else:
        sizes = [int(n) for n in split_size_or_sections]
        if sum(sizes) != length or any(n < 0 for n in sizes):
            raise ValueError(f"split: sizes {sizes} do not add up to the length {length} of dimension {dim}")
    starts = np.cumsum([0] + sizes)
    lead = (slice(None),) * axis
    return tuple(x[lead + (slice(int(a), int(b)),)] for a, b in zip(starts[:-1], starts[1:]))


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """``x`` split into at most ``chunks`` equal pieces along ``dim`` (PyTorch's rule: pieces of ceil(n / chunks))."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    (axis,) = normalize_dims("chunk", dim, x.ndim)
    return split(x, max(-(-x.shape[axis] // chunks), 1), dim)
