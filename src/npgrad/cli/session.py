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
from npgrad.cli.config import DataConfig, RunConfig
from npgrad.cli.options import DEFAULT_OUT, FILE_KINDS, RESUME_OPTIONS, dataset_slug, make_config, parse_dataset
from npgrad.errors import CheckpointError, InvalidArgumentError
from npgrad.optim.registry import get_scheduler
from npgrad.train import Trainer, evaluate, load_checkpoint
from npgrad.train.callbacks import BEST, SlowEpochWarning

# npgrad train warns early in its first epoch when the epoch is estimated to take longer (seconds).
SLOW_EPOCH_S = 600.0


@dataclass
class Session:
    """Everything `npgrad train` builds for one run, ready to make its `Trainer`."""

    config: RunConfig
    run_dir: Path | None  # None on the ranks other than 0, which write nothing
    model: Any
    optimizer: Any
    scheduler: Any
    scheduler_interval: str
    train_loader: Any
    val_loader: Any
    test_loader: Any  # the test split, for the final report only
    unreadable: int  # images skipped because they cannot be decoded
    world: tuple[int, int] = (0, 1)  # (rank, number of processes)
    state: dict[str, Any] | None = None  # the checkpoint resumed from
    resumed_from: str | None = None
    notes: list[str] = field(default_factory=list)  # things the user should know about this setup
    replanned: bool = False  # resumed with a new --epochs: the schedule is the new plan's, at the saved step
    lock: Any = None  # the run folder's lock file (`lock_run_dir`), held while this session lives

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        """Release the run folder's lock (process exit would too; an in-process caller may train there next)."""
        if self.lock is not None:
            self.lock.close()
            self.lock = None

    @property
    def train_size(self) -> int:
        return len(self.train_loader.dataset)

    @property
    def val_size(self) -> int:
        if self.val_loader is None:
            return 0
        dataset = self.val_loader.dataset  # with several processes, this rank's Subset of the validation set
        return len(dataset.dataset if self.world[1] > 1 else dataset)

    @property
    def is_main(self) -> bool:
        """Rank 0 (or the only process): the one that prints and writes the run folder."""
        return self.world[0] == 0

    @property
    def val_limit(self) -> int | None:
        """How many batches of validation and test data are used (--limit-batches; all of them in 0.1 runs)."""
        t = self.config.training
        return t.limit_batches if t.limit_validation else None

    @property
    def test_size(self) -> int:
        return len(self.test_loader.dataset) if self.test_loader is not None else 0

    def test_report(self) -> tuple[int, int, dict[str, float]] | None:
        """``(epoch, images, metrics)`` of best.safetensors on the test split (its weights are loaded into ``model``)."""
        if not self.is_main or self.test_loader is None or not (self.run_dir / BEST).exists():
            return None  # under MPI rank 0 alone reports, on the plain model (no collectives)
        state = load_checkpoint(self.run_dir / BEST)
        model = getattr(self.model, "module", self.model)  # unwrapped from DistributedDataParallel
        model.load_state_dict(state["model"])
        limit = self.val_limit
        images = self.test_size if limit is None else min(self.test_size, limit * self.test_loader.batch_size)
        return int(state["epoch"]), images, evaluate(model, self.test_loader, limit_batches=limit)

    def trainer(self, progress: bool | None = None, log: Any = print) -> Trainer:
        t = self.config.training
        main = self.is_main
        slow = SlowEpochWarning(SLOW_EPOCH_S, hint="Ctrl-C stops and saves; --limit-batches N gives a quick look; "
                                "'npgrad models' lists smaller models and their options (e.g. resnet's stem)")
        trainer = Trainer(
            self.model, self.optimizer, scheduler=self.scheduler, scheduler_interval=self.scheduler_interval,
            out_dir=self.run_dir if main else None, config=self.config.to_dict(), early_stopping=t.early_stopping,
            progress=progress and main, log=log if main else None, limit_batches=t.limit_batches,
            limit_val_batches=self.val_limit, callbacks=[slow],
        )
        if self.state is not None:
            try:
                if self.replanned:
                    # The scheduler was built for the new number of epochs: keep that plan, take only its position.
                    trainer.load_state_dict({**self.state, "scheduler": None})
                    self.scheduler.last_epoch = int(self.state["scheduler"]["last_epoch"]) - 1
                    self.scheduler.step()  # sets the optimizer's lr to the new plan's at the saved step
                else:
                    trainer.load_state_dict(self.state)
            except CheckpointError as exc:
                raise CheckpointError(f"cannot resume from {self.resumed_from}: {exc}") from None
        return trainer


def join_world() -> tuple[int, int]:
    """(rank, world size): MPI's when started by ``mpiexec`` with several processes, else (0, 1) without importing MPI."""
    from npgrad import distributed as dist

    if dist.launched_world_size() == 1:
        return 0, 1
    dist.init_process_group()
    return dist.get_rank(), dist.get_world_size()


def _build(config: RunConfig, world: tuple[int, int]) -> tuple[RunConfig, tuple[Any, ...]]:
    """The config with its data spec, and the model (seeded), optimizer, scheduler, interval and the three loaders.

    With several processes the model's batch norms become `SyncBatchNorm` and the model is wrapped
    in `DistributedDataParallel`; the training and validation loaders read this rank's shards
    (`builders.make_loader`); the test split, for the final report, is read whole.
    """
    spec, train, val, test, unreadable = builders.build_data(config)
    config = dataclasses.replace(config, spec=spec)
    npgrad.manual_seed(config.training.seed)
    model = builders.build_model(config)
    _check_batch_norm_batches(config, model, len(train))
    train_loader = builders.make_loader(config, train, train=True, world=world)
    val_loader = builders.make_loader(config, val, world=world) if val is not None else None
    test_loader = builders.make_loader(config, test) if test is not None else None
    limit = config.training.limit_batches
    steps = min(len(train_loader), limit) if limit else len(train_loader)
    if world[1] > 1:
        from npgrad.nn import SyncBatchNorm
        from npgrad.nn.parallel import DistributedDataParallel

        # SyncBatchNorm keeps the running statistics equal on every rank, and the Trainer syncs the
        # buffers before each evaluation and checkpoint: no broadcast before every forward.
        model = DistributedDataParallel(SyncBatchNorm.convert_sync_batchnorm(model), broadcast_buffers=False)
    optimizer = builders.build_optimizer(config, model)
    scheduler, interval = builders.build_scheduler(config, optimizer, steps)
    return config, (model, optimizer, scheduler, interval, train_loader, val_loader, test_loader, unreadable, world)


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


# In a run folder while a process trains in it: a second process (a --resume of a live run) is refused.
RUN_LOCK = ".npgrad-run.lock"


def lock_run_dir(run_dir: Path, doing: str) -> Any:
    """Hold ``run_dir``'s `RUN_LOCK` for this process's life (its open file; None where locks do not exist).

    Raises InvalidArgumentError, saying ``doing`` (e.g. "cannot resume in <folder>"), while another process holds it.
    """
    from npgrad._fileio import hold_lock, read_lock_holder

    try:
        return hold_lock(run_dir / RUN_LOCK)
    except BlockingIOError:
        pid = read_lock_holder(run_dir / RUN_LOCK)
        holder = f"npgrad process {pid}" if pid is not None else "another npgrad process"
        raise InvalidArgumentError(f"{doing}: {holder} is training in it (it holds {run_dir / RUN_LOCK}); wait for it "
                                   f"to finish or stop it first") from None
    except OSError as exc:
        raise InvalidArgumentError(f"{doing}: cannot create its lock file {run_dir / RUN_LOCK} "
                                   f"({exc.strerror or exc})") from None


def write_config(config: RunConfig, run_dir: Path) -> None:
    from npgrad._fileio import atomic_write

    with atomic_write(run_dir / "config.json") as f:
        json.dump(config.to_dict(), f, indent=2)
        f.write("\n")


def absolute_paths(data: DataConfig) -> DataConfig:
    """``data`` with its dataset path, ``data_dir`` and ``image_root`` absolute, so a run folder works from anywhere."""
    kind, path = parse_dataset(data.dataset)
    dataset = f"{kind}:{os.path.abspath(path)}" if path is not None else data.dataset
    folders = {k: os.path.abspath(v) for k in ("data_dir", "image_root") if (v := getattr(data, k)) is not None}
    return dataclasses.replace(data, dataset=dataset, **folders)


def new_session(options: dict[str, Any]) -> Session:
    """Build a new run from ``npgrad train`` options and create its run folder with ``config.json``.

    Paths are stored absolute (`absolute_paths`).
    """
    config = make_config(options)
    config = dataclasses.replace(config, data=absolute_paths(config.data))
    builders.check_model_name(config.model.name)
    world = join_world()
    config, built = _build(config, world)
    run_dir = lock = None
    if world[0] == 0:
        run_dir = make_run_dir(options.get("out") or DEFAULT_OUT, config)
        lock = lock_run_dir(run_dir, f"cannot train in {run_dir}")
        write_config(config, run_dir)
    return Session(config, run_dir, *built, lock=lock)


def resume_session(path: str, options: dict[str, Any]) -> Session:
    """Rebuild the run of checkpoint ``path`` (a run folder means its last.safetensors) to continue it.

    Only `RESUME_OPTIONS` may be given: a resumed run keeps its settings, so that it continues
    exactly as it would have without the interruption. A new ``--epochs`` re-plans a schedule whose
    shape depends on the run's length (cosine, step, multistep): from the saved step on, the lr is
    the one a run planned for the new number of epochs has at that step (after a finished cosine
    run, it rises again from 0); one-cycle runs cannot be extended.
    """
    fixed = [k for k in options if k not in RESUME_OPTIONS]
    if fixed:
        raise InvalidArgumentError(f"--{fixed[0].replace('_', '-')} cannot be changed when resuming: the run keeps its "
                                   f"settings (only --epochs, --dataset, --data-dir and --image-root may be given with --resume)")
    state = load_checkpoint(path, prefer="last")
    config = RunConfig.from_dict(state["config"], source=str(state["path"]))
    check_config_fits_weights(config, state)
    done = int(state["epoch"])
    notes = []
    replanned = False
    training, data = config.training, config.data
    if "epochs" in options:
        if options["epochs"] < done:
            raise InvalidArgumentError(f"--epochs {options['epochs']}: the run has already completed {done} epochs")
        planned = training.epochs
        schedule = get_scheduler(config.scheduler.name)
        if options["epochs"] != planned and not schedule.extendable:
            raise InvalidArgumentError(f"a {schedule.name} run cannot be extended: its cycle ends after the planned "
                                       f"{planned} epochs")
        replanned = options["epochs"] != planned and schedule.planned
        if replanned:
            notes.append(f"note: the {schedule.name} schedule is re-planned for {options['epochs']} epochs (it was planned "
                         f"for {planned}): from here on the lr is what a {options['epochs']}-epoch run has at this step")
        training = dataclasses.replace(training, epochs=options["epochs"])
    if "dataset" in options:
        kind, new_kind = parse_dataset(data.dataset)[0], parse_dataset(options["dataset"])[0]
        if new_kind != kind or new_kind not in FILE_KINDS:
            raise InvalidArgumentError(f"--dataset {options['dataset']}: a resumed run keeps its dataset ({data.dataset}); "
                                       f"only the path of a folder:/csv: dataset may change (data moved)")
    moved = {k: options[k] for k in ("dataset", "data_dir", "image_root") if k in options}
    data = absolute_paths(dataclasses.replace(data, **moved))
    config = dataclasses.replace(config, training=training, data=data)
    if done >= training.epochs and not state.get("step"):
        raise InvalidArgumentError(f"the run has already completed its {done} epochs; pass --epochs N (N > {done}) to "
                                   f"train longer")
    world = join_world()
    run_dir = Path(state["path"]).parent
    lock = None
    if world[0] == 0:
        if not os.access(run_dir, os.W_OK):
            raise InvalidArgumentError(f"cannot resume in {run_dir}: the run folder is not writable")
        lock = lock_run_dir(run_dir, f"cannot resume in {run_dir}")
    config, built = _build(config, world)
    if world[0] == 0:
        try:
            write_config(config, run_dir)
        except OSError as exc:
            raise InvalidArgumentError(f"cannot resume in {run_dir}: cannot write its config.json "
                                       f"({exc.strerror or exc})") from None
    return Session(config, run_dir, *built, state, state["path"], notes, replanned and state.get("scheduler") is not None,
                   lock)


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
    """A trained model rebuilt from a checkpoint, in eval mode, with its config and its run's preprocessing.

    ``classes`` are the class names (``predict_proba``'s columns); `preprocess` does to images what
    training did (resize to the run's size, to float, normalise with the mean/std of its training
    images), so ``model(Tensor(setup.preprocess(images)))`` gives the logits.
    """

    config: RunConfig
    path: str
    epoch: int
    model: Any = field(repr=False)

    @property
    def classes(self) -> list[str]:
        return list(self.config.data_spec.classes)

    def preprocess(self, images: Any) -> Any:
        """uint8 in [0, 255] (or float in [0, 1]) images (N, C, H, W) → the model's float32 input (N, C, S, S)."""
        import numpy as np

        return builders.preprocessing(self.config.data_spec)(np.asarray(images))

    def predict_proba(self, images: Any, batch_size: int = 256) -> Any:
        """Class probabilities (N, K) of raw images (N, C, H, W), in batches (columns: ``classes``)."""
        import numpy as np

        from npgrad.train import predict, probabilities

        images = np.asarray(images)
        batches = (self.preprocess(images[i:i + batch_size]) for i in range(0, len(images), batch_size))
        return probabilities(predict(self.model, batches))


def load_for_inference(path: str | os.PathLike) -> InferenceSetup:
    """Rebuild the model of checkpoint ``path`` (a run folder means its best.safetensors) with its weights.

    The public way to use a trained model from Python (``from npgrad.cli import load_for_inference``):
    the checkpoint's weights need the run's config (architecture options, classes, normalisation),
    which this reads from the checkpoint itself.
    """
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

