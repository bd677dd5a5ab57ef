"""The run config: a few dataclasses, and their ``config.json`` form.

A `RunConfig` says everything needed to rebuild a run: what the user chose (`ModelConfig`,
`DataConfig`, `OptimizerConfig`, `SchedulerConfig`, `TrainingConfig`) and, once the data has
been read, what the data decided (`DataSpec`: classes, channels, size, normalisation,
augmentation), computed once by `npgrad.cli.builders.build_data` and never written back into
the user's choices. ``config.json`` (and the ``config`` entry of every checkpoint) keeps the
0.1 layout, so run folders of every release read alike and older releases read new ones::

    {"npgrad_version": "0.1.0",
     "model": {"name": "lenet_bn", "options": {}},
     "data": {"dataset": "fashion-mnist-small", "data_dir": null, "image_root": null, "image_col": "image",
              "label_col": "label", "image_size": null, "channels": null, "val_split": 0.1, "augment": false,
              "validation": "split", "skip_bad_images": false},
     "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0005},
     "scheduler": {"name": "cosine", "args": {}},
     "training": {"epochs": 15, "batch_size": 128, "seed": 0, "early_stopping": null, "limit_batches": null,
                  "limit_validation": true},
     "image_size": 28, "in_channels": 1, "classes": ["T-shirt/top", ...], "num_classes": 10,
     "preprocessing": {"channels": 1, "image_size": 28, "mean": [0.286], "std": [0.353]},
     "augmentation": null}

The last five keys are the `DataSpec`, flattened (``image_size`` and ``in_channels`` appear
twice there because 0.1 wrote them so). Keys added since 0.1 (``data.validation``,
``data.skip_bad_images``, ``training.limit_validation``) read as the 0.1 behaviour when absent;
0.1 itself ignores them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from npgrad.errors import CheckpointError


@dataclass
class ModelConfig:
    name: str = "lenet_bn"
    options: dict[str, Any] = field(default_factory=dict)  # the builder's own keywords (--model-arg)


@dataclass
class DataConfig:
    dataset: str = "fashion-mnist-small"  # a registered name, folder:PATH or csv:FILE
    data_dir: str | None = None  # only for registered datasets that read files
    image_root: str | None = None  # csv: only
    image_col: str = "image"
    label_col: str = "label"
    image_size: int | None = None  # None: the dataset's own (64 for folder:/csv:)
    channels: int | None = None  # folder:/csv: only
    val_split: float = 0.1  # of the training data, held out for validation (model selection)
    augment: bool = False
    # 'split': the val_split of the training data validates and a test split is only for the final report;
    # 'test': the test split validates (runs of npgrad 0.1, whose config.json has no such key).
    validation: str = "split"
    skip_bad_images: bool = False  # folder:/csv: images that cannot be decoded: skipped, else an error (0.1 skipped)


@dataclass
class OptimizerConfig:
    name: str = "sgd"
    settings: dict[str, float] = field(default_factory=dict)  # lr and the other hyper-parameters

    @property
    def lr(self) -> float:
        return self.settings["lr"]


@dataclass
class SchedulerConfig:
    name: str = "cosine"
    args: dict[str, Any] = field(default_factory=dict)  # overrides of the planned arguments (--scheduler-arg)


@dataclass
class TrainingConfig:
    epochs: int = 15
    batch_size: int = 128
    seed: int = 0
    early_stopping: int | None = None
    limit_batches: int | None = None
    limit_validation: bool = True  # limit_batches also limits validation and the test report (0.1: training only)


@dataclass
class Augmentation:
    crop_padding: int  # random crops after zero padding of this many pixels
    flip: bool  # random horizontal flips


@dataclass
class DataSpec:
    """What the data decided, computed once when a run starts: the model's input and output, the normalisation."""

    classes: list[str]
    in_channels: int
    image_size: int
    mean: list[float]
    std: list[float]
    augmentation: Augmentation | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)


# The values of keys added since 0.1 that keep a 0.1 run's behaviour (its config.json lacks them).
_DATA_0_1 = {"validation": "test", "skip_bad_images": True}
_TRAINING_0_1 = {"limit_validation": False}


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    spec: DataSpec | None = None  # None until the data has been read
    npgrad_version: str = ""

    @property
    def data_spec(self) -> DataSpec:
        """The `DataSpec`; a config without one has not been through `build_data` (a bug, not a user error)."""
        if self.spec is None:
            raise RuntimeError("RunConfig.spec is not computed yet: build the data first")
        return self.spec

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``config.json``, checkpoints), in the 0.1 layout."""
        out: dict[str, Any] = {
            "npgrad_version": self.npgrad_version,
            "model": dataclasses.asdict(self.model),
            "data": dataclasses.asdict(self.data),
            "optimizer": {"name": self.optimizer.name, **self.optimizer.settings},
            "scheduler": dataclasses.asdict(self.scheduler),
            "training": dataclasses.asdict(self.training),
        }
        s = self.spec
        if s is not None:
            out.update(image_size=s.image_size, in_channels=s.in_channels, classes=list(s.classes), num_classes=len(s.classes),
                       preprocessing={"channels": s.in_channels, "image_size": s.image_size, "mean": s.mean, "std": s.std},
                       augmentation=dataclasses.asdict(s.augmentation) if s.augmentation else None)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> RunConfig:
        """Read the JSON form (0.1 layout and later); ``source`` names the file in error messages."""
        try:
            optimizer = dict(d["optimizer"])
            spec = None
            if "classes" in d:
                p = d["preprocessing"]
                augment = d.get("augmentation")
                spec = DataSpec([str(c) for c in d["classes"]], int(d["in_channels"]), int(d["image_size"]),
                                list(p["mean"]), list(p["std"]), Augmentation(**augment) if augment else None)
            return cls(
                model=ModelConfig(**d["model"]), data=DataConfig(**{**_DATA_0_1, **d["data"]}),
                optimizer=OptimizerConfig(optimizer.pop("name"), optimizer),
                scheduler=SchedulerConfig(**d["scheduler"]), training=TrainingConfig(**{**_TRAINING_0_1, **d["training"]}),
                spec=spec, npgrad_version=str(d.get("npgrad_version", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"{source} holds no valid npgrad run config ({type(exc).__name__}: {exc})") from None
