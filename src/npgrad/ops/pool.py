"""2-D pooling: max, average and adaptive (PyTorch semantics, NCHW).

A pooling window is a strided view of the (padded) input (`conv._window_view`, the
same view im2col uses): ``windows[i, j]`` is the (N, C, Ho, Wo) slice that kernel
offset (i, j) sees at every output position. Max pooling with an argmax to record
reduces over the kh*kw offsets with one vectorised operation per offset; the sums and
maxima without one are separable (`_separable_reduce`: the kh row offsets, then the kw
column offsets). Backward adds each offset's share of the gradient into the same view
of a zero buffer, or, for overlapping max-pool windows, scatters dout through the saved
argmax in one ``np.add.at``. The loops are over kernel offsets only, never over pixels,
and gradients accumulate where windows overlap (stride < kernel).

Differences from PyTorch: inputs must be 4-D (no unbatched 3-D form); there is no
``ceil_mode``/``dilation``/``return_indices``/``divisor_override``; a NaN in a max-pool
window makes the output NaN as in PyTorch, but its gradient may go to another element.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from npgrad._utils import pair
from npgrad.function import Function
from npgrad.ops.conv import _output_size, _pad, _window_view
from npgrad.tensor import Tensor


def _padded_windows(x: np.ndarray, kernel_size, stride, padding, out_size, value: float) -> np.ndarray:
    """Windows (kh, kw, N, C, Ho, Wo) of x padded by ``padding`` = (ph, pw) with ``value``."""
    ph, pw = padding
    xp = _pad(x, (ph, ph, pw, pw), value) if ph or pw else x
    return _window_view(xp, kernel_size, stride, (1, 1), out_size)


def _separable_reduce(ufunc, x: np.ndarray, kernel_size, stride, padding, out_size, value: float) -> np.ndarray:
    """ufunc (np.add or np.maximum) over each kh×kw window of x padded with ``value``: (N, C, Ho, Wo).

    Both reduce over rows and columns independently, so this reduces the kh row offsets first,
    into (N, C, Ho, Wp), then the kw column offsets of that: (kh-1) + (kw-1) passes instead of
    kh*kw - 1, and the first ones read whole rows. 1.5-1.8x faster than the offset loop for 2x2/2
    average pooling on LeNet's (256, 6, 28, 28) to (256, 16, 8, 8).
    """
    ph, pw = padding
    xp = _pad(x, (ph, ph, pw, pw), value) if ph or pw else x
    rows = _reduce_offsets(ufunc, xp, 2, kernel_size[0], stride[0], out_size[0])  # (N, C, Ho, Wp)
    return _reduce_offsets(ufunc, rows, 3, kernel_size[1], stride[1], out_size[1])  # (N, C, Ho, Wo)


def _reduce_offsets(ufunc, a: np.ndarray, axis: int, kernel: int, stride: int, out: int) -> np.ndarray:
    """ufunc over i < kernel of a[..., i : i + stride*(out-1) + 1 : stride, ...] (the slice along ``axis``), a new array."""
    def offset(i):
        return a[(slice(None),) * axis + (slice(i, i + stride * (out - 1) + 1, stride),)]

    if kernel == 1:
        return offset(0).copy()
    total = ufunc(offset(0), offset(1))
    for i in range(2, kernel):
        ufunc(total, offset(i), out=total)
    return total


def _scatter_windows(add, x_shape, kernel_size, stride, padding, out_size, dtype) -> np.ndarray:
    """The adjoint of `_padded_windows`: dx (N, C, H, W) from each offset's gradient.

    ``add(i, j, target, overlapping)`` puts offset (i, j)'s gradient into ``target``, the
    writeable (N, C, Ho, Wo) window view of a zero buffer: it must accumulate (``+=``)
    when ``overlapping`` (windows share inputs), and may simply write otherwise.
    """
    N, C, H, W = x_shape
    ph, pw = padding
    overlapping = stride[0] < kernel_size[0] or stride[1] < kernel_size[1]
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=dtype)
    windows = _window_view(dxp, kernel_size, stride, (1, 1), out_size, writeable=True)
    for i in range(kernel_size[0]):
        for j in range(kernel_size[1]):
            add(i, j, windows[i, j], overlapping)
    return np.ascontiguousarray(dxp[:, :, ph : ph + H, pw : pw + W]) if ph or pw else dxp


class MaxPool2d(Function):
    """out[n, c, h, w] = max of x over the kh×kw window at (h*sh - ph, w*sw - pw); padding is -inf.

    x: (N, C, H, W) → (N, C, Ho, Wo). The gradient of each output goes to ONE input:
    the first maximum of its window in row-major order (as in PyTorch); overlapping
    windows accumulate. Forward records that window offset (i*kw + j) per output.
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding):
        kh, kw = kernel_size
        out_size = _pool_output_size(x.shape, kernel_size, stride, padding)
        lowest = -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
        if not ctx.needs_input_grad[0]:  # inference: no argmax to record, the max of rows, then of columns
            return _separable_reduce(np.maximum, x, kernel_size, stride, padding, out_size, lowest)
        windows = _padded_windows(x, kernel_size, stride, padding, out_size, lowest)  # (kh, kw, N, C, Ho, Wo)
        out = windows[0, 0].copy()  # (N, C, Ho, Wo)
        index_type = np.min_scalar_type(kh * kw - 1)
        argmax = np.zeros(out.shape, dtype=index_type)
        for offset in range(1, kh * kw):
            candidate = windows[divmod(offset, kw)]
            better = candidate > out  # strict: on a tie the earlier offset stays
            # offsets only grow, so "argmax = offset where better" is a maximum (no slow masked write)
            np.maximum(argmax, better * index_type.type(offset), out=argmax)
            np.maximum(out, candidate, out=out)
        ctx.save_for_backward(argmax)
        ctx.params = (x.shape, kernel_size, stride, padding, out_size)
        return out

    @staticmethod
    def backward(ctx, dout):  # dout: (N, C, Ho, Wo)
        (argmax,) = ctx.saved
        x_shape, kernel_size, stride, padding, out_size = ctx.params
        if stride[0] < kernel_size[0] or stride[1] < kernel_size[1]:
            # Overlapping windows: dx[the input each output's argmax names] += dout, one scatter (add.at sums the
            # repeats) instead of kh*kw masked passes over dout: 3-4x faster at 3x3/2 on (128, 64, 16, 16).
            (N, C, H, W), (ph, pw) = x_shape, padding
            dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=dout.dtype)
            np.add.at(dxp.reshape(-1), _flat_argmax(argmax, dxp.shape, kernel_size, stride).reshape(-1), dout.reshape(-1))
            return np.ascontiguousarray(dxp[:, :, ph : ph + H, pw : pw + W]) if ph or pw else dxp

        def write(i, j, target, overlapping):  # disjoint windows: each offset writes its own slice (faster than a scatter)
            np.multiply(dout, argmax == i * kernel_size[1] + j, out=target)

        return _scatter_windows(write, x_shape, kernel_size, stride, padding, out_size, dout.dtype)


def _flat_argmax(argmax: np.ndarray, padded_shape, kernel_size, stride) -> np.ndarray:
    """Window offsets argmax (N, C, Ho, Wo), i*kw + j, as flat indices into the padded input (N, C, Hp, Wp).

    Output (n, c, h, w) at offset (i, j) read xp[n, c, h*sh + i, w*sw + j]; int32 when it fits (half the traffic).
    """
    N, C, Hp, Wp = padded_shape
    Ho, Wo = argmax.shape[2:]
    index_type = np.int32 if N * C * Hp * Wp < 2**31 else np.intp
    offset_index = (np.arange(kernel_size[0])[:, None] * Wp + np.arange(kernel_size[1])).astype(index_type).ravel()
    index = offset_index[argmax]  # (N, C, Ho, Wo): i*Wp + j
    index += (np.arange(Ho, dtype=index_type) * (stride[0] * Wp))[:, None] + np.arange(Wo, dtype=index_type) * stride[1]
    index += (np.arange(N * C, dtype=index_type) * (Hp * Wp)).reshape(N, C, 1, 1)
    return index


class AvgPool2d(Function):
    """out[n, c, h, w] = mean of x over the kh×kw window at (h*sh - ph, w*sw - pw), zero padding.

    x: (N, C, H, W) → (N, C, Ho, Wo). The divisor is kh*kw when ``count_include_pad``,
    else the number of window elements inside the unpadded input (PyTorch's rule).
    dx spreads dout / divisor evenly over each window; overlapping windows accumulate.
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, count_include_pad):
        N, C = x.shape[:2]
        kh, kw = kernel_size
        Ho, Wo = out_size = _pool_output_size(x.shape, kernel_size, stride, padding)
        ctx.divisor = _avg_divisor(x.shape, kernel_size, stride, padding, out_size, count_include_pad, x.dtype)
        ctx.params = (x.shape, kernel_size, stride, padding, out_size)
        if _as_blocks(x.shape, kernel_size, stride, padding, out_size):
            return np.einsum("nchiwj->nchw", x.reshape(N, C, Ho, kh, Wo, kw)) / ctx.divisor
        out = _separable_reduce(np.add, x, kernel_size, stride, padding, out_size, 0.0)
        out /= ctx.divisor
        return out

    @staticmethod
    def backward(ctx, dout):  # dout: (N, C, Ho, Wo)
        share = dout / ctx.divisor  # (N, C, Ho, Wo): what each element of a window receives
        x_shape, kernel_size, stride, padding, (Ho, Wo) = ctx.params
        if _as_blocks(*ctx.params):
            blocks = (*x_shape[:2], Ho, kernel_size[0], Wo, kernel_size[1])
            return np.broadcast_to(share[:, :, :, None, :, None], blocks).reshape(x_shape)  # one copy

        def add(i, j, target, overlapping):
            if overlapping:
                target += share
            else:
                target[...] = share

        return _scatter_windows(add, *ctx.params, share.dtype)


def _as_blocks(x_shape, kernel_size, stride, padding, out_size) -> bool:
    """Whether to pool by reshaping x into (N, C, Ho, kh, Wo, kw) blocks instead of looping over offsets.

    Possible when the windows tile x exactly; worth it when output rows are shorter than
    kernel rows (global pooling, say), since NumPy's cost grows with the number of
    contiguous runs it walks: Wo-long runs for the offset loop, kw-long ones for blocks.
    """
    H, W = x_shape[2:]
    tiles = stride == kernel_size and padding == (0, 0) and H % kernel_size[0] == 0 and W % kernel_size[1] == 0
    return tiles and out_size[1] < kernel_size[1]


def _avg_divisor(x_shape, kernel_size, stride, padding, out_size, count_include_pad, dtype):
    """kh*kw, or (Ho, Wo) counts of the window elements that fall inside the unpadded input."""
    if count_include_pad or padding == (0, 0):
        return np.asarray(kernel_size[0] * kernel_size[1], dtype=dtype)
    counts = []
    for size, k, s, p, n in zip(x_shape[2:], kernel_size, stride, padding, out_size):
        start = np.arange(n) * s - p
        counts.append(np.minimum(start + k, size) - np.maximum(start, 0))
    return np.outer(counts[0], counts[1]).astype(dtype)  # (Ho, Wo)


def _pool_output_size(x_shape, kernel_size, stride, padding) -> tuple[int, int]:
    """(Ho, Wo) = floor((H + 2*ph - kh) / sh) + 1, likewise for the width."""
    return tuple(_output_size(n, k, s, 2 * p, 1) for n, k, s, p in zip(x_shape[2:], kernel_size, stride, padding))


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
    evenly dividing sizes to `MaxPool2d`. The gradient goes to the first maximum of each bin
    in row-major order. x: (N, C, H, W) → (N, C, Ho, Wo).
    """

    @staticmethod
    def forward(ctx, x, output_size):
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
    op: str, x: Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None, padding: int | Sequence[int]
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W), got shape {tuple(x.shape)}")
    kernel_size = pair(op, "kernel_size", kernel_size)
    stride = kernel_size if stride is None else pair(op, "stride", stride)
    padding = pair(op, "padding", padding)
    if min(kernel_size) < 1:
        raise ValueError(f"{op}: kernel_size must be >= 1, got {kernel_size}")
    if min(stride) < 1:
        raise ValueError(f"{op}: stride must be >= 1, got {stride}")
    if min(padding) < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {padding}")
    if padding[0] > kernel_size[0] // 2 or padding[1] > kernel_size[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half of kernel_size {kernel_size}")
    padded = (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    if kernel_size[0] > padded[0] or kernel_size[1] > padded[1]:
        raise ValueError(
            f"{op}: kernel_size {kernel_size} is larger than the padded input {padded} "
            f"(input {tuple(x.shape[2:])}, padding {padding})"
        )
    return kernel_size, stride, padding


def max_pool2d(
    x: Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None, padding: int | Sequence[int] = 0
) -> Tensor:
    """2-D max pooling, PyTorch's ``torch.nn.functional.max_pool2d``.

    Args:
        x: (N, C, H, W).
        kernel_size: an int or a pair (kh, kw).
        stride: an int or a pair; defaults to ``kernel_size``.
        padding: implicit -inf padding on both sides, at most half the kernel size.

    Returns:
        (N, C, Ho, Wo), Ho = floor((H + 2*ph - kh) / sh) + 1 (likewise Wo). Where a window
        holds several equal maxima, the gradient goes to the first in row-major order.
    """
    kernel_size, stride, padding = _pool_args("max_pool2d", x, kernel_size, stride, padding)
    return MaxPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding)


def avg_pool2d(
    x: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    count_include_pad: bool = True,
) -> Tensor:
    """2-D average pooling, PyTorch's ``torch.nn.functional.avg_pool2d``.

    Args:
        x: (N, C, H, W), floating point.
        kernel_size: an int or a pair (kh, kw).
        stride: an int or a pair; defaults to ``kernel_size``.
        padding: implicit zero padding on both sides, at most half the kernel size.
        count_include_pad: divide by kh*kw (True) or by the number of window
            elements inside the unpadded input (False).

    Returns:
        (N, C, Ho, Wo), Ho = floor((H + 2*ph - kh) / sh) + 1 (likewise Wo).
    """
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"avg_pool2d: expected a floating-point input, got dtype {x.dtype}")
    kernel_size, stride, padding = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    return AvgPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding,
                           count_include_pad=bool(count_include_pad))


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


def adaptive_max_pool2d(x: Tensor, output_size: int | Sequence[int | None]) -> Tensor:
    """Max pooling to a fixed output size, PyTorch's ``adaptive_max_pool2d`` (without ``return_indices``).

    Same bins as `adaptive_avg_pool2d`. Evenly dividing sizes with more output bins than
    kernel offsets run as ``max_pool2d`` with kernel = stride = H/Ho; everything else
    (uneven bins, global pooling) loops over the Ho*Wo bins (`AdaptiveMaxPool2d`).

    Args:
        x: (N, C, H, W).
        output_size: an int or a pair (Ho, Wo); None in the pair keeps that input size.

    Returns:
        (N, C, Ho, Wo).
    """
    output_size = _adaptive_args("adaptive_max_pool2d", x, output_size)
    kernel = (x.shape[2] // output_size[0], x.shape[3] // output_size[1])
    if _divides(x, output_size) and kernel[0] * kernel[1] <= output_size[0] * output_size[1]:
        return MaxPool2d.apply(x, kernel_size=kernel, stride=kernel, padding=(0, 0))
    return AdaptiveMaxPool2d.apply(x, output_size=output_size)  # uneven bins, or fewer bins than kernel offsets
