"""npgrad: a deep-learning framework written from scratch on NumPy.

Every operator is readable NumPy with a hand-written backward pass; the API
follows PyTorch's names and semantics wherever they overlap.
"""

from npgrad import _memory

_memory.apply_default()  # keep freed buffers for the next step (see npgrad/_memory.py)

# tensor.py first: it binds the operator modules that the others import.
from npgrad.tensor import (
    Tensor,
    arange,
    enable_grad,
    is_grad_enabled,
    no_grad,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from npgrad.ops.elementwise import abs, clamp, clip, exp, log, sqrt, where
from npgrad.ops.linear import matmul
from npgrad.ops.reduce import max, mean, min, sum
from npgrad.ops.shape import cat, flatten, permute, reshape, squeeze, stack, transpose, unsqueeze
from npgrad.random import get_rng_state, manual_seed, set_rng_state
from npgrad.function import Context, Function
from npgrad.serialization import load, save
from npgrad import nn, optim  # noqa: E402
from npgrad.nn import summary

__version__ = "0.1.0"

__all__ = [
    "Context", "Function", "load", "nn", "optim", "save", "summary",
    "Tensor", "abs", "arange", "cat", "clamp", "clip", "enable_grad", "exp",
    "flatten", "get_rng_state", "is_grad_enabled", "log", "manual_seed", "matmul", "max", "mean",
    "min", "no_grad", "ones", "ones_like", "permute", "rand", "randn", "reshape", "set_rng_state",
    "sqrt", "squeeze", "stack", "sum", "tensor", "transpose", "unsqueeze", "where", "zeros", "zeros_like",
]


def __getattr__(name: str):
    """Load the heavier subpackages (`data`, `distributed`, `models`, `train`) on first use, keeping `import npgrad` fast."""
    if name in ("data", "distributed", "models", "train"):
        import importlib

        return importlib.import_module(f"npgrad.{name}")
    raise AttributeError(f"module 'npgrad' has no attribute {name!r}")
