import json

import numpy as np
import pytest

from npgrad import models
from npgrad.cli import builders, options, session
from npgrad.cli.config import DataSpec
from npgrad.errors import InvalidArgumentError, NpgradError
from npgrad.optim.registry import OPTIMIZERS, SCHEDULERS


def _config(**opts):
    config = options.make_config(opts)
    config.spec = DataSpec(["a", "b", "c"], in_channels=1, image_size=8, mean=[0.5], std=[0.25])
    return config


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_builds_with_its_defaults(name):
    config = _config(optimizer=name, model="three_layer_convnet")  # a model without optimizer settings of its own
    model = builders.build_model(config)
    optimizer = builders.build_optimizer(config, model)
    assert optimizer.param_groups[0]["lr"] == OPTIMIZERS[name].defaults["lr"]


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_every_scheduler_builds_steps_and_round_trips(name):
    config = _config(scheduler=name, epochs=4, model="logistic_regression")
    optimizer = builders.build_optimizer(config, builders.build_model(config))
    scheduler, interval = builders.build_scheduler(config, optimizer, steps_per_epoch=5)
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


def test_a_model_s_own_optimizer_settings_apply_unless_another_optimizer_or_value_is_given():
    assert options.make_config({"model": "lenet"}).optimizer.settings == {"lr": 1e-3, "weight_decay": 0.0}  # adam
    assert options.make_config({"model": "logistic"}).optimizer.settings["lr"] == 0.01  # aliases too
    assert options.make_config({"model": "logistic", "lr": 0.2}).optimizer.lr == 0.2
    assert options.make_config({"model": "lenet", "optimizer": "sgd"}).optimizer.settings == OPTIMIZERS["sgd"].defaults


def test_scheduler_args_override_and_bad_ones_are_user_errors():
    config = _config(scheduler="step", scheduler_arg=[("gamma", 0.5)], model="logistic_regression")
    optimizer = builders.build_optimizer(config, builders.build_model(config))
    scheduler, _ = builders.build_scheduler(config, optimizer, 3)
    assert scheduler.gamma == 0.5
    config = _config(scheduler="step", scheduler_arg=[("nope", 1)], model="logistic_regression")
    with pytest.raises(InvalidArgumentError, match="--scheduler step:"):
        builders.build_scheduler(config, builders.build_optimizer(config, builders.build_model(config)), 3)


def test_dataset_specs():
    assert options.parse_dataset("fashion_mnist") == ("fashion-mnist", None)
    assert options.parse_dataset("CIFAR-10") == ("cifar10", None)
    assert options.parse_dataset("folder:data/pets") == ("folder", "data/pets")
    assert options.parse_dataset("csv:train.csv") == ("csv", "train.csv")
    assert options.dataset_slug("folder:/data/cats and dogs/") == "folder-cats_and_dogs"
    for bad in ("imagenet", "folder:", "csv:"):
        with pytest.raises(NpgradError):
            options.parse_dataset(bad)


def test_run_dirs_are_never_reused(tmp_path):
    config = _config()
    dirs = {session.make_run_dir(tmp_path, config) for _ in range(3)}
    assert len(dirs) == 3 and all(d.parent == tmp_path and d.name.startswith("lenet_bn-fashion-mnist-small-") for d in dirs)


def test_model_table_lists_each_model_once_with_counts():
    rows = builders.model_table()
    names = [r[0].split()[0] for r in rows]
    assert len(names) == len(set(names))
    assert {n for r in rows for n in r[0].replace("(", "").replace(")", "").replace(",", "").split()} == set(models.list())
    assert dict((r[0], r[1]) for r in rows)["lenet_bn"] == f"{models.create('lenet_bn').num_parameters():,}"
    by_name = {r[0].split()[0]: r for r in rows}
    assert "stem='auto'" in by_name["resnet"][3] and "width_ratio=1" in by_name["vgg"][3]
    assert by_name["lenet_bn"][4] == "sgd lr 0.1 (momentum 0.9, weight decay 0.0005)"


def test_the_data_spec_is_computed_once_and_the_config_is_left_alone():
    config = options.make_config({"dataset": "fashion-mnist-small"})
    spec, train, val, test, unreadable = builders.build_data(config)
    assert config.spec is None and config.data.image_size is None  # the user's choices are not enriched
    # validation is held out of the training data; the test split is kept apart for the final report
    assert (spec.in_channels, spec.image_size, spec.num_classes) == (1, 28, 10)
    assert (len(train), len(val), len(test), unreadable) == (9000, 1000, 2000, 0)
    assert not set(train.indices) & set(val.indices) and test.targets.shape == (2000,)
    x = train.get_batch(np.arange(len(train)))[0].astype(np.float64) / 255  # the whole set: below the sample limit
    assert spec.mean == [round(float(x.mean()), 4)] and spec.std == [round(float(x.std()), 4)]
