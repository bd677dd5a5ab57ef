"""The operator contract: a `Function` is a NumPy forward paired with its backward.

A subclass writes two static methods on plain NumPy arrays::

    class Square(Function):
        @staticmethod
        def forward(ctx, x):                 # x: any shape
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, dout):             # dout: same shape as the output
            (x,) = ctx.saved
            return 2 * x * dout              # one gradient per positional input

and is called as ``Square.apply(t)``. Positional arguments that are `Tensor`s are
unwrapped to their ``.data`` before ``forward`` runs; every other positional or
keyword argument is passed through unchanged. ``backward`` returns one gradient
(or ``None``) per positional argument of ``forward``, in order; keyword
arguments never receive gradients. A single gradient may be returned bare
instead of as a 1-tuple.

``forward`` may also return a tuple ``(output, *extras)``: the extras are
non-differentiable side outputs (max pooling's indices, say), returned by
``apply`` after the output as Tensors that never require grad.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np


class Context:
    """What a `Function` keeps between its forward and its backward.

    Attributes:
        saved: the arrays passed to `save_for_backward`, as a tuple.
        needs_input_grad: one bool per positional input of ``forward``: True when
            that input is a Tensor that requires grad and gradient recording is on
            (all False under ``no_grad()``). Backward may skip work
            (and return ``None``) for inputs that do not need a gradient.
    """

    __slots__ = ("saved", "needs_input_grad", "__dict__")

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        self.saved: tuple[Any, ...] = ()
        self.needs_input_grad = needs_input_grad

    def save_for_backward(self, *values: Any) -> None:
        self.saved = values


class Call(NamedTuple):
    """One `Function.apply` seen by `trace`: the op, its arguments as given (Tensors, arrays, options) and its result."""

    function: type[Function]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    result: Tensor


_calls: list[Call] | None = None  # the list `trace` is filling, if any


@contextlib.contextmanager
def trace() -> Iterator[list[Call]]:
    """Record every `Function.apply` made inside the block, in order, as `Call`s (for exporters such as ONNX).

    Unlike the autograd graph, a trace keeps each op's non-Tensor arguments (stride, axes, ...)
    and also sees ops whose inputs need no gradient. Not re-entrant.
    """
    global _calls
    if _calls is not None:
        raise RuntimeError("npgrad.function.trace() blocks cannot be nested")
    _calls = []
    try:
        yield _calls
    finally:
        _calls = None


class Function:
    """Base class of every differentiable operation (see the module docstring)."""

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, dout: np.ndarray) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` on the inputs' arrays and record the op for autograd.

        Returns the output Tensor, or ``(output, *extras)`` when ``forward`` returned a tuple.
        """
        recording = is_grad_enabled()  # under no_grad nothing needs a gradient: kernels save nothing for backward
        needs_grad = tuple(recording and isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx = Context(needs_grad)
        arrays = [a.data if isinstance(a, Tensor) else a for a in args]
        out = cls.forward(ctx, *arrays, **kwargs)
        extras = ()
        if isinstance(out, tuple):
            out, *extras = out
        if not isinstance(out, np.ndarray):
            out = np.asarray(out)
        result = Tensor(out)
        if any(needs_grad):
            result.requires_grad = True
            result._node = (cls, ctx, tuple(a if isinstance(a, Tensor) else None for a in args))
        if _calls is not None:
            _calls.append(Call(cls, args, kwargs, result))
        return (result, *(Tensor(np.asarray(extra)) for extra in extras)) if extras else result


# tensor.py imports the operators, which import this module: bind Tensor last.
from npgrad.tensor import Tensor, is_grad_enabled  # noqa: E402
