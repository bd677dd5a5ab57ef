"""`Conv2d`: 2-D cross-correlation over (N, C, H, W) images."""

from __future__ import annotations

import numpy as np

from npgrad._utils import pair
from npgrad.nn import functional as F
from npgrad.nn.init import _reset_weight_and_bias
from npgrad.nn.module import Module, Parameter
from npgrad.tensor import Tensor


class Conv2d(Module):
    """2-D convolution (cross-correlation, as in every framework): (N, C_in, H, W) -> (N, C_out, H_out, W_out).

    H_out = floor((H + 2 * padding_h - dilation_h * (kh - 1) - 1) / stride_h) + 1, and likewise W_out.
    ``kernel_size``, ``stride``, ``padding`` and ``dilation`` are an int or an (h, w)
    pair and are stored as pairs; ``padding`` may also be 'valid' (none) or 'same'
    (output size = input size, stride 1 only), stored as given. With ``groups`` g the
    channels are split into g groups convolved separately (``in_channels`` and
    ``out_channels`` must be divisible by g).

    Parameters (float32): ``weight`` (C_out, C_in / groups, kh, kw) and ``bias``
    (C_out,) or None when ``bias=False``. Default init (PyTorch's): both
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = (C_in / groups) * kh * kw, the
    weight through ``init.kaiming_uniform_(weight, a=sqrt(5))``.
    Not supported: padding modes other than zeros.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
    ):
        super().__init__()
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"Conv2d: in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible by groups ({groups})"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = pair("Conv2d", "kernel_size", kernel_size)
        self.stride = pair("Conv2d", "stride", stride)
        self.padding = padding if isinstance(padding, str) else pair("Conv2d", "padding", padding)
        self.dilation = pair("Conv2d", "dilation", dilation)
        self.groups = groups
        if min(self.kernel_size) < 1:
            raise ValueError(f"Conv2d: kernel_size must be positive, got {kernel_size!r}")
        self.weight = Parameter(np.empty((out_channels, in_channels // groups, *self.kernel_size), dtype=np.float32))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the weight and bias with the default init (from the global generator)."""
        _reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):  # a string prints bare, as in PyTorch: padding=same
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
