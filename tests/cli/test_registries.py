"""One registration in one place adds a dataset, an optimizer or a schedule to ``npgrad train``."""

import json

import numpy as np
import pytest

from npgrad import optim
from npgrad.cli import build_parser, main
from npgrad.data import TensorDataset
from npgrad.data.datasets.registry import register_dataset, unregister_dataset
from npgrad.optim import lr_scheduler
from npgrad.optim.registry import OPTIMIZERS, SCHEDULERS, register_optimizer, register_scheduler


def _toy(root, train):
    """Bright images are class 'on', dark ones 'off': 3x6x6 RGB."""
    rng = np.random.default_rng(0 if train else 1)
    y = np.arange(40 if train else 12) % 2
    x = (rng.integers(0, 50, (len(y), 3, 6, 6)) + 180 * y[:, None, None, None]).astype(np.uint8)
    return TensorDataset(x, y, classes=["off", "on"])


class ToySGD(optim.SGD):
    """SGD under another name: what a user's own optimizer class looks like to the registry."""


@pytest.fixture
def toy_registrations():
    register_dataset("toy-lights", _toy, size=6, channels=3, flip=False, aliases=("toy",), help="bright or dark toy images")
    register_optimizer("toysgd", ToySGD, lr=0.05, momentum=0.5)
    register_scheduler("halving", lr_scheduler.StepLR, lambda plan: {"step_size": 1, "gamma": 0.5}, interval="epoch",
                       help="lr x0.5 every epoch")
    yield
    unregister_dataset("toy-lights")
    del OPTIMIZERS["toysgd"], SCHEDULERS["halving"]


def test_a_registered_dataset_optimizer_and_schedule_train_through_the_cli(tmp_path, capsys, toy_registrations):
    help_text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert "toy-lights" in help_text and "bright or dark toy images" in help_text
    assert "toysgd" in help_text and "halving: lr x0.5 every epoch" in help_text and "toysgd 0.05" in help_text

    argv = ["train", "--dataset", "toy", "--optimizer", "toysgd", "--scheduler", "halving", "--model", "logistic",
            "--epochs", "2", "--batch-size", "8", "--augment", "--out", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "toy: 36 train / 4 val / 12 test images" in out and "3x6x6 -> 2 classes" in out
    assert "toysgd lr 0.05 (momentum 0.5)" in out
    (run,) = tmp_path.iterdir()
    assert run.name.startswith("logistic-toy-lights-")
    config = json.loads((run / "config.json").read_text())
    assert config["augmentation"] == {"crop_padding": 2, "flip": False}  # the dataset's augmentation policy
    assert config["data"]["dataset"] == "toy" and config["data"]["data_dir"] is None  # no files: no data dir
    history = json.loads((run / "history.json").read_text())
    assert [r["lr"] for r in history] == [0.05, 0.025]
    assert main(["eval", str(run)]) == 0 and "toy (test): 12 images" in capsys.readouterr().out
    assert main([*argv, "--momentum", "0.9", "--weight-decay", "0.1"]) == 2
    assert "--weight-decay does not apply to the toysgd optimizer" in capsys.readouterr().err
