"""Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from npgrad.optim.optimizer import Optimizer
from npgrad.tensor import Tensor


class SGD(Optimizer):
    r"""Stochastic gradient descent, with PyTorch's update rule.

    For each parameter ``w`` with gradient ``g``, at each step::

        g = g + weight_decay * w                      (if weight_decay != 0)
        v = g                                         (first step)
        v = momentum * v + (1 - dampening) * g        (later steps; if momentum != 0)
        g = g + momentum * v  if nesterov  else  v    (if momentum != 0)
        w = w - lr * g

    At a constant ``lr`` and ``dampening=0`` the momentum form ``v = mu*v + g;
    w -= lr*v`` is the classic ``v = mu*v - lr*g; w += v`` with ``v`` scaled by
    ``-lr``: both give the same weights. (They differ only when ``lr`` changes
    during training: here a new ``lr`` also applies to the accumulated
    velocity at once.)

    Args:
        params: Tensors to optimize, or param-group dicts.
        lr: learning rate (required).
        momentum: momentum factor ``mu`` (0 disables the velocity buffer).
        dampening: dampening of the gradient added to the velocity.
        weight_decay: L2 penalty coefficient (added to the gradient).
        nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening = 0``).

    State per parameter: ``'momentum_buffer'`` (when ``momentum != 0``).
    Differences from PyTorch: ``lr`` has no default (PyTorch 2.x defaults it to
    1e-3); no ``maximize``/``foreach``/``fused`` options.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
    ):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        if not group["momentum"] >= 0.0:
            raise ValueError(f"SGD: invalid momentum {group['momentum']} (must be >= 0)")
        if not group["weight_decay"] >= 0.0:
            raise ValueError(f"SGD: invalid weight_decay {group['weight_decay']} (must be >= 0)")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires momentum > 0 and dampening = 0")

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
        if weight_decay != 0:
            decayed = param * weight_decay  # a new array: the caller's .grad is never modified
            decayed += grad  # one temporary instead of two for grad + weight_decay * param (same rounding)
            grad = decayed
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(grad, dtype=param.dtype, copy=True)
            else:
                buf *= momentum
                buf += grad if group["dampening"] == 0 else (1 - group["dampening"]) * grad
            if group["nesterov"]:
                grad = grad + momentum * buf
            else:
                grad = buf
        param -= lr * grad
