"""The run config: typed, written as the 0.1 layout, read back from a run folder made by npgrad 0.1, and TOML files."""

import json
import shutil
from pathlib import Path

import pytest

from npgrad.cli import main
from npgrad.cli.config import RunConfig
from npgrad.train import load_checkpoint

# A run folder written by npgrad 0.1 (commit 17b292c, before the cli package): `npgrad train --model logistic
# --epochs 1 --batch-size 64 --limit-batches 3 --augment`, then resumed with --epochs 2 and stopped by Ctrl-C
# after one step (last.safetensors is mid-epoch). curves.png left out to keep the fixture small.
RUN_0_1 = Path(__file__).parent / "fixtures" / "run_v0_1"
# What npgrad 0.1 printed / wrote for that folder (recorded with the 0.1 code, not computed here).
EVAL_0_1 = "loss 1.6314  accuracy 0.4370  top-5 0.8650"
RESUMED_EPOCH_2_0_1 = {"epoch": 2, "lr": 0.0, "train_loss": 1.8132261037826538, "train_acc": 0.4114583333333333,
                       "train_top5": 0.8854166666666666, "val_loss": 3.031226514816284, "val_acc": 0.4185, "val_top5": 0.9285}


def test_the_0_1_config_json_reads_into_a_typed_config_and_writes_back_identically():
    raw = json.loads((RUN_0_1 / "config.json").read_text())
    config = RunConfig.from_dict(raw)
    assert config.model.name == "logistic" and config.optimizer.lr == 0.1 and config.training.epochs == 2
    assert config.spec.image_size == 28 and config.spec.num_classes == 10 and config.spec.augmentation.flip
    # written back identically, plus the keys added since 0.1 with the values that keep 0.1's behaviour
    assert config.data.validation == "test"
    assert config.to_dict() == {**raw, "data": {**raw["data"], "validation": "test", "skip_bad_images": True},
                                "training": {**raw["training"], "limit_validation": False}}


def test_a_0_1_run_folder_evaluates_predicts_shows_info_and_resumes(tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(RUN_0_1, run)
    assert main(["eval", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "data fashion-mnist-small (validation): 2,000 images" in out and EVAL_0_1 in out
    assert main(["info", str(run / "last.safetensors")]) == 0
    assert "1 epochs completed + 1 steps of epoch 2 (interrupted)" in capsys.readouterr().out
    images = tmp_path / "images"
    images.mkdir()
    from PIL import Image

    Image.new("L", (28, 28), 200).save(images / "a.png")
    assert main(["predict", str(run), "--input", str(images), "--out", str(tmp_path / "s.csv")]) == 0
    assert (tmp_path / "s.csv").read_text().splitlines()[1].startswith("a.png,")

    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert "resuming" in capsys.readouterr().out and "at epoch 2, step 2" in (run / "train.log").read_text()
    last = load_checkpoint(run / "last.safetensors")
    epoch_2 = {k: v for k, v in last["history"][1].items() if k not in ("time_s", "img_per_s")}
    # What 0.1 itself computed when resuming, to float32 rounding: the losses are float32 sums whose last bits
    # depend on the BLAS kernel the machine picks (bit-identical on the machine that recorded them). A 0.1 run's
    # --limit-batches limits training only, as it did then (new runs limit validation too).
    assert epoch_2 == pytest.approx(RESUMED_EPOCH_2_0_1, rel=1e-6)
    assert json.loads((run / "config.json").read_text()) == last["config"]


def _print_config(capsys, *argv):
    assert main(["train", "--print-config", *argv]) == 0
    return capsys.readouterr().out


def test_print_config_then_config_file_round_trips_and_flags_override(tmp_path, capsys):
    text = _print_config(capsys, "--model", "mlp", "--model-arg", "hidden_dims=[16]", "--optimizer", "adam",
                         "--scheduler-arg", "eta_min=0.001", "--epochs", "3", "--out", str(tmp_path / "runs"))
    assert '[model]\nname = "mlp"\noptions = {hidden_dims = [16]}' in text and "[optimizer]\nname = \"adam\"\nlr = 0.001" in text
    assert "early_stopping" not in text  # None values are left out (TOML has no null)
    file = tmp_path / "run.toml"
    file.write_text(text)
    assert _print_config(capsys, "--config", str(file)) == text
    overridden = _print_config(capsys, "--config", str(file), "--epochs", "1", "--lr", "0.01")
    assert "epochs = 1\n" in overridden and "lr = 0.01\n" in overridden and "hidden_dims = [16]" in overridden

    assert main(["train", "--config", str(file), "--epochs", "1", "--limit-batches", "1", "--no-progress"]) == 0
    capsys.readouterr()
    (run,) = (tmp_path / "runs").iterdir()
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == {"name": "mlp", "options": {"hidden_dims": [16]}} and config["training"]["epochs"] == 1
    assert config["optimizer"] == {"name": "adam", "lr": 0.001, "weight_decay": 0.0}


@pytest.mark.parametrize(("content", "message"), [
    ("[model]\nname = 'mlp'\ncolour = 'red'\n", "unknown key 'colour' in [model]"),
    ("[modle]\nname = 'mlp'\n", "unknown entry 'modle'"),
    ("[model\n", "not a valid TOML file"),
    ("[optimizer]\nname = 'adam'\nmomentum = 0.5\n", "--momentum does not apply to the adam optimizer"),
])
def test_bad_config_files_are_one_line_errors(tmp_path, capsys, content, message):
    file = tmp_path / "run.toml"
    file.write_text(content)
    assert main(["train", "--config", str(file), "--print-config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("npgrad: error: ") and message in err and len(err.strip().splitlines()) == 1
    assert main(["train", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "no such file" in capsys.readouterr().err
