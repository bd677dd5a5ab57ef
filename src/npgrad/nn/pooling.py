"""Pooling layers over (N, C, H, W): `MaxPool2d`, `MaxUnpool2d`, `AvgPool2d`, `AdaptiveAvgPool2d`, `AdaptiveMaxPool2d`.

``kernel_size``, ``stride``, ``padding`` and ``dilation`` are an int or an (h, w) pair,
kept as given (so the repr matches PyTorch's); ``stride`` defaults to ``kernel_size``.
H_out = floor((H + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1, and likewise
W_out; ``ceil_mode`` rounds up instead, as in PyTorch.
"""

from __future__ import annotations

from collections.abc import Sequence

from npgrad._utils import pair
from npgrad.nn import functional as F
from npgrad.nn.module import Module
from npgrad.tensor import Tensor

_Size = int | tuple[int, int]


class MaxPool2d(Module):
    """The maximum of each window: (N, C, H, W) -> (N, C, H_out, W_out). Padding counts as -inf.

    PyTorch's arguments and semantics (see `npgrad.nn.functional.max_pool2d`): ``dilation``
    spaces the kernel's taps; ``ceil_mode`` rounds the output size up, keeping a last
    partial window that starts inside the input or its left padding; ``return_indices``
    makes ``forward`` return ``(output, indices)``, the indices (row*W + col in each plane)
    being what `MaxUnpool2d` takes.
    """

    def __init__(self, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0, dilation: _Size = 1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxUnpool2d(Module):
    """The partial inverse of `MaxPool2d`: ``forward(input, indices, output_size=None)`` puts each
    value at its index in a zero (N, C, H_out, W_out) map (see `npgrad.nn.functional.max_unpool2d`).

    H_out = (H - 1) * stride - 2 * padding + kernel_size unless ``output_size`` is given
    (pass the pooled input's size when the pooling dropped a row or column).
    """

    def __init__(self, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0):
        super().__init__()
        # stored as pairs, as PyTorch's MaxUnpool2d does (its repr shows them)
        self.kernel_size = pair("MaxUnpool2d", "kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else pair("MaxUnpool2d", "stride", stride)
        self.padding = pair("MaxUnpool2d", "padding", padding)

    def forward(self, input: Tensor, indices: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        return F.max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    """The mean of each window: (N, C, H, W) -> (N, C, H_out, W_out).

    PyTorch's arguments and semantics (see `npgrad.nn.functional.avg_pool2d`): with
    ``count_include_pad`` (the default) padded zeros count in the divisor, otherwise only
    the window's real pixels do; ``ceil_mode`` keeps a last partial window (whose divisor
    never counts positions beyond the padding); ``divisor_override`` fixes the divisor.
    """

    def __init__(self, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average-pool to a fixed ``output_size`` (int or (h, w)): (N, C, H, W) -> (N, C, h, w).

    Output cell (i, j) averages rows floor(i*H/h) .. ceil((i+1)*H/h) - 1 and the
    matching columns, as in PyTorch; ``AdaptiveAvgPool2d(1)`` is global average pooling.
    """

    def __init__(self, output_size: _Size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max-pool to a fixed ``output_size`` (int or (h, w); None keeps that input size): (N, C, H, W) -> (N, C, h, w).

    The bins are `AdaptiveAvgPool2d`'s (PyTorch's); with ``return_indices`` ``forward``
    returns ``(output, indices)`` as `MaxPool2d` does.
    """

    def __init__(self, output_size: _Size | tuple[int | None, int | None], return_indices: bool = False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
