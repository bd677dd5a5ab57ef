"""`Linear` (the affine layer) and `Identity`."""

from __future__ import annotations

from typing import Any

import numpy as np

from npgrad.nn import functional as F
from npgrad.nn.init import _reset_weight_and_bias
from npgrad.nn.module import Module, Parameter
from npgrad.tensor import Tensor


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
