"""A run of ``npgrad train`` (new or resumed) and a trained model loaded for ``eval``/``predict``: built from configs."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import npgrad
from npgrad.cli import builders
from npgrad.cli.config import RunConfig
from npgrad.cli.options import DEFAULT_OUT, RESUME_OPTIONS, dataset_slug, make_config
from npgrad.errors import CheckpointError, InvalidArgumentError
from npgrad.optim.registry import get_scheduler
from npgrad.train import Trainer, load_checkpoint


@dataclass
class Session:
    """Everything `npgrad train` builds for one run, ready to make its `Trainer`."""

    config: RunConfig
    run_dir: Path
    model: Any
    optimizer: Any
    scheduler: Any
    scheduler_interval: str
    train_loader: Any
    val_loader: Any
    state: dict[str, Any] | None = None  # the checkpoint resumed from
    resumed_from: str | None = None
    notes: list[str] = field(default_factory=list)  # things the user should know about this setup

    @property
    def train_size(self) -> int:
        return len(self.train_loader.dataset)

    @property
    def val_size(self) -> int:
        return len(self.val_loader.dataset) if self.val_loader is not None else 0

    def trainer(self, progress: bool | None = None, log: Any = print) -> Trainer:
        t = self.config.training
        trainer = Trainer(
            self.model, self.optimizer, scheduler=self.scheduler, scheduler_interval=self.scheduler_interval,
            out_dir=self.run_dir, config=self.config.to_dict(), early_stopping=t.early_stopping, progress=progress,
            log=log, limit_batches=t.limit_batches,
        )
        if self.state is not None:
            try:
                trainer.load_state_dict(self.state)
            except CheckpointError as exc:
                raise CheckpointError(f"cannot resume from {self.resumed_from}: {exc}") from None
        return trainer


def _build(config: RunConfig) -> tuple[RunConfig, tuple[Any, ...]]:
    """The config with its data spec, and the model (seeded), optimizer, scheduler, interval and loaders."""
    spec, train, val = builders.build_data(config)
    config = dataclasses.replace(config, spec=spec)
    npgrad.manual_seed(config.training.seed)
    model = builders.build_model(config)
    _check_batch_norm_batches(config, model, len(train))
    train_loader = builders.make_loader(config, train, train=True)
    val_loader = builders.make_loader(config, val) if val is not None else None
    limit = config.training.limit_batches
    steps = min(len(train_loader), limit) if limit else len(train_loader)
    optimizer = builders.build_optimizer(config, model)
    scheduler, interval = builders.build_scheduler(config, optimizer, steps)
    return config, (model, optimizer, scheduler, interval, train_loader, val_loader)


def _check_batch_norm_batches(config: RunConfig, model: Any, train_size: int) -> None:
    """Batch norm cannot train on batches of one image: name the cause before training starts, not a traceback mid-epoch."""
    if not any(isinstance(m, (npgrad.nn.BatchNorm1d, npgrad.nn.BatchNorm2d)) for m in model.modules()):
        return
    name, batch = config.model.name, config.training.batch_size
    if batch < 2:
        raise InvalidArgumentError(f"--batch-size {batch}: {name} has batch normalization, which needs at least 2 images "
                                   "per training batch")
    if train_size < 2:
        raise InvalidArgumentError(f"{config.data.dataset} leaves {train_size} training image; {name} has batch "
                                   "normalization, which needs at least 2 per batch")


def make_run_dir(out: str | os.PathLike, config: RunConfig) -> Path:
    """Create ``out/<model>-<dataset>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``... if taken); never reuses a folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InvalidArgumentError(f"--out {out} is a file, not a folder")
    base = f"{config.model.name}-{dataset_slug(config.data.dataset)}-{time.strftime('%Y%m%d-%H%M%S')}"
    for i in itertools.count(1):
        run_dir = out / (base if i == 1 else f"{base}-{i}")
        try:
            run_dir.mkdir(parents=True)
        except FileExistsError:
            if not out.is_dir():  # a parent of out is a file
                raise InvalidArgumentError(f"cannot create the run folder {run_dir}: a parent is a file") from None
            continue
        except OSError as exc:
            raise InvalidArgumentError(f"cannot create the run folder {run_dir}: {exc.strerror or exc}") from None
        if not os.access(run_dir, os.W_OK):
            raise InvalidArgumentError(f"the run folder {run_dir} is not writable")
        return run_dir
    raise AssertionError("unreachable")


def write_config(config: RunConfig, run_dir: Path) -> None:
    from npgrad._fileio import atomic_write

    with atomic_write(run_dir / "config.json") as f:
        json.dump(config.to_dict(), f, indent=2)
        f.write("\n")


def new_session(options: dict[str, Any]) -> Session:
    """Build a new run from ``npgrad train`` options and create its run folder with ``config.json``."""
    config = make_config(options)
    builders.check_model_name(config.model.name)
    config, built = _build(config)
    run_dir = make_run_dir(options.get("out") or DEFAULT_OUT, config)
    write_config(config, run_dir)
    return Session(config, run_dir, *built)


def resume_session(path: str, options: dict[str, Any]) -> Session:
    """Rebuild the run of checkpoint ``path`` (a run folder means its last.safetensors) to continue it.

    Only `RESUME_OPTIONS` may be given: a resumed run keeps its settings, so that it continues
    exactly as it would have without the interruption.
    """
    fixed = [k for k in options if k not in RESUME_OPTIONS]
    if fixed:
        raise InvalidArgumentError(f"--{fixed[0].replace('_', '-')} cannot be changed when resuming: the run keeps its "
                                   f"settings (only --epochs, --data-dir and --image-root may be given with --resume)")
    state = load_checkpoint(path, prefer="last")
    config = RunConfig.from_dict(state["config"], source=str(state["path"]))
    check_config_fits_weights(config, state)
    done = int(state["epoch"])
    notes = []
    training, data = config.training, config.data
    if "epochs" in options:
        if options["epochs"] < done:
            raise InvalidArgumentError(f"--epochs {options['epochs']}: the run has already completed {done} epochs")
        planned = training.epochs
        schedule = get_scheduler(config.scheduler.name)
        if options["epochs"] != planned and not schedule.extendable:
            raise InvalidArgumentError(f"a {schedule.name} run cannot be extended: its cycle ends after the planned "
                                       f"{planned} epochs")
        if options["epochs"] != planned and schedule.planned:
            notes.append(f"note: the {schedule.name} schedule was planned for {planned} epochs; it continues from its "
                         f"saved state, not stretched to {options['epochs']}")
        training = dataclasses.replace(training, epochs=options["epochs"])
    data = dataclasses.replace(data, **{k: options[k] for k in ("data_dir", "image_root") if k in options})
    config = dataclasses.replace(config, training=training, data=data)
    if done >= training.epochs and not state.get("step"):
        raise InvalidArgumentError(f"the run has already completed its {done} epochs; pass --epochs N (N > {done}) to "
                                   f"train longer")
    config, built = _build(config)
    run_dir = Path(state["path"]).parent
    write_config(config, run_dir)
    return Session(config, run_dir, *built, state, state["path"], notes)


# The largest image side a checkpoint's config may ask for: the model is built by one dry forward
# at that size, which a hostile config must not turn into a terabyte allocation.
MAX_IMAGE_SIZE = 2048


def _integers(value: Any, name: str) -> list[tuple[str, int]]:
    """Every int (not bool) nested in ``value``, with its option name."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [(name, value)]
    if isinstance(value, (list, tuple)):
        return [pair for item in value for pair in _integers(item, name)]
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in _integers(item, f"{name}.{key}" if name else str(key))]
    return []


def check_config_fits_weights(config: RunConfig, state: dict[str, Any]) -> None:
    """Refuse a checkpoint whose config asks for a model its own weights cannot be: before anything is built.

    The config decides what gets allocated (the model's sizes, the dry forward's image), so each
    size must be sane: the image side at most `MAX_IMAGE_SIZE`, and the channels, the classes and
    every integer model option at most the largest dimension of the stored weights (a layer is
    never wider than its largest weight). The exact shapes are checked by ``load_state_dict`` after.
    """
    where = f"checkpoint {state['path']}"
    weights = state["model"]
    arrays = [a for a in weights.values() if isinstance(a, np.ndarray)] if isinstance(weights, dict) else []
    if not arrays:
        raise CheckpointError(f"{where} holds no model weights")
    largest = max(max(a.shape, default=1) for a in arrays)
    sizes = [(f"model option {name}", value) for name, value in _integers(config.model.options, "")]
    s = config.spec
    if s is not None:
        if not 1 <= s.image_size <= MAX_IMAGE_SIZE:
            raise CheckpointError(f"{where}: its config's image_size {s.image_size} is outside 1..{MAX_IMAGE_SIZE}")
        sizes += [("in_channels", s.in_channels), ("num_classes", s.num_classes)]
    for name, value in sizes:
        if value > largest:
            raise CheckpointError(f"{where}: its config's {name} {value} does not fit its weights (no stored dimension "
                                  f"exceeds {largest}); the config was altered or belongs to another model")


@dataclass
class InferenceSetup:
    """A trained model rebuilt from a checkpoint, in eval mode, with its config."""

    config: RunConfig
    path: str
    epoch: int
    model: Any = field(repr=False)


def load_for_inference(path: str) -> InferenceSetup:
    """Rebuild the model of checkpoint ``path`` (a run folder means its best.safetensors) with its weights."""
    state = load_checkpoint(path, prefer="best")
    config = RunConfig.from_dict(state["config"], source=str(state["path"]))
    check_config_fits_weights(config, state)
    if config.spec is None:
        raise CheckpointError(f"checkpoint {state['path']} has no data spec (classes, preprocessing) in its config")
    model = builders.build_model(config)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {state['path']} does not fit model {config.model.name}: "
                              f"{builders.one_line(exc)}") from None
    model.eval()
    return InferenceSetup(config, state["path"], int(state["epoch"]), model)

