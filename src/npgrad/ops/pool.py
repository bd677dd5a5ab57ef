"""2-D pooling: max, average and adaptive (PyTorch semantics, NCHW).

A pooling window is a strided view of the (padded) input (`conv._window_view`, the
same view im2col uses): ``windows[i, j]`` is the (N, C, Ho, Wo) slice that kernel
offset (i, j) sees at every output position. Training max pooling reduces over the kh*kw
offsets with one vectorised operation per offset, recording the winning offset; average
pooling and inference max pooling are separable and reduce the kh row offsets, then the kw
column offsets (`_separable_reduce`). Backward adds each offset's share of the gradient into
the same view of a zero buffer (``+=`` where windows overlap); max pooling with overlapping
windows instead scatters dout once through the recorded argmax (`_flat_argmax`). The loops
are over kernel offsets only, never over pixels.

Output sizes follow PyTorch (`_pool_output_size`, with ``ceil_mode``); a ceil-mode last
window that hangs over the padded input reads extra padding (`_pool_pads`).

Differences from PyTorch: inputs must be 4-D (no unbatched 3-D form); avg pooling has no
``dilation`` (nor has PyTorch's); a NaN in a max-pool window makes the output NaN as in
PyTorch, but its gradient (and index) may go to another element.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from npgrad import _parallel
from npgrad._utils import pair
from npgrad.function import Function
from npgrad.ops.conv import _output_size, _pad, _window_view
from npgrad.tensor import Tensor, _values


def _padded_windows(x: np.ndarray, kernel_size, stride, dilation, pads, out_size, value: float) -> np.ndarray:
    """Windows (kh, kw, N, C, Ho, Wo) of x padded by ``pads`` = (top, bottom, left, right) with ``value``."""
    xp = _pad(x, pads, value) if any(pads) else x
    return _window_view(xp, kernel_size, stride, dilation, out_size)


def _separable_reduce(ufunc, x: np.ndarray, kernel_size, stride, dilation, pads, out_size, value: float) -> np.ndarray:
    """ufunc (np.add or np.maximum) over each kh×kw window of x padded by ``pads`` with ``value``: (N, C, Ho, Wo).

    Both reduce over rows and columns independently, so this reduces the kh row offsets first,
    into (N, C, Ho, Wp), then the kw column offsets of that: (kh-1) + (kw-1) passes instead of
    kh*kw - 1, and the first ones read whole rows. 1.3-1.8x faster than the offset loop for 2x2/2
    average pooling on LeNet's (256, 6, 28, 28) to (256, 16, 8, 8), 1.7x for 3x3/2 at (128, 64, 16, 16).
    """
    xp = _pad(x, pads, value) if any(pads) else x
    rows = _reduce_offsets(ufunc, xp, 2, kernel_size[0], stride[0], dilation[0], out_size[0])  # (N, C, Ho, Wp)
    return _reduce_offsets(ufunc, rows, 3, kernel_size[1], stride[1], dilation[1], out_size[1])  # (N, C, Ho, Wo)


def _reduce_offsets(ufunc, a: np.ndarray, axis: int, kernel: int, stride: int, dilation: int, out: int) -> np.ndarray:
    """ufunc over i < kernel of a[..., i*dilation :: stride][:out] along ``axis``, as a new array."""
    def offset(i):
        start = i * dilation
        return a[(slice(None),) * axis + (slice(start, start + stride * (out - 1) + 1, stride),)]

    if kernel == 1:
        return offset(0).copy()
    total = ufunc(offset(0), offset(1))
    for i in range(2, kernel):
        ufunc(total, offset(i), out=total)
    return total


def _scatter_windows(add, kernel_size, stride, dilation, pads, out_size, out: np.ndarray) -> None:
    """The adjoint of `_padded_windows`: dx (N, C, H, W), written into ``out``, from each offset's gradient.

    ``add(i, j, target, overlapping)`` puts offset (i, j)'s gradient into ``target``, the
    writeable (N, C, Ho, Wo) window view of a zero buffer (``out`` itself without padding): it must
    accumulate (``+=``) when ``overlapping`` (windows may share inputs), and may simply write otherwise.
    """
    N, C, H, W = out.shape
    top, bottom, left, right = pads
    overlapping = _overlapping(kernel_size, stride, dilation)
    dxp = np.zeros((N, C, H + top + bottom, W + left + right), dtype=out.dtype) if any(pads) else out
    if dxp is out:
        out.fill(0)
    windows = _window_view(dxp, kernel_size, stride, dilation, out_size, writeable=True)
    for i in range(kernel_size[0]):
        for j in range(kernel_size[1]):
            add(i, j, windows[i, j], overlapping)
    if dxp is not out:
        out[...] = dxp[:, :, top : top + H, left : left + W]


def _overlapping(kernel_size, stride, dilation) -> bool:
    """Whether neighbouring windows share inputs (a stride shorter than the dilated kernel)."""
    return any(s < d * (k - 1) + 1 for k, s, d in zip(kernel_size, stride, dilation))


class MaxPool2d(Function):
    """out[n, c, h, w] = max over i < kh, j < kw of x[n, c, h*sh - ph + i*dh, w*sw - pw + j*dw]; padding is -inf.

    x: (N, C, H, W) → (N, C, Ho, Wo) (`_pool_output_size`; ``ceil_mode`` keeps a last,
    partial window). The gradient of each output goes to ONE input: the first maximum
    of its window in row-major order (as in PyTorch); overlapping windows accumulate.
    Forward records that window offset (i*kw + j) per output; with ``return_indices``
    it also returns, as PyTorch does, int64 indices (N, C, Ho, Wo) of the maxima as
    row*W + col in each (H, W) plane.
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation=(1, 1), ceil_mode=False, return_indices=False):
        kh, kw = kernel_size
        out_size = _pool_output_size(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
        pads = _pool_pads(x.shape, kernel_size, stride, padding, dilation, out_size)
        lowest = -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
        out = np.empty((*x.shape[:2], *out_size), dtype=x.dtype)  # (N, C, Ho, Wo)
        if not ctx.needs_input_grad[0] and not return_indices:  # inference: no argmax, the max of rows, then of columns
            def maximum(out, x):
                out[...] = _separable_reduce(np.maximum, x, kernel_size, stride, dilation, pads, out_size, lowest)

            return _parallel.map_batch(maximum, out, x)
        index_type = np.min_scalar_type(kh * kw - 1)

        def maximum_and_argmax(out, argmax, x):
            windows = _padded_windows(x, kernel_size, stride, dilation, pads, out_size, lowest)  # (kh, kw, N, C, Ho, Wo)
            out[...] = windows[0, 0]
            argmax.fill(0)
            for offset in range(1, kh * kw):
                candidate = windows[divmod(offset, kw)]
                better = candidate > out  # strict: on a tie the earlier offset stays
                # offsets only grow, so "argmax = offset where better" is a maximum (no slow masked write)
                np.maximum(argmax, better * index_type.type(offset), out=argmax)
                np.maximum(out, candidate, out=out)

        argmax = np.empty(out.shape, dtype=index_type)
        _parallel.map_batch(maximum_and_argmax, out, argmax, x)
        ctx.save_for_backward(argmax)
        ctx.params = (x.shape, kernel_size, stride, dilation, pads, out_size)
        if return_indices:
            return out, _plane_indices(argmax, *ctx.params)
        return out

    @staticmethod
    def backward(ctx, dout):  # dout: (N, C, Ho, Wo)
        (argmax,) = ctx.saved
        x_shape, kernel_size, stride, dilation, pads, out_size = ctx.params
        overlapping = _overlapping(kernel_size, stride, dilation)

        def scatter(dx, dout, argmax):
            if overlapping:
                # dx[the input each output's argmax names] += dout: one scatter (add.at sums the repeats)
                # instead of kh*kw masked passes over dout, 3-4x faster at 3x3/2 on (128, 64, 16, 16).
                (N, C, H, W), (top, bottom, left, right) = dx.shape, pads
                dxp = np.zeros((N, C, H + top + bottom, W + left + right), dtype=dout.dtype)
                np.add.at(dxp.reshape(-1), _flat_argmax(argmax, dxp.shape, kernel_size, stride, dilation).reshape(-1),
                          dout.reshape(-1))
                dx[...] = dxp[:, :, top : top + H, left : left + W]
                return

            def write(i, j, target, _overlapping):  # disjoint windows: each offset writes its own slice (faster than a scatter)
                np.multiply(dout, argmax == i * kernel_size[1] + j, out=target)

            _scatter_windows(write, kernel_size, stride, dilation, pads, out_size, dx)

        return _parallel.map_batch(scatter, np.empty(x_shape, dout.dtype), dout, argmax)


def _flat_argmax(argmax: np.ndarray, padded_shape, kernel_size, stride, dilation) -> np.ndarray:
    """Window offsets argmax (N, C, Ho, Wo), i*kw + j, as flat indices into the padded input (N, C, Hp, Wp).

    Output (n, c, h, w) at offset (i, j) read xp[n, c, h*sh + i*dh, w*sw + j*dw]; int32 when it fits (half the traffic).
    """
    N, C, Hp, Wp = padded_shape
    Ho, Wo = argmax.shape[2:]
    index_type = np.int32 if N * C * Hp * Wp < 2**31 else np.intp
    offset_index = (np.arange(kernel_size[0])[:, None] * (dilation[0] * Wp)
                    + np.arange(kernel_size[1]) * dilation[1]).astype(index_type).ravel()
    index = offset_index[argmax]  # (N, C, Ho, Wo): i*dh*Wp + j*dw
    index += (np.arange(Ho, dtype=index_type) * (stride[0] * Wp))[:, None] + np.arange(Wo, dtype=index_type) * stride[1]
    index += (np.arange(N * C, dtype=index_type) * (Hp * Wp)).reshape(N, C, 1, 1)
    return index


def _plane_indices(argmax, x_shape, kernel_size, stride, dilation, pads, out_size) -> np.ndarray:
    """Where each window's maximum is, as row*W + col in its (H, W) plane (int64, PyTorch's ``return_indices``)."""
    i, j = np.divmod(argmax.astype(np.int64), kernel_size[1])  # the winning kernel offset, (N, C, Ho, Wo)
    rows = (np.arange(out_size[0]) * stride[0] - pads[0])[:, None] + i * dilation[0]
    cols = np.arange(out_size[1]) * stride[1] - pads[2] + j * dilation[1]
    return rows * x_shape[3] + cols


class MaxUnpool2d(Function):
    """The partial inverse of max pooling: out[n, c].flat[indices[n, c, h, w]] = x[n, c, h, w], zeros elsewhere.

    x, indices: (N, C, Hi, Wi) → (N, C, Ho, Wo) with ``output_size`` = (Ho, Wo); indices are
    flat positions in each (Ho, Wo) plane (what ``max_pool2d(..., return_indices=True)``
    gives). dx[n, c, h, w] = dout[n, c].flat[indices[n, c, h, w]]: a gather. Where indices
    repeat (overlapping pooling windows), one of the values is kept, as in PyTorch.
    """

    @staticmethod
    def forward(ctx, x, indices, output_size):
        N, C = x.shape[:2]
        flat = indices.reshape(N * C, -1)
        out = np.zeros((N * C, output_size[0] * output_size[1]), dtype=x.dtype)
        np.put_along_axis(out, flat, x.reshape(N * C, -1), axis=1)
        ctx.save_for_backward(flat)
        ctx.x_shape = x.shape
        return out.reshape(N, C, *output_size)

    @staticmethod
    def backward(ctx, dout):  # dout: (N, C, Ho, Wo)
        (flat,) = ctx.saved
        dx = np.take_along_axis(dout.reshape(flat.shape[0], -1), flat, axis=1)
        return dx.reshape(ctx.x_shape), None


class AvgPool2d(Function):
    """out[n, c, h, w] = sum of x over the kh×kw window at (h*sh - ph, w*sw - pw) / divisor, zero padding.

    x: (N, C, H, W) → (N, C, Ho, Wo) (`_pool_output_size`). The divisor is PyTorch's
    (`_avg_divisor`): ``divisor_override`` if given; else, with ``count_include_pad``, the
    window's elements inside the padded input (kh*kw, except for a ``ceil_mode`` window that
    hangs over the padding's edge); else those inside the unpadded input.
    dx spreads dout / divisor evenly over each window; overlapping windows accumulate.
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, count_include_pad, ceil_mode=False, divisor_override=None):
        kh, kw = kernel_size
        Ho, Wo = out_size = _pool_output_size(x.shape, kernel_size, stride, padding, (1, 1), ceil_mode)
        divisor = _avg_divisor(x.shape, kernel_size, stride, padding, out_size, count_include_pad, divisor_override, x.dtype)
        pads = _pool_pads(x.shape, kernel_size, stride, padding, (1, 1), out_size)
        ctx.divisor, ctx.params = divisor, (x.shape, kernel_size, stride, (1, 1), pads, out_size)
        blocks = _as_blocks(*ctx.params)

        def average(out, x):
            if blocks:
                np.einsum("nchiwj->nchw", x.reshape(*x.shape[:2], Ho, kh, Wo, kw), out=out)
            else:
                out[...] = _separable_reduce(np.add, x, kernel_size, stride, (1, 1), pads, out_size, 0.0)
            out /= divisor

        out = np.empty((*x.shape[:2], Ho, Wo), dtype=np.result_type(x, divisor))  # (N, C, Ho, Wo)
        return _parallel.map_batch(average, out, x)

    @staticmethod
    def backward(ctx, dout):  # dout: (N, C, Ho, Wo)
        x_shape, kernel_size, stride, dilation, pads, (Ho, Wo) = ctx.params
        blocks = _as_blocks(*ctx.params)

        def spread(dx, dout):
            share = dout / ctx.divisor  # (n, C, Ho, Wo): what each element of a window receives
            if blocks:
                dx.reshape(*dx.shape[:2], Ho, kernel_size[0], Wo, kernel_size[1])[...] = share[:, :, :, None, :, None]
                return

            def add(i, j, target, overlapping):
                if overlapping:
                    target += share
                else:
                    target[...] = share

            _scatter_windows(add, kernel_size, stride, dilation, pads, (Ho, Wo), dx)

        dtype = np.result_type(dout, ctx.divisor)
        return _parallel.map_batch(spread, np.empty(x_shape, dtype), dout)


def _as_blocks(x_shape, kernel_size, stride, dilation, pads, out_size) -> bool:
    """Whether to pool by reshaping x into (N, C, Ho, kh, Wo, kw) blocks instead of looping over offsets.

    Possible when the windows tile x exactly; worth it when output rows are shorter than
    kernel rows (global pooling, say), since NumPy's cost grows with the number of
    contiguous runs it walks: Wo-long runs for the offset loop, kw-long ones for blocks.
    """
    H, W = x_shape[2:]
    tiles = (stride == kernel_size and dilation == (1, 1) and not any(pads)
             and H % kernel_size[0] == 0 and W % kernel_size[1] == 0)
    return tiles and out_size[1] < kernel_size[1]


def _avg_divisor(x_shape, kernel_size, stride, padding, out_size, count_include_pad, divisor_override, dtype):
    """PyTorch's divisors: a scalar when every window has the same one, else (Ho, Wo).

    Along each axis, window o starts at o*s - p; with ``count_include_pad`` it counts the
    positions before the padding's far edge (size + p), otherwise those inside [0, size).
    """
    if divisor_override is not None:
        return np.asarray(divisor_override, dtype=dtype)
    counts = []
    for size, k, s, p, n in zip(x_shape[2:], kernel_size, stride, padding, out_size):
        start = np.arange(n) * s - p
        end = np.minimum(start + k, size + p)
        counts.append(end - start if count_include_pad else np.minimum(end, size) - np.maximum(start, 0))
    if all((c == c[0]).all() for c in counts):
        return np.asarray(counts[0][0] * counts[1][0], dtype=dtype)
    return np.outer(counts[0], counts[1]).astype(dtype)  # (Ho, Wo)


def _pool_output_size(x_shape, kernel_size, stride, padding, dilation=(1, 1), ceil_mode=False) -> tuple[int, int]:
    """PyTorch's (Ho, Wo): per axis (H + 2p - d*(k-1) - 1) / s + 1, rounded down, or up with ``ceil_mode``.

    In ceil mode the last window must start inside the input or its left padding: one that
    would start at or after H + p (in the right padding) is dropped.
    """
    sizes = []
    for size, k, s, p, d in zip(x_shape[2:], kernel_size, stride, padding, dilation):
        out = _output_size(size, k, s, 2 * p, d)
        if ceil_mode and (size + 2 * p - d * (k - 1) - 1) % s:
            out += 1 if out * s < size + p else 0
        sizes.append(out)
    return tuple(sizes)


def _pool_pads(x_shape, kernel_size, stride, padding, dilation, out_size) -> tuple[int, int, int, int]:
    """(top, bottom, left, right): ``padding`` on each side, plus below and to the right the overhang
    of a ceil-mode last window beyond the padded input (filled like padding, never counted in a divisor)."""
    over = [max(0, (n - 1) * s + d * (k - 1) + 1 - (size + 2 * p))
            for size, k, s, p, d, n in zip(x_shape[2:], kernel_size, stride, padding, dilation, out_size)]
    return (padding[0], padding[0] + over[0], padding[1], padding[1] + over[1])


def _adaptive_bins(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive bins: [floor(i*size/out), ceil((i+1)*size/out)) for i < out."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def _averaging_matrix(size: int, out: int, dtype) -> np.ndarray:
    """(out, size) matrix whose row i averages bin i: adaptive average pooling along one axis."""
    matrix = np.zeros((out, size), dtype=dtype)
    for i, (start, end) in enumerate(_adaptive_bins(size, out)):
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def _separable(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """rows @ x @ cols^T on the last two axes: x (..., H, W), rows (Ho, H), cols (Wo, W) → (..., Ho, Wo)."""
    y = np.tensordot(x, cols, axes=([-1], [1]))  # (..., H, Wo), one GEMM
    z = np.tensordot(y, rows, axes=([-2], [1]))  # (..., Wo, Ho), one GEMM
    return np.ascontiguousarray(np.swapaxes(z, -1, -2))


class AdaptiveAvgPool2d(Function):
    """Adaptive average pooling to (Ho, Wo) for any input size, as two matrix products.

    Averaging over a bin of rows times a bin of columns is separable:
    out = A_h @ x @ A_w^T with A_h (Ho, H), A_w (Wo, W) the averaging matrices of
    PyTorch's (possibly overlapping) bins; dx = A_h^T @ dout @ A_w. x: (N, C, H, W).
    """

    @staticmethod
    def forward(ctx, x, output_size):
        rows = _averaging_matrix(x.shape[2], output_size[0], x.dtype)  # (Ho, H)
        cols = _averaging_matrix(x.shape[3], output_size[1], x.dtype)  # (Wo, W)
        ctx.save_for_backward(rows, cols)
        return _separable(x, rows, cols)  # (N, C, Ho, Wo)

    @staticmethod
    def backward(ctx, dout):  # dout: (N, C, Ho, Wo)
        rows, cols = ctx.saved
        return _separable(dout, rows.T, cols.T)


class AdaptiveMaxPool2d(Function):
    """Adaptive max pooling to (Ho, Wo) with PyTorch's bins, looping over the Ho*Wo output bins.

    For uneven (possibly overlapping) bins and small outputs; the wrapper sends other
    evenly dividing sizes to `MaxPool2d`. The gradient (and, with ``return_indices``, the
    index) goes to the first maximum of each bin in row-major order. x: (N, C, H, W) → (N, C, Ho, Wo).
    """

    @staticmethod
    def forward(ctx, x, output_size, return_indices=False):
        N, C, H, W = x.shape
        bins = [(r, c) for r in _adaptive_bins(H, output_size[0]) for c in _adaptive_bins(W, output_size[1])]
        out = np.empty((N, C, len(bins)), dtype=x.dtype)
        rows = np.empty((N, C, len(bins)), dtype=np.intp)  # where each maximum is
        cols = np.empty_like(rows)
        for b, ((h0, h1), (w0, w1)) in enumerate(bins):
            block = x[:, :, h0:h1, w0:w1].reshape(N, C, -1)
            first = block.argmax(axis=-1)[..., None]  # (N, C, 1)
            out[:, :, b] = np.take_along_axis(block, first, axis=-1)[..., 0]
            rows[:, :, b], cols[:, :, b] = np.divmod(first[..., 0], w1 - w0)
            rows[:, :, b] += h0
            cols[:, :, b] += w0
        ctx.save_for_backward(rows, cols)
        ctx.x_shape = x.shape
        if return_indices:  # as max_pool2d's: row*W + col in each (H, W) plane
            return out.reshape(N, C, *output_size), (rows * W + cols).astype(np.int64).reshape(N, C, *output_size)
        return out.reshape(N, C, *output_size)

    @staticmethod
    def backward(ctx, dout):  # dout: (N, C, Ho, Wo)
        rows, cols = ctx.saved
        N, C = ctx.x_shape[:2]
        dx = np.zeros(ctx.x_shape, dtype=dout.dtype)
        n, c = np.ogrid[:N, :C]
        dout = dout.reshape(N, C, -1)
        for b in range(dout.shape[-1]):  # one position per (n, c) in a bin: fancy += is exact
            dx[n, c, rows[:, :, b], cols[:, :, b]] += dout[:, :, b]
        return dx


# ------------------------------------------------------------------ public wrappers
def _pool_args(
    op: str,
    x: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None,
    padding: int | Sequence[int],
    dilation: int | Sequence[int] = 1,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W), got shape {tuple(x.shape)}")
    kernel_size = pair(op, "kernel_size", kernel_size)
    stride = kernel_size if stride is None else pair(op, "stride", stride)
    padding = pair(op, "padding", padding)
    dilation = pair(op, "dilation", dilation)
    for name, value in (("kernel_size", kernel_size), ("stride", stride), ("dilation", dilation)):
        if min(value) < 1:
            raise ValueError(f"{op}: {name} must be >= 1, got {value}")
    if min(padding) < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {padding}")
    if padding[0] > kernel_size[0] // 2 or padding[1] > kernel_size[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half of kernel_size {kernel_size}")
    padded = (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel_size, dilation))
    if extent[0] > padded[0] or extent[1] > padded[1]:
        kernel = f"kernel_size {kernel_size}" + ("" if dilation == (1, 1) else f" with dilation {dilation} (extent {extent})")
        raise ValueError(
            f"{op}: {kernel} is larger than the padded input {padded} (input {tuple(x.shape[2:])}, padding {padding})"
        )
    return kernel_size, stride, padding, dilation


def max_pool2d(
    x: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """2-D max pooling, PyTorch's ``torch.nn.functional.max_pool2d`` (same arguments, same order).

    Args:
        x: (N, C, H, W).
        kernel_size: an int or a pair (kh, kw).
        stride: an int or a pair; defaults to ``kernel_size``.
        padding: implicit -inf padding on both sides, at most half the kernel size.
        dilation: the spacing between the kernel's taps (an int or a pair).
        ceil_mode: round the output size up instead of down, so a last, partial window
            is kept, provided it starts inside the input or its left padding (PyTorch's rule).
        return_indices: also return where each maximum is (for `max_unpool2d`).

    Returns:
        (N, C, Ho, Wo), Ho = floor((H + 2*ph - dh*(kh - 1) - 1) / sh) + 1 (``ceil`` in ceil
        mode, see above), likewise Wo; with ``return_indices`` the pair (output, indices),
        indices int64 (N, C, Ho, Wo) holding row*W + col of each maximum in its (H, W) plane,
        as PyTorch's. Where a window holds several equal maxima, the gradient (and the
        index) goes to the first in row-major order.
    """
    kernel_size, stride, padding, dilation = _pool_args("max_pool2d", x, kernel_size, stride, padding, dilation)
    return MaxPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
                           ceil_mode=bool(ceil_mode), return_indices=bool(return_indices))


def max_unpool2d(
    x: Tensor,
    indices: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    output_size: Sequence[int] | None = None,
) -> Tensor:
    """The partial inverse of `max_pool2d`, PyTorch's ``torch.nn.functional.max_unpool2d``.

    Puts each value of ``x`` at its ``indices`` position in a zero (N, C, Ho, Wo) output.

    Args:
        x: (N, C, Hi, Wi), the pooled values.
        indices: integer (N, C, Hi, Wi), from ``max_pool2d(..., return_indices=True)``.
        kernel_size, stride, padding: those of the pooling (stride defaults to ``kernel_size``).
        output_size: (Ho, Wo) or (N, C, Ho, Wo), within ``stride`` of the default
            Ho = (Hi - 1)*sh - 2*ph + kh (likewise Wo); pass the pooled input's size when
            the pooling dropped rows or columns.

    Returns:
        (N, C, Ho, Wo).
    """
    op = "max_unpool2d"
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W), got shape {tuple(x.shape)}")
    index_array = np.asarray(_values(indices))
    if index_array.shape != tuple(x.shape) or not np.issubdtype(index_array.dtype, np.integer):
        raise ValueError(f"{op}: indices must be integers of the input's shape {tuple(x.shape)}, "
                         f"got {index_array.dtype} {index_array.shape}")
    kernel_size = pair(op, "kernel_size", kernel_size)
    stride = kernel_size if stride is None else pair(op, "stride", stride)
    padding = pair(op, "padding", padding)
    default = [(n - 1) * s - 2 * p + k for n, k, s, p in zip(x.shape[2:], kernel_size, stride, padding)]
    if output_size is None:
        size = tuple(default)
    else:
        size = tuple(int(n) for n in output_size)[-2:] if len(output_size) in (2, 4) else None
        if size is None:
            raise ValueError(f"{op}: output_size must be (H, W) or (N, C, H, W), got {tuple(output_size)}")
        for axis, (n, d, s) in enumerate(zip(size, default, stride)):
            if not d - s < n < d + s:
                raise ValueError(f"{op}: invalid output_size {size} (dim {axis} must be between {d - s} and {d + s}, "
                                 "exclusive)")
    if min(size) < 1:
        raise ValueError(f"{op}: the output size {size} must be positive")
    if index_array.size and (index_array.min() < 0 or index_array.max() >= size[0] * size[1]):
        raise ValueError(f"{op}: indices must lie in [0, {size[0] * size[1]}) for output size {size}, "
                         f"got values in [{index_array.min()}, {index_array.max()}]")
    return MaxUnpool2d.apply(x, index_array, output_size=size)


def avg_pool2d(
    x: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """2-D average pooling, PyTorch's ``torch.nn.functional.avg_pool2d`` (same arguments, same order).

    Args:
        x: (N, C, H, W), floating point.
        kernel_size: an int or a pair (kh, kw).
        stride: an int or a pair; defaults to ``kernel_size``.
        padding: implicit zero padding on both sides, at most half the kernel size.
        ceil_mode: round the output size up, keeping a last, partial window that starts
            inside the input or its left padding (PyTorch's rule).
        count_include_pad: whether padded zeros count in the divisor. True: each window
            divides by its elements inside the padded input (kh*kw, except that a ceil-mode
            window hanging over the padding's far edge counts only up to that edge, as in
            PyTorch); False: by its elements inside the unpadded input.
        divisor_override: a fixed divisor (nonzero) for every window instead.

    Returns:
        (N, C, Ho, Wo), Ho = floor((H + 2*ph - kh) / sh) + 1 (``ceil`` in ceil mode), likewise Wo.
    """
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"avg_pool2d: expected a floating-point input, got dtype {x.dtype}")
    if divisor_override is not None and (isinstance(divisor_override, bool) or not isinstance(divisor_override, int)
                                         or divisor_override == 0):
        raise ValueError(f"avg_pool2d: divisor_override must be a nonzero int or None, got {divisor_override!r}")
    kernel_size, stride, padding, _ = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    return AvgPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding,
                           count_include_pad=bool(count_include_pad), ceil_mode=bool(ceil_mode),
                           divisor_override=divisor_override)


def _adaptive_args(op: str, x: Tensor, output_size: int | Sequence[int | None]) -> tuple[int, int]:
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W), got shape {tuple(x.shape)}")
    sizes = (output_size, output_size) if not isinstance(output_size, Sequence) else tuple(output_size)
    if len(sizes) != 2:
        raise ValueError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
    # None keeps that input dimension, as in PyTorch.
    sizes = pair(op, "output_size", [n if s is None else s for s, n in zip(sizes, x.shape[2:])])
    if min(sizes) < 1:
        raise ValueError(f"{op}: output_size must be >= 1, got {sizes}")
    if min(x.shape[2:]) < 1:
        raise ValueError(f"{op}: input spatial size must be >= 1, got {tuple(x.shape[2:])}")
    return sizes


def _divides(x: Tensor, output_size: tuple[int, int]) -> bool:
    return x.shape[2] % output_size[0] == 0 and x.shape[3] % output_size[1] == 0


def adaptive_avg_pool2d(x: Tensor, output_size: int | Sequence[int | None]) -> Tensor:
    """Average pooling to a fixed output size, PyTorch's ``adaptive_avg_pool2d``.

    Bin i along an axis of length H covers [floor(i*H/Ho), ceil((i+1)*H/Ho)). When the
    output size divides the input size this is ``avg_pool2d`` with kernel = stride =
    H/Ho (1x1 is global average pooling); otherwise it is computed exactly as two small
    matrix products (`AdaptiveAvgPool2d`).

    Args:
        x: (N, C, H, W), floating point.
        output_size: an int or a pair (Ho, Wo); None in the pair keeps that input size.

    Returns:
        (N, C, Ho, Wo).
    """
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"adaptive_avg_pool2d: expected a floating-point input, got dtype {x.dtype}")
    output_size = _adaptive_args("adaptive_avg_pool2d", x, output_size)
    if _divides(x, output_size):
        kernel = (x.shape[2] // output_size[0], x.shape[3] // output_size[1])
        return AvgPool2d.apply(x, kernel_size=kernel, stride=kernel, padding=(0, 0), count_include_pad=True)
    return AdaptiveAvgPool2d.apply(x, output_size=output_size)


def adaptive_max_pool2d(
    x: Tensor, output_size: int | Sequence[int | None], return_indices: bool = False
) -> Tensor | tuple[Tensor, Tensor]:
    """Max pooling to a fixed output size, PyTorch's ``adaptive_max_pool2d``.

    Same bins as `adaptive_avg_pool2d`. Evenly dividing sizes with more output bins than
    kernel offsets run as ``max_pool2d`` with kernel = stride = H/Ho; everything else
    (uneven bins, global pooling) loops over the Ho*Wo bins (`AdaptiveMaxPool2d`).

    Args:
        x: (N, C, H, W).
        output_size: an int or a pair (Ho, Wo); None in the pair keeps that input size.
        return_indices: also return where each maximum is, as `max_pool2d` does
            (int64, row*W + col in each (H, W) plane).

    Returns:
        (N, C, Ho, Wo), or the pair (output, indices) with ``return_indices``.
    """
    output_size = _adaptive_args("adaptive_max_pool2d", x, output_size)
    kernel = (x.shape[2] // output_size[0], x.shape[3] // output_size[1])
    if _divides(x, output_size) and kernel[0] * kernel[1] <= output_size[0] * output_size[1]:
        return MaxPool2d.apply(x, kernel_size=kernel, stride=kernel, padding=(0, 0), return_indices=bool(return_indices))
    # uneven bins, or fewer bins than kernel offsets
    return AdaptiveMaxPool2d.apply(x, output_size=output_size, return_indices=bool(return_indices))
