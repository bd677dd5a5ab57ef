"""npgrad: a deep-learning framework written from scratch on NumPy.

Every operator is readable NumPy with a hand-written backward pass; the API
follows PyTorch's names and semantics wherever they overlap.
"""

import builtins

from npgrad import _memory

_memory.apply_default()  # keep freed buffers for the next step (see npgrad/_memory.py)

# tensor.py first: it binds the operator modules that the others import.
from npgrad.tensor import (
    Tensor,
    arange,
    empty,
    empty_like,
    enable_grad,
    eye,
    from_numpy,
    full,
    full_like,
    is_grad_enabled,
    linspace,
    no_grad,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    set_grad_enabled,
    tensor,
    zeros,
    zeros_like,
)
from npgrad._dtypes import (
    bool,
    cfloat,
    complex64,
    device,
    double,
    dtype,
    float,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    short,
    uint8,
)
from npgrad.ops.activation import log_softmax, relu, sigmoid, softmax, tanh
from npgrad.ops.elementwise import (
    abs, allclose, ceil, clamp, clip, cos, equal, exp, floor, log, masked_fill, maximum, minimum, round, sign, sin,
    sqrt, trunc, where,
)
from npgrad.ops.linear import bmm, dot, matmul, mm, mv
from npgrad.ops.reduce import amax, amin, argmax, argmin, argsort, cumsum, max, mean, min, norm, sort, std, sum, topk, var
from npgrad.ops.shape import (
    cat, chunk, expand, flatten, gather, permute, reshape, split, squeeze, stack, transpose, unsqueeze,
)
from npgrad._parallel import get_num_threads, set_num_threads
from npgrad.random import Generator, get_rng_state, manual_seed, set_rng_state
from npgrad.function import Context, Function
from npgrad.serialization import load, save
from npgrad import accelerator, cuda, nn, optim  # noqa: E402
from npgrad.nn import summary

__version__ = "0.1.0"

__all__ = [
    "abs", "accelerator", "allclose", "amax", "amin", "arange", "argmax", "argmin", "argsort", "bmm", "bool", "cat",
    "ceil", "cfloat", "chunk", "clamp", "clip", "complex64", "Context", "cos", "cuda", "cumsum", "device", "dot",
    "double", "dtype", "empty", "empty_like", "enable_grad", "equal", "exp", "expand", "eye", "flatten", "float",
    "float16", "float32", "float64", "floor", "from_numpy", "full", "full_like", "Function", "gather", "Generator",
    "get_default_dtype", "get_num_threads", "get_rng_state", "half", "int", "int16", "int32", "int64", "int8", "is_grad_enabled",
    "is_tensor", "linspace", "load", "log", "log_softmax", "long", "manual_seed", "masked_fill", "matmul", "max",
    "maximum", "mean", "min", "minimum", "mm", "mv", "nn", "no_grad", "nonzero", "norm", "normal", "numel", "ones",
    "ones_like", "optim", "permute", "rand", "rand_like", "randint", "randn", "randn_like", "relu", "reshape",
    "round", "save", "set_grad_enabled", "set_num_threads", "set_rng_state", "short", "sigmoid", "sign", "sin", "softmax", "sort",
    "split", "sqrt", "squeeze", "stack", "std", "sum", "summary", "tanh", "Tensor", "tensor", "topk", "transpose",
    "trunc", "uint8", "unique", "unsqueeze", "var", "where", "zeros", "zeros_like",
]


def numel(input: Tensor) -> builtins.int:
    """The number of elements of ``input``."""
    return input.numel()


def is_tensor(obj: object) -> builtins.bool:
    return isinstance(obj, Tensor)


def nonzero(input: Tensor, *, as_tuple: builtins.bool = False) -> Tensor:
    return input.nonzero(as_tuple=as_tuple)


def unique(input: Tensor, sorted: builtins.bool = True, return_inverse: builtins.bool = False,
           return_counts: builtins.bool = False, dim: builtins.int | None = None) -> Tensor:
    return input.unique(sorted, return_inverse, return_counts, dim)



def __getattr__(name: str):
    """Load the heavier subpackages (`data`, `distributed`, `models`, `train`, `utils`, `vision`) on first use."""
    if name in ("data", "distributed", "models", "train", "utils", "vision"):
        import importlib

        return importlib.import_module(f"npgrad.{name}")
    raise AttributeError(f"module 'npgrad' has no attribute {name!r}")
