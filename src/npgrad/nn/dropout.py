"""`Dropout`: randomly zero activations while training."""

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
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p}")
        self.p = p

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace=False"
