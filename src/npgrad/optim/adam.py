"""Adam and AdamW: adaptive moment estimation, with L2 (Adam) or decoupled (AdamW) weight decay."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from npgrad.optim.optimizer import Optimizer
from npgrad.tensor import Tensor


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), with PyTorch's update rule.

    For each parameter ``w`` with gradient ``g``, at each step::

        t = t + 1
        g = g + weight_decay * w                       (Adam: L2 penalty in the gradient)
        w = w * (1 - lr * weight_decay)                (AdamW instead: decoupled decay)
        m = beta1 * m + (1 - beta1) * g                (m, v start at 0)
        v = beta2 * v + (1 - beta2) * g^2
        v_max = max(v_max, v); use v_max for v below   (if amsgrad)
        w = w - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    The last line is evaluated as ``w -= (lr / (1 - beta1^t)) * m /
    (sqrt(v) / sqrt(1 - beta2^t) + eps)``, PyTorch's arrangement.

    Args:
        params: Tensors to optimize, or param-group dicts.
        lr: learning rate.
        betas: decay rates ``(beta1, beta2)`` of the first and second moment averages.
        eps: term added to the denominator for numerical stability.
        weight_decay: L2 penalty coefficient.
        amsgrad: use the running maximum of ``v`` (Reddi et al., 2018).

    State per parameter: ``'step'`` (an int), ``'exp_avg'`` (m), ``'exp_avg_sq'``
    (v) and ``'max_exp_avg_sq'`` (if amsgrad).
    """

    _decoupled_weight_decay = False

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
    ):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        name = type(self).__name__
        for i, beta in enumerate(group["betas"]):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: invalid beta parameter at index {i}: {beta} (must be in [0, 1))")
        for key in ("eps", "weight_decay"):
            if not group[key] >= 0.0:
                raise ValueError(f"{name}: invalid {key} {group[key]} (must be >= 0)")

    def _init_state(self, state: dict[str, Any], param: np.ndarray, group: dict[str, Any]) -> None:
        state["step"] = 0
        state["exp_avg"] = np.zeros_like(param)
        state["exp_avg_sq"] = np.zeros_like(param)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(param)

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, weight_decay, (beta1, beta2) = group["lr"], group["weight_decay"], group["betas"]
        state["step"] += 1
        step = state["step"]
        if weight_decay != 0:
            if self._decoupled_weight_decay:
                param *= 1 - lr * weight_decay
            else:
                grad = grad + weight_decay * param  # a new array: the caller's .grad is never modified
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        scratch = np.multiply(grad, 1 - beta1, dtype=param.dtype)  # the one scratch array of the step
        exp_avg *= beta1
        exp_avg += scratch
        np.multiply(grad, grad, out=scratch)
        scratch *= 1 - beta2
        exp_avg_sq *= beta2
        exp_avg_sq += scratch
        if group["amsgrad"]:
            exp_avg_sq = np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
        step_size = lr / (1 - beta1**step)
        denom = np.sqrt(exp_avg_sq, out=scratch)
        denom /= math.sqrt(1 - beta2**step)
        denom += group["eps"]
        np.divide(exp_avg, denom, out=denom)
        denom *= step_size
        param -= denom


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019), with PyTorch's update rule.

    Identical to `Adam` except for the weight decay, which shrinks the weights
    directly, ``w = w * (1 - lr * weight_decay)``, before the Adam step, instead
    of adding ``weight_decay * w`` to the gradient (where Adam's normalisation
    would scale it away). See `Adam` for the full rule and arguments; the
    default ``weight_decay`` is 0.01.
    """

    _decoupled_weight_decay = True

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
    ):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
