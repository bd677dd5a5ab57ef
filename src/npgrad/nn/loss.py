"""Loss modules: ``loss_fn(input, target)`` calls the function of the same name in `npgrad.nn.functional`.

``reduction`` is 'mean' (the default), 'sum' or 'none'. Class or element
``weight`` and ``pos_weight`` are stored as buffers (so they appear in the
state dict and follow ``.to(dtype)``, as in PyTorch); arrays are wrapped in Tensors.
Arguments after the first are keyword-only: PyTorch's positional slots there hold
deprecated arguments (``size_average``, ``reduce``) that npgrad does not have.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npgrad.nn import functional as F
from npgrad.nn.module import Module
from npgrad.tensor import Tensor


class _Loss(Module):
    def __init__(self, *, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | np.ndarray | None = None, *, reduction: str = "mean"):
        super().__init__(reduction=reduction)
        self.register_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy of logits (N, C) or (N, C, d1, ...) against class indices (or class probabilities).

    ``weight``: (C,) per-class weights; ``ignore_index``: targets with this class
    contribute nothing (and are left out of the mean); ``label_smoothing`` in
    [0, 1] mixes the one-hot target with the uniform distribution.
    """

    def __init__(self, weight: Tensor | np.ndarray | None = None, *, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(weight, reduction=reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of class indices under log-probabilities (N, C) or (N, C, d1, ...), e.g. `LogSoftmax` output.

    ``weight`` and ``ignore_index`` as in `CrossEntropyLoss`.
    """

    def __init__(self, weight: Tensor | np.ndarray | None = None, *, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(weight, reduction=reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """The multiclass SVM (hinge) loss of scores (N, C) against class indices (N,).

    loss_i = sum over j != y_i of weight[y_i] * max(0, margin - x[i, y_i] + x[i, j])**p / C, with p 1 or 2.
    """

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Tensor | np.ndarray | None = None, *, reduction: str = "mean"):
        super().__init__(weight, reduction=reduction)
        self.p = p
        self.margin = margin

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.multi_margin_loss(input, target, p=self.p, margin=self.margin, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """Binary cross-entropy of sigmoid(input) against targets in [0, 1], computed stably from the logits.

    ``weight`` rescales each element (broadcast to the input); ``pos_weight``
    (broadcast along the last dimension, e.g. (C,)) weights the positive term.
    """

    def __init__(self, weight: Tensor | np.ndarray | None = None, *, reduction: str = "mean",
                 pos_weight: Tensor | np.ndarray | None = None):
        super().__init__(weight, reduction=reduction)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities in [0, 1] against targets in [0, 1] (logs clamped at -100).

    Prefer `BCEWithLogitsLoss` on logits: it is exact where sigmoid saturates.
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error (input - target)², reduced by ``reduction``; target of the input's shape."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error |input - target|, reduced by ``reduction``; target of the input's shape."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target), reduced by ``reduction``."""

    def __init__(self, *, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction=reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (d = input - target), reduced by ``reduction``."""

    def __init__(self, *, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)
