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

The batch-last layout, for narrow outputs (Wo < 16): the columns of ``col`` are ordered
(Ho, Wo, N) instead of (N, Ho, Wo). A GEMM does not care about the order of its
columns, but the copies do: NumPy walks a strided copy one innermost run at a time,
and runs of Wo elements (4 in ResNet's third stage) make the im2col copy and the
col2im adds crawl. With the batch innermost, each run is Wo*N elements long. The price
is a transposing copy of x, dout and the output, which only pays off on small images.
Internally, images are handled as (C, A, H, W, B): (C, N, H, W, 1) in the usual
layout and (C, 1, H, W, N) in the batch-last one, so one code path serves both.

Tall windows, for few output channels (C_out <= 16, stride 1 along the height): the
GEMM ``weight_mat @ col`` has only C_out rows, which OpenBLAS runs far below its speed,
over a ``col`` of C*kh*kw rows per output pixel. Computing s adjacent output rows per
window fixes both: rows h = h'*s + t (t < s) of the output are a convolution of x with
the tall kernel (C_out*s, C, kh+s-1, kw) whose block t is the weight shifted down by t
rows (zeros elsewhere), at stride s along the height::

    out[n, o, h'*s + t, w] = tall_out[n, (o, t), h', w],   tall[(o, t), c, t + i, j] = weight[o, c, i, j]

so the GEMM has s*C_out rows (s = 4 or 2, up to 32 rows) and ``col`` (kh+s-1)/s instead of
kh rows of taps per output pixel (2.5x smaller for 5x5 kernels and s = 4), for (kh+s-1)/kh
times the FLOPs.
Backward is the tall convolution's, with dweight[o, c, i, j] = sum_t dtall[(o, t), c, t + i, j].

Winograd, for 3x3 kernels at stride 1 on small images (batch-last, output sides even: ResNet's 4x4
and 2x2 stages): `npgrad.ops.winograd` computes the output from 2x2 tiles with 2.25x fewer
multiply-adds and no im2col matrix, the forward and dx (itself the convolution of dout, padded by
2 - p, with the kernel flipped and transposed); dweight stays the im2col product. Measured (2 threads,
batch 256): 128 channels at 4x4, forward 9.4 -> 6.6-7.3 ms and forward + backward 27-30 -> 22-24 ms;
256 at 2x2, 7.6 -> 5.9 and 22-24 -> 20-22 ms. Odd sides (7x7: tiles covering 8x8, 30% more work)
measured no faster than im2col, and neither did the 64-channel GEMMs it needs there.

Groups split the channels into G independent convolutions: ``col`` is viewed as
(G, C/G*kh*kw, N*Ho*Wo) and the products are one batched ``matmul`` over groups
(NumPy loops over the G matrices in C; no Python loop over groups or channels).

Alternatives measured and rejected (float32, OpenBLAS, 2 cores): a sample-major col
(N*Ho*Wo, C*kh*kw) copies 2-4x slower (its inner runs are kw long); a per-sample
batched GEMM (N, C*kh*kw, Ho*Wo) is 1.5-2x slower than one big GEMM; dx as a
transposed convolution costs more than the GEMM + col2im adds (Winograd's, above, aside); processing
the batch in cache-sized chunks on one thread gave no consistent gain (re-measured on a Zen 4 with 2 threads, chunks
of 4 MiB of col and output, forward and backward: single convolutions 1.0-1.5x faster, but whole
LeNet, LeNet-BN and three-layer-convnet steps 0.76-1.25x across three A/B runs). For LeNet's
convolutions (1 thread, batch 256): wide windows (s adjacent output *columns* per window) were slower than tall ones,
since the result's columns then interleave across GEMM rows and the epilogue gathers
single elements; col2im fused with the dx GEMM one kernel row at a time gained 6%.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from npgrad import _parallel
from npgrad._utils import check_same_dtype, pair
from npgrad.function import Function
from npgrad.ops import winograd
from npgrad.tensor import Tensor

Padding4 = tuple[int, int, int, int]  # (top, bottom, left, right)

# Output rows narrower than this use the batch-last layout (module docstring). Measured
# on OpenBLAS, 1 thread, batch 256, forward + backward: 1.1-1.9x faster at Wo = 10, 7, 4 and 2;
# 1.4-1.5x slower for 1-channel 7x7 layers at Wo = 28 and at Wo = 14 (ResNet's stem, where
# C_out = 64 > C*kh*kw = 49): there the transposing copies of x and the output dominate.
_BATCH_LAST_BELOW_WIDTH = 16

# Tall windows (module docstring) stack s = 4 or 2 output rows per window while the GEMM has at most
# this many rows. Measured (1 thread, CPU time, batch 256, forward + backward) on LeNet's convolutions:
# 1 -> 6 channels 5x5 at 28x28: s = 4 1.5x faster, s = 2 1.4x; 6 -> 16 5x5 at 10x10 and 8x8: s = 2 1.2x,
# s = 4 1.1x; 32 output channels (7x7 or 3x3) gain nothing, nor (3x3, 8 or 16 channels) clearly.
_TALL_GEMM_ROWS = 32

# The batch-last layout transposes between (N, P) and (P, N) (P: one sample's elements): x and dout on
# the way in, the result on the way out. Walking an (N, P) array across samples, when a sample spans a
# multiple of this, puts the N accesses of one pass into the same few cache sets: a (256, 1024) float32
# transposing copy measured 1.0 ms against 0.22 ms from rows 64 bytes apart (ResNet's 128x4x4, 256x2x2
# and 512x1x1 stages, LeNet-BN's 16x8x8). Such arrays are kept with samples `_SAMPLE_GAP_BYTES` apart.
_ALIASED_STRIDE_BYTES = 2048
_SAMPLE_GAP_BYTES = 64

# ``col`` is kept for the backward (saving a second im2col copy) unless it is larger than
# this; big layers recompute it from x, keeping memory near PyTorch's (which saves only x).
_SAVE_COL_MAX_BYTES = 64 * 2**20


def _aliased(N: int, sample_bytes: int) -> bool:
    """Whether N samples this many bytes apart share cache sets when the array is walked across samples."""
    return N > 1 and sample_bytes % _ALIASED_STRIDE_BYTES == 0


def _empty_spaced(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised (N, ...) array whose samples lie `_SAMPLE_GAP_BYTES` apart (a view into a larger buffer)."""
    N, sample = shape[0], int(np.prod(shape[1:]))
    gap = _SAMPLE_GAP_BYTES // np.dtype(dtype).itemsize
    return np.empty((N, sample + gap), dtype=dtype)[:, :sample].reshape(shape)


def _spaced(a: np.ndarray) -> np.ndarray:
    """a (N, ...), copied into `_empty_spaced` storage if its samples are an aliasing stride apart, else a itself."""
    if not _aliased(len(a), a.strides[0]):
        return a
    spaced = _empty_spaced(a.shape, a.dtype)
    spaced[...] = a
    return spaced


def _pad(x: np.ndarray, padding: Padding4, value: float = 0.0, axis: int = -2) -> np.ndarray:
    """A new C-contiguous copy of x with ``value`` around its spatial axes (``axis``, ``axis`` + 1).

    For x (..., H, W, ...) the result is (..., H+top+bottom, W+left+right, ...).
    """
    top, bottom, left, right = padding
    axis %= x.ndim
    H, W = x.shape[axis : axis + 2]
    xp = np.empty((*x.shape[:axis], H + top + bottom, W + left + right, *x.shape[axis + 2 :]), dtype=x.dtype)
    lead = (slice(None),) * axis
    rows = slice(top, top + H)
    if top or bottom or left or right:
        xp[(*lead, slice(None, top))] = value
        xp[(*lead, slice(top + H, None))] = value
        xp[(*lead, rows, slice(None, left))] = value
        xp[(*lead, rows, slice(left + W, None))] = value
    xp[(*lead, rows, slice(left, left + W))] = x
    return xp


def _window_view(
    xp: np.ndarray,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out_size: tuple[int, int],
    writeable: bool = False,
    axis: int = -2,
) -> np.ndarray:
    """The sliding windows of xp (..., Hp, Wp, ...) as a strided view (kh, kw, ..., Ho, Wo, ...), no copy.

    ``view[i, j, ..., h, w, ...] = xp[..., h*sh + i*dh, w*sw + j*dw, ...]`` (the spatial
    axes are ``axis`` and ``axis`` + 1): ``view[i, j]`` is the slice of xp that kernel
    offset (i, j) sees at every output position, which is what both im2col (copy the
    view) and col2im (``view[i, j] += ...``, writeable) need.
    """
    kh, kw = kernel_size
    sh, sw = stride
    dh, dw = dilation
    axis %= xp.ndim
    row, col = xp.strides[axis : axis + 2]
    shape = (kh, kw, *xp.shape[:axis], *out_size, *xp.shape[axis + 2 :])
    strides = (row * dh, col * dw, *xp.strides[:axis], row * sh, col * sw, *xp.strides[axis + 2 :])
    return as_strided(xp, shape, strides, writeable=writeable)


def _output_size(size: int, kernel: int, stride: int, pad_total: int, dilation: int) -> int:
    """floor((size + pad_total - dilation*(kernel-1) - 1) / stride) + 1, PyTorch's formula."""
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


def _live_taps(size: int, kernel: int, stride: int, pad_before: int, dilation: int, out: int) -> tuple[int, int, int, int]:
    """Kernel offsets [lo, hi) that read at least one real (not padding) element along one axis.

    Offset i reads padded rows h*stride + i*dilation for h in [0, out); the real rows
    are [pad_before, pad_before + size). Offsets outside [lo, hi) only ever multiply
    padding zeros, so they can be dropped. Returns (lo, hi, pad_before', pad_after'),
    the padding that the cropped kernel needs to produce the same ``out`` positions.
    """
    hi = min(kernel, (pad_before + size - 1) // dilation + 1)
    lo = -(-(pad_before - (out - 1) * stride) // dilation)  # ceil: the first offset whose last window reaches a real row
    lo = min(max(lo, 0), pad_before // dilation, hi - 1)
    before = pad_before - lo * dilation
    last = (out - 1) * stride + (hi - 1 - lo) * dilation  # the last padded row any window reads
    return lo, hi, before, max(0, last + 1 - before - size)


class _Geometry:
    """Sizes shared by forward and backward (computed once per call).

    The kernel is cropped to its live taps (`_live_taps`): a 3x3 kernel with padding 1 on
    a 1x1 image only ever multiplies padding with its 8 outer taps, so the convolution is
    a 1x1 one (9x fewer FLOPs, as in the last stage of ResNet-18 on 28x28 images). ``kh``,
    ``kw`` and ``padding`` describe the cropped kernel; ``taps`` selects it from the weight.
    """

    def __init__(self, x_shape, w_shape, stride, padding, dilation, groups):
        self.N, self.C, self.H, self.W = x_shape
        self.C_out, _, kh, kw = w_shape
        self.stride, self.dilation, self.groups = stride, dilation, groups
        top, bottom, left, right = padding
        self.Ho = _output_size(self.H, kh, stride[0], top + bottom, dilation[0])
        self.Wo = _output_size(self.W, kw, stride[1], left + right, dilation[1])
        i0, i1, top, bottom = _live_taps(self.H, kh, stride[0], top, dilation[0], self.Ho)
        j0, j1, left, right = _live_taps(self.W, kw, stride[1], left, dilation[1], self.Wo)
        self.taps = (slice(None), slice(None), slice(i0, i1), slice(j0, j1))
        self.cropped = (i1 - i0, j1 - j0) != (kh, kw)
        self.kh, self.kw = i1 - i0, j1 - j0
        self.padding = (top, bottom, left, right)
        self.Hp, self.Wp = self.H + top + bottom, self.W + left + right
        # Batch-last pays when col (C*kh*kw rows) is the big copy, not the output (C_out rows).
        self.batch_last = self.Wo < _BATCH_LAST_BELOW_WIDTH and self.C * self.kh * self.kw >= self.C_out
        self.A, self.B = (1, self.N) if self.batch_last else (self.N, 1)  # images as (C, A, H, W, B)

    def images(self, a: np.ndarray) -> np.ndarray:
        """A view of a (N, C..., H, W) as (C..., A, H, W, B), the layout of ``col``'s columns (C...: channel axes)."""
        return np.moveaxis(a, 0, -1)[..., None, :, :, :] if self.batch_last else np.moveaxis(a, 0, -3)[..., None]

    def batch_first(self, a: np.ndarray) -> np.ndarray:
        """A view of a (C..., A, H, W, B) as (N, C..., H, W), undoing `images`."""
        return np.moveaxis(a[..., 0, :, :, :], -1, 0) if self.batch_last else np.moveaxis(a[..., 0], -3, 0)

    def weight_matrix(self, weight: np.ndarray) -> np.ndarray:
        """The live taps of weight (C_out, C/G, kh, kw) as (G, C_out/G, C/G*kh'*kw'), the GEMM's left operand."""
        w = np.ascontiguousarray(weight[self.taps]) if self.cropped else weight
        return w.reshape(self.groups, self.C_out // self.groups, -1)

    def full_weight_grad(self, dw: np.ndarray, w_shape: tuple[int, ...]) -> np.ndarray:
        """dw of the live taps (G, C_out/G, C/G*kh'*kw') → (C_out, C/G, kh, kw), zeros at the dropped taps."""
        dw = dw.reshape(self.C_out, -1, self.kh, self.kw)
        if not self.cropped:
            return dw
        full = np.zeros(w_shape, dtype=dw.dtype)
        full[self.taps] = dw
        return full


def _im2col(x: np.ndarray, g: _Geometry) -> np.ndarray:
    """col (G, C/G*kh*kw, L): row (c, i, j), column (n, h, w) holds xp[n, c, h*sh + i*dh, w*sw + j*dw].

    The columns are in (A, Ho, Wo, B) order: (N, Ho, Wo) usually, (Ho, Wo, N) batch-last.
    """
    xp = _pad(g.images(_spaced(x) if g.batch_last else x), g.padding, axis=2)  # (C, A, Hp, Wp, B)
    windows = _window_view(xp, (g.kh, g.kw), g.stride, g.dilation, (g.Ho, g.Wo), axis=2)  # (kh, kw, C, A, Ho, Wo, B)
    col = np.ascontiguousarray(windows.transpose(2, 0, 1, 3, 4, 5, 6))  # (C, kh, kw, A, Ho, Wo, B)
    return col.reshape(g.groups, g.C // g.groups * g.kh * g.kw, g.N * g.Ho * g.Wo)  # sizes, not -1: N may be 0


def _col2im(dcol: np.ndarray, g: _Geometry, out: np.ndarray) -> None:
    """The adjoint of `_im2col`: dcol (G, C/G*kh*kw, L) → out (N, C, H, W), summing overlaps."""
    top, _, left, _ = g.padding
    dxp = np.zeros((g.C, g.A, g.Hp, g.Wp, g.B), dtype=dcol.dtype)
    windows = _window_view(dxp, (g.kh, g.kw), g.stride, g.dilation, (g.Ho, g.Wo), writeable=True, axis=2)
    dcol = dcol.reshape(g.C, g.kh, g.kw, g.A, g.Ho, g.Wo, g.B)
    for i in range(g.kh):
        for j in range(g.kw):
            windows[i, j] += dcol[:, i, j]  # (C, A, Ho, Wo, B); windows of different outputs overlap
    out[...] = g.batch_first(dxp[:, :, top : top + g.H, left : left + g.W])


class Conv2d(Function):
    """out = conv(x, weight) + bias, cross-correlation as in PyTorch (see the module docstring).

    x: (N, C, H, W), weight: (C_out, C/groups, kh, kw), bias: (C_out,) or None,
    out: (N, C_out, Ho, Wo). ``padding`` is (top, bottom, left, right). The batch is cut into
    one piece per thread (`npgrad._parallel`), each an independent convolution of its samples.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        rows = _tall_rows(x.shape, weight.shape, stride, padding, dilation, groups)  # s output rows per window
        tall = _tall_weight(weight, rows)  # (C_out*s, C/G, kh+s-1, kw)
        tall_stride = (stride[0] * rows, stride[1])
        g = _Geometry(x.shape, tall.shape, tall_stride, padding, dilation, groups)
        C_out = weight.shape[0]
        result = np.empty((g.N, C_out, g.Ho * rows, g.Wo), dtype=np.result_type(x, weight))
        col_size = g.C * g.kh * g.kw * g.N * g.Ho * g.Wo  # elements of the whole im2col matrix
        keep_col = ctx.needs_input_grad[1] and col_size * x.itemsize <= _SAVE_COL_MAX_BYTES

        U = None  # Winograd's transformed weight, where it applies (module docstring)
        if rows == 1 and _winograd_applies(g):
            U = winograd.transform_weight(weight[g.taps])  # (16, C_out, C)

        def piece(lo: int, hi: int) -> tuple[int, int, _Geometry, np.ndarray | None]:
            gp = _Geometry(x[lo:hi].shape, tall.shape, tall_stride, padding, dilation, groups)
            if U is not None:
                _winograd(x[lo:hi], U, gp, bias, result[lo:hi])
                return lo, hi, gp, None
            col = _im2col(x[lo:hi], gp)  # (G, C/G*kh*kw, L)
            out = (gp.weight_matrix(tall) @ col).reshape(C_out, rows, gp.A, gp.Ho, gp.Wo, gp.B)  # (C_out, s, A, Ho/s, Wo, B)
            _write_output(out, bias, result[lo:hi], gp, rows)
            return lo, hi, gp, col if keep_col else None

        ctx.work = result.size + col_size
        ctx.pieces = _parallel.parallel_for(g.N, piece, work=ctx.work)
        ctx.rows = rows
        ctx.save_for_backward(x, weight)
        return result

    @staticmethod
    def backward(ctx, dout):  # dout: (N, C_out, Ho, Wo)
        x, weight = ctx.saved
        rows, pieces = ctx.rows, ctx.pieces
        need_dx, need_dw, need_db = ctx.needs_input_grad
        first = pieces[0][2]  # the geometry of the first piece; all share everything but the batch size
        w_mat = first.weight_matrix(_tall_weight(weight, rows))  # (G, C_out*s/G, C/G*kh*kw)
        dx = np.empty_like(x) if need_dx else None
        # dx as Winograd's convolution of dout with the flipped, transposed kernel, where that applies
        U_dx = None
        if need_dx and rows == 1 and _dx_geometry(first, len(x)) is not None:
            U_dx = winograd.transform_weight(weight[first.taps].transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])  # (16, C, C_out)

        def piece_grads(lo: int, hi: int, g: _Geometry, col: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
            dtall = dbias = None
            if (need_dx and U_dx is None) or need_dw:
                dout_mat = _dout_matrix(dout[lo:hi], g, rows)  # (G, C_out*s/G, L)
            if U_dx is not None:
                _winograd(dout[lo:hi], U_dx, _dx_geometry(g, hi - lo), None, dx[lo:hi])
            elif need_dx:
                _col2im(w_mat.transpose(0, 2, 1) @ dout_mat, g, out=dx[lo:hi])
            if need_dw:
                col = _im2col(x[lo:hi], g) if col is None else col
                dtall = dout_mat @ col.transpose(0, 2, 1)  # (G, C_out*s/G, C/G*kh*kw)
            if need_db:
                dbias = np.einsum("nchw->c", dout[lo:hi])  # one pass in memory order: 3.5x faster than dout.sum(axis=(0, 2, 3))
            return dtall, dbias

        def run(lo: int, hi: int) -> list[tuple[np.ndarray | None, np.ndarray | None]]:  # pieces lo:hi
            return [piece_grads(*piece) for piece in pieces[lo:hi]]

        # forward's work: backward's products and col2im pass over as much again, and more
        grads = [pair for chunk in _parallel.parallel_for(len(pieces), run, work=ctx.work) for pair in chunk]
        dweight = dbias = None
        if need_dw:
            C_in, kh, kw = weight.shape[1:]
            dtall = first.full_weight_grad(sum(dt for dt, _ in grads), (weight.shape[0] * rows, C_in, kh + rows - 1, kw))
            dweight = _short_weight_grad(dtall, rows, kh)
        if need_db:
            dbias = sum(db for _, db in grads)
        return dx, dweight, dbias


def _write_output(out: np.ndarray, bias: np.ndarray | None, result: np.ndarray, g: _Geometry, rows: int) -> None:
    """result (N, C_out, Ho, Wo) = out (C_out, s, A, Ho/s, Wo, B), the GEMM's result, + bias.

    The result is written viewed in the GEMM's layout, so that NumPy walks the GEMM output in order
    (1.3-2.5x faster than the reverse, LeNet and ResNet shapes, batch 256). Batch-last samples an
    aliasing stride apart are first written `_spaced`, then copied into place.
    """
    N, C_out, Ho, Wo = result.shape
    spaced = g.batch_last and _aliased(N, result.strides[0])
    staging = _empty_spaced(result.shape, result.dtype) if spaced else result
    target = staging.reshape(N, C_out, Ho // rows, rows, Wo).swapaxes(2, 3)  # (N, C_out, s, Ho/s, Wo): row h'*s + t
    if bias is None:
        np.copyto(g.images(target), out)
    else:
        np.add(out, bias[:, None, None, None, None, None], out=g.images(target))
    if spaced:
        result[...] = staging


def _winograd_kernel(g: _Geometry) -> bool:
    """Whether the (cropped) kernel is what Winograd F(2x2, 3x3) computes: 3x3, stride 1, undilated, ungrouped."""
    return (g.kh, g.kw) == (3, 3) and g.stride == (1, 1) and g.dilation == (1, 1) and g.groups == 1


def _winograd_applies(g: _Geometry) -> bool:
    """Winograd for such a kernel on batch-last (small) images whose output tiles into whole 2x2 blocks
    (module docstring)."""
    return _winograd_kernel(g) and g.batch_last and g.Ho % 2 == 0 and g.Wo % 2 == 0


def _winograd(a: np.ndarray, U: np.ndarray, g: _Geometry, bias: np.ndarray | None, result: np.ndarray) -> None:
    """result (n, C_out, Ho, Wo) = the 3x3 convolution of a (n, C, H, W) (+ bias) by Winograd; g: its geometry.

    U is `winograd.transform_weight` of the (cropped) kernel; g is batch-last (`_winograd_applies`).
    """
    images = g.images(_spaced(a))[:, 0]  # (C, H, W, n)
    _write_output(winograd.conv3x3(images, U, g.padding, g.Ho, g.Wo)[:, None, None], bias, result, g, 1)


def _dx_geometry(g: _Geometry, N: int) -> _Geometry | None:
    """dx of a stride-1 3x3 convolution is one of dout: dx = conv(dout padded by 2 - p, the kernel flipped and
    transposed to (C, C_out, 3, 3)). Its geometry for N samples, if Winograd applies to it; else None."""
    if not _winograd_kernel(g) or max(g.padding) > 2:
        return None
    dx_padding = tuple(2 - p for p in g.padding)
    gd = _Geometry((N, g.C_out, g.Ho, g.Wo), (g.C, g.C_out, 3, 3), (1, 1), dx_padding, (1, 1), 1)
    return gd if _winograd_applies(gd) else None


def _dout_matrix(dout: np.ndarray, g: _Geometry, rows: int) -> np.ndarray:
    """dout (N, C_out, Ho, Wo) in the GEMM layout (G, C_out*s/G, L), rows (o, t) and columns ordered like ``col``'s."""
    N, C_out, Ho, Wo = dout.shape
    if g.batch_last:
        dout = _spaced(dout)
    tall_dout = dout.reshape(N, C_out, Ho // rows, rows, Wo).swapaxes(2, 3)  # (N, C_out, s, Ho/s, Wo): row h'*s + t
    return np.ascontiguousarray(g.images(tall_dout)).reshape(g.groups, g.C_out // g.groups, g.N * g.Ho * g.Wo)


def _tall_rows(x_shape, w_shape, stride, padding, dilation, groups) -> int:
    """s, the output rows one window computes (module docstring): 4 or 2 while s*C_out <= _TALL_GEMM_ROWS, else 1."""
    C_out, _, kh, _ = w_shape
    Ho = _output_size(x_shape[2], kh, stride[0], padding[0] + padding[1], dilation[0])
    if groups != 1 or stride[0] != 1 or dilation[0] != 1:
        return 1
    return next((s for s in (4, 2) if s * C_out <= _TALL_GEMM_ROWS and Ho % s == 0), 1)


def _tall_weight(weight: np.ndarray, rows: int) -> np.ndarray:
    """(C_out, C, kh, kw) → (C_out*s, C, kh+s-1, kw): block t (of s) is the weight shifted down t rows, zeros elsewhere."""
    if rows == 1:
        return weight
    C_out, C, kh, kw = weight.shape
    tall = np.zeros((C_out, rows, C, kh + rows - 1, kw), dtype=weight.dtype)
    for t in range(rows):
        tall[:, t, :, t : t + kh] = weight
    return tall.reshape(C_out * rows, C, kh + rows - 1, kw)


def _short_weight_grad(dtall: np.ndarray, rows: int, kh: int) -> np.ndarray:
    """The adjoint of `_tall_weight`: dtall (C_out*s, C, kh+s-1, kw) → dweight (C_out, C, kh, kw), summing the s blocks."""
    if rows == 1:
        return dtall
    blocks = dtall.reshape(dtall.shape[0] // rows, rows, *dtall.shape[1:])
    return sum(blocks[:, t, :, t : t + kh] for t in range(rows))


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
    check_same_dtype(op, x, weight, bias)
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
