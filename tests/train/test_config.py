import json

import numpy as np
import pytest

from npgrad import models
from npgrad.train import config as cfg
from npgrad.train.errors import UsageError


def _config(**options):
    config = cfg.make_config(options)
    config.update(in_channels=1, num_classes=3, image_size=8, classes=["a", "b", "c"])
    return config


@pytest.mark.parametrize("name", list(cfg.OPTIMIZERS))
def test_every_optimizer_builds_with_its_defaults(name):
    config = _config(optimizer=name, model="logistic_regression")
    model = cfg.build_model(config)
    optimizer = cfg.build_optimizer(config, model)
    assert optimizer.param_groups[0]["lr"] == cfg.OPTIMIZERS[name]["lr"]


@pytest.mark.parametrize("name", list(cfg.SCHEDULERS))
def test_every_scheduler_builds_steps_and_round_trips(name):
    config = _config(scheduler=name, epochs=4, model="logistic_regression")
    optimizer = cfg.build_optimizer(config, cfg.build_model(config))
    scheduler, interval = cfg.build_scheduler(config, optimizer, steps_per_epoch=5)
    if name == "none":
        assert scheduler is None
        return
    steps = 4 * 5 if interval == "step" else 4
    lrs = []
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    assert all(np.isfinite(lrs)) and min(lrs) >= 0
    json.dumps(scheduler.state_dict())  # checkpointable as JSON values


def test_scheduler_args_override_and_bad_ones_are_usage_errors():
    config = _config(scheduler="step", scheduler_arg=[("gamma", 0.5)], model="logistic_regression")
    optimizer = cfg.build_optimizer(config, cfg.build_model(config))
    scheduler, _ = cfg.build_scheduler(config, optimizer, 3)
    assert scheduler.gamma == 0.5
    config = _config(scheduler="step", scheduler_arg=[("nope", 1)], model="logistic_regression")
    with pytest.raises(UsageError, match="--scheduler step:"):
        cfg.build_scheduler(config, cfg.build_optimizer(config, cfg.build_model(config)), 3)


def test_dataset_specs():
    assert cfg.parse_dataset("fashion_mnist") == ("fashion-mnist", None)
    assert cfg.parse_dataset("folder:data/pets") == ("folder", "data/pets")
    assert cfg.parse_dataset("csv:train.csv") == ("csv", "train.csv")
    assert cfg.dataset_slug("folder:/data/cats and dogs/") == "folder-cats_and_dogs"
    for bad in ("imagenet", "folder:", "csv:"):
        with pytest.raises(UsageError):
            cfg.parse_dataset(bad)


def test_run_dirs_are_never_reused(tmp_path):
    config = _config()
    dirs = {cfg.make_run_dir(tmp_path, config) for _ in range(3)}
    assert len(dirs) == 3 and all(d.parent == tmp_path and d.name.startswith("lenet_bn-fashion-mnist-small-") for d in dirs)


def test_model_table_lists_each_model_once_with_counts():
    rows = cfg.model_table()
    names = [r[0].split()[0] for r in rows]
    assert len(names) == len(set(names))
    assert {n for r in rows for n in r[0].replace("(", "").replace(")", "").replace(",", "").split()} == set(models.list())
    assert dict((r[0], r[1]) for r in rows)["lenet_bn"] == f"{models.create('lenet_bn').num_parameters():,}"
