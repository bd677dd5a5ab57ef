"""Adagrad: per-coordinate learning rates from the sum of all past squared gradients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from npgrad.optim.optimizer import Optimizer
from npgrad.tensor import Tensor


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al., 2011), with PyTorch's update rule.

    For each parameter ``w`` with gradient ``g``, at each step::

        t = t + 1
        g = g + weight_decay * w                       (if weight_decay != 0)
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g^2                                    (s starts at initial_accumulator_value)
        w = w - clr * g / (sqrt(s) + eps)

    Args:
        params: Tensors to optimize, or param-group dicts.
        lr: learning rate.
        lr_decay: inverse-time decay of the learning rate with the step count.
        weight_decay: L2 penalty coefficient (added to the gradient).
        initial_accumulator_value: starting value of the sum of squares ``s``.
        eps: term added to the denominator for numerical stability.

    State per parameter: ``'step'`` (an int) and ``'sum'`` (s). Unlike PyTorch,
    which creates the state in the constructor, it is created at a parameter's
    first step (as for the other optimizers); the updates are the same.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.01,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
    ):
        defaults = dict(
            lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, initial_accumulator_value=initial_accumulator_value, eps=eps
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        for key in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            if not group[key] >= 0.0:
                raise ValueError(f"Adagrad: invalid {key} {group[key]} (must be >= 0)")

    def _init_state(self, state: dict[str, Any], param: np.ndarray, group: dict[str, Any]) -> None:
        state["step"] = 0
        state["sum"] = np.full_like(param, group["initial_accumulator_value"])

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * param  # a new array: the caller's .grad is never modified
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        scratch = np.multiply(grad, grad, dtype=param.dtype)  # the one scratch array of the step
        state["sum"] += scratch
        np.sqrt(state["sum"], out=scratch)
        scratch += group["eps"]
        np.divide(grad, scratch, out=scratch)
        scratch *= clr
        param -= scratch
