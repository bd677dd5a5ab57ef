"""From a `RunConfig` to the objects of a run: datasets, the `DataSpec`, loaders, model, optimizer, scheduler.

Errors in the user's data or options are re-raised as the `npgrad.errors` family with one-line
messages naming the option or file.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from npgrad import data, models
from npgrad.cli.config import Augmentation, DataSpec, RunConfig
from npgrad.cli.options import DEFAULT_DATA_DIR, FILE_IMAGE_SIZE, make_config, parse_dataset
from npgrad.data import transforms as T
from npgrad.data.datasets.registry import DatasetEntry, find_dataset
from npgrad.errors import DataError, InvalidArgumentError, MissingFileError, NpgradError
from npgrad.optim.registry import SchedulePlan, get_optimizer, get_scheduler

# Statistics for Normalize are estimated on at most this many training images (decoding files is slow).
_STATS_SAMPLES = {"array": 10000, "files": 256}
_STATS_BATCH = 512


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ------------------------------------------------------------------------------------ datasets
def _registered(entry: DatasetEntry, data_dir: str | None, train: bool) -> Any:
    root = Path(data_dir or DEFAULT_DATA_DIR)
    if entry.files is not None and not root.is_dir():
        raise MissingFileError(f"data folder {root} not found: --dataset {entry.name} reads {entry.files} from --data-dir")
    try:
        return entry.load(root, train)
    except NpgradError:
        raise
    except (FileNotFoundError, ValueError) as exc:
        raise DataError(one_line(exc)) from None


def _file_dataset(make: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return make(*args, **kwargs)
    except NpgradError:
        raise
    except (FileNotFoundError, ValueError, OSError) as exc:  # the user's files: missing, empty, malformed
        raise DataError(one_line(exc)) from None


def _checked(dataset: Any, where: str | os.PathLike, skip_bad_images: bool) -> Any:
    """``dataset`` (read with on_error='skip'), unless it dropped unreadable images and skipping was not asked for."""
    bad = dataset.unreadable
    if bad and not skip_bad_images:
        raise DataError(f"{len(bad)} of {len(dataset) + len(bad)} images of {where} cannot be decoded (first: {bad[0][1]}); "
                        f"fix or remove them, or pass --skip-bad-images to train without them")
    return dataset


def _quietly(make: Any, *args: Any, **kwargs: Any) -> Any:
    """`_file_dataset` without the dataset's own 'skipped N images' warning: `_checked` and the summary say it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _file_dataset(make, *args, **kwargs)


def _folder(path: str | os.PathLike, size: int, channels: int, skip_bad_images: bool,
            classes: list[str] | None = None) -> Any:
    dataset = _quietly(data.ImageFolder, path, on_error="skip", classes=classes, image_size=size, channels=channels)
    return _checked(dataset, path, skip_bad_images)


def _csv(path: str | os.PathLike, config: RunConfig, size: int, channels: int, label: bool = True,
         classes: list[str] | None = None, image_col: str | None = None) -> Any:
    d = config.data
    if not Path(path).is_file():
        raise MissingFileError(f"CSV file {path} not found")
    dataset = _quietly(
        data.CSVImageDataset, path, image_root=d.image_root, image_col=image_col or d.image_col,
        label_col=d.label_col if label else None, on_error="skip" if label else "raise", classes=classes,
        image_size=size, channels=channels,
    )
    return _checked(dataset, path, d.skip_bad_images)


def _input_shape(config: RunConfig, entry: DatasetEntry | None) -> tuple[int, int]:
    """(channels, size) the images are decoded or resized to: the spec's, else the options', else the dataset's."""
    if config.spec is not None:
        return config.spec.in_channels, config.spec.image_size
    if entry is not None:
        return entry.channels, config.data.image_size or entry.size
    return config.data.channels, config.data.image_size or FILE_IMAGE_SIZE


def _splits(config: RunConfig) -> tuple[Any, Any]:
    """The dataset's own (train, test) splits; test is None when it has none."""
    d = config.data
    kind, path = parse_dataset(d.dataset)
    entry = find_dataset(kind)
    channels, size = _input_shape(config, entry)
    if entry is not None:
        return _registered(entry, d.data_dir, True), _registered(entry, d.data_dir, False)
    if kind == "folder":
        root = Path(path)
        if not root.is_dir():
            raise MissingFileError(f"dataset folder {root} not found; expected {root}/training_set/<class>/<images> "
                                   f"(and optionally {root}/test_set/<class>/<images>) or {root}/<class>/<images>")
        if not (root / "training_set").is_dir():
            return _folder(root, size, channels, d.skip_bad_images), None
        train = _folder(root / "training_set", size, channels, d.skip_bad_images)
        test = (_folder(root / "test_set", size, channels, d.skip_bad_images, classes=train.classes)
                if (root / "test_set").is_dir() else None)
        return train, test
    return _csv(path, config, size, channels), None


class RunData(NamedTuple):
    spec: DataSpec
    train: Any
    val: Any  # None without validation data
    test: Any  # None without a test split
    unreadable: int  # images skipped because they cannot be decoded (--skip-bad-images)


def build_data(config: RunConfig) -> RunData:
    """The `RunData` of a run: spec, train, val (None without validation data), test (None without a test split).

    ``val`` is the ``val_split`` of the training data (model selection: best.safetensors, early
    stopping); ``test`` is the dataset's test split, kept for the final report. Runs of npgrad 0.1
    (``data.validation == 'test'``) validate on the test split instead.

    A new config (``spec`` None) gets its `DataSpec` computed here — classes, channels, size, the
    mean/std of the training images, the augmentation policy; a resumed one is checked against the
    data instead: the classes must not have changed. ``config`` itself is not modified.
    """
    d = config.data
    kind, _ = parse_dataset(d.dataset)
    train, test = _splits(config)
    unreadable = sum(len(getattr(ds, "unreadable", ())) for ds in (train, test) if ds is not None)
    val = None
    if d.validation == "test":
        val, test = test, None
    classes = [str(c) for c in train.classes]
    if config.spec is not None and classes != config.spec.classes:
        raise DataError(f"the data of {d.dataset} now has classes {classes}, but the run was trained on {config.spec.classes}")
    if len(classes) < 2:
        raise DataError(f"{d.dataset} has {len(classes)} class; classification needs at least 2")
    if val is None and d.val_split:
        n_val = max(1, round(d.val_split * len(train)))
        if n_val >= len(train):
            raise InvalidArgumentError(f"--val-split {d.val_split} leaves no training images out of {len(train)}")
        train, val = data.random_split(train, [len(train) - n_val, n_val], seed=config.training.seed)
    if config.spec is not None:
        return RunData(config.spec, train, val, test, unreadable)
    entry = find_dataset(kind)
    channels, size = _input_shape(config, entry)
    stats_loader = data.DataLoader(_stats_sample(train, config.training.seed), batch_size=_STATS_BATCH,
                                   transform=T.Compose([T.Resize(size), T.ToFloat()]))
    mean, std = channel_stats(stats_loader, channels)
    # Mirrored digits are other digits, so some datasets get crops only; folder:/csv: images flip.
    augmentation = Augmentation(max(2, size // 8), entry.flip if entry is not None else True) if d.augment else None
    return RunData(DataSpec(classes, channels, size, mean, std, augmentation), train, val, test, unreadable)


def _stats_sample(dataset: Any, seed: int) -> Any:
    limit = _STATS_SAMPLES["array" if hasattr(dataset, "get_batch") else "files"]
    if len(dataset) <= limit:
        return dataset
    rng = np.random.default_rng(seed)
    return data.Subset(dataset, np.sort(rng.choice(len(dataset), limit, replace=False)))


def channel_stats(loader: Any, channels: int) -> tuple[list[float], list[float]]:
    """Per-channel mean and std (at least 1e-3) of the float batches (N, C, H, W) of ``loader``, rounded to 4 digits."""
    total = np.zeros(channels)
    total_sq = np.zeros(channels)
    count = 0
    for x, _ in loader:
        x = x.astype(np.float64)
        total += x.sum(axis=(0, 2, 3))
        total_sq += (x * x).sum(axis=(0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean * mean, 0))
    return [round(float(m), 4) for m in mean], [round(float(max(s, 1e-3)), 4) for s in std]


def preprocessing(spec: DataSpec, train: bool = False) -> T.Compose:
    """The batch transform of a run: (training augmentation,) resize, to float, normalise."""
    steps: list[Any] = [T.Resize(spec.image_size)]
    augment = spec.augmentation
    if train and augment:
        steps.append(T.RandomCrop(spec.image_size, padding=augment.crop_padding))
        if augment.flip:
            steps.append(T.RandomHorizontalFlip())
    steps += [T.ToFloat(), T.Normalize(spec.mean, spec.std)]
    return T.Compose(steps)


def make_loader(config: RunConfig, dataset: Any, train: bool = False, batch_size: int | None = None,
                world: tuple[int, int] = (0, 1)) -> data.DataLoader:
    """A DataLoader with the run's preprocessing: shuffled and augmented for training, in order otherwise.

    Training drops the last incomplete batch (when there is more than one batch) so that batch
    norm never sees a batch of one image. ``world`` = (rank, world size): with several processes
    the training loader reads this rank's `DistributedSampler` shard with ``batch_size / world size``
    per batch (so the global batch is ``batch_size``, and the ranks' batches together are the
    batches of one process), and an evaluation loader reads the rank's interleaved part of the data,
    also ``batch_size / world size`` (rounded up) per batch.
    """
    rank, size = world
    batch_size = batch_size or config.training.batch_size
    seed = config.training.seed
    sampler = None
    if size > 1 and train:
        if batch_size % size:
            raise InvalidArgumentError(f"--batch-size {batch_size} is the global batch: it must be a multiple of the "
                                       f"{size} processes")
        batch_size //= size
        sampler = data.DistributedSampler(dataset, size, rank, seed=seed)
    elif size > 1:  # with batch_size / world size per batch, so --limit-batches reads the same images as one process
        dataset = data.Subset(dataset, range(rank, len(dataset), size))
        batch_size = -(-batch_size // size)
    count = len(dataset) if sampler is None else len(sampler)
    return data.DataLoader(dataset, batch_size=batch_size, shuffle=train and sampler is None,
                           drop_last=train and count > batch_size, seed=seed,
                           transform=preprocessing(config.data_spec, train=train), sampler=sampler)


def eval_dataset(config: RunConfig, spec: str | None, data_dir: str | None = None,
                 image_root: str | None = None) -> tuple[str, Any]:
    """``(description, dataset)`` to evaluate a run's model on.

    Without ``spec``: the run's own test split, or without one the same held-out validation split.
    With one: a registered dataset's test split, ``folder:PATH`` (``PATH/test_set`` if it exists,
    else all of ``PATH``) or ``csv:CSV`` (every row), labelled with the run's classes.
    """
    overrides = {k: v for k, v in (("data_dir", data_dir), ("image_root", image_root)) if v is not None}
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, **overrides))
    s = config.data_spec
    if spec is None:
        _, _, val, test, _ = build_data(config)
        if test is not None:
            return f"{config.data.dataset} (test)", test
        if val is None:
            raise InvalidArgumentError("the run has no test or validation data (--val-split 0); pass --dataset to "
                                       "evaluate on")
        return f"{config.data.dataset} (validation)", val
    kind, path = parse_dataset(spec)
    entry = find_dataset(kind)
    if entry is not None:
        dataset = _registered(entry, config.data.data_dir, train=False)
        channels = dataset[0][0].shape[0]
        if channels != s.in_channels:
            raise DataError(f"{kind} images have {channels} channel(s) but the model was trained on {s.in_channels}")
        if [str(c) for c in dataset.classes] != s.classes:
            raise DataError(f"{kind} has classes {list(dataset.classes)} but the model was trained on {s.classes}")
        return f"{kind} (test)", dataset
    if kind == "folder":
        root = Path(path)
        if not root.is_dir():
            raise MissingFileError(f"dataset folder {root} not found")
        root = root / "test_set" if (root / "test_set").is_dir() else root
        return str(root), _folder(root, s.image_size, s.in_channels, config.data.skip_bad_images, classes=s.classes)
    return str(path), _csv(path, config, s.image_size, s.in_channels, classes=s.classes)


def prediction_dataset(config: RunConfig, source: str, image_col: str | None = None, image_root: str | None = None) -> Any:
    """The unlabelled images to predict: every image file under a folder, or the rows of a CSV.

    Images are decoded at the run's size and channels. The dataset's ``image_ids`` are what the
    submission's image column repeats: paths relative to the folder, or the CSV's values as given.
    """
    s = config.data_spec
    path = Path(source)
    if path.is_dir():
        return _file_dataset(data.ImageFiles, path, image_size=s.image_size, channels=s.in_channels)
    if not path.is_file():
        raise MissingFileError(f"--input {source}: no such folder or CSV file")
    if config.data.dataset.startswith("csv:") and image_col is None:
        image_col = config.data.image_col
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, image_root=image_root))
    return _csv(path, config, s.image_size, s.in_channels, label=False, image_col=image_col or "image")


# ------------------------------------------------------------------ model and optimisation
def check_model_name(name: str) -> None:
    if name not in models.list():
        raise InvalidArgumentError(f"unknown model '{name}'; available: {', '.join(models.list())}")


def build_model(config: RunConfig) -> Any:
    """The zoo model named in ``config``, for its data spec (fresh weights from the global generator)."""
    check_model_name(config.model.name)
    s = config.data_spec
    try:
        return models.create(config.model.name, in_channels=s.in_channels, num_classes=s.num_classes,
                             image_size=s.image_size, **config.model.options)
    except NpgradError:
        raise
    except TypeError as exc:  # a --model-arg of the wrong type
        raise InvalidArgumentError(f"--model-arg: {one_line(exc)}") from None


def build_optimizer(config: RunConfig, model: Any) -> Any:
    return get_optimizer(config.optimizer.name).build(model.parameters(), **config.optimizer.settings)


def build_scheduler(config: RunConfig, optimizer: Any, steps_per_epoch: int) -> tuple[Any, str]:
    """``(scheduler or None, 'epoch' | 'step')``: the schedule of ``config`` and how often to step it."""
    entry = get_scheduler(config.scheduler.name)
    plan = SchedulePlan(config.training.epochs, steps_per_epoch, config.optimizer.lr)
    try:
        return entry.build(optimizer, plan, **config.scheduler.args), entry.interval
    except ValueError as exc:
        raise InvalidArgumentError(f"--scheduler {entry.name}: {one_line(exc)}") from None
    except TypeError:  # e.g. T_max="ten"
        given = ", ".join(f"{k}={v!r}" for k, v in config.scheduler.args.items())
        raise InvalidArgumentError(f"--scheduler {entry.name}: a --scheduler-arg has a value of the wrong type "
                                   f"({given})") from None


def optimizer_text(config: RunConfig) -> str:
    """``sgd lr 0.1 (momentum 0.9, weight decay 0.0005)``: the optimizer of a config, as the CLI prints it."""
    opt = config.optimizer
    others = ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in opt.settings.items() if k != "lr")
    return f"{opt.name} lr {opt.lr:g}" + (f" ({others})" if others else "")


def model_options(name: str) -> str:
    """``key=default, ...``: the builder's own options (``--model-arg``) of zoo model ``name``."""
    params = inspect.signature(models.get(name).builder).parameters
    return ", ".join(f"{k}={params[k].default!r}" if params[k].default is not inspect.Parameter.empty else k
                     for k in models.get(name).options)


def model_table(in_channels: int = 1, image_size: int = 28, num_classes: int = 10) -> list[tuple[str, str, str, str, str]]:
    """``(names, parameter count, description, options, default optimizer)`` per zoo model for the given input.

    Aliases share a row; the options are the builder's ``--model-arg`` keywords with their defaults.
    """
    rows = []
    seen: dict[Any, list[str]] = {}
    for name in models.list():
        seen.setdefault(models.get(name).builder, []).append(name)
    for builder, names in seen.items():
        main = next((n for n in names if n == builder.__name__.lower()), None) or max(names, key=len)
        names = [main] + [n for n in names if n != main]
        try:
            model = models.create(main, in_channels=in_channels, num_classes=num_classes, image_size=image_size)
            count = f"{model.num_parameters():,}"
        except ValueError:
            count = "too small"  # the image size is below what the model takes
        label = names[0] + (f" ({', '.join(names[1:])})" if len(names) > 1 else "")
        optimizer = optimizer_text(make_config({"model": main}))
        rows.append((label, count, models.get(main).description, model_options(main), optimizer))
    return sorted(rows)

