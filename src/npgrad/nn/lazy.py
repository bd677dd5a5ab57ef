"""`LazyLinear`, `LazyConv2d`, `LazyBatchNorm1d`/`2d`: layers sized by their first input (PyTorch's lazy modules).

    head = nn.Sequential(nn.Flatten(), nn.LazyLinear(120))   # in_features unknown until the first batch
    head(x)                                                  # now a Linear(in_features=C*H*W, 120)

Until the first forward the weight and bias are ``None`` (nothing to count, optimise or save);
the first forward creates them with the layer's default initialisation, drawn then from the
global generator, and the module *becomes* a `Linear` / `Conv2d` / `BatchNorm2d` ... (its class changes, as with
PyTorch's ``cls_to_become``), so ``repr``, ``isinstance`` and ``state_dict`` are those of the
eager layer. Build the optimizer after that first forward (a dry run with a dummy batch, which
is what `npgrad.models` does). Difference from PyTorch: ``load_state_dict`` into a layer not yet
materialised is not supported; run one forward first.
"""

from __future__ import annotations

import numpy as np

from npgrad.nn.conv import Conv2d
from npgrad.nn.linear import Linear
from npgrad.nn.module import Module, Parameter
from npgrad.nn.normalization import BatchNorm1d, BatchNorm2d, _BatchNorm
from npgrad.tensor import Tensor


def _materialize(layer: Module, weight_shape: tuple[int, ...], bias: bool, out: int) -> None:
    layer.weight = Parameter(np.empty(weight_shape, dtype=np.float32))
    layer.bias = Parameter(np.empty(out, dtype=np.float32)) if bias else None
    layer.reset_parameters()


class LazyLinear(Linear):
    """A `Linear` with ``in_features`` taken from the last dimension of its first input: (*, in) -> (*, out_features)."""

    def __init__(self, out_features: int, bias: bool = True):
        Module.__init__(self)
        self.in_features = 0
        self.out_features = out_features
        self._has_bias = bias
        self.register_parameter("weight", None)
        self.register_parameter("bias", None)

    def extra_repr(self) -> str:
        return f"in_features=0, out_features={self.out_features}, bias={self._has_bias}"

    def forward(self, input: Tensor) -> Tensor:
        self.in_features = input.shape[-1]
        _materialize(self, (self.out_features, self.in_features), self._has_bias, self.out_features)
        del self._has_bias
        self.__class__ = Linear
        return self.forward(input)


class LazyConv2d(Conv2d):
    """A `Conv2d` with ``in_channels`` taken from its first input (N, C, H, W); the other arguments as `Conv2d`'s."""

    def __init__(
        self,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
    ):
        # Conv2d validates and stores every argument; in_channels=groups passes its divisibility check for now.
        Conv2d.__init__(self, groups, out_channels, kernel_size, stride, padding, dilation, groups, bias=False)
        self.in_channels = 0
        self._has_bias = bias
        self.register_parameter("weight", None)

    def extra_repr(self) -> str:
        text = Conv2d.extra_repr(self)  # says bias=False while the bias does not exist yet
        return text.removesuffix(", bias=False") if self._has_bias else text

    def forward(self, input: Tensor) -> Tensor:
        channels = input.shape[1]
        if channels % self.groups:
            raise ValueError(f"LazyConv2d: the input's {channels} channels are not divisible by groups ({self.groups})")
        self.in_channels = channels
        _materialize(self, (self.out_channels, channels // self.groups, *self.kernel_size), self._has_bias, self.out_channels)
        del self._has_bias
        self.__class__ = Conv2d
        return self.forward(input)


class _LazyBatchNorm(_BatchNorm):
    """A batch norm with ``num_features`` taken from its first input's channels (axis 1); becomes ``_eager``.

    Until then ``weight``, ``bias`` and the running statistics are None (the repr shows 0 features, as PyTorch's).
    """

    _eager: type[_BatchNorm]

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, *, bias: bool = True):
        Module.__init__(self)
        self.num_features = 0
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self._has_bias = bias
        for name in ("weight", "bias"):
            self.register_parameter(name, None)
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            self.register_buffer(name, None)

    def extra_repr(self) -> str:
        return (f"0, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.affine and self._has_bias}, track_running_stats={self.track_running_stats}")

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in self._eager._expected_dims:
            raise ValueError(f"{type(self).__name__}: expected input of shape {self._eager._expected_layout}, "
                             f"got shape {input.shape}")
        self._create_state(input.shape[1], self._has_bias)
        del self._has_bias
        self.__class__ = self._eager
        return self.forward(input)


class LazyBatchNorm1d(_LazyBatchNorm):
    """A `BatchNorm1d` sized by its first (N, C) or (N, C, L) input; the other arguments as `BatchNorm1d`'s."""

    _eager = BatchNorm1d


class LazyBatchNorm2d(_LazyBatchNorm):
    """A `BatchNorm2d` sized by its first (N, C, H, W) input; the other arguments as `BatchNorm2d`'s."""

    _eager = BatchNorm2d
