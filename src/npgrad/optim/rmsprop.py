"""RMSprop: divide the gradient by a running root-mean-square of recent gradients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from npgrad.optim.optimizer import Optimizer
from npgrad.tensor import Tensor


class RMSprop(Optimizer):
    r"""RMSprop (Hinton's lecture 6e), with PyTorch's update rule.

    For each parameter ``w`` with gradient ``g``, at each step::

        g = g + weight_decay * w                       (if weight_decay != 0)
        s = alpha * s + (1 - alpha) * g^2              (s starts at 0)
        d = sqrt(s) + eps
        d = sqrt(s - m^2) + eps, m = alpha * m + (1 - alpha) * g   (if centered; m starts at 0)
        b = momentum * b + g / d;  w = w - lr * b      (if momentum > 0; b starts at 0)
        w = w - lr * g / d                             (otherwise)

    i.e. the textbook ``s = a*s + (1-a)*g^2; w -= lr*g/(sqrt(s)+eps)`` plus
    PyTorch's options. ``eps`` is added outside the square root.

    Args:
        params: Tensors to optimize, or param-group dicts.
        lr: learning rate.
        alpha: smoothing constant of the squared-gradient average.
        eps: term added to the denominator for numerical stability.
        weight_decay: L2 penalty coefficient (added to the gradient).
        momentum: momentum factor.
        centered: normalise by the estimated variance of the gradient instead
            of its uncentered second moment.

    State per parameter: ``'step'``, ``'square_avg'``, ``'momentum_buffer'`` (if
    momentum > 0), ``'grad_avg'`` (if centered).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
    ):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        for key in ("alpha", "eps", "weight_decay", "momentum"):
            if not group[key] >= 0.0:
                raise ValueError(f"RMSprop: invalid {key} {group[key]} (must be >= 0)")

    def _init_state(self, state: dict[str, Any], param: np.ndarray, group: dict[str, Any]) -> None:
        state["step"] = 0
        state["square_avg"] = np.zeros_like(param)
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(param)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(param)

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        alpha, weight_decay = group["alpha"], group["weight_decay"]
        state["step"] += 1
        if weight_decay != 0:
            grad = grad + weight_decay * param  # a new array: the caller's .grad is never modified
        square_avg = state["square_avg"]
        denom = np.multiply(grad, grad, dtype=param.dtype)  # the one scratch array of the step
        denom *= 1 - alpha
        square_avg *= alpha
        square_avg += denom
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg *= alpha
            grad_avg += (1 - alpha) * grad
            np.multiply(grad_avg, grad_avg, out=denom)
            np.subtract(square_avg, denom, out=denom)
            np.sqrt(denom, out=denom)
        else:
            np.sqrt(square_avg, out=denom)
        denom += group["eps"]
        np.divide(grad, denom, out=denom)  # g / d
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += denom
            np.multiply(buf, group["lr"], out=denom)
        else:
            denom *= group["lr"]
        param -= denom
