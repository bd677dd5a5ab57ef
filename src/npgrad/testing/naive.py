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
* Output size along an axis: Ho = floor((H + pad_top + pad_bottom - d*(k - 1) - 1) / s) + 1
  (pooling's ``ceil_mode`` rounds up instead, PyTorch's rule in `_pool_out_size`).
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
def _pool_out_size(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size: floor (or ceil) of (size + 2*pad - dilation*(kernel-1) - 1) / stride, plus one.

    In ceil mode a last window that would start in the right padding (at or after
    size + pad in padded coordinates) is dropped.
    """
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_geometry(x_shape, kernel_size, stride, padding, dilation=1, ceil_mode=False):
    kh, kw = pair("naive", "kernel_size", kernel_size)
    sh, sw = (kh, kw) if stride is None else pair("naive", "stride", stride)
    ph, pw = pair("naive", "padding", padding)
    dh, dw = pair("naive", "dilation", dilation)
    Ho = _pool_out_size(x_shape[2], kh, sh, ph, dh, ceil_mode)
    Wo = _pool_out_size(x_shape[3], kw, sw, pw, dw, ceil_mode)
    return (kh, kw), (sh, sw), (ph, pw), (dh, dw), (Ho, Wo)


def _max_pool_winners(x, kernel_size, stride, padding, dilation, ceil_mode):
    """For every output (n, c, oh, ow): the maximum of its window and the (row, col) in x where it is.

    Window taps at (oh*sh - ph + i*dh, ow*sw - pw + j*dw); taps outside x are padding
    (-inf, never the maximum). The first maximum in row-major tap order wins ties.
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (Ho, Wo) = _pool_geometry(x.shape, kernel_size, stride, padding, dilation,
                                                                       ceil_mode)
    N, C, H, W = x.shape
    out = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    where = np.zeros((N, C, Ho, Wo, 2), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for oh in range(Ho):
                for ow in range(Wo):
                    best, best_at = -np.inf, (-1, -1)
                    for i in range(kh):
                        for j in range(kw):
                            r, q = oh * sh - ph + i * dh, ow * sw - pw + j * dw
                            if 0 <= r < H and 0 <= q < W and (x[n, c, r, q] > best or best_at == (-1, -1)):
                                best, best_at = x[n, c, r, q], (r, q)
                    out[n, c, oh, ow], where[n, c, oh, ow] = best, best_at
    return out, where


def max_pool2d_forward(
    x: np.ndarray,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Max pooling: out[n, c, h, w] = max over the kh×kw taps x[n, c, h*sh - ph + i*dh, w*sw - pw + j*dw].

    Taps in the padding count as -inf (padding never wins). ``stride`` defaults to
    ``kernel_size``. Returns (N, C, Ho, Wo), and with ``return_indices`` also where each
    maximum is, as row*W + col in its (H, W) plane (PyTorch's indices).
    """
    out, where = _max_pool_winners(x, kernel_size, stride, padding, dilation, ceil_mode)
    return (out, where[..., 0] * x.shape[3] + where[..., 1]) if return_indices else out


def max_pool2d_backward(
    dout: np.ndarray,
    x: np.ndarray,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Gradient of `max_pool2d_forward`: each output's gradient goes to the input that was its maximum.

    The max is locally the identity on the winning element and constant in the others,
    so dx[winner] += dout[n, c, h, w]. When several elements tie for the maximum, the
    FIRST one in row-major window order gets all of it (PyTorch's convention; ``argmax``
    of the flattened window). Overlapping windows can pick the same element: accumulate.
    Returns dx (N, C, H, W).
    """
    _, where = _max_pool_winners(x, kernel_size, stride, padding, dilation, ceil_mode)
    dx = np.zeros_like(x, dtype=dout.dtype)
    for n, c, oh, ow in np.ndindex(*dout.shape):
        r, q = where[n, c, oh, ow]
        dx[n, c, r, q] += dout[n, c, oh, ow]
    return dx


def max_unpool2d_forward(x: np.ndarray, indices: np.ndarray, output_size: IntPair) -> np.ndarray:
    """Max unpooling: a zero (N, C, Ho, Wo) output with out[n, c, i // Wo, i % Wo] = x[n, c, h, w], i = indices[n, c, h, w]."""
    Ho, Wo = pair("naive", "output_size", output_size)
    out = np.zeros((*x.shape[:2], Ho, Wo), dtype=x.dtype)
    for n, c, h, w in np.ndindex(*x.shape):
        i = indices[n, c, h, w]
        out[n, c, i // Wo, i % Wo] = x[n, c, h, w]
    return out


def _avg_window(x_shape, oh, ow, kernel, stride, padding, count_include_pad, divisor_override):
    """Rows, columns (slices of x) and divisor of average-pool window (oh, ow), as PyTorch computes them.

    The window starts at (oh*sh - ph, ow*sw - pw) and ends kh, kw later, but not past the
    padding's far edge (a ceil-mode last window can hang over it). Its divisor counts the
    elements up to that edge, padding included (``count_include_pad``), or only those
    inside x, unless ``divisor_override`` gives it.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    h0, w0 = oh * sh - ph, ow * sw - pw
    h1, w1 = min(h0 + kh, x_shape[2] + ph), min(w0 + kw, x_shape[3] + pw)
    pool_size = (h1 - h0) * (w1 - w0)
    h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, x_shape[2]), min(w1, x_shape[3])
    if divisor_override is not None:
        divisor = divisor_override
    else:
        divisor = pool_size if count_include_pad else (h1 - h0) * (w1 - w0)
    return slice(h0, h1), slice(w0, w1), divisor


def avg_pool2d_forward(
    x: np.ndarray,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """Average pooling: out[n, c, h, w] = sum of x over the window at (h*sh - ph, w*sw - pw) / divisor.

    Padding is zeros; the divisor is `_avg_window`'s (kh*kw for an ordinary window with
    ``count_include_pad``, else the number of window elements inside x).
    Returns (N, C, Ho, Wo).
    """
    kernel, stride_, pads, _, (Ho, Wo) = _pool_geometry(x.shape, kernel_size, stride, padding, 1, ceil_mode)
    N, C = x.shape[:2]
    out = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    for n, c, oh, ow in np.ndindex(N, C, Ho, Wo):
        rows, cols, divisor = _avg_window(x.shape, oh, ow, kernel, stride_, pads, count_include_pad, divisor_override)
        out[n, c, oh, ow] = x[n, c, rows, cols].sum() / divisor
    return out


def avg_pool2d_backward(
    dout: np.ndarray,
    x: np.ndarray,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """Gradient of `avg_pool2d_forward`: each window element gets dout / divisor.

    The output is linear in its window with weight 1/divisor on every element, so
    dx[window of (n, c, h, w)] += dout[n, c, h, w] / divisor (accumulating where windows
    overlap); padding gets nothing. Returns dx (N, C, H, W).
    """
    kernel, stride_, pads, _, (Ho, Wo) = _pool_geometry(x.shape, kernel_size, stride, padding, 1, ceil_mode)
    dx = np.zeros(x.shape, dtype=dout.dtype)
    for n, c, oh, ow in np.ndindex(*dout.shape):
        rows, cols, divisor = _avg_window(x.shape, oh, ow, kernel, stride_, pads, count_include_pad, divisor_override)
        dx[n, c, rows, cols] += dout[n, c, oh, ow] / divisor
    return dx


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


# ------------------------------------------------------------------ normalisation
def local_response_norm_forward(x: np.ndarray, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> np.ndarray:
    """Local response normalisation across channels, PyTorch's definition. x: (N, C, *), any trailing dims.

        out[n, c] = x[n, c] / (k + alpha / size * sum_{c'} x[n, c']^2) ** beta

    over c' from c - size // 2 to c + (size - 1) // 2, the channels outside [0, C) counting as zeros.
    """
    N, C = x.shape[:2]
    out = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            square_sum = sum(x[n, j] ** 2 for j in range(c - size // 2, c + (size - 1) // 2 + 1) if 0 <= j < C)
            out[n, c] = x[n, c] / (k + alpha / size * square_sum) ** beta
    return out
