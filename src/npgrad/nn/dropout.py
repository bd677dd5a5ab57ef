"""`Dropout` and `Dropout2d`: randomly zero activations (or whole channels) while training."""

from __future__ import annotations

from npgrad.nn import functional as F
from npgrad.nn.module import Module
from npgrad.tensor import Tensor


class Dropout(Module):
    """In training, zero each element with probability ``p`` and scale the rest by 1 / (1 - p); in eval, the identity.

    Any shape. The mask comes from the global generator (`npgrad.manual_seed`).
    PyTorch's ``inplace`` flag is not supported (the repr shows ``inplace=False``).
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: p must be a probability in [0, 1], got {p}")
        self.p = p

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace=False"


class Dropout2d(Dropout):
    """In training, zero each channel of each sample (a whole ``H x W`` map) with probability ``p``, scaling the rest.

    Input (N, C, H, W) or (C, H, W); in eval, the identity (`npgrad.nn.functional.dropout2d`).
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training)
