"""Callbacks: the pluggable pieces of a `Trainer` run (progress bar, timing, checkpoints, history, early stopping).

A callback is an object with any of these methods; each receives the trainer (read
``trainer.epoch``, ``trainer.epoch_state``, ``trainer.history``, ``trainer.best``...):

================================  ==========================================================
``on_fit_start(trainer)``         `Trainer.fit` begins (also when resuming)
``on_epoch_start(trainer)``       (the rest of) an epoch's training steps begin
``on_batch_end(trainer, loss)``   one training step is done
``on_train_epoch_end(trainer)``   the epoch's training steps are done or stopped, before validation
``on_record(trainer, record)``    the epoch's record is complete but not yet in the history: add entries
``on_epoch_end(trainer, record)`` the epoch is committed (history, ``trainer.epoch``, ``best``)
``on_interrupt(trainer)``         Ctrl-C stopped the run mid-epoch; the trainer is about to return
``on_fit_end(trainer)``           `Trainer.fit` returns (any reason)
================================  ==========================================================

Subclass `Callback` (its methods do nothing) or write any object with the methods you need, and
pass it in ``Trainer(callbacks=[...])``. A callback stops training with ``trainer.stop(reason)``.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from npgrad.train import checkpoint as ckpt
from npgrad.train.loop import PROGRESS_INTERVAL, world_size

LAST = "last.safetensors"
BEST = "best.safetensors"


class Callback:
    """The base of callbacks: every hook does nothing."""

    def on_fit_start(self, trainer: Any) -> None: ...
    def on_epoch_start(self, trainer: Any) -> None: ...
    def on_batch_end(self, trainer: Any, loss: float) -> None: ...
    def on_train_epoch_end(self, trainer: Any) -> None: ...
    def on_record(self, trainer: Any, record: dict[str, Any]) -> None: ...
    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None: ...
    def on_interrupt(self, trainer: Any) -> None: ...
    def on_fit_end(self, trainer: Any) -> None: ...


class Timer(Callback):
    """Adds ``time_s`` (the epoch's wall time, validation included) and ``img_per_s`` (training throughput,
    of all the processes together under `npgrad.distributed`).

    The times accumulate in ``trainer.epoch_state`` so that an epoch interrupted and resumed is timed whole.
    """

    def __init__(self) -> None:
        self._start = 0.0

    def on_epoch_start(self, trainer: Any) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: Any) -> None:
        now = time.perf_counter()
        trainer.epoch_state.train_time += now - self._start
        trainer.epoch_state.epoch_time += now - self._start
        self._start = now

    def on_record(self, trainer: Any, record: dict[str, Any]) -> None:
        state = trainer.epoch_state
        state.epoch_time += time.perf_counter() - self._start
        record["time_s"] = state.epoch_time
        record["img_per_s"] = state.running.count * world_size() / max(state.train_time, 1e-9)


class ProgressBar(Callback):
    """A tqdm bar on stderr per epoch, with the running loss, accuracy and images per second."""

    def __init__(self) -> None:
        self._bar: Any = None

    def on_epoch_start(self, trainer: Any) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=trainer.steps_in_epoch, initial=trainer.epoch_state.step,
                         desc=f"epoch {trainer.epoch + 1}/{trainer.epochs}", unit="batch", leave=False,
                         mininterval=PROGRESS_INTERVAL, dynamic_ncols=True, file=sys.stderr)
        self._start = self._last = time.perf_counter()
        self._count = trainer.epoch_state.running.count

    def on_batch_end(self, trainer: Any, loss: float) -> None:
        self._bar.update()
        now = time.perf_counter()
        if now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            running = trainer.epoch_state.running
            result = running.result()
            speed = (running.count - self._count) / max(now - self._start, 1e-9)
            self._bar.set_postfix_str(f"loss {result['loss']:.4f} acc {result['acc']:.4f} {speed:.0f} img/s", refresh=False)

    def on_train_epoch_end(self, trainer: Any) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    on_fit_end = on_train_epoch_end


class Checkpointer(Callback):
    """Writes ``last.safetensors`` after every epoch and at a Ctrl-C stop, and copies it to
    ``best.safetensors`` when the monitored accuracy improved (both atomically)."""

    def __init__(self, out_dir: str | os.PathLike):
        self.out_dir = Path(out_dir)

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        self._save(trainer)
        if trainer.improved:
            tmp = self.out_dir / f".{BEST}.tmp"
            shutil.copyfile(self.out_dir / LAST, tmp)
            os.replace(tmp, self.out_dir / BEST)

    def on_interrupt(self, trainer: Any) -> None:
        self._save(trainer)

    def _save(self, trainer: Any) -> None:
        ckpt.save_checkpoint(trainer.state_dict(), self.out_dir / LAST)


class HistoryWriter(Callback):
    """Writes ``history.csv`` and ``history.json`` into ``out_dir`` after every epoch."""

    def __init__(self, out_dir: str | os.PathLike):
        self.out_dir = Path(out_dir)

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        trainer.history.write(self.out_dir, plot=False)


class CurvePlotter(Callback):
    """Draws the loss and accuracy curves to ``out_dir/curves.png`` after every epoch."""

    def __init__(self, out_dir: str | os.PathLike):
        self.path = Path(out_dir) / "curves.png"

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        from npgrad.train.plots import plot_curves

        plot_curves(trainer.history, self.path)


class EarlyStopping(Callback):
    """Stops after ``patience`` epochs without a better monitored accuracy (see `Trainer.best`)."""

    def __init__(self, patience: int):
        if patience < 1:
            raise ValueError(f"EarlyStopping: patience must be a positive number of epochs, got {patience}")
        self.patience = patience

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        if trainer.bad_epochs >= self.patience:
            trainer.stop("early_stopping")
            trainer.log(f"early stopping: {trainer.monitor} has not improved for {trainer.bad_epochs} epochs "
                        f"(best {trainer.best[1]:.4f} at epoch {trainer.best[0]})")


class SlowEpochWarning(Callback):
    """Warns once, early in the first epoch it sees, when that epoch is estimated to take over ``limit_s`` seconds.

    The estimate is the mean time of the steps after the first (which pays one-off costs: allocation,
    lazy layers) times the epoch's number of steps; it is made after ``after_steps`` of them, or
    after 30 seconds. ``hint`` is appended to the warning (what to do about it).
    """

    def __init__(self, limit_s: float = 600.0, after_steps: int = 3, hint: str = "") -> None:
        self.limit_s, self.after_steps, self.hint = limit_s, after_steps, hint
        self._start: float | None = None
        self._steps = 0
        self._done = False

    def on_batch_end(self, trainer: Any, loss: float) -> None:
        if self._done:
            return
        now = time.perf_counter()
        if self._start is None:
            self._start = now
            return
        self._steps += 1
        elapsed = now - self._start
        if self._steps < self.after_steps and elapsed < 30:
            return
        self._done = True
        total = trainer.steps_in_epoch
        estimate = elapsed / self._steps * total if total else 0.0
        if estimate > self.limit_s:
            import warnings

            warnings.warn(f"one epoch ({total} steps at {elapsed / self._steps:.2f} s each) is estimated to take "
                          f"{estimate / 60:.0f} minutes{'; ' + self.hint if self.hint else ''}", stacklevel=2)

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        self._done = True  # the first epoch was fast enough, or the warning has been given
