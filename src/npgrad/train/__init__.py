"""Training as a library: the `Trainer`, the loop functions, callbacks, metrics, history, curves, checkpoints.

    trainer = Trainer(model, optimizer, scheduler=scheduler, out_dir="runs/exp1", callbacks=[MyCallback()])
    trainer.fit(train_loader, val_loader, epochs=5)
    evaluate(model, test_loader)        # {'loss': ..., 'acc': ..., 'top5': ...}

What lives here, and what may import what (top to bottom; nothing here imports `npgrad.cli`):

- ``metrics.py``: accuracy, top-k, confusion matrix, `RunningMetrics` (NumPy only).
- ``history.py``, ``plots.py``: the per-epoch records and their CSV/JSON files; the curves and
  confusion-matrix PNGs (matplotlib, imported on first use). ``plots`` reads a ``History``; only
  ``History.write(plot=True)`` imports ``plots``, lazily (the callbacks write and plot separately).
- ``checkpoint.py``: what a checkpoint holds; `save_checkpoint`/`load_checkpoint` (via `npgrad.serialization`).
- ``loop.py``: `train_step`, `evaluate`, `predict` as plain functions, the `Criterion` (loss chosen once from
  the model's ``num_outputs``) and the mid-epoch `EpochState`. Imports ``metrics``.
- ``callbacks.py``: `Callback` and the built-in ones (progress bar, timing, checkpoints, history, curves,
  early stopping). Imports ``loop``, ``checkpoint``, ``plots``.
- ``trainer.py``: `Trainer`, which runs ``loop`` and calls the callbacks. Imports all of the above.

Below: `npgrad.nn`, `npgrad.optim`, `npgrad.data` objects are passed in; errors a user can cause
raise the `npgrad.errors` family. `npgrad.cli` builds all of this from a run config.
"""

from npgrad.train.callbacks import Callback, Checkpointer, CurvePlotter, EarlyStopping, HistoryWriter, ProgressBar, Timer
from npgrad.train.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint
from npgrad.train.history import History
from npgrad.train.loop import Criterion, EpochState, evaluate, predict, train_step
from npgrad.train.metrics import (
    RunningMetrics,
    accuracy,
    confusion_matrix,
    per_class_accuracy,
    predictions,
    probabilities,
    topk_accuracy,
)
from npgrad.train.trainer import NonFiniteLossError, Trainer

__all__ = [
    "Callback", "Checkpointer", "Criterion", "CurvePlotter", "EarlyStopping", "EpochState", "History", "HistoryWriter",
    "NonFiniteLossError", "ProgressBar", "RunningMetrics", "Timer", "Trainer", "accuracy", "confusion_matrix", "evaluate",
    "load_checkpoint", "per_class_accuracy", "predict", "predictions", "probabilities", "resolve_checkpoint",
    "save_checkpoint", "topk_accuracy", "train_step",
]
