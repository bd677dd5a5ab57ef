"""Pooling layers over (N, C, H, W): `MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d`.

``kernel_size``, ``stride`` and ``padding`` are an int or an (h, w) pair, kept as
given (so the repr matches PyTorch's); ``stride`` defaults to ``kernel_size``.
H_out = floor((H + 2 * padding - kernel_size) / stride) + 1, and likewise W_out.
"""

from __future__ import annotations

from npgrad.nn import functional as F
from npgrad.nn.module import Module
from npgrad.tensor import Tensor

_Size = int | tuple[int, int]


class MaxPool2d(Module):
    """The maximum of each window: (N, C, H, W) -> (N, C, H_out, W_out). Padding counts as -inf.

    Not supported: ``dilation`` and ``ceil_mode`` (the repr shows PyTorch's defaults 1 and False).
    """

    def __init__(self, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def forward(self, input: Tensor) -> Tensor:
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        # dilation and ceil_mode are fixed at PyTorch's defaults; printed so model trees read the same as PyTorch's.
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, dilation=1, ceil_mode=False"


class AvgPool2d(Module):
    """The mean of each window: (N, C, H, W) -> (N, C, H_out, W_out).

    With ``count_include_pad`` (the default) padded zeros count in the divisor;
    otherwise only the window's real pixels do. Not supported: ``ceil_mode`` and
    ``divisor_override`` (so ``count_include_pad`` is keyword-only here).
    """

    def __init__(self, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0, *, count_include_pad: bool = True):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, count_include_pad=self.count_include_pad)

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
