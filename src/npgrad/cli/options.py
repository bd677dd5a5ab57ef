"""What a user can say to ``npgrad train``, and how it becomes a `RunConfig`.

Options come from the command line and from a ``--config run.toml`` file (the same names, in
the `RunConfig` sections); flags override the file, the file overrides the defaults. `make_config`
checks every option that can be checked without reading the data; `to_toml` writes a config back
as a file ``--config`` reads (``--print-config``). Option help and choices are generated from the
dataset, optimizer and scheduler registries.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

from npgrad import models
from npgrad.cli.config import DataConfig, ModelConfig, OptimizerConfig, RunConfig, SchedulerConfig, TrainingConfig
from npgrad.data.datasets.registry import datasets, find_dataset
from npgrad.errors import InvalidArgumentError, MissingFileError
from npgrad.optim.registry import OPTIMIZERS, SCHEDULERS, get_optimizer, get_scheduler

DEFAULT = RunConfig()
DEFAULT_OUT = "runs"
DEFAULT_DATA_DIR = "data"
# folder:/csv: images are decoded at this size and with these channels unless told otherwise.
FILE_IMAGE_SIZE = 64
FILE_CHANNELS = 3
FILE_KINDS = ("folder", "csv")

# The options of `npgrad train` that make up a config (the others only steer this invocation).
TRAIN_OPTIONS = (
    "model", "model_arg", "dataset", "data_dir", "image_root", "image_col", "label_col", "image_size", "channels",
    "val_split", "augment", "skip_bad_images", "epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "scheduler",
    "scheduler_arg", "early_stopping", "seed", "out", "limit_batches",
)
# What may change when resuming: training longer, and where the data now lives (a folder:/csv: path).
RESUME_OPTIONS = ("epochs", "dataset", "data_dir", "image_root")
_OPTIMIZER_FLAGS = ("lr", "momentum", "weight_decay")


# ------------------------------------------------------------------------- argument types
class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show defaults and keep the hand-wrapped epilogs as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        # Options whose default is decided later (None) say so in their own help text.
        if action.default is None or action.default is argparse.SUPPRESS or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    value = nonnegative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a number > 0, got 0")
    return value


def key_value(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got '{text}'")
    try:
        value = json.loads(raw)  # numbers, true/false, null, [lists]
    except json.JSONDecodeError:
        value = raw  # anything else is a string
    return key.replace("-", "_"), value


# ------------------------------------------------------------------- help from the registries
def datasets_epilog() -> str:
    """The ``datasets (--dataset):`` epilog: one line per registered dataset, then folder: and csv:."""
    rows = [(e.name, e.help) for e in datasets()]
    rows += [
        ("folder:PATH", "class-per-subfolder images: PATH/training_set/<class>/*.jpg and\n"
                        "PATH/test_set/<class>/*.jpg (the Kaggle cats-vs-dogs layout), or\n"
                        "PATH/<class>/*.jpg with a --val-split held out for validation"),
        ("csv:TRAIN_CSV", "a CSV with an image-path column and a label column (--image-col,\n"
                          "--label-col); paths are relative to the CSV's folder or --image-root;\n"
                          "a --val-split is held out for validation"),
    ]
    width = max(len(name) for name, _ in rows) + 2
    lines = ["datasets (--dataset):"]
    for name, text in rows:
        first, *rest = text.split("\n")
        lines.append(f"  {name:<{width}}{first}")
        lines += [" " * (width + 2) + line for line in rest]
    return "\n".join(lines) + "\n"


def dataset_choices() -> str:
    return ", ".join([e.name for e in datasets()] + ["folder:PATH", "csv:TRAIN_CSV"])


def lr_help() -> str:
    return hyper_help("lr", "learning rate")


def hyper_help(name: str, what: str) -> str:
    """Help of --lr / --momentum / --weight-decay: the optimizers it applies to, with their defaults."""
    defaults = ", ".join(f"{k} {v.defaults[name]:g}" for k, v in OPTIMIZERS.items() if name in v.defaults)
    return f"{what} (default: the model's optimizer settings, see 'npgrad models'; otherwise {defaults})"


def scheduler_help() -> str:
    return f"learning-rate schedule (default: {DEFAULT.scheduler.name}): " + "; ".join(
        f"{k}: {v.help}".replace("%", "%%") for k, v in SCHEDULERS.items())


# ------------------------------------------------------------------------------ dataset specs
def parse_dataset(spec: str) -> tuple[str, str | None]:
    """``(kind, path)`` of a ``--dataset`` spec: a registered name, ``folder:PATH`` or ``csv:FILE``."""
    kind, sep, path = spec.partition(":")
    if sep and kind in FILE_KINDS:
        if not path:
            raise InvalidArgumentError(f"--dataset {spec}: the path after '{kind}:' is missing")
        return kind, path
    entry = find_dataset(spec)
    if entry is None:
        raise InvalidArgumentError(f"unknown dataset '{spec}'; use {dataset_choices()}")
    return entry.name, None


def dataset_slug(spec: str) -> str:
    """A short file-name-safe name of a dataset spec, for run-folder names."""
    kind, path = parse_dataset(spec)
    if path is None:
        return kind
    stem = Path(path.rstrip("/\\")).stem or kind
    return f"{kind}-" + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)


# ------------------------------------------------------------------------------------ configs
def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _not_applicable(kind: str) -> tuple[str, ...]:
    """The data options that mean nothing for a dataset kind (a registered name, folder or csv)."""
    csv_only = ("image_col", "label_col", "image_root")
    return {"csv": (), "folder": csv_only}.get(kind, ("channels", "skip_bad_images", *csv_only))


def make_config(options: dict[str, Any]) -> RunConfig:
    """The `RunConfig` of a new run from ``npgrad train`` options (None/absent = default).

    ``options`` uses the option names (`TRAIN_OPTIONS`); ``optimizer_settings`` (from a config
    file) may set any hyper-parameter of the chosen optimizer, the flags override it.
    """
    from npgrad import __version__

    o = {k: v for k, v in options.items() if v is not None}
    d, t = DEFAULT.data, DEFAULT.training
    dataset = o.get("dataset", d.dataset)
    kind, _ = parse_dataset(dataset)
    entry = find_dataset(kind)
    given = [name for name in _not_applicable(kind) if name in o]
    if given and entry is not None:
        raise InvalidArgumentError(f"{_flag(given[0])} applies to folder: and csv: datasets, not to {kind}")
    if given:
        raise InvalidArgumentError("--image-col, --label-col and --image-root apply to csv: datasets, not to folder:")
    val_split = o.get("val_split", d.val_split)
    if not 0 <= val_split < 1:
        raise InvalidArgumentError(f"--val-split must be in [0, 1), got {val_split}")
    model = o.get("model", DEFAULT.model.name)
    recommended = dict(models.get(model).optimizer)  # the model's own default optimizer settings
    recommended_name = recommended.pop("name", DEFAULT.optimizer.name)
    optimizer = get_optimizer(o.get("optimizer", recommended_name))
    settings = dict(optimizer.defaults)
    if optimizer.name == recommended_name:
        settings.update(recommended)
    given = {**o.get("optimizer_settings", {}), **{k: o[k] for k in _OPTIMIZER_FLAGS if k in o}}
    for name, value in given.items():
        if name not in settings:
            raise InvalidArgumentError(f"{_flag(name)} does not apply to the {optimizer.name} optimizer")
        settings[name] = float(value)
    scheduler = get_scheduler(o.get("scheduler", DEFAULT.scheduler.name))
    return RunConfig(
        model=ModelConfig(model, dict(o.get("model_arg") or [])),
        data=DataConfig(
            dataset=dataset,
            data_dir=o.get("data_dir", DEFAULT_DATA_DIR) if entry is not None and entry.files is not None else None,
            image_root=o.get("image_root"), image_col=o.get("image_col", d.image_col),
            label_col=o.get("label_col", d.label_col), image_size=o.get("image_size"),
            channels=o.get("channels", FILE_CHANNELS) if kind in FILE_KINDS else None,
            val_split=val_split, augment=bool(o.get("augment", d.augment)),
            skip_bad_images=bool(o.get("skip_bad_images", d.skip_bad_images)),
        ),
        optimizer=OptimizerConfig(optimizer.name, settings),
        scheduler=SchedulerConfig(scheduler.name, dict(o.get("scheduler_arg") or [])),
        training=TrainingConfig(o.get("epochs", t.epochs), o.get("batch_size", t.batch_size), o.get("seed", t.seed),
                                o.get("early_stopping"), o.get("limit_batches")),
        npgrad_version=__version__,
    )


# ------------------------------------------------------------------------------- TOML files
# (section, key) of a config file -> option name; model.options, scheduler.args and optimizer
# hyper-parameters are handled separately.
_FILE_KEYS = {
    ("model", "name"): "model", ("optimizer", "name"): "optimizer", ("scheduler", "name"): "scheduler",
    **{("data", f.name): f.name for f in dataclasses.fields(DataConfig)},
    **{("training", f.name): f.name for f in dataclasses.fields(TrainingConfig)},
}


def read_config_file(path: str) -> dict[str, Any]:
    """The options of a TOML config file (see `to_toml` for its layout)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib

    file = Path(path)
    if not file.is_file():
        raise MissingFileError(f"--config {path}: no such file")
    try:
        table = tomllib.loads(file.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgumentError(f"--config {path}: not a valid TOML file ({exc})") from None
    options: dict[str, Any] = {}
    for section, values in table.items():
        if section == "out" and isinstance(values, str):
            options["out"] = values
            continue
        if section not in ("model", "data", "optimizer", "scheduler", "training") or not isinstance(values, dict):
            raise InvalidArgumentError(f"--config {path}: unknown entry '{section}'; expected out and the tables "
                                       f"[model], [data], [optimizer], [scheduler], [training]")
        for key, value in values.items():
            if (section, key) in _FILE_KEYS:
                options[_FILE_KEYS[section, key]] = value
            elif (section, key) == ("model", "options") and isinstance(value, dict):
                options["model_arg"] = list(value.items())
            elif (section, key) == ("scheduler", "args") and isinstance(value, dict):
                options["scheduler_arg"] = list(value.items())
            elif section == "optimizer":
                options.setdefault("optimizer_settings", {})[key] = value
            else:
                raise InvalidArgumentError(f"--config {path}: unknown key '{key}' in [{section}]")
    return options


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else "nan" if value != value else repr(value)
    if isinstance(value, (int, str)):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(_toml_value, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None) + "}"
    raise InvalidArgumentError(f"cannot write {value!r} to a TOML config")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def to_toml(config: RunConfig, out: str) -> str:
    """The user's part of ``config`` (not the data-derived `DataSpec`) as a TOML config file; None values are left out."""
    d = config.to_dict()
    skip = _not_applicable(parse_dataset(config.data.dataset)[0])
    lines = [f"out = {_toml_value(out)}"]
    for section in ("model", "data", "optimizer", "scheduler", "training"):
        lines += ["", f"[{section}]"]
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in d[section].items()
                  if v is not None and not (section == "data" and k in skip)]
    return "\n".join(lines) + "\n"
