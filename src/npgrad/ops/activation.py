"""Activations: relu, leaky_relu, elu, silu, softplus, hardtanh, relu6, sigmoid, tanh, softmax, log_softmax, dropout.

Each `Function` keeps what its backward needs (a mask, or its own output: the
derivatives of sigmoid, tanh and softmax are cheapest in terms of the output).
Shapes are preserved: every op maps x (any shape) to an output of x's shape and dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npgrad import _parallel
from npgrad._utils import _UNSET, normalize_dims, resolve_dim
from npgrad.function import Function
from npgrad.random import generator
from npgrad.tensor import Tensor


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), in place on one buffer (four passes, no temporaries), the batch split over threads.

    For very negative x, e^-x overflows to inf and 1 / inf = 0 is the correct limit,
    so the overflow warning is silenced rather than avoided; NaN stays NaN.
    """
    out = np.empty(x.shape, dtype=np.result_type(x.dtype, 1.0))  # integers → float64, as np.exp would
    return _parallel.map_batch(_sigmoid_into, out, x)


def _sigmoid_into(out: np.ndarray, x: np.ndarray) -> None:
    np.negative(x, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1
    np.divide(1, out, out=out)  # the same correctly rounded 1 / y as np.reciprocal, which NumPy 2.4 runs 2x slower


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """x - logsumexp(x) along ``axis``, shifted by the maximum so exp never overflows."""
    shifted = x - x.max(axis=axis, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted


class ReLU(Function):
    """y = max(x, 0);  dx = dout where x > 0, else 0 (0 at x == 0, like PyTorch)."""

    @staticmethod
    def forward(ctx, x):
        positive = np.empty(x.shape, bool) if ctx.needs_input_grad[0] else None  # no mask in inference

        def relu(out, x, *positive):
            if positive:
                np.greater(x, 0, out=positive[0])
            # propagates NaN, like PyTorch. Against a zero *array* np.maximum takes its SIMD loop; against the
            # scalar 0 it does not: 0.04 vs 0.06 ms at (256, 512), 0.49 vs 0.82 ms at (256, 64, 7, 7); about even at 25 MB.
            out.fill(0)
            np.maximum(x, out, out=out)

        out = _parallel.map_batch(relu, np.empty_like(x), x, *([] if positive is None else [positive]))
        ctx.save_for_backward(positive)
        return out

    @staticmethod
    def backward(ctx, dout):
        (positive,) = ctx.saved
        # dout * {0, 1}: ~10x faster than np.where(positive, dout, 0)
        return _parallel.map_batch(lambda dx, d, p: np.multiply(d, p, out=dx), np.empty_like(dout), dout, positive)


class LeakyReLU(Function):
    """y = x if x > 0 else slope * x;  dx = dout if x > 0 else slope * dout (slope at x == 0, like PyTorch)."""

    @staticmethod
    def forward(ctx, x, negative_slope):
        positive = x > 0
        ctx.save_for_backward(positive)
        ctx.negative_slope = negative_slope
        return np.where(positive, x, x * negative_slope)

    @staticmethod
    def backward(ctx, dout):
        (positive,) = ctx.saved
        return np.where(positive, dout, dout * ctx.negative_slope)


class ELU(Function):
    """y = x if x > 0 else alpha * (e^x - 1);  dx = dout if x > 0 else dout * (y + alpha) (the negative side at 0, as PyTorch)."""

    @staticmethod
    def forward(ctx, x, alpha):
        positive = x > 0
        out = np.where(positive, x, alpha * np.expm1(np.minimum(x, 0)))  # expm1 only of x <= 0: no overflow
        ctx.save_for_backward(positive, out)
        ctx.alpha = alpha
        return out

    @staticmethod
    def backward(ctx, dout):
        positive, out = ctx.saved
        return np.where(positive, dout, dout * (out + ctx.alpha))


class SiLU(Function):
    """y = x * sigmoid(x) (swish);  dx = dout * s * (1 + x * (1 - s)), s = sigmoid(x)."""

    @staticmethod
    def forward(ctx, x):
        s = _sigmoid(x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, dout):
        x, s = ctx.saved
        return dout * s * (1 + x * (1 - s))


class Softplus(Function):
    """y = log(1 + e^(beta x)) / beta, or x where beta * x > threshold (PyTorch's);

    dx = dout * sigmoid(beta x), or dout on the linear part.
    """

    @staticmethod
    def forward(ctx, x, beta, threshold):
        bx = x * beta
        linear = bx > threshold
        ctx.save_for_backward(bx, linear)
        return np.where(linear, x, np.logaddexp(0, bx) / beta)  # logaddexp: no overflow for large beta * x

    @staticmethod
    def backward(ctx, dout):
        bx, linear = ctx.saved
        return np.where(linear, dout, dout * _sigmoid(bx))


class Hardtanh(Function):
    """y = min(max(x, min_val), max_val);  dx = dout strictly between the bounds, else 0 (as PyTorch)."""

    @staticmethod
    def forward(ctx, x, min_val, max_val):
        ctx.save_for_backward((x > min_val) & (x < max_val))
        return np.clip(x, min_val, max_val)

    @staticmethod
    def backward(ctx, dout):
        (inside,) = ctx.saved
        return dout * inside


class Sigmoid(Function):
    """y = 1 / (1 + e^-x) (overflow-free);  dx = dout * y * (1 - y)."""

    @staticmethod
    def forward(ctx, x):
        out = _sigmoid(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, dout):
        (out,) = ctx.saved

        def sigmoid_grad(dx, out, dout):  # one buffer, updated in place: no temporaries
            np.subtract(1, out, out=dx)
            dx *= out
            dx *= dout

        return _parallel.map_batch(sigmoid_grad, np.empty(out.shape, out.dtype), out, dout)


class Tanh(Function):
    """y = tanh x;  dx = dout * (1 - y^2)."""

    @staticmethod
    def forward(ctx, x):
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, dout):
        (out,) = ctx.saved
        dx = np.multiply(out, out)  # one buffer, updated in place: no temporaries
        np.subtract(1, dx, out=dx)
        dx *= dout
        return dx


class Softmax(Function):
    """y = e^(x - max) / sum(e^(x - max)) along ``axis``;  dx = y * (dout - sum(dout * y))."""

    @staticmethod
    def forward(ctx, x, axis):
        out = np.exp(x - x.max(axis=axis, keepdims=True))
        out /= out.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, dout):
        (out,) = ctx.saved
        return out * (dout - (dout * out).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Function):
    """y = x - logsumexp(x) along ``axis``;  dx = dout - e^y * sum(dout)."""

    @staticmethod
    def forward(ctx, x, axis):
        out = _log_softmax(x, axis)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, dout):
        (out,) = ctx.saved
        return dout - np.exp(out) * dout.sum(axis=ctx.axis, keepdims=True)


class Dropout(Function):
    """Inverted dropout: y = x * mask, mask = keep / (1 - p) with keep ~ Bernoulli(1 - p);  dx = dout * mask.

    The mask is drawn from the global generator (`npgrad.manual_seed`) and reused by the backward.
    ``mask_shape`` (broadcast to x's; x's own by default) drops whole channels with ``(N, C, 1, 1)``.
    """

    @staticmethod
    def forward(ctx, x, p, mask_shape=None):
        keep = generator().random(x.shape if mask_shape is None else mask_shape, dtype=np.float32) >= p  # P(keep) = 1 - p
        mask = keep.astype(x.dtype)
        mask *= 1 / (1 - p) if p < 1 else 0
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, dout):
        (mask,) = ctx.saved
        return dout * mask


def dropout2d(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero whole channels: each ``(n, c)`` feature map with probability ``p``, the kept ones scaled by 1 / (1 - p).

    x: (N, C, H, W) or (C, H, W). Otherwise as `dropout` (identity when not ``training``).
    """
    p = float(p)
    if not 0 <= p <= 1:
        raise ValueError(f"dropout2d: p must be a probability in [0, 1], got {p}")
    if x.ndim not in (3, 4):
        raise ValueError(f"dropout2d: input must be (N, C, H, W) or (C, H, W), got shape {x.shape}")
    if not training or p == 0:
        return x
    return Dropout.apply(x, p=p, mask_shape=x.shape[:-2] + (1, 1))


def relu(x: Tensor) -> Tensor:
    """max(x, 0) element-wise. The gradient at exactly 0 is 0, as in PyTorch."""
    return ReLU.apply(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else ``negative_slope * x`` (the gradient at 0 is ``negative_slope``, as in PyTorch)."""
    return LeakyReLU.apply(x, negative_slope=float(negative_slope))


def _float_input(op: str, x: Tensor) -> None:
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype}")


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x where x > 0, else ``alpha * (e^x - 1)``, element-wise (PyTorch's ``elu``)."""
    _float_input("elu", x)
    return ELU.apply(x, alpha=float(alpha))


def silu(x: Tensor) -> Tensor:
    """x * sigmoid(x) element-wise (swish; PyTorch's ``silu``)."""
    _float_input("silu", x)
    return SiLU.apply(x)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta element-wise, and x itself where beta * x > ``threshold`` (PyTorch's ``softplus``)."""
    _float_input("softplus", x)
    if beta == 0:
        raise ValueError("softplus: beta must be nonzero")
    return Softplus.apply(x, beta=float(beta), threshold=float(threshold))


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """x clipped to [min_val, max_val]; the gradient is 1 strictly inside, 0 elsewhere (PyTorch's ``hardtanh``)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
    return Hardtanh.apply(x, min_val=min_val, max_val=max_val)


def relu6(x: Tensor) -> Tensor:
    """min(max(x, 0), 6) element-wise: ``hardtanh(x, 0, 6)``, as PyTorch's ``relu6``."""
    return hardtanh(x, 0.0, 6.0)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^-x) element-wise, computed without overflow for any |x|."""
    return Sigmoid.apply(x)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent, element-wise."""
    return Tanh.apply(x)


def _softmax_axis(op: str, x: Tensor, dim: Any, axis: Any) -> int:
    dim = resolve_dim(op, dim, axis, default=None)
    if dim is None:
        dim = -1
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have at least one dimension, got a 0-d tensor")
    return normalize_dims(op, dim, x.ndim)[0]


def softmax(x: Tensor, dim: int | None = _UNSET, *, axis: int | None = _UNSET) -> Tensor:
    """e^x / sum(e^x) along ``dim`` (``axis`` is NumPy's alias), stabilised by subtracting the maximum.

    Difference from PyTorch: ``dim`` defaults to -1 (the last dimension; also when None),
    where PyTorch requires it (its legacy implicit choice warns and picks 0 or 1).
    """
    return Softmax.apply(x, axis=_softmax_axis("softmax", x, dim, axis))


def log_softmax(x: Tensor, dim: int | None = _UNSET, *, axis: int | None = _UNSET) -> Tensor:
    """x - log(sum(e^x)) along ``dim`` (``axis`` is NumPy's alias), stable for any logits.

    More accurate than ``softmax(x).log()``. Like `softmax`, ``dim`` defaults to -1.
    """
    return LogSoftmax.apply(x, axis=_softmax_axis("log_softmax", x, dim, axis))


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` and scale the kept ones by 1 / (1 - p).

    The expected value of every element is unchanged, so nothing needs rescaling at
    evaluation time. Returns ``x`` itself when ``training`` is False or ``p == 0``;
    ``p == 1`` gives zeros. The mask comes from the global generator (seed it with
    `npgrad.manual_seed`). PyTorch's ``inplace`` flag is not supported.
    """
    p = float(p)
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p}")
    if not training or p == 0:
        return x
    return Dropout.apply(x, p=p)
