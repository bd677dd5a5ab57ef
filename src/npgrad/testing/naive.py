"""Textbook loop versions of convolution and pooling: the specification the fast kernels are tested against.

Every function here is deliberately slow and obvious — explicit Python loops over
samples, channels and output pixels, one window at a time — so that it can be read
against the math and trusted. They work on plain NumPy arrays (no `Tensor`, no
autograd) and follow PyTorch's semantics (NCHW, cross-correlation, floor division
for output sizes). Use them on small inputs only.

Conventions shared by all functions:

* ``x``: input (N, C, H, W). ``dout``: gradient of some scalar loss with respect to
  the output, (N, C_out, Ho, Wo). The backward functions return the gradients with
  respect to the forward inputs, each with its input's shape.
* ``stride``, ``dilation``, ``kernel_size``: an int or a pair (h, w).
* ``padding``: an int, a pair (h, w) applied on both sides, or a 4-tuple
  (top, bottom, left, right) for asymmetric padding (what ``padding='same'`` means
  for an even kernel).
* Output size along an axis: Ho = floor((H + pad_top + pad_bottom - d*(k - 1) - 1) / s) + 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from npgrad._utils import pair

IntPair = int | Sequence[int]


def _pads(padding: IntPair) -> tuple[int, int, int, int]:
    if not isinstance(padding, int) and len(padding) == 4:
        return tuple(int(p) for p in padding)  # type: ignore[return-value]
    ph, pw = pair("naive", "padding", padding)
    return (ph, ph, pw, pw)


def _zero_pad(x: np.ndarray, pads: tuple[int, int, int, int], value: float = 0.0) -> np.ndarray:
    top, bottom, left, right = pads
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def _out_size(size: int, kernel: int, stride: int, pad_total: int, dilation: int = 1) -> int:
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


# ------------------------------------------------------------------ convolution
def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> np.ndarray:
    """Convolution (cross-correlation, as every deep-learning library computes it).

    With xp the zero-padded input, filter f of group g = f // (C_out / groups) sees
    only that group's input channels c in [g*C/groups, (g+1)*C/groups)::

        out[n, f, oh, ow] = b[f] + sum_{c, i, j} w[f, c - g*C/groups, i, j] * xp[n, c, oh*sh + i*dil_h, ow*sw + j*dil_w]

    Args:
        x: (N, C, H, W).
        w: (C_out, C / groups, kh, kw).
        b: (C_out,) or None.

    Returns:
        (N, C_out, Ho, Wo).
    """
    (sh, sw), (dil_h, dil_w) = pair("naive", "stride", stride), pair("naive", "dilation", dilation)
    pads = _pads(padding)
    N, C, H, W = x.shape
    F, Cg, kh, kw = w.shape
    xp = _zero_pad(x, pads)
    Ho = _out_size(H, kh, sh, pads[0] + pads[1], dil_h)
    Wo = _out_size(W, kw, sw, pads[2] + pads[3], dil_w)
    out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
    filters_per_group = F // groups
    for n in range(N):
        for f in range(F):
            c0 = (f // filters_per_group) * Cg  # first input channel of f's group
            for oh in range(Ho):
                for ow in range(Wo):
                    rows = slice(oh * sh, oh * sh + dil_h * (kh - 1) + 1, dil_h)
                    cols = slice(ow * sw, ow * sw + dil_w * (kw - 1) + 1, dil_w)
                    out[n, f, oh, ow] = np.sum(xp[n, c0 : c0 + Cg, rows, cols] * w[f]) + (b[f] if b is not None else 0)
    return out


def conv2d_backward(
    dout: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of `conv2d_forward`: each output pixel sends its gradient back along its window.

    Output out[n, f, h, w] = b[f] + sum(window * w[f]) depends on its window of xp through
    w[f] and on w[f] through that window, so, summing over every (n, f, h, w)::

        dxp[n, group channels, window positions] += w[f] * dout[n, f, h, w]
        dw[f]                                    += window * dout[n, f, h, w]
        db[f]                                    += dout[n, f, h, w]

    and dx is dxp with the padding cut off (padding is a constant: no gradient).
    Windows of neighbouring outputs overlap when stride < kernel extent, which is
    why dxp accumulates.

    Returns:
        (dx (N, C, H, W), dw like w, db (C_out,) or None when b is None).
    """
    (sh, sw), (dil_h, dil_w) = pair("naive", "stride", stride), pair("naive", "dilation", dilation)
    top, bottom, left, right = pads = _pads(padding)
    N, C, H, W = x.shape
    F, Cg, kh, kw = w.shape
    xp = _zero_pad(x, pads)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    filters_per_group = F // groups
    for n in range(N):
        for f in range(F):
            c0 = (f // filters_per_group) * Cg
            for oh in range(dout.shape[2]):
                for ow in range(dout.shape[3]):
                    rows = slice(oh * sh, oh * sh + dil_h * (kh - 1) + 1, dil_h)
                    cols = slice(ow * sw, ow * sw + dil_w * (kw - 1) + 1, dil_w)
                    dxp[n, c0 : c0 + Cg, rows, cols] += w[f] * dout[n, f, oh, ow]
                    dw[f] += xp[n, c0 : c0 + Cg, rows, cols] * dout[n, f, oh, ow]
    db = dout.sum(axis=(0, 2, 3)) if b is not None else None
    return dxp[:, :, top : top + H, left : left + W], dw, db


# ------------------------------------------------------------------ pooling
def _pool_geometry(x_shape, kernel_size, stride, padding):
    kh, kw = pair("naive", "kernel_size", kernel_size)
    sh, sw = (kh, kw) if stride is None else pair("naive", "stride", stride)
    ph, pw = pair("naive", "padding", padding)
    Ho = _out_size(x_shape[2], kh, sh, 2 * ph)
    Wo = _out_size(x_shape[3], kw, sw, 2 * pw)
    return (kh, kw), (sh, sw), (ph, pw), (Ho, Wo)


def max_pool2d_forward(x: np.ndarray, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0) -> np.ndarray:
    """Max pooling: out[n, c, h, w] = max of the kh×kw window of xp at (h*sh, w*sw).

    xp is x padded with -inf (padding never wins). ``stride`` defaults to ``kernel_size``.
    Returns (N, C, Ho, Wo).
    """
    (kh, kw), (sh, sw), (ph, pw), (Ho, Wo) = _pool_geometry(x.shape, kernel_size, stride, padding)
    xp = _zero_pad(x, (ph, ph, pw, pw), value=-np.inf)
    N, C = x.shape[:2]
    out = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for oh in range(Ho):
                for ow in range(Wo):
                    out[n, c, oh, ow] = xp[n, c, oh * sh : oh * sh + kh, ow * sw : ow * sw + kw].max()
    return out


def max_pool2d_backward(
    dout: np.ndarray, x: np.ndarray, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0
) -> np.ndarray:
    """Gradient of `max_pool2d_forward`: each output's gradient goes to the input that was its maximum.

    The max is locally the identity on the winning element and constant in the others,
    so dx[winner] += dout[n, c, h, w]. When several elements tie for the maximum, the
    FIRST one in row-major window order gets all of it (PyTorch's convention; ``argmax``
    of the flattened window). Overlapping windows can pick the same element: accumulate.
    Returns dx (N, C, H, W).
    """
    (kh, kw), (sh, sw), (ph, pw), (Ho, Wo) = _pool_geometry(x.shape, kernel_size, stride, padding)
    xp = _zero_pad(x, (ph, ph, pw, pw), value=-np.inf)
    dxp = np.zeros_like(xp)
    N, C = x.shape[:2]
    for n in range(N):
        for c in range(C):
            for oh in range(Ho):
                for ow in range(Wo):
                    window = xp[n, c, oh * sh : oh * sh + kh, ow * sw : ow * sw + kw]
                    i, j = np.unravel_index(np.argmax(window), window.shape)
                    dxp[n, c, oh * sh + i, ow * sw + j] += dout[n, c, oh, ow]
    return dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]


def _avg_divisor(x_shape, oh, ow, kernel, stride, padding, count_include_pad) -> int:
    """kh*kw, or how many elements of window (oh, ow) lie inside the unpadded input."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    if count_include_pad:
        return kh * kw
    rows = min(oh * sh - ph + kh, x_shape[2]) - max(oh * sh - ph, 0)
    cols = min(ow * sw - pw + kw, x_shape[3]) - max(ow * sw - pw, 0)
    return rows * cols


def avg_pool2d_forward(
    x: np.ndarray, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0, count_include_pad: bool = True
) -> np.ndarray:
    """Average pooling: out[n, c, h, w] = sum of the kh×kw window of xp at (h*sh, w*sw) / divisor.

    xp is x zero-padded. The divisor is kh*kw when ``count_include_pad`` (padding counts
    as zeros), else the number of window elements inside the unpadded input.
    Returns (N, C, Ho, Wo).
    """
    kernel, stride_, pads, (Ho, Wo) = _pool_geometry(x.shape, kernel_size, stride, padding)
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride_, pads
    xp = _zero_pad(x, (ph, ph, pw, pw))
    N, C = x.shape[:2]
    out = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for oh in range(Ho):
                for ow in range(Wo):
                    total = xp[n, c, oh * sh : oh * sh + kh, ow * sw : ow * sw + kw].sum()
                    out[n, c, oh, ow] = total / _avg_divisor(x.shape, oh, ow, kernel, stride_, pads, count_include_pad)
    return out


def avg_pool2d_backward(
    dout: np.ndarray,
    x: np.ndarray,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    count_include_pad: bool = True,
) -> np.ndarray:
    """Gradient of `avg_pool2d_forward`: each window element gets dout / divisor.

    The output is linear in its window with weight 1/divisor on every element, so
    dxp[window of (n, c, h, w)] += dout[n, c, h, w] / divisor (accumulating where windows
    overlap); the gradient that lands on padding is dropped. Returns dx (N, C, H, W).
    """
    kernel, stride_, pads, (Ho, Wo) = _pool_geometry(x.shape, kernel_size, stride, padding)
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride_, pads
    dxp = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw), dtype=dout.dtype)
    N, C = x.shape[:2]
    for n in range(N):
        for c in range(C):
            for oh in range(Ho):
                for ow in range(Wo):
                    divisor = _avg_divisor(x.shape, oh, ow, kernel, stride_, pads, count_include_pad)
                    dxp[n, c, oh * sh : oh * sh + kh, ow * sw : ow * sw + kw] += dout[n, c, oh, ow] / divisor
    return dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]


def _adaptive_bins(size: int, out: int) -> list[tuple[int, int]]:
    """Bin i covers [floor(i*size/out), ceil((i+1)*size/out)): PyTorch's adaptive pooling bins."""
    return [(int(np.floor(i * size / out)), int(np.ceil((i + 1) * size / out))) for i in range(out)]


def adaptive_pool2d_forward(x: np.ndarray, output_size: IntPair, reduce: str = "mean") -> np.ndarray:
    """Adaptive pooling: out[n, c, i, j] = mean (or max) of x over row bin i times column bin j.

    Bins follow PyTorch: along an axis of length H cut into Ho bins, bin i is
    [floor(i*H/Ho), ceil((i+1)*H/Ho)). Bins have unequal sizes and may overlap when
    Ho does not divide H. ``reduce`` is 'mean' or 'max'. Returns (N, C, Ho, Wo).
    """
    Ho, Wo = pair("naive", "output_size", output_size)
    N, C = x.shape[:2]
    reducer = {"mean": np.mean, "max": np.max}[reduce]
    out = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i, (h0, h1) in enumerate(_adaptive_bins(x.shape[2], Ho)):
                for j, (w0, w1) in enumerate(_adaptive_bins(x.shape[3], Wo)):
                    out[n, c, i, j] = reducer(x[n, c, h0:h1, w0:w1])
    return out
