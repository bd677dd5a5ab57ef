"""`Linear` (the affine layer) and `Identity`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from npgrad.nn import functional as F
from npgrad.nn import init
from npgrad.nn.module import Module, Parameter
from npgrad.tensor import Tensor


def _reset_weight_and_bias(weight: Parameter, bias: Parameter | None) -> None:
    """PyTorch's default for Linear and Conv2d: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    The weight through ``kaiming_uniform_(a=sqrt(5))``, whose bound is exactly
    1 / sqrt(fan_in); fan_in = in_features, or (in_channels / groups) * kh * kw.
    """
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


class Identity(Module):
    """Returns its input unchanged; any constructor arguments are ignored (as in PyTorch)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


class Linear(Module):
    """y = x @ weight.T + bias over the last dimension: (*, in_features) -> (*, out_features).

    Parameters (float32): ``weight`` (out_features, in_features) and ``bias``
    (out_features,) or None when ``bias=False``. Default init (PyTorch's): both
    U(-1/sqrt(in_features), 1/sqrt(in_features)), the weight through
    ``init.kaiming_uniform_(weight, a=sqrt(5))``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(np.empty((out_features, in_features), dtype=np.float32))
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the weight and bias with the default init (from the global generator)."""
        _reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
