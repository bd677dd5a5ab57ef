"""From options to a runnable setup: the one home of run configs and of what is built from them.

``npgrad train`` turns its options into a *config* — a JSON dict that says everything needed
to rebuild the run — and builds the datasets, loaders, model, optimizer, scheduler and
`Trainer` from it. The config is written to ``config.json`` in the run folder and embedded in
every checkpoint, so ``npgrad eval``/``predict`` rebuild the model and its preprocessing from a
checkpoint alone, and ``--resume`` rebuilds the identical setup. Layout::

    {"npgrad_version": "0.1.0",
     "model": {"name": "lenet_bn", "options": {}},
     "in_channels": 1, "image_size": 28, "num_classes": 10, "classes": ["T-shirt/top", ...],
     "preprocessing": {"channels": 1, "image_size": 28, "mean": [0.286], "std": [0.353]},
     "data": {"dataset": "fashion-mnist-small", "data_dir": null, "image_root": null,
              "image_col": "image", "label_col": "label", "val_split": null, "augment": false},
     "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0005},
     "scheduler": {"name": "cosine", "args": {}},
     "training": {"epochs": 15, "batch_size": 128, "seed": 0, "early_stopping": null, "limit_batches": null},
     "augmentation": null}

Mistakes in the options raise `UsageError` with a one-line message.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from npgrad.train.errors import UsageError

DEFAULTS: dict[str, Any] = {
    "model": "lenet_bn",
    "dataset": "fashion-mnist-small",
    "data_dir": "data",
    "image_col": "image",
    "label_col": "label",
    "image_size": 64,  # folder:/csv: images only; built-in datasets keep their own size
    "channels": 3,  # folder:/csv: images only
    "val_split": 0.1,  # only for datasets without a test split
    "augment": False,
    "epochs": 15,
    "batch_size": 128,
    "optimizer": "sgd",
    "scheduler": "cosine",
    "seed": 0,
    "out": "runs",
}

# Per-optimizer defaults; --lr/--momentum/--weight-decay override them.
OPTIMIZERS: dict[str, dict[str, float]] = {
    "sgd": {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4},
    "adam": {"lr": 1e-3, "weight_decay": 0.0},
    "adamw": {"lr": 1e-3, "weight_decay": 1e-2},
    "rmsprop": {"lr": 1e-3, "momentum": 0.0, "weight_decay": 0.0},
    "adagrad": {"lr": 1e-2, "weight_decay": 0.0},
}

# name -> what it does (the CLI help shows these)
SCHEDULERS: dict[str, str] = {
    "none": "constant lr",
    "cosine": "cosine decay from lr to 0 over the run, every step",
    "step": "lr x0.1 every third of the epochs",
    "multistep": "lr x0.1 at 50%% and 75%% of the epochs",
    "exponential": "lr x0.9 every epoch",
    "onecycle": "one cycle: warm up to lr over 30%% of the steps, then anneal",
    "warmup": "linear warm-up from lr/10 during the first epoch, then constant",
    "inverse-time": "lr / (1 + epoch)",
}

BUILTIN_DATASETS = ("fashion-mnist-small", "fashion-mnist", "mnist", "cifar10")
_DATASET_ALIASES = {"fashion-mnist-small": "fashion-mnist-small", "fashion-mnist": "fashion-mnist",
                    "fashionmnist": "fashion-mnist", "mnist": "mnist", "cifar10": "cifar10", "cifar-10": "cifar10"}
_DATASET_HELP = "use fashion-mnist-small, fashion-mnist, mnist, cifar10, folder:PATH or csv:TRAIN_CSV"

# Schedules whose shape depends on the number of epochs planned.
_PLANNED_SCHEDULES = ("cosine", "step", "multistep")

# The options of `npgrad train` that make up a config (the others only steer this invocation).
TRAIN_OPTIONS = (
    "model", "model_arg", "dataset", "data_dir", "image_root", "image_col", "label_col", "image_size", "channels",
    "val_split", "augment", "epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "scheduler",
    "scheduler_arg", "early_stopping", "seed", "out", "limit_batches",
)
# What may change when resuming: training longer, and where the data now lives.
RESUME_OPTIONS = ("epochs", "data_dir", "image_root")


# ---------------------------------------------------------------------------- datasets
def parse_dataset(spec: str) -> tuple[str, str | None]:
    """``(kind, path)`` of a ``--dataset`` spec: a built-in name, ``folder:PATH`` or ``csv:FILE``."""
    kind, sep, path = spec.partition(":")
    if sep and kind in ("folder", "csv"):
        if not path:
            raise UsageError(f"--dataset {spec}: the path after '{kind}:' is missing")
        return kind, path
    name = _DATASET_ALIASES.get(spec.lower().replace("_", "-"))
    if name is None:
        raise UsageError(f"unknown dataset '{spec}'; {_DATASET_HELP}")
    return name, None


def dataset_slug(spec: str) -> str:
    """A short file-name-safe name of a dataset spec, for run-folder names."""
    kind, path = parse_dataset(spec)
    if path is None:
        return kind
    stem = Path(path.rstrip("/\\")).stem or kind
    return f"{kind}-" + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)


# ----------------------------------------------------------------------------- configs
def make_config(options: dict[str, Any]) -> dict[str, Any]:
    """The config of a new run from ``npgrad train`` options (None/absent = default).

    Checks every option that can be checked without touching the data; the dataset part
    (classes, image size, channels, normalisation) is completed by `build_datasets`.
    """
    from npgrad import __version__

    o = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    kind, _ = parse_dataset(o["dataset"])
    if kind in BUILTIN_DATASETS:
        for name in ("channels", "image_col", "label_col", "image_root"):
            if options.get(name) is not None:
                raise UsageError(f"--{name.replace('_', '-')} applies to folder: and csv: datasets, not to {kind}")
    elif kind == "folder" and any(options.get(n) is not None for n in ("image_col", "label_col", "image_root")):
        raise UsageError("--image-col, --label-col and --image-root apply to csv: datasets, not to folder:")
    if not 0 <= o["val_split"] < 1:
        raise UsageError(f"--val-split must be in [0, 1), got {o['val_split']}")
    optimizer = {"name": o["optimizer"], **OPTIMIZERS[o["optimizer"]]}
    for name in ("lr", "momentum", "weight_decay"):
        if options.get(name) is not None:
            if name not in optimizer:
                raise UsageError(f"--{name.replace('_', '-')} does not apply to the {o['optimizer']} optimizer")
            optimizer[name] = float(options[name])
    return {
        "npgrad_version": __version__,
        "model": {"name": o["model"], "options": dict(o.get("model_arg") or [])},
        "data": {
            "dataset": o["dataset"],
            "data_dir": o["data_dir"] if kind in _BUILTIN_FILES else None,
            "image_root": o.get("image_root"),
            "image_col": o["image_col"],
            "label_col": o["label_col"],
            "image_size": options.get("image_size"),  # None: the dataset's own (64 for folder:/csv:)
            "channels": o["channels"] if kind in ("folder", "csv") else None,
            "val_split": o["val_split"],
            "augment": bool(o["augment"]),
        },
        "optimizer": optimizer,
        "scheduler": {"name": o["scheduler"], "args": dict(o.get("scheduler_arg") or [])},
        "training": {
            "epochs": o["epochs"],
            "batch_size": o["batch_size"],
            "seed": o["seed"],
            "early_stopping": o.get("early_stopping"),
            "limit_batches": o.get("limit_batches"),
        },
    }


def make_run_dir(out: str | os.PathLike, config: dict[str, Any]) -> Path:
    """Create ``out/<model>-<dataset>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``... if taken); never reuses a folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    base = f"{config['model']['name']}-{dataset_slug(config['data']['dataset'])}-{time.strftime('%Y%m%d-%H%M%S')}"
    for i in itertools.count(1):
        run_dir = out / (base if i == 1 else f"{base}-{i}")
        try:
            run_dir.mkdir(parents=True)
        except FileExistsError:
            if not out.is_dir():  # a parent of out is a file
                raise UsageError(f"cannot create the run folder {run_dir}: a parent is a file") from None
            continue
        except OSError as exc:
            raise UsageError(f"cannot create the run folder {run_dir}: {exc.strerror or exc}") from None
        if not os.access(run_dir, os.W_OK):
            raise UsageError(f"the run folder {run_dir} is not writable")
        return run_dir
    raise AssertionError("unreachable")


def write_config(config: dict[str, Any], run_dir: Path) -> None:
    from npgrad._fileio import atomic_write

    with atomic_write(run_dir / "config.json") as f:
        json.dump(config, f, indent=2)
        f.write("\n")


# ------------------------------------------------------------------ model and optimisation
def build_model(config: dict[str, Any]) -> Any:
    """The zoo model named in ``config``, for its channels, image size and classes (fresh weights)."""
    from npgrad import models

    name, options = config["model"]["name"], config["model"].get("options", {})
    if name not in models.list():
        raise UsageError(f"unknown model '{name}'; available: {', '.join(models.list())}")
    try:
        return models.create(name, in_channels=config["in_channels"], num_classes=config["num_classes"],
                             image_size=config["image_size"], **options)
    except (ValueError, TypeError) as exc:  # a size the model cannot take, or a bad --model-arg
        raise UsageError(_one_line(exc)) from None


def build_optimizer(config: dict[str, Any], model: Any) -> Any:
    from npgrad import optim

    settings = dict(config["optimizer"])
    cls = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop, "adagrad": optim.Adagrad}
    return cls[settings.pop("name")](model.parameters(), **settings)


def build_scheduler(config: dict[str, Any], optimizer: Any, steps_per_epoch: int) -> tuple[Any, str]:
    """``(scheduler or None, 'epoch' | 'step')``: the schedule of ``config`` and how often to step it."""
    from npgrad.optim import lr_scheduler as S

    name = config["scheduler"]["name"]
    epochs = config["training"]["epochs"]
    total_steps = max(1, epochs * steps_per_epoch)
    choices: dict[str, tuple[Any, dict[str, Any], str]] = {
        "cosine": (S.CosineAnnealingLR, {"T_max": total_steps}, "step"),
        "step": (S.StepLR, {"step_size": max(1, epochs // 3), "gamma": 0.1}, "epoch"),
        "multistep": (S.MultiStepLR, {"milestones": sorted({max(1, epochs // 2), max(1, 3 * epochs // 4)}), "gamma": 0.1},
                      "epoch"),
        "exponential": (S.ExponentialLR, {"gamma": 0.9}, "epoch"),
        "onecycle": (S.OneCycleLR, {"max_lr": config["optimizer"]["lr"], "total_steps": total_steps}, "step"),
        "warmup": (S.LinearLR, {"start_factor": 0.1, "end_factor": 1.0, "total_iters": steps_per_epoch}, "step"),
        "inverse-time": (S.InverseTimeLR, {"decay_rate": 1.0}, "epoch"),
    }
    if name == "none":
        if config["scheduler"].get("args"):
            raise UsageError("--scheduler-arg needs a --scheduler")
        return None, "epoch"
    cls, kwargs, interval = choices[name]
    kwargs.update(config["scheduler"].get("args") or {})
    try:
        return cls(optimizer, **kwargs), interval
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--scheduler {name}: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -------------------------------------------------------------------------------- data
_IDX_FILES = "{train,t10k}-images-idx3-ubyte[.gz] and {train,t10k}-labels-idx1-ubyte[.gz]"
_BUILTIN_FILES = {
    "fashion-mnist": _IDX_FILES,
    "mnist": _IDX_FILES,
    "cifar10": "data_batch_1..5 and test_batch (.bin or python pickles), directly or in cifar-10-batches-bin/-py",
}
# Statistics for Normalize are estimated on at most this many training images (decoding files is slow).
_STATS_SAMPLES = {"array": 10000, "files": 256}


def _builtin(kind: str, data_dir: str | None, train: bool) -> Any:
    from npgrad import data

    if kind == "fashion-mnist-small":
        return data.fashion_mnist_small(train=train)
    root = Path(data_dir or DEFAULTS["data_dir"])
    if not root.is_dir():
        raise UsageError(f"data folder {root} not found: --dataset {kind} reads {_BUILTIN_FILES[kind]} from --data-dir")
    cls = {"fashion-mnist": data.FashionMNIST, "mnist": data.MNIST, "cifar10": data.CIFAR10}[kind]
    try:
        return cls(root, train=train)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(_one_line(exc)) from None


def _image_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    return {"image_size": config["image_size"], "channels": config["in_channels"]}


def _file_dataset(make: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return make(*args, **kwargs)
    except (FileNotFoundError, ValueError, OSError) as exc:  # the user's files: missing, empty, malformed
        raise UsageError(_one_line(exc)) from None


def _folder(path: str | os.PathLike, config: dict[str, Any], classes: list[str] | None = None) -> Any:
    from npgrad import data

    return _file_dataset(data.ImageFolder, path, on_error="skip", classes=classes, **_image_kwargs(config))


def _csv(path: str | os.PathLike, config: dict[str, Any], label: bool = True, classes: list[str] | None = None,
         image_col: str | None = None) -> Any:
    from npgrad import data

    d = config["data"]
    if not Path(path).is_file():
        raise UsageError(f"CSV file {path} not found")
    return _file_dataset(
        data.CSVImageDataset, path, image_root=d.get("image_root"), image_col=image_col or d["image_col"],
        label_col=d["label_col"] if label else None, on_error="skip" if label else "raise", classes=classes,
        **_image_kwargs(config),
    )


def build_datasets(config: dict[str, Any]) -> tuple[Any, Any]:
    """``(train, val)`` datasets of a run config (``val`` None without validation data).

    A new config (no ``classes`` yet) is completed here with ``classes``, ``num_classes``,
    ``in_channels``, ``image_size`` and ``preprocessing``; an existing one (resume) is checked
    against the data instead: the classes must not have changed.
    """
    from npgrad.data import random_split

    d = config["data"]
    kind, path = parse_dataset(d["dataset"])
    new = "classes" not in config
    if new:
        native = 32 if kind == "cifar10" else 28
        config["image_size"] = d["image_size"] or (native if kind in BUILTIN_DATASETS else DEFAULTS["image_size"])
        config["in_channels"] = d["channels"] or (3 if kind == "cifar10" else 1)
    test = None
    if kind in BUILTIN_DATASETS:
        train, test = _builtin(kind, d["data_dir"], True), _builtin(kind, d["data_dir"], False)
    elif kind == "folder":
        root = Path(path)
        if not root.is_dir():
            raise UsageError(f"dataset folder {root} not found; expected {root}/training_set/<class>/<images> "
                             f"(and optionally {root}/test_set/<class>/<images>) or {root}/<class>/<images>")
        if (root / "training_set").is_dir():
            train = _folder(root / "training_set", config)
            if (root / "test_set").is_dir():
                test = _folder(root / "test_set", config, classes=train.classes)
        else:
            train = _folder(root, config)
    else:
        train = _csv(path, config)
    classes = [str(c) for c in train.classes]
    if new:
        config["classes"] = classes
        config["num_classes"] = len(classes)
    elif classes != config["classes"]:
        raise UsageError(f"the data of {d['dataset']} now has classes {classes}, but the run was trained on {config['classes']}")
    if len(classes) < 2:
        raise UsageError(f"{d['dataset']} has {len(classes)} class; classification needs at least 2")
    val = test
    if val is None and d["val_split"]:
        n_val = max(1, round(d["val_split"] * len(train)))
        if n_val >= len(train):
            raise UsageError(f"--val-split {d['val_split']} leaves no training images out of {len(train)}")
        train, val = random_split(train, [len(train) - n_val, n_val], seed=config["training"]["seed"])
    if new:
        mean, std = _channel_stats(train, config)
        config["preprocessing"] = {"channels": config["in_channels"], "image_size": config["image_size"],
                                   "mean": mean, "std": std}
        config["augmentation"] = _augmentation(kind, config) if d["augment"] else None
    return train, val


def _augmentation(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    # Mirrored digits are other digits (or none), so MNIST gets crops only; clothes, objects,
    # cats and dogs look the same mirrored.
    return {"crop_padding": max(2, config["image_size"] // 8), "flip": kind != "mnist"}


def _channel_stats(dataset: Any, config: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of (a fixed random sample of) the training images, in [0, 1] units."""
    from npgrad.data import DataLoader, Subset, transforms

    limit = _STATS_SAMPLES["array" if hasattr(dataset, "get_batch") else "files"]
    if len(dataset) > limit:
        rng = np.random.default_rng(config["training"]["seed"])
        dataset = Subset(dataset, np.sort(rng.choice(len(dataset), limit, replace=False)))
    size = config["image_size"]
    loader = DataLoader(dataset, batch_size=512, transform=transforms.Compose([transforms.Resize(size), transforms.ToFloat()]))
    total = np.zeros(config["in_channels"])
    total_sq = np.zeros(config["in_channels"])
    count = 0
    for x, _ in loader:
        x = x.astype(np.float64)
        total += x.sum(axis=(0, 2, 3))
        total_sq += (x * x).sum(axis=(0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean * mean, 0))
    return [round(float(m), 4) for m in mean], [round(float(max(s, 1e-3)), 4) for s in std]


def preprocessing(config: dict[str, Any], train: bool = False) -> Any:
    """The batch transform of a run: (training augmentation,) resize, to float, normalise."""
    from npgrad.data import transforms as T

    p = config["preprocessing"]
    steps: list[Any] = [T.Resize(p["image_size"])]
    augment = config.get("augmentation")
    if train and augment:
        steps.append(T.RandomCrop(p["image_size"], padding=augment["crop_padding"]))
        if augment["flip"]:
            steps.append(T.RandomHorizontalFlip())
    steps += [T.ToFloat(), T.Normalize(p["mean"], p["std"])]
    return T.Compose(steps)


def make_loader(config: dict[str, Any], dataset: Any, train: bool = False, batch_size: int | None = None) -> Any:
    """A DataLoader with the run's preprocessing: shuffled and augmented for training, in order otherwise.

    Training drops the last incomplete batch (when there is more than one batch) so that batch
    norm never sees a batch of one image.
    """
    from npgrad.data import DataLoader

    batch_size = batch_size or config["training"]["batch_size"]
    return DataLoader(dataset, batch_size=batch_size, shuffle=train, drop_last=train and len(dataset) > batch_size,
                      seed=config["training"]["seed"], transform=preprocessing(config, train=train))


def eval_dataset(config: dict[str, Any], spec: str | None, data_dir: str | None = None,
                 image_root: str | None = None) -> tuple[str, Any]:
    """``(description, dataset)`` to evaluate a run's model on.

    Without ``spec``: the run's own validation data (its test split, or the same held-out split).
    With one: a built-in dataset's test split, ``folder:PATH`` (``PATH/test_set`` if it exists,
    else all of ``PATH``) or ``csv:CSV`` (every row), labelled with the run's classes.
    """
    config = json.loads(json.dumps(config))  # a private copy: the overrides below are for this call only
    if data_dir is not None:
        config["data"]["data_dir"] = data_dir
    if image_root is not None:
        config["data"]["image_root"] = image_root
    if spec is None:
        _, val = build_datasets(config)
        if val is None:
            raise UsageError("the run has no validation data (--val-split 0); pass --dataset to evaluate on")
        return f"{config['data']['dataset']} (validation)", val
    kind, path = parse_dataset(spec)
    classes = config["classes"]
    if kind in BUILTIN_DATASETS:
        dataset = _builtin(kind, config["data"]["data_dir"], train=False)
        channels = dataset[0][0].shape[0]
        if channels != config["in_channels"]:
            raise UsageError(f"{kind} images have {channels} channel(s) but the model was trained on {config['in_channels']}")
        if [str(c) for c in dataset.classes] != classes:
            raise UsageError(f"{kind} has classes {list(dataset.classes)} but the model was trained on {classes}")
        return f"{kind} (test)", dataset
    if kind == "folder":
        root = Path(path)
        if not root.is_dir():
            raise UsageError(f"dataset folder {root} not found")
        root = root / "test_set" if (root / "test_set").is_dir() else root
        return str(root), _folder(root, config, classes=classes)
    return str(path), _csv(path, config, classes=classes)


def prediction_dataset(config: dict[str, Any], source: str, image_col: str | None = None,
                       image_root: str | None = None) -> Any:
    """The unlabelled images to predict: every image file under a folder, or the rows of a CSV.

    Images are decoded at the run's size and channels. The dataset's ``image_ids`` are what the
    submission's image column repeats: paths relative to the folder, or the CSV's values as given.
    """
    from npgrad import data

    path = Path(source)
    if path.is_dir():
        return _file_dataset(data.ImageFiles, path, **_image_kwargs(config))
    if not path.is_file():
        raise UsageError(f"--input {source}: no such folder or CSV file")
    if config["data"].get("dataset", "").startswith("csv:") and image_col is None:
        image_col = config["data"]["image_col"]
    config = {**config, "data": {**config["data"], "image_root": image_root}}
    return _csv(path, config, label=False, image_col=image_col or DEFAULTS["image_col"])


# ----------------------------------------------------------------------------- sessions
@dataclass
class Session:
    """Everything `npgrad train` builds for one run, ready to make its `Trainer`."""

    config: dict[str, Any]
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
    def num_parameters(self) -> int:
        return self.model.num_parameters()

    @property
    def train_size(self) -> int:
        return len(self.train_loader.dataset)

    @property
    def val_size(self) -> int:
        return len(self.val_loader.dataset) if self.val_loader is not None else 0

    def trainer(self, progress: bool | None = None, log: Any = print) -> Any:
        from npgrad.train.trainer import Trainer

        t = self.config["training"]
        trainer = Trainer(
            self.model, self.optimizer, scheduler=self.scheduler, scheduler_interval=self.scheduler_interval,
            out_dir=self.run_dir, config=self.config, early_stopping=t.get("early_stopping"), progress=progress,
            log=log, limit_batches=t.get("limit_batches"),
        )
        if self.state is not None:
            trainer.load_state_dict(self.state)
        return trainer


def _build(config: dict[str, Any]) -> tuple[Any, Any, Any, Any, Any, str]:
    """Data, loaders, model (seeded), optimizer and scheduler of a config."""
    import npgrad

    train, val = build_datasets(config)
    npgrad.manual_seed(config["training"]["seed"])
    model = build_model(config)
    train_loader = make_loader(config, train, train=True)
    val_loader = make_loader(config, val) if val is not None else None
    limit = config["training"].get("limit_batches")
    steps = min(len(train_loader), limit) if limit else len(train_loader)
    optimizer = build_optimizer(config, model)
    scheduler, interval = build_scheduler(config, optimizer, steps)
    return model, optimizer, scheduler, interval, train_loader, val_loader


def new_session(options: dict[str, Any]) -> Session:
    """Build a new run from ``npgrad train`` options and create its run folder with ``config.json``."""
    config = make_config(options)
    _check_model_name(config["model"]["name"])
    model, optimizer, scheduler, interval, train_loader, val_loader = _build(config)
    run_dir = make_run_dir(options.get("out") or DEFAULTS["out"], config)
    write_config(config, run_dir)
    return Session(config, run_dir, model, optimizer, scheduler, interval, train_loader, val_loader)


def resume_session(path: str, options: dict[str, Any]) -> Session:
    """Rebuild the run of checkpoint ``path`` (a run folder means its last.safetensors) to continue it.

    Only `RESUME_OPTIONS` may be given: a resumed run keeps its settings, so that it continues
    exactly as it would have without the interruption.
    """
    from npgrad.train.checkpoint import load_checkpoint

    fixed = [k for k in options if k not in RESUME_OPTIONS]
    if fixed:
        raise UsageError(f"--{fixed[0].replace('_', '-')} cannot be changed when resuming: the run keeps its settings "
                         f"(only --epochs, --data-dir and --image-root may be given with --resume)")
    state = load_checkpoint(path, prefer="last")
    config = state["config"]
    done = int(state["epoch"])
    notes = []
    if "epochs" in options:
        if options["epochs"] < done:
            raise UsageError(f"--epochs {options['epochs']}: the run has already completed {done} epochs")
        planned = config["training"]["epochs"]
        name = config["scheduler"]["name"]
        if options["epochs"] != planned and name == "onecycle":
            raise UsageError(f"a onecycle run cannot be extended: its cycle ends after the planned {planned} epochs")
        if options["epochs"] != planned and name in _PLANNED_SCHEDULES:
            notes.append(f"note: the {name} schedule was planned for {planned} epochs; it continues from its saved state, "
                         f"not stretched to {options['epochs']}")
        config["training"]["epochs"] = options["epochs"]
    for key in ("data_dir", "image_root"):
        if key in options:
            config["data"][key] = options[key]
    if done >= config["training"]["epochs"] and not state.get("step"):
        raise UsageError(f"the run has already completed its {done} epochs; pass --epochs N (N > {done}) to train longer")
    model, optimizer, scheduler, interval, train_loader, val_loader = _build(config)
    run_dir = Path(state["path"]).parent
    write_config(config, run_dir)
    return Session(config, run_dir, model, optimizer, scheduler, interval, train_loader, val_loader, state, state["path"], notes)


@dataclass
class InferenceSetup:
    """A trained model rebuilt from a checkpoint, in eval mode, with its config."""

    config: dict[str, Any]
    path: str
    epoch: int
    model: Any = field(repr=False)

    def trainer(self, progress: bool | None = False) -> Any:
        from npgrad.train.trainer import Trainer

        return Trainer(self.model, optimizer=None, progress=progress, log=None)


def load_for_inference(path: str) -> InferenceSetup:
    """Rebuild the model of checkpoint ``path`` (a run folder means its best.safetensors) with its weights."""
    from npgrad.train.checkpoint import load_checkpoint

    state = load_checkpoint(path, prefer="best")
    config = state["config"]
    model = build_model(config)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise UsageError(f"checkpoint {state['path']} does not fit model {config['model']['name']}: {_one_line(exc)}") from None
    model.eval()
    return InferenceSetup(config, state["path"], int(state["epoch"]), model)


def _check_model_name(name: str) -> None:
    from npgrad import models

    if name not in models.list():
        raise UsageError(f"unknown model '{name}'; available: {', '.join(models.list())}")


def model_table(in_channels: int = 1, image_size: int = 28, num_classes: int = 10) -> list[tuple[str, str, str]]:
    """``(names, parameter count, description)`` per zoo model (aliases share a row) for the given input."""
    from npgrad import models

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
        rows.append((label, count, models.get(main).description))
    return sorted(rows)
