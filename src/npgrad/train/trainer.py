"""`Trainer`: runs `loop.train_step` over epochs, validates, keeps the history, and calls its callbacks.

One epoch is: for each batch, `loop.train_step` (and the scheduler's step when it is stepped per
batch); then the scheduler's epoch step, validation (`loop.evaluate`: loss, top-1 accuracy,
top-5 with more than five classes), the epoch's record in the `History`, and one summary line.
Everything else is a callback (`npgrad.train.callbacks`): the progress bar, the timing columns,
``last.safetensors``/``best.safetensors``, ``history.csv``/``.json``, ``curves.png`` and early
stopping are the defaults the constructor's arguments switch on; ``callbacks=[...]`` adds yours.

Stopping:

- a loss that is NaN or infinite raises `NonFiniteLossError` naming the epoch and step, before
  the bad gradient touches the parameters; ``last.safetensors`` keeps the last good epoch;
- Ctrl-C (SIGINT) finishes the current step, saves ``last.safetensors`` *at that step* and
  returns: resuming from it continues mid-epoch exactly where it stopped. A second Ctrl-C
  aborts at once, leaving the previous checkpoint;
- ``early_stopping=N`` stops after N epochs without a better monitored accuracy;
- a callback calls ``trainer.stop(reason)``.

Resume: ``Trainer.load_state_dict(load_checkpoint(path))`` then ``fit`` again with the same
loaders continues from the saved epoch and step; parameters and history are bit-identical to an
uninterrupted run, since the checkpoint holds the model, optimizer, scheduler, global RNG,
data-loader state and the mid-epoch `EpochState`, and the data loader's shuffle is a function of
its seed and the epoch.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import npgrad
from npgrad import distributed as dist
from npgrad.errors import CheckpointError, WriteError
from npgrad.nn.parallel import DistributedDataParallel
from npgrad.train import loop
from npgrad.train.callbacks import LAST, Checkpointer, CurvePlotter, EarlyStopping, HistoryWriter, ProgressBar, Timer
from npgrad.train.history import History
from npgrad.train.loop import EpochState


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; ``epoch`` and ``step`` count from 1."""

    def __init__(self, message: str, epoch: int, step: int, value: float):
        super().__init__(message)
        self.epoch, self.step, self.value = epoch, step, value


class Trainer:
    """Train ``model`` with ``optimizer`` on classification data and keep the run's records.

    Args:
        model: an `npgrad.nn.Module` mapping (N, C, H, W) batches to logits (N, K), or (N, 1) for binary.
        optimizer: an `npgrad.optim` optimizer over the model's parameters.
        loss_fn: ``loss_fn(logits, targets) -> scalar Tensor``. None picks it once from the model's
            ``num_outputs`` (`loop.default_loss`; without the attribute, from the first batch's logits).
            Binary targets are passed as float (N, 1) arrays, multi-class targets as int64 (N,).
        scheduler: an `npgrad.optim.lr_scheduler` scheduler, or None.
        scheduler_interval: ``'epoch'`` (step it after each epoch, the PyTorch habit for StepLR, cosine...)
            or ``'step'`` (after each batch, for OneCycleLR and warm-ups counted in steps).
        metrics: extra metrics, ``{name: fn(logits ndarray, targets ndarray) -> float}``; each is averaged
            over samples (weighted by batch size) and recorded as ``train_<name>`` / ``val_<name>``.
        out_dir: the run folder: checkpoints, history files, curves and ``train.log``; None keeps everything
            in memory.
        config: a JSON-able dict stored in every checkpoint (the CLI puts what rebuilds the run there).
        early_stopping: stop after this many epochs without improvement of the monitored accuracy
            (validation accuracy, or training accuracy when there is no validation set); None: never.
        progress: show a tqdm bar on stderr; None shows it only when stderr is a terminal.
        log: where summary lines go (default ``print``); they are also appended to ``out_dir/train.log``.
        limit_batches: use only the first N training batches of each epoch (smoke tests, quick looks).
        limit_val_batches: validate on only the first N batches (Lightning's name); None: all of them.
        plot: write ``curves.png`` after each epoch.
        callbacks: more `callbacks.Callback`-like objects, called after the built-in ones.

    After `fit`: ``history`` (a `History`), ``epoch`` (epochs completed), ``best`` ((epoch, value) or None)
    and ``stop_reason`` (``'completed'``, ``'early_stopping'``, ``'interrupted'``, ``'aborted'`` or a
    callback's reason).
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
        limit_val_batches: int | None = None,
        plot: bool = True,
        callbacks: Sequence[Any] = (),
    ):
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"Trainer: scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        if early_stopping is not None and early_stopping < 1:
            raise ValueError(f"Trainer: early_stopping must be a positive number of epochs, got {early_stopping}")
        for name, limit in (("limit_batches", limit_batches), ("limit_val_batches", limit_val_batches)):
            if limit is not None and limit < 1:
                raise ValueError(f"Trainer: {name} must be positive, got {limit}")
        self.model = model
        # What is saved and loaded: a DistributedDataParallel's model, so checkpoints are single-process ones.
        self.module = model.module if isinstance(model, DistributedDataParallel) else model
        self.optimizer = optimizer
        self.criterion = loop.Criterion.for_model(self.module, loss_fn)
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        self.metrics = dict(metrics or {})
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.config = dict(config or {})
        self._log_fn = log
        self.limit_batches = limit_batches
        self.limit_val_batches = limit_val_batches

        progress = sys.stderr.isatty() if progress is None else progress
        builtin: list[Any] = [Timer()] + ([ProgressBar()] if progress else [])
        if self.out_dir is not None:
            builtin += [Checkpointer(self.out_dir), HistoryWriter(self.out_dir)] + ([CurvePlotter(self.out_dir)] if plot else [])
        if early_stopping is not None:
            builtin.append(EarlyStopping(early_stopping))
        self.callbacks = builtin + list(callbacks)

        self.history = History()
        self.epoch = 0  # epochs completed
        self.epochs = 0  # the target of the current fit
        self.best: tuple[int, float] | None = None
        self.bad_epochs = 0  # epochs since the monitored accuracy last improved
        self.improved = False  # whether the last completed epoch improved on `best`
        self.monitor = "val_acc"
        self.stop_reason: str | None = None
        self.epoch_state = EpochState()
        self.steps_in_epoch: int | None = None
        self._train_loader: Any = None
        self._loader_state: Any = None  # a loaded checkpoint's data-loader state, applied by the next fit
        self._stop_requested = False

    @property
    def loss_fn(self) -> Callable[[Any, Any], Any] | None:
        """The loss function (chosen once from the model's ``num_outputs`` when not given)."""
        return self.criterion.loss_fn

    @loss_fn.setter
    def loss_fn(self, fn: Callable[[Any, Any], Any]) -> None:
        self.criterion.loss_fn = fn

    @property
    def steps_done(self) -> int:
        """Batches already done in the epoch in progress (non-zero only after a Ctrl-C stop or its resume)."""
        return self.epoch_state.step

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if method is not None:
                method(self, *args)

    def stop(self, reason: str) -> None:
        """End `fit` after the current epoch, with ``stop_reason = reason`` (what `EarlyStopping` does)."""
        self.stop_reason = reason

    # ------------------------------------------------------------------ logging
    def log(self, line: str) -> None:
        """Show ``line`` (through ``log``) and append it to ``out_dir/train.log``."""
        if self._log_fn is not None:
            self._log_fn(line)
        self._append_log(line)

    def _append_log(self, line: str) -> None:
        if self.out_dir is not None:
            path = self.out_dir / "train.log"
            try:
                self.out_dir.mkdir(parents=True, exist_ok=True)
                with open(path, "a") as f:
                    f.write(line.strip("\n") + "\n")
            except OSError as exc:  # disk full, read-only folder
                raise WriteError(exc.errno, exc.strerror or str(exc), str(path)) from exc

    # ------------------------------------------------------------------- train
    def fit(self, train_loader: Iterable, val_loader: Iterable | None = None, epochs: int = 1) -> History:
        """Train until ``epochs`` epochs are completed (counting epochs already done before a resume).

        Returns the `History`. Raises `NonFiniteLossError` when the loss diverges.
        """
        self.stop_reason = None
        self._stop_requested = False
        self.epochs = epochs
        self._train_loader = train_loader
        if self._loader_state is not None and hasattr(train_loader, "load_state_dict"):
            with _restoring("loader"):
                train_loader.load_state_dict(self._loader_state)  # e.g. a seed drawn at random in the first run
        self._loader_state = None
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self._call("on_fit_start")
        try:
            # Overflow and invalid-value warnings would only precede the clear NonFiniteLossError.
            with self._sigint_handler(), np.errstate(over="ignore", invalid="ignore"):
                while self.epoch < epochs:
                    if not self._train_epoch(train_loader):
                        self.stop_reason = "interrupted"
                        return self.history
                    self._end_epoch(val_loader)
                    if self.stop_reason is not None:
                        return self.history
                    if self._stop_agreed():
                        self.stop_reason = "interrupted"
                        self.log(f"interrupted after epoch {self.epoch}: {self._checkpoint_note()}")
                        return self.history
        except KeyboardInterrupt:
            self.stop_reason = "aborted"
            self.log(f"aborted during epoch {self.epoch + 1}: {self._checkpoint_note()}")
            return self.history
        finally:
            self._call("on_fit_end")
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

    def _stop_agreed(self) -> bool:
        """Whether to stop here for a Ctrl-C. Under `npgrad.distributed` every rank gets the same answer
        (one allreduce): a Ctrl-C on any rank stops all of them at the same step. A Ctrl-C that lands
        during that allreduce stays requested and counts at the next call."""
        return loop.any_rank(self._stop_requested)

    def _batches(self, loader: Iterable) -> Iterator:
        """The epoch's batches after the steps already done; sets ``steps_in_epoch``."""
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(self.epoch)
        try:
            total = len(loader)  # type: ignore[arg-type]
        except TypeError:
            total = None
        if self.limit_batches is not None:
            total = self.limit_batches if total is None else min(total, self.limit_batches)
        self.steps_in_epoch = total
        # Batches done before an interruption are drawn again and dropped, so that the loader's
        # shuffling and augmentation randomness are in the same state as in an uninterrupted run.
        return itertools.islice(iter(loader), self.epoch_state.step, total)

    def _train_epoch(self, loader: Iterable) -> bool:
        """Run (the rest of) one training epoch. False when stopped by Ctrl-C (checkpoint saved)."""
        self.model.train()
        state = self.epoch_state
        if state.step == 0:
            state.lr = self._lr()
        batches = self._batches(loader)
        stopped = False
        self._call("on_epoch_start")
        try:
            for batch in batches:
                x, y = loop.split_batch(batch)
                result = loop.train_step(self.model, self.optimizer, self.criterion, x, y)
                if not math.isfinite(result.loss):
                    self._diverged(result.loss)
                if self.scheduler is not None and self.scheduler_interval == "step":
                    self.scheduler.step()
                state.update(result, y, self.metrics)
                self._call("on_batch_end", result.loss)
                if self._stop_agreed():
                    stopped = True
                    break
        finally:
            self._call("on_train_epoch_end")
        if stopped:
            self._call("on_interrupt")
            self.log(f"interrupted at epoch {self.epoch + 1}, step {state.step}: {self._checkpoint_note()}")
            return False
        return True

    def _diverged(self, value: float) -> None:
        if self.out_dir is not None and (self.out_dir / LAST).exists():
            kept = f"the last good checkpoint is {self.out_dir / LAST} (epoch {self.epoch})"
        else:
            kept = "no checkpoint was written (it happened in the first epoch)"
        step = self.epoch_state.step + 1
        message = (
            f"the loss became {value} at epoch {self.epoch + 1}, step {step} (lr {self._lr():.3g}): training diverged, "
            f"try a smaller learning rate; {kept}"
        )
        self._append_log(message)
        raise NonFiniteLossError(message, self.epoch + 1, step, value)

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _end_epoch(self, val_loader: Iterable | None) -> None:
        state = self.epoch_state
        record: dict[str, Any] = {"epoch": self.epoch + 1, "lr": state.lr, **_mean_over_ranks(state.train_record())}
        if isinstance(self.model, DistributedDataParallel):
            self.model.sync_buffers()  # evaluation and the checkpoint see rank 0's running statistics
        if val_loader is not None:
            record.update({f"val_{k}": v for k, v in self.evaluate(val_loader).items()})
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            self.scheduler.step()
        self._call("on_record", record)
        self.history.append(record)

        self.monitor = "val_acc" if "val_acc" in record else "train_acc"
        value = record[self.monitor]
        self.improved = math.isfinite(value) and (self.best is None or value > self.best[1])
        if self.improved:
            self.best = (self.epoch + 1, value)
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        self.epoch += 1
        self.epoch_state = EpochState()
        self.log(self._summary(record, self.epochs))
        self._call("on_epoch_end", record)

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
        if "time_s" in r:
            parts.append(f"{r['time_s']:.1f} s ({r['img_per_s']:.0f} img/s)")
        return "  ".join(parts)

    # -------------------------------------------------------------- evaluate
    def evaluate(self, loader: Iterable, return_outputs: bool = False) -> Any:
        """`loop.evaluate` with this trainer's model, criterion, metrics, progress setting and ``limit_val_batches``.

        Under `npgrad.distributed` each rank evaluates its own part of the data (``loader.dataset``,
        disjoint across ranks) and the metrics are those of the union (sums of correct counts and
        losses over all ranks, divided by the total count); the outputs stay this rank's.
        """
        progress = any(isinstance(c, ProgressBar) for c in self.callbacks)
        result = loop.evaluate(self.module, loader, self.criterion, self.metrics, progress, return_outputs,
                               self.limit_val_batches)
        if loop.world_size() == 1:
            return result
        metrics = result[0] if return_outputs else result
        count = len(loader.dataset)  # type: ignore[attr-defined]
        if self.limit_val_batches:
            count = min(count, self.limit_val_batches * loader.batch_size)  # type: ignore[attr-defined]
        sums = np.array([count] + [metrics[k] * count for k in metrics], dtype=np.float64)
        dist.all_reduce(sums)
        metrics.update({k: float(v / sums[0]) for k, v in zip(metrics, sums[1:])})
        return result

    def predict(self, loader: Iterable) -> np.ndarray:
        """`loop.predict`: the model's logits for every sample of ``loader``, concatenated: (N, K)."""
        return loop.predict(self.model, loader)

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly: see `npgrad.train.checkpoint`."""
        return {
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "epoch": self.epoch,
            **self.epoch_state.state_dict(),
            "history": self.history.records,
            "best": list(self.best) if self.best is not None else None,
            "bad_epochs": self.bad_epochs,
            "rng": npgrad.get_rng_state(),
            "loader": self._train_loader.state_dict() if hasattr(self._train_loader, "state_dict") else None,
            "config": self.config,
            "processes": loop.world_size(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a `state_dict` (e.g. a loaded checkpoint), so that `fit` continues where it stopped.

        A checkpoint saved between epochs resumes on any number of processes; one saved mid-epoch
        (its ``step`` counts batches of its number of processes) only on the same number.
        Raises `CheckpointError` naming the entry that does not fit this trainer (weights of another
        shape, a partial optimizer state, a negative epoch, a malformed RNG or loader state...); the
        trainer may then be partly restored and should not be used.
        """
        processes, world = int(state.get("processes") or 1), loop.world_size()
        if state.get("step") and processes != world:
            raise CheckpointError(
                f"checkpoint {state.get('path', '')} was saved mid-epoch by {processes} process(es): resume it on "
                f"{processes} (this run has {world}); checkpoints saved between epochs resume on any number"
            )
        with _restoring("model"):
            self.module.load_state_dict(state["model"])
        with _restoring("optimizer"):
            self.optimizer.load_state_dict(state["optimizer"])
        with _restoring("scheduler"):
            if self.scheduler is not None and state.get("scheduler") is not None:
                self.scheduler.load_state_dict(state["scheduler"])
        with _restoring("epoch"):
            self.epoch = _count(state["epoch"])
        with _restoring("step"):
            self.epoch_state = EpochState.from_state_dict(state)
            _count(self.epoch_state.step)
        with _restoring("history"):
            history = state.get("history") or []
            if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
                raise ValueError("expected a list of per-epoch dicts")
            self.history = History(history)
        with _restoring("best"):
            best = state.get("best")
            self.best = (_count(best[0]), float(best[1])) if best is not None else None
        with _restoring("bad_epochs"):
            self.bad_epochs = _count(state.get("bad_epochs") or 0)
        with _restoring("rng"):
            npgrad.set_rng_state(state["rng"])
        self._loader_state = state.get("loader")


def _count(value: Any) -> int:
    """``value`` as a count (an int >= 0); ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"expected a non-negative integer, got {value!r:.60}")
    return int(value)


@contextlib.contextmanager
def _restoring(entry: str) -> Iterator[None]:
    """Turn a failure to restore checkpoint ``entry`` into a one-line `CheckpointError` naming it."""
    try:
        yield
    except CheckpointError:
        raise
    except KeyError as exc:
        raise CheckpointError(f"the checkpoint's {entry!r} entry does not fit: missing {exc}") from None
    except (ValueError, TypeError, RuntimeError, IndexError, AttributeError) as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise CheckpointError(f"the checkpoint's {entry!r} entry does not fit: {detail}") from None


def _mean_over_ranks(record: dict[str, float]) -> dict[str, float]:
    """The ranks' mean of each value: the global mean, as every rank trains on the same number of samples."""
    if loop.world_size() == 1 or not record:
        return record
    values = np.array(list(record.values()), dtype=np.float64)
    dist.all_reduce(values, op="mean")
    return dict(zip(record, values.tolist()))
