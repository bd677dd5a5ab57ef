"""Classification metrics on NumPy arrays (vectorised; Tensors are accepted too).

Two kinds of model output are understood, the same way everywhere in `npgrad.train`:

- **multi-class**: logits of shape (N, C) with C >= 2; the prediction is the argmax.
- **binary**: one logit per sample, shape (N, 1) or (N,); the prediction is class 1
  when the logit is > 0 (probability ``sigmoid(logit) > 0.5``), else class 0.

Targets are integer class indices of shape (N,).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _array(x: Any) -> np.ndarray:
    return np.asarray(x.data if hasattr(x, "data") and not isinstance(x, np.ndarray) else x)


def is_binary(logits: Any) -> bool:
    """True when ``logits`` hold one logit per sample: shape (N,) or (N, 1)."""
    shape = np.shape(_array(logits))
    return len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)


def predictions(logits: Any) -> np.ndarray:
    """Predicted class indices, int64 (N,): argmax for (N, C), ``logit > 0`` for one logit."""
    logits = _array(logits)
    if is_binary(logits):
        return (logits.reshape(-1) > 0).astype(np.int64)
    if logits.ndim != 2:
        raise ValueError(f"predictions: logits must have shape (N, C) or (N,), got {logits.shape}")
    return logits.argmax(axis=1)


def probabilities(logits: Any) -> np.ndarray:
    """Class probabilities (N, C): softmax for (N, C); ``[1 - p, p]`` with p = sigmoid(logit) for one logit."""
    logits = _array(logits)
    if is_binary(logits):
        z = logits.reshape(-1)
        p = np.exp(-np.logaddexp(0, -z))  # sigmoid without overflow
        return np.stack([1 - p, p], axis=1)
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _targets(targets: Any, n: int, fn: str) -> np.ndarray:
    targets = _array(targets).reshape(-1)
    if targets.shape[0] != n:
        raise ValueError(f"{fn}: {n} predictions but {targets.shape[0]} targets")
    return targets.astype(np.int64, copy=False)


def correct_count(logits: Any, targets: Any) -> int:
    """How many samples are classified correctly (top-1)."""
    preds = predictions(logits)
    return int(np.count_nonzero(preds == _targets(targets, preds.shape[0], "accuracy")))


def accuracy(logits: Any, targets: Any) -> float:
    """Top-1 accuracy in [0, 1] of ``logits`` (N, C) or one logit per sample against ``targets`` (N,)."""
    n = predictions(logits).shape[0]
    return correct_count(logits, targets) / n if n else float("nan")


def topk_correct_count(logits: Any, targets: Any, k: int) -> int:
    """How many targets are among the ``k`` largest logits of their row. ``logits``: (N, C), k <= C.

    As with ``torch.topk``, exactly ``k`` classes of each row are the top k, also when logits tie
    (all-zero logits score k / C, not 1). PyTorch leaves the order of tied values unspecified; here
    the lower class index comes first, as in `predictions` (argmax), so top-1 equals `accuracy`.
    """
    logits = _array(logits)
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"topk_accuracy: needs multi-class logits (N, C) with C >= 2, got shape {logits.shape}")
    n, c = logits.shape
    if not 1 <= k <= c:
        raise ValueError(f"topk_accuracy: k must be in [1, {c}] for {c} classes, got {k}")
    targets = _targets(targets, n, "topk_accuracy")
    # The target's place in its row sorted by (logit descending, class index ascending): the logits
    # strictly greater than its own, and the equal ones of lower index (no sort needed).
    target_logit = np.take_along_axis(logits, targets[:, None], axis=1)  # (N, 1)
    before = np.arange(c) < targets[:, None]  # (N, C)
    rank = np.count_nonzero((logits > target_logit) | ((logits == target_logit) & before), axis=1)  # (N,)
    return int(np.count_nonzero(rank < k))


def topk_accuracy(logits: Any, targets: Any, k: int) -> float:
    """Fraction of samples whose target is among the ``k`` highest logits. ``logits``: (N, C)."""
    n = _array(logits).shape[0]
    return topk_correct_count(logits, targets, k) / n if n else float("nan")


def confusion_matrix(preds: Any, targets: Any, num_classes: int) -> np.ndarray:
    """Counts (num_classes, num_classes), int64: row = true class, column = predicted class."""
    preds = _array(preds).reshape(-1).astype(np.int64, copy=False)
    targets = _targets(targets, preds.shape[0], "confusion_matrix")
    for name, values in (("preds", preds), ("targets", targets)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"confusion_matrix: {name} must lie in [0, {num_classes}), got [{values.min()}, {values.max()}]")
    counts = np.bincount(targets * num_classes + preds, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Recall of each class (diagonal / row sum) from a confusion matrix; NaN for a class with no samples."""
    confusion = np.asarray(confusion)
    support = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(confusion) / np.maximum(support, 1), np.nan)


class RunningMetrics:
    """Sums over the batches of an epoch: mean loss, top-1 accuracy and (multi-class) top-k accuracy.

    ``update(loss, logits, targets)`` takes the batch's *mean* loss and weights it by the batch size,
    so ``result()`` is the mean over samples whatever the batch sizes. The sums are plain Python
    numbers, so a `state_dict` round trip reproduces them exactly.
    """

    def __init__(self, topk: int | None = 5):
        self.topk = topk
        self.loss_sum = 0.0
        self.correct = 0
        self.topk_correct = 0
        self.count = 0
        self.has_topk = False

    def update(self, loss: float, logits: Any, targets: Any) -> None:
        logits = _array(logits)
        n = logits.shape[0]
        self.loss_sum += float(loss) * n
        self.correct += correct_count(logits, targets)
        if self.topk and not is_binary(logits) and logits.shape[1] > self.topk:
            self.has_topk = True
            self.topk_correct += topk_correct_count(logits, targets, self.topk)
        self.count += n

    def result(self) -> dict[str, float]:
        """``{"loss", "acc"}`` and ``"top{k}"`` when there are more than k classes; NaN when empty."""
        n = self.count
        out = {"loss": self.loss_sum / n if n else float("nan"), "acc": self.correct / n if n else float("nan")}
        if self.has_topk:
            out[f"top{self.topk}"] = self.topk_correct / n
        return out

    def state_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("topk", "loss_sum", "correct", "topk_correct", "count", "has_topk")}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
