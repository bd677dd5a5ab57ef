"""Losses: cross_entropy, multi_margin_loss (multiclass SVM), binary cross-entropy (on logits and on
probabilities), mse_loss and l1_loss / smooth_l1_loss / huber_loss, each one fused `Function` with PyTorch's semantics.

Every loss computes per-element (or per-sample) losses and then applies
``reduction``: 'none' keeps them, 'sum' adds them up, 'mean' divides the sum by a
normaliser (the number of elements, or, for class-weighted cross-entropy, the sum
of the target weights). `_reduce` and `_reduce_grad` are that step and its derivative.

As in PyTorch's functional API, the deprecated ``size_average``/``reduce``
arguments do not exist and the arguments after them are keyword-only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npgrad.function import Function
from npgrad.ops.activation import _log_softmax, _sigmoid
from npgrad.tensor import Tensor, _values

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(losses: np.ndarray, reduction: str, normaliser: Any) -> np.ndarray:
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "sum":
        return total
    with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 -> nan, as in PyTorch
        return total / normaliser


def _reduce_grad(dout: np.ndarray, reduction: str, normaliser: Any) -> np.ndarray:
    """d(reduced)/d(losses) times dout: broadcastable against the per-element losses."""
    return dout / normaliser if reduction == "mean" else dout


def _weighted(values: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    return values if weight is None else values * weight


# ------------------------------------------------------------------ kernels
def _target_distribution(
    target: np.ndarray, shape: tuple[int, ...], axis: int, dtype: np.dtype,
    weight: np.ndarray | None, ignore_index: int, label_smoothing: float,
) -> tuple[np.ndarray, Any]:
    """q and the 'mean' normaliser such that loss = -sum over the class axis of q * log_softmax(x).

    Class indices y (PyTorch's rules):  q[c] = ((1 - eps) [c == y] + eps / C) * w[c],  0 where y == ignore_index;
        normaliser = sum of w[y] over the samples not ignored (their count without weights).
    Probabilities t (``target.shape == shape``):  q = ((1 - eps) t + eps / C) * w;  normaliser = number of samples.
    """
    classes = shape[axis]
    if target.shape == shape:
        q = (1 - label_smoothing) * target + label_smoothing / classes
        normaliser = target.size // classes
    else:
        kept = target != ignore_index  # target.shape
        labels = np.where(kept, target, 0)
        q = np.full(shape, label_smoothing / classes, dtype=dtype)
        np.put_along_axis(q, np.expand_dims(labels, axis), 1 - label_smoothing + label_smoothing / classes, axis=axis)
        q *= np.expand_dims(kept, axis)
        normaliser = int(kept.sum()) if weight is None else np.where(kept, weight[labels], 0).sum()
    if weight is not None:
        q *= weight.reshape((classes,) + (1,) * (len(shape) - axis - 1))
    return q, normaliser


class CrossEntropy(Function):
    """loss = -sum_c q[c] * log_softmax(x)[c] along the class ``axis``, q from `_target_distribution`.

    x: (N, C, *d) with axis 1, or (C,) with axis 0; losses (N, *d) or ().
    dx = dloss * (softmax(x) * sum_c q[c] - q)   (= softmax - onehot without weights or smoothing).
    """

    @staticmethod
    def forward(ctx, x, target, axis, weight, ignore_index, label_smoothing, reduction):
        log_p = _log_softmax(x, axis)
        q, normaliser = _target_distribution(target, x.shape, axis, x.dtype, weight, ignore_index, label_smoothing)
        ctx.save_for_backward(log_p, q)
        ctx.args = (axis, reduction, normaliser)
        return _reduce(-(q * log_p).sum(axis=axis), reduction, normaliser)

    @staticmethod
    def backward(ctx, dout):
        log_p, q = ctx.saved
        axis, reduction, normaliser = ctx.args
        dlosses = _reduce_grad(dout, reduction, normaliser)
        if dlosses.ndim:
            dlosses = np.expand_dims(dlosses, axis)
        dx = np.exp(log_p)
        dx *= q.sum(axis=axis, keepdims=True)
        dx -= q
        dx *= dlosses
        return dx, None


class NLL(Function):
    """loss = -sum_c q[c] * x[c] along the class ``axis``, x log-probabilities, q from `_target_distribution`
    (the one-hot target times the class weight, 0 where ignored);  dx = -q * dloss.
    """

    @staticmethod
    def forward(ctx, x, target, axis, weight, ignore_index, reduction):
        q, normaliser = _target_distribution(target, x.shape, axis, x.dtype, weight, ignore_index, 0.0)
        ctx.save_for_backward(q)
        ctx.args = (axis, reduction, normaliser)
        return _reduce(-(q * x).sum(axis=axis), reduction, normaliser)

    @staticmethod
    def backward(ctx, dout):
        (q,) = ctx.saved
        axis, reduction, normaliser = ctx.args
        dlosses = _reduce_grad(dout, reduction, normaliser)
        if dlosses.ndim:
            dlosses = np.expand_dims(dlosses, axis)
        return -q * dlosses, None


class MultiMargin(Function):
    """loss = sum_{j != y} w[y] * max(0, margin - x[y] + x[j])**p / C over the last axis (PyTorch's multi_margin_loss).

    x: (N, C) or (C,), target (N,) or ().  With z = margin - x[y] + x[j] and h = max(0, z):
    dx[j] = dloss * w[y] * p * h**(p-1) * [z > 0] / C for j != y,  dx[y] = -sum_{j != y} dx[j].
    """

    @staticmethod
    def forward(ctx, x, target, p, margin, weight, reduction):
        labels = target[..., None]  # (N, 1)
        hinge = margin - np.take_along_axis(x, labels, axis=-1) + x  # (N, C)
        np.put_along_axis(hinge, labels, 0, axis=-1)  # the j == y term is not part of the sum
        np.maximum(hinge, 0, out=hinge)
        per_class = hinge if p == 1 else hinge * hinge
        scale = 1 / x.shape[-1] if weight is None else weight[labels] / x.shape[-1]  # w[y] / C, (N, 1)
        losses = (per_class * scale).sum(axis=-1)
        ctx.save_for_backward(hinge, labels, scale)
        ctx.args = (p, reduction, losses.size)
        return _reduce(losses, reduction, losses.size)

    @staticmethod
    def backward(ctx, dout):
        hinge, labels, scale = ctx.saved
        p, reduction, count = ctx.args
        dlosses = _reduce_grad(dout, reduction, count)
        dhinge = (hinge > 0).astype(hinge.dtype) if p == 1 else 2 * hinge
        dx = dhinge * (scale * (dlosses[..., None] if dlosses.ndim else dlosses))
        np.put_along_axis(dx, labels, -dx.sum(axis=-1, keepdims=True), axis=-1)
        return dx, None


class BinaryCrossEntropyWithLogits(Function):
    """loss = w * ((1 - t) x + (1 + (pw - 1) t) softplus(-x)),  the stable form of
    -w (pw t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))) with softplus(-x) = max(-x, 0) + log1p(e^-|x|).

    dx = w * ((1 - t) - (1 + (pw - 1) t) sigmoid(-x)),  dt = w * (-x + (pw - 1) softplus(-x)).
    """

    @staticmethod
    def forward(ctx, x, target, weight, pos_weight, reduction):
        softplus_neg = np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))
        log_weight = 1 + (pos_weight - 1) * target if pos_weight is not None else 1
        losses = _weighted((1 - target) * x + log_weight * softplus_neg, weight)
        ctx.save_for_backward(x, target, weight, pos_weight, softplus_neg)
        ctx.args = (reduction, x.size)
        return _reduce(losses, reduction, x.size)

    @staticmethod
    def backward(ctx, dout):
        x, target, weight, pos_weight, softplus_neg = ctx.saved
        g = _weighted(_reduce_grad(dout, *ctx.args), weight)
        dx = dtarget = None
        if ctx.needs_input_grad[0]:
            log_weight = 1 + (pos_weight - 1) * target if pos_weight is not None else 1
            dx = g * ((1 - target) - log_weight * _sigmoid(-x))
        if ctx.needs_input_grad[1]:
            dtarget = g * (-x if pos_weight is None else (pos_weight - 1) * softplus_neg - x)
        return dx, dtarget


def _clamped_logs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log x and log(1 - x), each clamped below at -100 as PyTorch does (so x = 0 or 1 gives a finite loss)."""
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(x), -100), np.maximum(np.log1p(-x), -100)


class BinaryCrossEntropy(Function):
    """loss = -w (t log x + (1 - t) log(1 - x)) with the logs clamped at -100 (x: probabilities).

    dx = w (x - t) / max(x (1 - x), 1e-12)  (PyTorch's formula),  dt = w (log(1 - x) - log x).
    """

    @staticmethod
    def forward(ctx, x, target, weight, reduction):
        log_x, log_1mx = _clamped_logs(x)
        losses = _weighted(-(target * log_x + (1 - target) * log_1mx), weight)
        ctx.save_for_backward(x, target, weight)
        ctx.args = (reduction, x.size)
        return _reduce(losses, reduction, x.size)

    @staticmethod
    def backward(ctx, dout):
        x, target, weight = ctx.saved
        g = _weighted(_reduce_grad(dout, *ctx.args), weight)
        dx = dtarget = None
        if ctx.needs_input_grad[0]:
            dx = g * (x - target) / np.maximum(x * (1 - x), 1e-12)
        if ctx.needs_input_grad[1]:
            log_x, log_1mx = _clamped_logs(x)
            dtarget = g * (log_1mx - log_x)
        return dx, dtarget


class MSELoss(Function):
    """loss = (x - t)^2;  dx = 2 (x - t) dloss,  dt = -dx."""

    @staticmethod
    def forward(ctx, x, target, reduction):
        diff = x - target
        ctx.save_for_backward(diff)
        ctx.args = (reduction, diff.size)
        return _reduce(diff * diff, reduction, diff.size)

    @staticmethod
    def backward(ctx, dout):
        (diff,) = ctx.saved
        dx = 2 * diff * _reduce_grad(dout, *ctx.args)
        return dx, (-dx if ctx.needs_input_grad[1] else None)


class SmoothL1(Function):
    """loss = scale * (0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta), d = x - t;
    dx = scale * (d / beta if |d| < beta else sign(d)) dloss, dt = -dx.

    beta = 0 is the L1 loss |d| (gradient sign(d), 0 at d = 0 as in PyTorch); Huber's loss with
    ``delta`` is scale = beta = delta.
    """

    @staticmethod
    def forward(ctx, x, target, beta, scale, reduction):
        diff = x - target
        size = np.abs(diff)
        quadratic = size < beta
        losses = np.where(quadratic, 0.5 * diff * diff / beta, size - 0.5 * beta) if beta else size
        ctx.save_for_backward(diff, quadratic)
        ctx.args = (beta, scale, reduction, diff.size)
        return _reduce(losses * scale if scale != 1 else losses, reduction, diff.size)

    @staticmethod
    def backward(ctx, dout):
        diff, quadratic = ctx.saved
        beta, scale, reduction, size = ctx.args
        slope = np.where(quadratic, diff / beta, np.sign(diff)) if beta else np.sign(diff)
        dx = slope * (scale * _reduce_grad(dout, reduction, size))
        return dx, (-dx if ctx.needs_input_grad[1] else None)


# ----------------------------------------------------------------- wrappers
def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_input(op: str, input: Tensor) -> None:
    if not np.issubdtype(input.dtype, np.floating):
        raise ValueError(f"{op}: input must be floating point, got dtype {input.dtype}")


def _array(value: Any) -> np.ndarray:
    return np.asarray(_values(value))


def _weight_array(op: str, name: str, weight: Any, input: Tensor, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
    """A weight as an array of ``input``'s dtype: of exactly ``shape``, or broadcastable to the input's shape."""
    if weight is None:
        return None
    array = _array(weight)
    if shape is not None and array.shape != shape:
        raise ValueError(f"{op}: {name} must have shape {shape} (one value per class), got {array.shape}")
    if shape is None:
        try:
            fits = np.broadcast_shapes(array.shape, input.shape) == input.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{op}: {name} of shape {array.shape} does not broadcast to the input shape {input.shape}")
    return array.astype(input.dtype, copy=False)


def _class_targets(op: str, target: Any, input: Tensor, axis: int, ignore_index: int | None = None) -> np.ndarray:
    """Integer class indices of shape input.shape without ``axis``, each in [0, C) (or ``ignore_index``)."""
    array = _array(target)
    expected = input.shape[:axis] + input.shape[axis + 1:]
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"{op}: class-index targets must have an integer dtype, got {array.dtype} "
            f"(labels {expected} for input shape {input.shape})"
        )
    if array.shape != expected:
        raise ValueError(f"{op}: target must have shape {expected} for input shape {input.shape}, got {array.shape}")
    classes = input.shape[axis]
    bad = (array < 0) | (array >= classes)
    if ignore_index is not None:
        bad &= array != ignore_index
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        allowed = f"0 <= target < {classes}" + (f", or ignore_index={ignore_index}" if ignore_index is not None else "")
        raise ValueError(
            f"{op}: target value {array[where]} at position {where} is out of range for {classes} classes ({allowed})"
        )
    return array


def _float_target(op: str, target: Any, input: Tensor, probability: bool = False) -> Tensor | np.ndarray:
    """The target of an element-wise loss, of ``input``'s shape: a Tensor if it requires grad, else an array of input's dtype."""
    if tuple(np.shape(target)) != input.shape:
        raise ValueError(f"{op}: target shape {tuple(np.shape(target))} must equal the input shape {input.shape}")
    if isinstance(target, Tensor) and target.requires_grad:
        if target.dtype != input.dtype:
            raise ValueError(f"{op}: target dtype {target.dtype} must equal the input dtype {input.dtype}")
        data = target.data
    else:
        data = target = _array(target)
        if not (np.issubdtype(data.dtype, np.number) or data.dtype == bool) or np.iscomplexobj(data):
            raise ValueError(f"{op}: target must be real numbers, got dtype {data.dtype}")
        target = data.astype(input.dtype, copy=False)
    if probability and not np.all((data >= 0) & (data <= 1)):
        raise ValueError(f"{op}: target values must be in [0, 1], got values in [{data.min()}, {data.max()}]")
    return target


def cross_entropy(
    input: Tensor,
    target: Tensor | np.ndarray,
    weight: Tensor | np.ndarray | None = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy between logits and class indices (or class probabilities), fused and stable.

    Args:
        input: logits (N, C), (N, C, d1, ...) or (C,).
        target: class indices, an integer Tensor/array of shape (N,), (N, d1, ...) or (),
            each in [0, C) or equal to ``ignore_index``; or class probabilities, a
            floating target of the input's shape. The target gets no gradient.
        weight: (C,) class weights (no gradient), or None.
        ignore_index: samples with this label contribute no loss and no gradient
            (class-index targets only).
        reduction: 'mean' (the sum divided by the summed weights w[y] of the samples
            not ignored, or by the number of samples for probability targets),
            'sum' or 'none' (losses of shape (N, d1, ...)).
        label_smoothing: eps in [0, 1]: the target becomes (1 - eps) * target + eps / C.

    Semantics are PyTorch's, including 'mean' with every sample ignored giving nan.
    """
    op = "cross_entropy"
    _check_reduction(op, reduction)
    _check_input(op, input)
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have shape (N, C, *) or (C,), got a 0-d tensor")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    axis = 1 if input.ndim >= 2 else 0
    target_array = _array(target)
    if np.issubdtype(target_array.dtype, np.floating) and target_array.shape == input.shape:
        target_array = target_array.astype(input.dtype, copy=False)  # probabilities
    else:
        target_array = _class_targets(op, target_array, input, axis, ignore_index)
    weight = _weight_array(op, "weight", weight, input, (input.shape[axis],))
    return CrossEntropy.apply(
        input, target_array, axis=axis, weight=weight, ignore_index=ignore_index,
        label_smoothing=float(label_smoothing), reduction=reduction,
    )


def nll_loss(
    input: Tensor,
    target: Tensor | np.ndarray,
    weight: Tensor | np.ndarray | None = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class indices under log-probabilities (``log_softmax`` output).

    ``nll_loss(log_softmax(x, 1), y)`` equals ``cross_entropy(x, y)``. Shapes, ``weight``,
    ``ignore_index`` and ``reduction`` as in `cross_entropy` (class-index targets only).
    """
    op = "nll_loss"
    _check_reduction(op, reduction)
    _check_input(op, input)
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have shape (N, C, *) or (C,), got a 0-d tensor")
    axis = 1 if input.ndim >= 2 else 0
    target_array = _class_targets(op, _array(target), input, axis, ignore_index)
    weight = _weight_array(op, "weight", weight, input, (input.shape[axis],))
    return NLL.apply(input, target_array, axis=axis, weight=weight, ignore_index=ignore_index, reduction=reduction)


def multi_margin_loss(
    input: Tensor,
    target: Tensor | np.ndarray,
    p: int = 1,
    margin: float = 1.0,
    weight: Tensor | np.ndarray | None = None,
    *,
    reduction: str = "mean",
) -> Tensor:
    """The multiclass SVM (hinge) loss with PyTorch's semantics.

    loss_i = sum over j != y_i of w[y_i] * max(0, margin - x[i, y_i] + x[i, j])**p / C

    Args:
        input: scores (N, C) or (C,).
        target: integer class indices (N,) or (), each in [0, C).
        p: 1 (hinge) or 2 (squared hinge).
        margin: the required gap between the true class's score and the others.
        weight: (C,) class weights (no gradient), or None.
        reduction: 'mean' (over samples), 'sum' or 'none' (losses (N,)).

    Note that PyTorch, and so this, divides by the number of classes C; the
    cs231n SVM loss (sum over j != y of max(0, x_j - x_y + 1), averaged over the
    batch) does not, so it equals ``C * multi_margin_loss(x, y)``.
    """
    op = "multi_margin_loss"
    _check_reduction(op, reduction)
    _check_input(op, input)
    if input.ndim not in (1, 2):
        raise ValueError(f"{op}: input must have shape (N, C) or (C,), got {input.shape}")
    if p not in (1, 2):
        raise ValueError(f"{op}: p must be 1 or 2, got {p!r}")
    target_array = _class_targets(op, target, input, input.ndim - 1)
    weight = _weight_array(op, "weight", weight, input, (input.shape[-1],))
    return MultiMargin.apply(input, target_array, p=int(p), margin=float(margin), weight=weight, reduction=reduction)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor | np.ndarray,
    weight: Tensor | np.ndarray | None = None,
    *,
    reduction: str = "mean",
    pos_weight: Tensor | np.ndarray | None = None,
) -> Tensor:
    """Binary cross-entropy of sigmoid(input) against ``target``, computed from the logits without overflow.

    loss = -w * (pos_weight * t * log sigmoid(x) + (1 - t) * log(1 - sigmoid(x))), in the
    log-sum-exp form that stays finite (with a finite gradient) for any |x|.

    Args:
        input: logits, any shape.
        target: the same shape as ``input`` (an error otherwise, as in PyTorch), values in [0, 1].
            It gets a gradient when it is a Tensor that requires grad.
        weight: broadcastable to the input's shape (no gradient), or None.
        reduction: 'mean' (over all elements), 'sum' or 'none'.
        pos_weight: weight of the positive term, broadcastable to the input's
            shape, e.g. (C,) for the last dimension (no gradient), or None.
    """
    op = "binary_cross_entropy_with_logits"
    _check_reduction(op, reduction)
    _check_input(op, input)
    target = _float_target(op, target, input, probability=True)
    weight = _weight_array(op, "weight", weight, input)
    pos_weight = _weight_array(op, "pos_weight", pos_weight, input)
    return BinaryCrossEntropyWithLogits.apply(input, target, weight=weight, pos_weight=pos_weight, reduction=reduction)


def binary_cross_entropy(
    input: Tensor,
    target: Tensor | np.ndarray,
    weight: Tensor | np.ndarray | None = None,
    *,
    reduction: str = "mean",
) -> Tensor:
    """Binary cross-entropy between probabilities ``input`` and ``target``, both in [0, 1].

    loss = -w * (t * log x + (1 - t) * log(1 - x)), each log clamped below at -100 as in
    PyTorch, so x = 0 or 1 gives a finite loss. Prefer `binary_cross_entropy_with_logits`
    on logits: it is exact where sigmoid saturates.

    Args:
        input: probabilities, any shape.
        target: the same shape (an error otherwise, as in PyTorch), values in [0, 1]; it gets a
            gradient when it is a Tensor that requires grad.
        weight: broadcastable to the input's shape (no gradient), or None.
        reduction: 'mean' (over all elements), 'sum' or 'none'.
    """
    op = "binary_cross_entropy"
    _check_reduction(op, reduction)
    _check_input(op, input)
    probabilities = _array(input)
    if not np.all((probabilities >= 0) & (probabilities <= 1)):
        raise ValueError(
            f"{op}: input values must be probabilities in [0, 1], got values in [{probabilities.min()}, {probabilities.max()}]"
        )
    target = _float_target(op, target, input, probability=True)
    weight = _weight_array(op, "weight", weight, input)
    return BinaryCrossEntropy.apply(input, target, weight=weight, reduction=reduction)


def mse_loss(input: Tensor, target: Tensor | np.ndarray, *, reduction: str = "mean") -> Tensor:
    """Squared error (input - target)^2, reduced by ``reduction`` ('mean' over all elements, 'sum' or 'none').

    Difference from PyTorch: a target whose shape differs from the input's is an
    error naming both shapes (PyTorch broadcasts with a warning, which is almost
    always a bug such as (N,) against (N, 1)). The target gets a gradient when it is
    a Tensor that requires grad. PyTorch's recent ``weight`` argument is not supported.
    """
    op = "mse_loss"
    _check_reduction(op, reduction)
    _check_input(op, input)
    return MSELoss.apply(input, _float_target(op, target, input), reduction=reduction)


def _smooth_l1(op: str, input: Tensor, target: Any, reduction: str, beta: float, scale: float) -> Tensor:
    _check_reduction(op, reduction)
    _check_input(op, input)
    return SmoothL1.apply(input, _float_target(op, target, input), beta=beta, scale=scale, reduction=reduction)


def l1_loss(input: Tensor, target: Tensor | np.ndarray, *, reduction: str = "mean") -> Tensor:
    """Absolute error |input - target|, reduced by ``reduction``; the target must have the input's shape (as `mse_loss`)."""
    return _smooth_l1("l1_loss", input, target, reduction, 0.0, 1.0)


def smooth_l1_loss(input: Tensor, target: Tensor | np.ndarray, *, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """PyTorch's smooth L1: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta = 0 is L1."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    return _smooth_l1("smooth_l1_loss", input, target, reduction, float(beta), 1.0)


def huber_loss(input: Tensor, target: Tensor | np.ndarray, *, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """PyTorch's Huber loss: 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta).

    That is ``delta`` times the smooth L1 loss with beta = delta.
    """
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    return _smooth_l1("huber_loss", input, target, reduction, float(delta), float(delta))


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot rows: out[..., c] = 1 where tensor == c; ``num_classes=-1`` means max label + 1 (PyTorch's)."""
    labels = _array(tensor)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"one_hot: expects an integer tensor of class labels, got dtype {labels.dtype}")
    if num_classes == -1:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"one_hot: labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    return Tensor((labels[..., None] == np.arange(num_classes)).astype(np.int64))
