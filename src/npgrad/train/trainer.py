"""`Trainer`: the training loop, validation, checkpoints, history and curves of one run.

One epoch is: for each batch, forward, loss, backward, optimizer step (and the scheduler's
step when it is stepped per batch); then the scheduler's epoch step, validation (loss, top-1
accuracy, top-5 with more than five classes), one line of summary, ``history.csv`` /
``history.json`` / ``curves.png``, and the checkpoints ``last.safetensors`` (every epoch) and
``best.safetensors`` (when the monitored accuracy improves) in ``out_dir``.

Binary and multi-class classification are both handled, decided by the model's output:
one logit per sample (N, 1) is binary — targets become float (N, 1) for ``BCEWithLogitsLoss``
and the prediction is ``logit > 0`` — anything else is (N, C) logits for ``CrossEntropyLoss``.

Stopping:

- a loss that is NaN or infinite raises `NonFiniteLossError` naming the epoch and step, before
  the bad gradient touches the parameters; ``last.safetensors`` keeps the last good epoch;
- Ctrl-C (SIGINT) finishes the current step, saves ``last.safetensors`` *at that step* and
  returns: resuming from it continues mid-epoch exactly where it stopped. A second Ctrl-C
  aborts at once, leaving the previous checkpoint;
- ``early_stopping=N`` stops after N epochs without a better monitored accuracy.

Resume: ``Trainer.load_state_dict(load_checkpoint(path))`` then ``fit`` again with the same
loaders continues from the saved epoch and step; parameters and history are bit-identical to an
uninterrupted run, since the checkpoint holds the model, optimizer, scheduler, global RNG and
data-loader state and the data loader's shuffle is a function of its seed and the epoch.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

import npgrad
from npgrad.train import checkpoint as ckpt
from npgrad.train.history import History
from npgrad.train.metrics import RunningMetrics, is_binary

LAST = "last.safetensors"
BEST = "best.safetensors"
# Progress-bar text is refreshed at most this often (seconds): the loop must not pay for printing.
_PROGRESS_INTERVAL = 0.5


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; ``epoch`` and ``step`` count from 1."""

    def __init__(self, message: str, epoch: int, step: int, value: float):
        super().__init__(message)
        self.epoch, self.step, self.value = epoch, step, value


def _to_tensor(x: Any) -> npgrad.Tensor:
    return x if isinstance(x, npgrad.Tensor) else npgrad.Tensor(np.asarray(x))


def _targets(y: Any) -> np.ndarray:
    return np.asarray(y.data if isinstance(y, npgrad.Tensor) else y)


def _concat(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros((0,), np.float32)


def _split_batch(batch: Any) -> tuple[Any, Any]:
    if isinstance(batch, (tuple, list)):
        return batch[0], (batch[1] if len(batch) > 1 else None)
    return batch, None


class Trainer:
    """Train ``model`` with ``optimizer`` on classification data and keep the run's records.

    Args:
        model: an `npgrad.nn.Module` mapping (N, C, H, W) batches to logits (N, K), or (N, 1) for binary.
        optimizer: an `npgrad.optim` optimizer over the model's parameters.
        loss_fn: ``loss_fn(logits, targets) -> scalar Tensor``. None picks ``nn.CrossEntropyLoss()`` for
            multi-class and ``nn.BCEWithLogitsLoss()`` for one-logit outputs. Binary targets are passed as
            float (N, 1) arrays, multi-class targets as int64 (N,).
        scheduler: an `npgrad.optim.lr_scheduler` scheduler, or None.
        scheduler_interval: ``'epoch'`` (step it after each epoch, the PyTorch habit for StepLR, cosine...)
            or ``'step'`` (after each batch, for OneCycleLR and warm-ups counted in steps).
        metrics: extra metrics, ``{name: fn(logits ndarray, targets ndarray) -> float}``; each is averaged
            over samples (weighted by batch size) and recorded as ``train_<name>`` / ``val_<name>``.
        out_dir: the run folder for history, curves and checkpoints; None keeps everything in memory.
        config: a JSON-able dict stored in every checkpoint (the CLI puts what rebuilds the run there).
        early_stopping: stop after this many epochs without improvement of the monitored accuracy
            (validation accuracy, or training accuracy when there is no validation set); None: never.
        progress: show a tqdm bar on stderr; None shows it only when stderr is a terminal.
        log: where summary lines go (default ``print``); they are also appended to ``out_dir/train.log``.
        limit_batches: use only the first N batches of each epoch (smoke tests, quick looks).
        plot: write ``curves.png`` after each epoch.

    After `fit`: ``history`` (a `History`), ``epoch`` (epochs completed), ``best`` ((epoch, value) or None)
    and ``stop_reason`` (``'completed'``, ``'early_stopping'``, ``'interrupted'`` or ``'aborted'``).
    """

    def __init__(
        self,
        model: Any,
        optimizer: Any,
        loss_fn: Callable[[Any, Any], Any] | None = None,
        scheduler: Any = None,
        *,
        scheduler_interval: str = "epoch",
        metrics: Mapping[str, Callable[[np.ndarray, np.ndarray], float]] | None = None,
        out_dir: str | os.PathLike | None = None,
        config: dict[str, Any] | None = None,
        early_stopping: int | None = None,
        progress: bool | None = None,
        log: Callable[[str], None] | None = print,
        limit_batches: int | None = None,
        plot: bool = True,
    ):
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"Trainer: scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        if early_stopping is not None and early_stopping < 1:
            raise ValueError(f"Trainer: early_stopping must be a positive number of epochs, got {early_stopping}")
        if limit_batches is not None and limit_batches < 1:
            raise ValueError(f"Trainer: limit_batches must be positive, got {limit_batches}")
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        self.metrics = dict(metrics or {})
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.config = dict(config or {})
        self.early_stopping = early_stopping
        self.progress = sys.stderr.isatty() if progress is None else progress
        self._log_fn = log
        self.limit_batches = limit_batches
        self.plot = plot

        self.history = History()
        self.epoch = 0  # epochs completed
        self.best: tuple[int, float] | None = None
        self.bad_epochs = 0  # epochs since the monitored accuracy last improved
        self.stop_reason: str | None = None
        # Position inside an epoch interrupted by Ctrl-C: steps done, their metric sums and time.
        self._step = 0
        self._running = RunningMetrics()
        self._extra_sums: dict[str, float] = {}
        self._epoch_time = 0.0
        self._train_time = 0.0
        self._train_loader: Any = None
        self._loader_state: Any = None  # a loaded checkpoint's data-loader state, applied by the next fit
        self._stop_requested = False

    @property
    def steps_done(self) -> int:
        """Batches already done in the epoch in progress (non-zero only after a Ctrl-C stop or its resume)."""
        return self._step

    # ------------------------------------------------------------------ logging
    def log(self, line: str) -> None:
        """Show ``line`` (through ``log``) and append it to ``out_dir/train.log``."""
        if self._log_fn is not None:
            self._log_fn(line)
        self._append_log(line)

    def _append_log(self, line: str) -> None:
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with open(self.out_dir / "train.log", "a") as f:
                f.write(line.strip("\n") + "\n")

    # -------------------------------------------------------------------- loss
    def _loss(self, logits: npgrad.Tensor, y: np.ndarray) -> npgrad.Tensor:
        binary = is_binary(logits.data)
        if self.loss_fn is None:
            from npgrad import nn

            self.loss_fn = nn.BCEWithLogitsLoss() if binary else nn.CrossEntropyLoss()
        if binary:
            return self.loss_fn(logits, y.reshape(logits.shape).astype(logits.dtype))
        return self.loss_fn(logits, y)

    def _update_extra(self, sums: dict[str, float], logits: np.ndarray, y: np.ndarray) -> None:
        for name, fn in self.metrics.items():
            sums[name] = sums.get(name, 0.0) + float(fn(logits, y)) * len(y)

    # ------------------------------------------------------------------- train
    def fit(self, train_loader: Iterable, val_loader: Iterable | None = None, epochs: int = 1) -> History:
        """Train until ``epochs`` epochs are completed (counting epochs already done before a resume).

        Returns the `History`. Raises `NonFiniteLossError` when the loss diverges.
        """
        self.stop_reason = None
        self._stop_requested = False
        self._train_loader = train_loader
        if self._loader_state is not None and hasattr(train_loader, "load_state_dict"):
            train_loader.load_state_dict(self._loader_state)  # e.g. a seed drawn at random in the first run
        self._loader_state = None
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        try:
            # Overflow and invalid-value warnings would only precede the clear NonFiniteLossError.
            with self._sigint_handler(), np.errstate(over="ignore", invalid="ignore"):
                while self.epoch < epochs:
                    if not self._train_epoch(train_loader, epochs):
                        self.stop_reason = "interrupted"
                        return self.history
                    self._end_epoch(val_loader, epochs)
                    if self.stop_reason == "early_stopping":
                        return self.history
                    if self._stop_requested:
                        self.stop_reason = "interrupted"
                        self.log(f"interrupted after epoch {self.epoch}: {self._checkpoint_note()}")
                        return self.history
        except KeyboardInterrupt:
            self.stop_reason = "aborted"
            self.log(f"aborted during epoch {self.epoch + 1}: {self._checkpoint_note()}")
            return self.history
        self.stop_reason = "completed"
        return self.history

    def _checkpoint_note(self) -> str:
        if self.out_dir is None:
            return "no checkpoint (no out_dir)"
        if not (self.out_dir / LAST).exists():
            return "no checkpoint was written yet"
        return f"resume from {self.out_dir / LAST}"

    @contextlib.contextmanager
    def _sigint_handler(self) -> Iterator[None]:
        """While training, the first Ctrl-C asks for a clean stop after the current step; the second aborts."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be installed from the main thread
            return

        def request_stop(signum: int, frame: Any) -> None:
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested = True
            print("\nCtrl-C: stopping after this step and saving a checkpoint (Ctrl-C again to abort)", file=sys.stderr)

        previous = signal.signal(signal.SIGINT, request_stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _batches(self, loader: Iterable, epoch: int) -> tuple[Iterator, int | None]:
        """The epoch's batches after the ``self._step`` already done, and how many batches the epoch has."""
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        try:
            total = len(loader)  # type: ignore[arg-type]
        except TypeError:
            total = None
        if self.limit_batches is not None:
            total = self.limit_batches if total is None else min(total, self.limit_batches)
        # Batches done before an interruption are drawn again and dropped, so that the loader's
        # shuffling and augmentation randomness are in the same state as in an uninterrupted run.
        return itertools.islice(iter(loader), self._step, total), total

    def _train_epoch(self, loader: Iterable, epochs: int) -> bool:
        """Run (the rest of) one training epoch. False when stopped by Ctrl-C (checkpoint saved)."""
        from tqdm.auto import tqdm

        epoch = self.epoch  # 0-based index of the epoch in progress
        self.model.train()
        if self._step == 0:
            self._running = RunningMetrics()
            self._extra_sums = {}
            self._epoch_time = self._train_time = 0.0
            self._epoch_lr = self._lr()
        batches, total = self._batches(loader, epoch)
        bar = tqdm(
            total=total, initial=self._step, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", leave=False,
            disable=not self.progress, mininterval=_PROGRESS_INTERVAL, dynamic_ncols=True, file=sys.stderr,
        )
        start = time.perf_counter()
        time_before = self._train_time
        last_postfix = start
        try:
            for x, y in map(_split_batch, batches):
                y = _targets(y)
                logits = self.model(_to_tensor(x))
                loss = self._loss(logits, y)
                value = loss.item()
                if not math.isfinite(value):
                    self._diverged(value, epoch, bar)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                if self.scheduler is not None and self.scheduler_interval == "step":
                    self.scheduler.step()
                self._running.update(value, logits.data, y)
                if self.metrics:
                    self._update_extra(self._extra_sums, logits.data, y)
                self._step += 1
                bar.update()
                now = time.perf_counter()
                if self.progress and now - last_postfix >= _PROGRESS_INTERVAL:
                    last_postfix = now
                    result = self._running.result()
                    speed = self._running.count / max(time_before + now - start, 1e-9)
                    bar.set_postfix_str(f"loss {result['loss']:.4f} acc {result['acc']:.4f} {speed:.0f} img/s", refresh=False)
                if self._stop_requested:
                    self._train_time = time_before + time.perf_counter() - start
                    self._epoch_time += time.perf_counter() - start
                    self._save(LAST)
                    bar.close()
                    self.log(f"interrupted at epoch {epoch + 1}, step {self._step}: {self._checkpoint_note()}")
                    return False
        finally:
            bar.close()
        self._train_time = time_before + time.perf_counter() - start
        self._epoch_time += time.perf_counter() - start
        return True

    def _diverged(self, value: float, epoch: int, bar: Any) -> None:
        bar.close()
        lr = self._lr()
        if self.out_dir is not None and (self.out_dir / LAST).exists():
            kept = f"the last good checkpoint is {self.out_dir / LAST} (epoch {self.epoch})"
        else:
            kept = "no checkpoint was written (it happened in the first epoch)"
        message = (
            f"the loss became {value} at epoch {epoch + 1}, step {self._step + 1} (lr {lr:.3g}): training diverged, "
            f"try a smaller learning rate; {kept}"
        )
        self._append_log(message)
        raise NonFiniteLossError(message, epoch + 1, self._step + 1, value)

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _end_epoch(self, val_loader: Iterable | None, epochs: int) -> None:
        train = self._running.result()
        record: dict[str, Any] = {"epoch": self.epoch + 1, "lr": self._epoch_lr}
        record.update({f"train_{k}": v for k, v in train.items()})
        record.update({f"train_{k}": s / self._running.count for k, s in self._extra_sums.items()})
        start = time.perf_counter()
        if val_loader is not None:
            record.update({f"val_{k}": v for k, v in self.evaluate(val_loader).items()})
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            self.scheduler.step()
        self._epoch_time += time.perf_counter() - start
        record["time_s"] = self._epoch_time
        record["img_per_s"] = self._running.count / max(self._train_time, 1e-9)
        self.history.append(record)

        monitor = "val_acc" if "val_acc" in record else "train_acc"
        value = record[monitor]
        improved = math.isfinite(value) and (self.best is None or value > self.best[1])
        if improved:
            self.best = (self.epoch + 1, value)
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        self.epoch += 1
        self._step = 0
        if self.early_stopping is not None and self.bad_epochs >= self.early_stopping:
            self.stop_reason = "early_stopping"
        if self.out_dir is not None:
            self._save(LAST)
            if improved:
                self._copy(LAST, BEST)
            self.history.write(self.out_dir, plot=self.plot)
        self.log(self._summary(record, epochs))
        if self.stop_reason == "early_stopping":
            self.log(
                f"early stopping: {monitor} has not improved for {self.bad_epochs} epochs "
                f"(best {self.best[1]:.4f} at epoch {self.best[0]})"
            )

    @staticmethod
    def _summary(r: dict[str, Any], epochs: int) -> str:
        width = len(str(epochs))
        parts = [f"epoch {r['epoch']:>{width}}/{epochs}"]
        for split in ("train", "val"):
            if f"{split}_loss" not in r:
                continue
            text = f"{split} loss {r[f'{split}_loss']:.4f} acc {r[f'{split}_acc']:.4f}"
            if split == "val" and "val_top5" in r:
                text += f" top5 {r['val_top5']:.4f}"
            extra = [k for k in r if k.startswith(f"{split}_") and k[len(split) + 1:] not in ("loss", "acc", "top5")]
            text += "".join(f" {k[len(split) + 1:]} {r[k]:.4f}" for k in extra)
            parts.append(text)
        parts.append(f"lr {r['lr']:.3g}")
        parts.append(f"{r['time_s']:.1f} s ({r['img_per_s']:.0f} img/s)")
        return "  ".join(parts)

    # -------------------------------------------------------------- evaluate
    def evaluate(self, loader: Iterable, return_outputs: bool = False) -> Any:
        """Mean loss, top-1 accuracy (``acc``), ``top5`` with more than five classes, and the extra metrics.

        Runs in eval mode without recording gradients; the model's previous mode is restored. With
        ``return_outputs`` returns ``(metrics, logits (N, K), targets (N,))``.
        """
        from tqdm.auto import tqdm

        running = RunningMetrics()
        sums: dict[str, float] = {}
        outputs: list[np.ndarray] = []
        targets: list[np.ndarray] = []
        with self._eval_mode(), npgrad.no_grad():
            for batch in tqdm(loader, desc="evaluating", unit="batch", leave=False, disable=not self.progress,
                              mininterval=_PROGRESS_INTERVAL, dynamic_ncols=True, file=sys.stderr):
                x, y = _split_batch(batch)
                y = _targets(y)
                logits = self.model(_to_tensor(x))
                running.update(self._loss(logits, y).item(), logits.data, y)
                if self.metrics:
                    self._update_extra(sums, logits.data, y)
                if return_outputs:
                    outputs.append(logits.data)
                    targets.append(y)
        out = running.result()
        out.update({k: s / running.count for k, s in sums.items()})
        if return_outputs:
            return out, _concat(outputs), _concat(targets)
        return out

    def predict(self, loader: Iterable) -> np.ndarray:
        """The model's logits for every sample of ``loader`` (batches ``x`` or ``(x, y)``), concatenated: (N, K)."""
        outputs = []
        with self._eval_mode(), npgrad.no_grad():
            for batch in loader:
                x, _ = _split_batch(batch)
                outputs.append(self.model(_to_tensor(x)).data)
        return _concat(outputs)

    @contextlib.contextmanager
    def _eval_mode(self) -> Iterator[None]:
        was_training = getattr(self.model, "training", True)
        self.model.eval()
        try:
            yield
        finally:
            self.model.train(was_training)

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly: see `npgrad.train.checkpoint`."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "epoch": self.epoch,
            "step": self._step,
            "running": self._running.state_dict() if self._step else None,
            "extra_sums": dict(self._extra_sums) if self._step else None,
            "epoch_lr": getattr(self, "_epoch_lr", None) if self._step else None,
            "epoch_time": self._epoch_time if self._step else 0.0,
            "train_time": self._train_time if self._step else 0.0,
            "history": self.history.records,
            "best": list(self.best) if self.best is not None else None,
            "bad_epochs": self.bad_epochs,
            "rng": npgrad.get_rng_state(),
            "loader": self._train_loader.state_dict() if hasattr(self._train_loader, "state_dict") else None,
            "config": self.config,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a `state_dict` (e.g. a loaded checkpoint), so that `fit` continues where it stopped."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = int(state["epoch"])
        self._step = int(state.get("step") or 0)
        if self._step:
            self._running = RunningMetrics()
            self._running.load_state_dict(state["running"])
            self._extra_sums = dict(state.get("extra_sums") or {})
            self._epoch_lr = state["epoch_lr"]
            self._epoch_time = float(state["epoch_time"])
            self._train_time = float(state["train_time"])
        self.history = History(state.get("history") or [])
        best = state.get("best")
        self.best = (int(best[0]), float(best[1])) if best is not None else None
        self.bad_epochs = int(state.get("bad_epochs") or 0)
        npgrad.set_rng_state(state["rng"])
        self._loader_state = state.get("loader")

    def _save(self, name: str) -> None:
        ckpt.save_checkpoint(self.state_dict(), self.out_dir / name)

    def _copy(self, source: str, target: str) -> None:
        tmp = self.out_dir / f".{target}.tmp"
        shutil.copyfile(self.out_dir / source, tmp)
        os.replace(tmp, self.out_dir / target)
