"""The training step, evaluation and prediction as plain functions, and the mid-epoch state.

`Trainer` runs these; ``npgrad eval``/``predict`` call `evaluate` and `predict` directly, so
nothing needs an optimizer to look at a model. A batch is ``(x, y)`` (or ``x`` alone for
`predict`); ``x`` a Tensor or an array (N, C, H, W), ``y`` int class indices (N,).

Binary and multi-class classification are told apart once, by the model's ``num_outputs``
(`npgrad.models` sets it): one output is binary — ``BCEWithLogitsLoss`` on float (N, 1) targets,
prediction ``logit > 0``; more outputs are (N, K) logits for ``CrossEntropyLoss``.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import npgrad
from npgrad import distributed as dist
from npgrad.train.metrics import RunningMetrics, is_binary

# Progress-bar text is refreshed at most this often (seconds): the loop must not pay for printing.
PROGRESS_INTERVAL = 0.5

Metrics = Mapping[str, Callable[[np.ndarray, np.ndarray], float]]


def default_loss(num_outputs: int) -> Any:
    """``BCEWithLogitsLoss()`` for one output (binary), ``CrossEntropyLoss()`` otherwise."""
    from npgrad import nn

    return nn.BCEWithLogitsLoss() if num_outputs == 1 else nn.CrossEntropyLoss()


class Criterion:
    """``loss_fn(logits, targets)`` with the targets in the form the task needs, decided once.

    Binary (one output): float (N, 1) targets like the logits; multi-class: int (N,). ``binary``
    None is decided by the first logits seen, and a ``loss_fn`` of None then by `default_loss`.
    """

    def __init__(self, loss_fn: Callable[[Any, Any], Any] | None = None, binary: bool | None = None):
        self.binary = binary
        self.loss_fn = default_loss(1 if binary else 2) if loss_fn is None and binary is not None else loss_fn

    @classmethod
    def for_model(cls, model: Any, loss_fn: Callable[[Any, Any], Any] | None = None) -> Criterion:
        """The criterion of ``model``'s ``num_outputs`` (when it has the attribute)."""
        num_outputs = getattr(model, "num_outputs", None)
        return cls(loss_fn, None if num_outputs is None else num_outputs == 1)

    def __call__(self, logits: npgrad.Tensor, y: np.ndarray) -> npgrad.Tensor:
        if self.binary is None:
            self.binary = is_binary(logits.data)
        if self.loss_fn is None:
            self.loss_fn = default_loss(1 if self.binary else 2)
        if self.binary:
            return self.loss_fn(logits, y.reshape(logits.shape).astype(logits.dtype))
        return self.loss_fn(logits, y)


def split_batch(batch: Any) -> tuple[npgrad.Tensor, np.ndarray | None]:
    """``(x as a Tensor, y as an array or None)`` of a batch ``(x, y)``, ``(x,)`` or ``x``."""
    x, y = (batch[0], batch[1] if len(batch) > 1 else None) if isinstance(batch, (tuple, list)) else (batch, None)
    x = x if isinstance(x, npgrad.Tensor) else npgrad.Tensor(np.asarray(x))
    return x, None if y is None else np.asarray(y.data if isinstance(y, npgrad.Tensor) else y)


def _concat(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros((0,), np.float32)


@contextlib.contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """Eval mode without gradient recording; the model's previous mode is restored."""
    was_training = getattr(model, "training", True)
    model.eval()
    try:
        with npgrad.no_grad():
            yield
    finally:
        model.train(was_training)


def _progress(loader: Iterable, progress: bool, desc: str) -> Iterable:
    from tqdm.auto import tqdm

    return tqdm(loader, desc=desc, unit="batch", leave=False, disable=not progress, mininterval=PROGRESS_INTERVAL,
                dynamic_ncols=True, file=sys.stderr)


def metric_sums(metrics: Metrics, sums: dict[str, float], logits: np.ndarray, y: np.ndarray) -> None:
    """Add each extra metric of a batch, weighted by its size, to ``sums``."""
    for name, fn in metrics.items():
        sums[name] = sums.get(name, 0.0) + float(fn(logits, y)) * len(y)


@dataclass
class StepResult:
    loss: float  # NaN or infinite: the step was not taken (no backward, no update)
    logits: np.ndarray


def world_size() -> int:
    """The number of `npgrad.distributed` processes (1 when it is not initialised)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def any_rank(flag: bool) -> bool:
    """True when ``flag`` is True on any process (one tiny allreduce when there are several)."""
    if world_size() == 1:
        return flag
    value = np.array([float(flag)])
    dist.all_reduce(value, op="max")
    return bool(value[0])


def train_step(model: Any, optimizer: Any, criterion: Callable[[Any, Any], Any], x: npgrad.Tensor, y: np.ndarray) -> StepResult:
    """Forward, ``criterion(logits, y)``, backward, optimizer step on one batch.

    A non-finite loss returns before the backward, leaving parameters and optimizer state untouched.
    Under `npgrad.distributed` every process skips the step (and reports NaN) when any one's loss
    is not finite, so that none waits alone for the others' gradients.
    """
    logits = model(x)
    loss = criterion(logits, y)
    value = loss.item()
    if any_rank(not np.isfinite(value)):
        value = value if not np.isfinite(value) else float("nan")
    if np.isfinite(value):
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return StepResult(value, logits.data)


def evaluate(model: Any, loader: Iterable, criterion: Callable[[Any, Any], Any] | None = None, metrics: Metrics | None = None,
             progress: bool = False, return_outputs: bool = False, limit_batches: int | None = None) -> Any:
    """Mean loss, top-1 accuracy (``acc``), ``top5`` with more than five classes, and the extra ``metrics``.

    ``criterion`` defaults to `Criterion.for_model`. Runs in eval mode without recording gradients.
    With ``return_outputs`` returns ``(metrics, logits (N, K), targets (N,))``. ``limit_batches``
    evaluates only the first N batches.
    """
    if limit_batches is not None:
        loader = itertools.islice(loader, limit_batches)
    criterion = Criterion.for_model(model) if criterion is None else criterion
    running = RunningMetrics()
    sums: dict[str, float] = {}
    outputs: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    with eval_mode(model):
        for batch in _progress(loader, progress, "evaluating"):
            x, y = split_batch(batch)
            logits = model(x)
            running.update(criterion(logits, y).item(), logits.data, y)
            metric_sums(metrics or {}, sums, logits.data, y)
            if return_outputs:
                outputs.append(logits.data)
                targets.append(y)
    result = running.result()
    result.update({k: s / running.count for k, s in sums.items()})
    if return_outputs:
        return result, _concat(outputs), _concat(targets)
    return result


def predict(model: Any, loader: Iterable, progress: bool = False) -> np.ndarray:
    """The model's outputs for every sample of ``loader`` (batches ``x`` or ``(x, y)``), concatenated: (N, K)."""
    with eval_mode(model):
        return _concat([model(split_batch(batch)[0]).data for batch in _progress(loader, progress, "predicting")])


@dataclass
class EpochState:
    """Where the epoch in progress stands: what a checkpoint saved mid-epoch (Ctrl-C) must keep.

    ``step`` batches are done; their loss/accuracy sums (``running``), extra-metric sums, the
    epoch's learning rate and the time spent so far (all of it, and in training steps only).
    """

    step: int = 0
    running: RunningMetrics = field(default_factory=RunningMetrics)
    extra_sums: dict[str, float] = field(default_factory=dict)
    lr: float | None = None
    epoch_time: float = 0.0
    train_time: float = 0.0

    def update(self, result: StepResult, y: np.ndarray, metrics: Metrics) -> None:
        """Count one finished training step."""
        self.running.update(result.loss, result.logits, y)
        metric_sums(metrics, self.extra_sums, result.logits, y)
        self.step += 1

    def train_record(self) -> dict[str, float]:
        """``train_loss``, ``train_acc`` (``train_top5``) and ``train_<metric>`` of the epoch so far."""
        record = {f"train_{k}": v for k, v in self.running.result().items()}
        record.update({f"train_{k}": s / self.running.count for k, s in self.extra_sums.items()})
        return record

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint entries (format 1 names); only ``step`` and the times when no step is done."""
        mid = self.step > 0
        return {
            "step": self.step,
            "running": self.running.state_dict() if mid else None,
            "extra_sums": dict(self.extra_sums) if mid else None,
            "epoch_lr": self.lr if mid else None,
            "epoch_time": self.epoch_time if mid else 0.0,
            "train_time": self.train_time if mid else 0.0,
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> EpochState:
        """The state saved by `state_dict` (a fresh one when the checkpoint was written between epochs)."""
        step = int(state.get("step") or 0)
        if not step:
            return cls()
        running = RunningMetrics()
        running.load_state_dict(state["running"])
        return cls(step, running, dict(state.get("extra_sums") or {}), state["epoch_lr"], float(state["epoch_time"]),
                   float(state["train_time"]))
