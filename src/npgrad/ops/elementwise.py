"""Element-wise arithmetic with NumPy broadcasting.

Broadcasting stretches an input of shape (3, 1) to (3, 4) by reusing its values;
the gradient of a reused value is the sum of the gradients of its copies, which
is what `unbroadcast` computes, once, for every binary operator here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npgrad.function import Function
from npgrad.tensor import Tensor, _operand, _values


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the dimensions broadcasting added or stretched, giving ``shape``."""
    if grad.shape == shape:
        return grad
    leading = grad.ndim - len(shape)
    stretched = tuple(leading + i for i, n in enumerate(shape) if n == 1 and grad.shape[leading + i] != 1)
    grad = grad.sum(axis=tuple(range(leading)) + stretched, keepdims=True)
    return grad.reshape(shape)


class Add(Function):
    """out = a + b"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (np.shape(a), np.shape(b))
        return np.add(a, b)

    @staticmethod
    def backward(ctx, dout):
        a_shape, b_shape = ctx.shapes
        return unbroadcast(dout, a_shape), unbroadcast(dout, b_shape)


class Sub(Function):
    """out = a - b"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (np.shape(a), np.shape(b))
        return np.subtract(a, b)

    @staticmethod
    def backward(ctx, dout):
        a_shape, b_shape = ctx.shapes
        db = unbroadcast(-dout, b_shape) if ctx.needs_input_grad[1] else None
        return unbroadcast(dout, a_shape), db


class Mul(Function):
    """out = a * b;  da = dout * b,  db = dout * a"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.multiply(a, b)

    @staticmethod
    def backward(ctx, dout):
        a, b = ctx.saved
        da = unbroadcast(dout * b, np.shape(a)) if ctx.needs_input_grad[0] else None
        db = unbroadcast(dout * a, np.shape(b)) if ctx.needs_input_grad[1] else None
        return da, db


class Div(Function):
    """out = a / b;  da = dout / b,  db = -dout * a / b**2"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.true_divide(a, b)

    @staticmethod
    def backward(ctx, dout):
        a, b = ctx.saved
        da = unbroadcast(dout / b, np.shape(a)) if ctx.needs_input_grad[0] else None
        db = unbroadcast(-dout * a / (b * b), np.shape(b)) if ctx.needs_input_grad[1] else None
        return da, db


class Pow(Function):
    """out = a ** b;  da = dout * b * a**(b-1),  db = dout * out * log(a)"""

    @staticmethod
    def forward(ctx, a, b):
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, dout):
        a, b, out = ctx.saved
        da = db = None
        if ctx.needs_input_grad[0]:
            da = unbroadcast(dout * b * np.power(a, b - 1), np.shape(a))
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                db = unbroadcast(dout * out * np.log(a), np.shape(b))
        return da, db


class Neg(Function):
    """out = -x"""

    @staticmethod
    def forward(ctx, x):
        return np.negative(x)

    @staticmethod
    def backward(ctx, dout):
        return -dout


class Exp(Function):
    """out = e**x;  dx = dout * out"""

    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, dout):
        (out,) = ctx.saved
        return dout * out


class Log(Function):
    """out = ln x;  dx = dout / x"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, dout):
        (x,) = ctx.saved
        return dout / x


class Sqrt(Function):
    """out = sqrt(x);  dx = dout / (2 out)"""

    @staticmethod
    def forward(ctx, x):
        out = np.sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, dout):
        (out,) = ctx.saved
        return dout / (2 * out)


class Sin(Function):
    """out = sin x;  dx = dout * cos x"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, dout):
        (x,) = ctx.saved
        return dout * np.cos(x)


class Cos(Function):
    """out = cos x;  dx = -dout * sin x"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def backward(ctx, dout):
        (x,) = ctx.saved
        return -dout * np.sin(x)


class Abs(Function):
    """out = |x|;  dx = dout * sign(x)  (0 at x = 0, like PyTorch)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, dout):
        (x,) = ctx.saved
        return dout * np.sign(x)


class Clip(Function):
    """out = min(max(x, low), high);  the gradient passes where low <= x <= high (PyTorch's clamp)."""

    @staticmethod
    def forward(ctx, x, low=None, high=None):
        inside = np.ones(x.shape, dtype=bool)
        if low is not None:
            inside &= x >= low
        if high is not None:
            inside &= x <= high
        ctx.save_for_backward(inside)
        return np.clip(x, low, high)

    @staticmethod
    def backward(ctx, dout):
        (inside,) = ctx.saved
        return dout * inside


class Where(Function):
    """out = a where condition else b (condition gets no gradient)."""

    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.save_for_backward(condition, np.shape(a), np.shape(b))
        return np.where(condition, a, b)

    @staticmethod
    def backward(ctx, dout):
        condition, a_shape, b_shape = ctx.saved
        da = unbroadcast(np.where(condition, dout, 0), a_shape) if ctx.needs_input_grad[1] else None
        db = unbroadcast(np.where(condition, 0, dout), b_shape) if ctx.needs_input_grad[2] else None
        return None, da, db


class Maximum(Function):
    """out = max(a, b) (``largest``) or min(a, b) element-wise; at ties the gradient is shared equally, as in PyTorch."""

    @staticmethod
    def forward(ctx, a, b, largest):
        a_wins = a > b if largest else a < b
        ctx.save_for_backward(a_wins, a == b, np.shape(a), np.shape(b))
        return np.maximum(a, b) if largest else np.minimum(a, b)

    @staticmethod
    def backward(ctx, dout):
        a_wins, tie, a_shape, b_shape = ctx.saved
        share_a = (a_wins + 0.5 * tie).astype(dout.dtype)  # 1 where a is selected, 0.5 at ties, 0 where b is
        da = unbroadcast(dout * share_a, a_shape) if ctx.needs_input_grad[0] else None
        db = unbroadcast(dout * (1 - share_a), b_shape) if ctx.needs_input_grad[1] else None
        return da, db


class PiecewiseConstant(Function):
    """out = ``ufunc``(x) for a step function (sign, round, floor, ceil, trunc);  dx = 0, as in PyTorch."""

    @staticmethod
    def forward(ctx, x, ufunc, **kwargs):
        ctx.shape_dtype = (x.shape, x.dtype)
        return ufunc(x, **kwargs)

    @staticmethod
    def backward(ctx, dout):
        return np.zeros(*ctx.shape_dtype)


class Cast(Function):
    """out = x converted to ``dtype``; the gradient is converted back."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.in_dtype = x.dtype
        return x.astype(dtype, order="C")

    @staticmethod
    def backward(ctx, dout):
        return dout.astype(ctx.in_dtype)


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def exp(x: Tensor) -> Tensor:
    """e**x, element-wise."""
    return Exp.apply(_tensor(x))


def log(x: Tensor) -> Tensor:
    """Natural logarithm, element-wise."""
    return Log.apply(_tensor(x))


def sqrt(x: Tensor) -> Tensor:
    """Square root, element-wise."""
    return Sqrt.apply(_tensor(x))


def sin(x: Tensor) -> Tensor:
    """Sine (radians), element-wise."""
    return Sin.apply(_tensor(x))


def cos(x: Tensor) -> Tensor:
    """Cosine (radians), element-wise."""
    return Cos.apply(_tensor(x))


def abs(x: Tensor) -> Tensor:
    """Absolute value, element-wise (gradient 0 at 0)."""
    return Abs.apply(_tensor(x))


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """Clamp to [min, max] (either may be None); also available as ``clamp``."""
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    return Clip.apply(_tensor(x), low=min, high=max)


clamp = clip


def maximum(a: Any, b: Any) -> Tensor:
    """The larger of ``a`` and ``b`` element-wise, with broadcasting (``torch.maximum``)."""
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else Tensor(a)
    return Maximum.apply(_operand(a, like), _operand(b, like), largest=True)


def minimum(a: Any, b: Any) -> Tensor:
    """The smaller of ``a`` and ``b`` element-wise, with broadcasting (``torch.minimum``)."""
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else Tensor(a)
    return Maximum.apply(_operand(a, like), _operand(b, like), largest=False)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Elements of ``a`` where ``condition`` is true, else of ``b``, with broadcasting."""
    condition = np.asarray(_values(condition), dtype=bool)
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else Tensor(a)
    return Where.apply(condition, _operand(a, like), _operand(b, like))


def sign(x: Tensor) -> Tensor:
    """-1, 0 or 1 element-wise (zero gradient)."""
    return PiecewiseConstant.apply(_tensor(x), ufunc=np.sign)


def round(x: Tensor, decimals: int = 0) -> Tensor:
    """Round half to even, to ``decimals`` places (zero gradient)."""
    return PiecewiseConstant.apply(_tensor(x), ufunc=np.round, decimals=decimals)


def floor(x: Tensor) -> Tensor:
    """The largest integer not above x, element-wise (zero gradient)."""
    return PiecewiseConstant.apply(_tensor(x), ufunc=np.floor)


def ceil(x: Tensor) -> Tensor:
    """The smallest integer not below x, element-wise (zero gradient)."""
    return PiecewiseConstant.apply(_tensor(x), ufunc=np.ceil)


def trunc(x: Tensor) -> Tensor:
    """x rounded toward zero, element-wise (zero gradient)."""
    return PiecewiseConstant.apply(_tensor(x), ufunc=np.trunc)


def masked_fill(x: Tensor, mask: Any, value: Any) -> Tensor:
    """``x`` with ``value`` where ``mask`` (a bool tensor broadcast to x's shape) is true; no gradient there."""
    mask = np.asarray(_values(mask))
    if mask.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got dtype {mask.dtype}")
    return where(np.broadcast_to(mask, x.shape), value, x)


def allclose(input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """Whether ``|input - other| <= atol + rtol * |other|`` everywhere, with broadcasting (``torch.allclose``)."""
    a, b = (np.asarray(_values(t)) for t in (input, other))
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input: Any, other: Any) -> bool:
    """Whether the two have the same shape and the same elements (``torch.equal``; no broadcasting)."""
    a, b = (np.asarray(_values(t)) for t in (input, other))
    return a.shape == b.shape and bool(np.array_equal(a, b))
