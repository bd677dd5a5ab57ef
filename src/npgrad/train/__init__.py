"""Training: the `Trainer` loop, classification metrics, run history and curves, checkpoints.

    trainer = Trainer(model, optimizer, scheduler=scheduler, out_dir="runs/exp1")
    trainer.fit(train_loader, val_loader, epochs=5)
    trainer.evaluate(test_loader)       # {'loss': ..., 'acc': ..., 'top5': ...}

`npgrad.train.config` builds all of it from a config dict (what the ``npgrad`` command does).
"""

from npgrad.train.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint
from npgrad.train.errors import UsageError
from npgrad.train.history import History
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
    "History", "NonFiniteLossError", "RunningMetrics", "Trainer", "UsageError", "accuracy", "confusion_matrix",
    "load_checkpoint", "per_class_accuracy", "predictions", "probabilities", "resolve_checkpoint", "save_checkpoint",
    "topk_accuracy",
]
