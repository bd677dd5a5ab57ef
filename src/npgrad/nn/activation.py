"""Activation layers: `ReLU`, `LeakyReLU`, `Sigmoid`, `Tanh`, `Softmax`, `LogSoftmax`.

Each applies the function of the same name in `npgrad.nn.functional` and keeps
the input's shape. PyTorch's ``inplace`` flag is accepted by `ReLU` and `LeakyReLU`; npgrad
computes out of place all the same (same values; the input is left as it was).
"""

from __future__ import annotations

from npgrad.nn import functional as F
from npgrad.nn.module import Module
from npgrad.tensor import Tensor


class ReLU(Module):
    """max(x, 0) element-wise."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input)


class LeakyReLU(Module):
    """x where x > 0, else ``negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """1 / (1 + e^-x) element-wise."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class Tanh(Module):
    """tanh(x) element-wise."""

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class Softmax(Module):
    """e^x / sum(e^x) along ``dim``. Difference from PyTorch: ``dim`` defaults to -1 (PyTorch's None is legacy)."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """x - log(sum(e^x)) along ``dim`` (default -1): log-probabilities, stable for any logits."""

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim)
