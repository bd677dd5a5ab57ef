"""2-D convolution as one matrix product over a window view (im2col without Python loops).

Forward, for x (N, C, H, W) and weight (C_out, C, kh, kw)::

    out[n, o, h, w] = bias[o] + sum_{c, i, j} weight[o, c, i, j] * xp[n, c, h*sh + i*dh, w*sw + j*dw]

where xp is x zero-padded. Every window of xp is a strided *view* (`_window_view`,
no copy); one contiguous copy of that view is the im2col matrix ``col`` of shape
(C*kh*kw, N*Ho*Wo), and the whole convolution is ``weight.reshape(C_out, -1) @ col``,
a single BLAS call. The channels-first layout (C, kh, kw | N, Ho, Wo) keeps both GEMM
operands contiguous and the copy's inner loop running along image rows.

Backward::

    dweight = dout_mat @ col^T                     (one GEMM)
    dcol    = weight_mat^T @ dout_mat              (one GEMM)
    dx      = col2im(dcol): for each kernel offset (i, j), add dcol[:, i, j] into the
              (i, j)-shifted strided slice of a padded buffer (kh*kw vectorised adds)
    dbias   = dout summed over N, Ho, Wo

The "wide" layout, for narrow outputs with stride 1 along the width: instead of the
Wo valid columns of each output row, compute all Wp columns of the padded row. Then
the window of output (h, w) starts at flat offset h*Wp + w of the padded image,
consecutive outputs are consecutive in memory, and the im2col copy and the col2im
adds run over whole images (Ho*Wp contiguous elements) instead of Wo-element
fragments, which NumPy walks slowly when they are short. The Wp - Wo extra columns
are garbage in the forward (dropped) and receive a zero gradient in the backward;
they read up to (kw-1)*dw elements past the image, so the padded buffer carries that
many spare elements at its end.

Groups split the channels into G independent convolutions: ``col`` is viewed as
(G, C/G*kh*kw, N*Ho*Wo) and the products are one batched ``matmul`` over groups
(NumPy loops over the G matrices in C; no Python loop over groups or channels).

Alternatives measured and rejected (float32, OpenBLAS, 2 cores): a sample-major col
(N*Ho*Wo, C*kh*kw) copies 2-4x slower (its inner runs are kw long); a per-sample
batched GEMM (N, C*kh*kw, Ho*Wo) is 1.5-2x slower than one big GEMM; dx as a
transposed convolution costs more than the GEMM + col2im adds; processing the batch
in cache-sized chunks gave no consistent gain.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from npgrad._utils import pair
from npgrad.function import Function
from npgrad.tensor import Tensor

Padding4 = tuple[int, int, int, int]  # (top, bottom, left, right)

# Output rows narrower than this use the wide layout (module docstring). Measured on
# OpenBLAS: it saves 10-15% at Wo = 7 and 10, and costs 10-15% at Wo = 24 and 28,
# where rows are long enough for fast copies and the extra columns are pure overhead.
_WIDE_BELOW_WIDTH = 16

# ``col`` is kept for the backward (saving a second im2col copy) unless it is larger than
# this; big layers recompute it from x, keeping memory near PyTorch's (which saves only x).
_SAVE_COL_MAX_BYTES = 64 * 2**20


def _pad(x: np.ndarray, padding: Padding4, value: float = 0.0, tail: int = 0) -> np.ndarray:
    """A new C-contiguous copy of x (..., H, W) with ``value`` around it: (..., H+top+bottom, W+left+right).

    ``tail`` extra zero elements follow the array in its memory buffer, for views that
    read past its last row (the wide layout).
    """
    top, bottom, left, right = padding
    *lead, H, W = x.shape
    shape = (*lead, H + top + bottom, W + left + right)
    size = int(np.prod(shape))
    buffer = np.empty(size + tail, dtype=x.dtype)
    buffer[size:] = 0
    xp = buffer[:size].reshape(shape)
    if top or bottom or left or right:
        xp[..., :top, :] = value
        xp[..., top + H :, :] = value
        xp[..., top : top + H, :left] = value
        xp[..., top : top + H, left + W :] = value
    xp[..., top : top + H, left : left + W] = x
    return xp


def _window_view(
    xp: np.ndarray,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out_size: tuple[int, int],
    writeable: bool = False,
) -> np.ndarray:
    """The sliding windows of xp (..., Hp, Wp) as a strided view (kh, kw, ..., Ho, Wo), no copy.

    ``view[i, j, ..., h, w] = xp[..., h*sh + i*dh, w*sw + j*dw]``: ``view[i, j]`` is the
    slice of xp that kernel offset (i, j) sees at every output position, which is what
    both im2col (copy the view) and col2im (``view[i, j] += ...``, writeable) need.
    A width wider than the valid output reads on into the next row (the wide layout):
    the caller must own that memory (see `_pad`'s ``tail``).
    """
    kh, kw = kernel_size
    sh, sw = stride
    dh, dw = dilation
    row, col = xp.strides[-2:]
    shape = (kh, kw, *xp.shape[:-2], *out_size)
    strides = (row * dh, col * dw, *xp.strides[:-2], row * sh, col * sw)
    return as_strided(xp, shape, strides, writeable=writeable)


def _output_size(size: int, kernel: int, stride: int, pad_total: int, dilation: int) -> int:
    """floor((size + pad_total - dilation*(kernel-1) - 1) / stride) + 1, PyTorch's formula."""
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


class _Geometry:
    """Sizes shared by forward and backward (computed once per call)."""

    def __init__(self, x_shape, w_shape, stride, padding, dilation, groups):
        self.N, self.C, self.H, self.W = x_shape
        self.C_out, _, self.kh, self.kw = w_shape
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        top, bottom, left, right = padding
        self.Hp, self.Wp = self.H + top + bottom, self.W + left + right
        self.Ho = _output_size(self.H, self.kh, stride[0], top + bottom, dilation[0])
        self.Wo = _output_size(self.W, self.kw, stride[1], left + right, dilation[1])
        self.wide = stride[1] == 1 and self.Wo < _WIDE_BELOW_WIDTH  # see the module docstring
        self.Wq = self.Wp if self.wide else self.Wo  # columns computed per output row
        self.tail = (self.kw - 1) * dilation[1] if self.wide else 0


def _im2col(x: np.ndarray, g: _Geometry) -> np.ndarray:
    """col (G, C/G*kh*kw, N*Ho*Wq): row (c, i, j), column (n, h, w) holds xp[n, c, h*sh + i*dh, w*sw + j*dw]."""
    xp = _pad(x.transpose(1, 0, 2, 3), g.padding, tail=g.tail)  # (C, N, Hp, Wp)
    windows = _window_view(xp, (g.kh, g.kw), g.stride, g.dilation, (g.Ho, g.Wq))  # (kh, kw, C, N, Ho, Wq)
    col = np.ascontiguousarray(windows.transpose(2, 0, 1, 3, 4, 5))  # (C, kh, kw, N, Ho, Wq)
    return col.reshape(g.groups, -1, g.N * g.Ho * g.Wq)


def _col2im(dcol: np.ndarray, g: _Geometry) -> np.ndarray:
    """The adjoint of `_im2col`: dcol (G, C/G*kh*kw, N*Ho*Wq) → dx (N, C, H, W), summing overlaps."""
    top, _, left, _ = g.padding
    size = g.C * g.N * g.Hp * g.Wp
    buffer = np.zeros(size + g.tail, dtype=dcol.dtype)
    dxp = buffer[:size].reshape(g.C, g.N, g.Hp, g.Wp)
    windows = _window_view(dxp, (g.kh, g.kw), g.stride, g.dilation, (g.Ho, g.Wq), writeable=True)
    dcol = dcol.reshape(g.C, g.kh, g.kw, g.N, g.Ho, g.Wq)
    for i in range(g.kh):
        for j in range(g.kw):
            windows[i, j] += dcol[:, i, j]  # (C, N, Ho, Wq); windows of different outputs overlap
    return np.ascontiguousarray(dxp[:, :, top : top + g.H, left : left + g.W].transpose(1, 0, 2, 3))


class Conv2d(Function):
    """out = conv(x, weight) + bias, cross-correlation as in PyTorch (see the module docstring).

    x: (N, C, H, W), weight: (C_out, C/groups, kh, kw), bias: (C_out,) or None,
    out: (N, C_out, Ho, Wo). ``padding`` is (top, bottom, left, right).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        g = _Geometry(x.shape, weight.shape, stride, padding, dilation, groups)
        col = _im2col(x, g)  # (G, C/G*kh*kw, L)
        w_mat = weight.reshape(groups, g.C_out // groups, -1)  # (G, C_out/G, C/G*kh*kw)
        out = (w_mat @ col).reshape(g.C_out, g.N, g.Ho, g.Wq)[..., : g.Wo].transpose(1, 0, 2, 3)
        result = np.empty((g.N, g.C_out, g.Ho, g.Wo), dtype=out.dtype)
        if bias is None:
            np.copyto(result, out)
        else:
            np.add(out, bias[:, None, None], out=result)
        ctx.geometry = g
        saved_col = col if ctx.needs_input_grad[1] and col.nbytes <= _SAVE_COL_MAX_BYTES else None
        ctx.save_for_backward(x, weight, saved_col)
        return result

    @staticmethod
    def backward(ctx, dout):  # dout: (N, C_out, Ho, Wo)
        x, weight, col = ctx.saved
        g = ctx.geometry
        dx = dweight = dbias = None
        dout_mat = _dout_matrix(dout, g) if ctx.needs_input_grad[0] or ctx.needs_input_grad[1] else None
        if ctx.needs_input_grad[0]:
            w_mat = weight.reshape(g.groups, g.C_out // g.groups, -1)  # (G, C_out/G, C/G*kh*kw)
            dx = _col2im(w_mat.transpose(0, 2, 1) @ dout_mat, g)
        if ctx.needs_input_grad[1]:
            if col is None:
                col = _im2col(x, g)
            dweight = (dout_mat @ col.transpose(0, 2, 1)).reshape(weight.shape)
        if ctx.needs_input_grad[2]:
            dbias = dout.sum(axis=(0, 2, 3))
        return dx, dweight, dbias


def _dout_matrix(dout: np.ndarray, g: _Geometry) -> np.ndarray:
    """dout (N, C_out, Ho, Wo) in the GEMM layout (G, C_out/G, N*Ho*Wq), zeros in the wide columns."""
    if g.wide:
        mat = np.zeros((g.C_out, g.N, g.Ho, g.Wq), dtype=dout.dtype)
        mat[..., : g.Wo] = dout.transpose(1, 0, 2, 3)
    else:
        mat = np.ascontiguousarray(dout.transpose(1, 0, 2, 3))
    return mat.reshape(g.groups, g.C_out // g.groups, -1)


def _padding4(
    op: str, padding: int | Sequence[int] | str, kernel_size: tuple[int, int], dilation: tuple[int, int], stride: tuple[int, int]
) -> Padding4:
    """PyTorch's padding argument (int, pair, 'valid' or 'same') as (top, bottom, left, right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' requires stride 1, got stride {stride}")
            totals = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
            return (totals[0] // 2, totals[0] - totals[0] // 2, totals[1] // 2, totals[1] - totals[1] // 2)
        raise ValueError(f"{op}: padding must be 'valid', 'same', an int or a pair of ints, got {padding!r}")
    ph, pw = pair(op, "padding", padding)
    if ph < 0 or pw < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {(ph, pw)}")
    return (ph, ph, pw, pw)


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] | str = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution (cross-correlation), PyTorch's ``torch.nn.functional.conv2d``.

    Args:
        x: (N, C_in, H, W).
        weight: (C_out, C_in / groups, kH, kW); non-square kernels are fine.
        bias: (C_out,) or None.
        stride, dilation: an int or a pair (h, w), each >= 1.
        padding: an int or a pair (h, w) of zeros added on both sides, or 'valid'
            (no padding) or 'same' (output size = input size; stride 1 only; when the
            total padding d*(k-1) is odd the extra row/column goes at the bottom/right,
            as in PyTorch).
        groups: split the channels into this many independent convolutions; both
            C_in and C_out must be divisible by it (groups = C_in is depthwise).

    Returns:
        (N, C_out, Ho, Wo) with Ho = floor((H + pad_top + pad_bottom - dH*(kH-1) - 1) / sH) + 1
        (likewise Wo), in the input's dtype.
    """
    op = "conv2d"
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C_in, H, W), got shape {tuple(x.shape)}")
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D (C_out, C_in/groups, kH, kW), got shape {tuple(weight.shape)}")
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != x.dtype):
        dtypes = f"input {x.dtype}, weight {weight.dtype}" + ("" if bias is None else f", bias {bias.dtype}")
        raise TypeError(f"{op}: input, weight and bias must have the same dtype, got {dtypes}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{op}: expected floating-point tensors, got dtype {x.dtype}")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups!r}")
    groups = int(groups)
    N, C, H, W = x.shape
    C_out, C_per_group, kh, kw = weight.shape
    if C % groups:
        raise ValueError(f"{op}: groups {groups} must divide the input channels {C} (input shape {tuple(x.shape)})")
    if C != C_per_group * groups:
        detail = f", groups {groups}" if groups > 1 else ""
        raise ValueError(
            f"{op}: input has {C} channels but weight expects {C_per_group * groups} "
            f"(weight shape {tuple(weight.shape)}{detail})"
        )
    if C_out % groups:
        raise ValueError(f"{op}: groups {groups} must divide the output channels {C_out} (weight shape {tuple(weight.shape)})")
    if bias is not None and tuple(bias.shape) != (C_out,):
        raise ValueError(f"{op}: bias must have shape ({C_out},), got {tuple(bias.shape)}")
    stride = pair(op, "stride", stride)
    dilation = pair(op, "dilation", dilation)
    if min(stride) < 1:
        raise ValueError(f"{op}: stride must be >= 1, got {stride}")
    if min(dilation) < 1:
        raise ValueError(f"{op}: dilation must be >= 1, got {dilation}")
    pads = _padding4(op, padding, (kh, kw), dilation, stride)
    padded = (H + pads[0] + pads[1], W + pads[2] + pads[3])
    extent = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    if extent[0] > padded[0] or extent[1] > padded[1]:
        raise ValueError(
            f"{op}: kernel size ({kh}, {kw}) with dilation {dilation} spans {extent}, which is larger than "
            f"the padded input {padded} (input {(H, W)}, padding {padding!r})"
        )
    return Conv2d.apply(x, weight, bias, stride=stride, padding=pads, dilation=dilation, groups=groups)
