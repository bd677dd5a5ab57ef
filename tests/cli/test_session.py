"""Checkpoints as hostile input to eval / predict / resume / info: one clear line, exit 2, nothing huge allocated."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from npgrad.cli import main
from npgrad.serialization import load, save

RUN_0_1 = Path(__file__).parent / "fixtures" / "run_v0_1"  # logistic regression, 1x28x28 -> 10 classes


@pytest.fixture
def run(tmp_path):
    return Path(shutil.copytree(RUN_0_1, tmp_path / "run"))


def _tamper(run, edit, name="best.safetensors"):
    """Rewrite ``run/name`` after ``edit(state)`` changed its contents in place."""
    state = load(run / name)
    edit(state)
    save(state, run / name)
    return run / name


def _error(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert code == 2 and "Traceback" not in captured.err, captured.err
    return captured.err.strip().splitlines()[-1]


@pytest.mark.parametrize(("where", "value", "message"), [
    (("image_size",), 60000, "its config's image_size 60000 is outside 1..2048"),
    (("model", "options"), {"input_dim": 10**9}, "its config's model option input_dim 1000000000 does not fit its weights"),
    (("in_channels",), 100000, "its config's in_channels 100000 does not fit its weights"),
])
def test_a_config_asking_for_a_huge_model_is_refused_before_building(run, capsys, where, value, message):
    def edit(state):
        node = state["config"]
        for key in where[:-1]:
            node = node[key]
        node[where[-1]] = value
        if where == ("image_size",):
            node["preprocessing"]["image_size"] = value

    best, last = _tamper(run, edit), _tamper(run, edit, "last.safetensors")
    for checkpoint, argv in ((best, ("eval", best)), (best, ("predict", best, "--input", run)),
                             (last, ("train", "--resume", last))):
        line = _error(capsys, *argv)
        assert line.startswith(f"npgrad: error: checkpoint {checkpoint}: ") and message in line, line


def test_a_checkpoint_without_weights_is_refused(run, capsys):
    checkpoint = _tamper(run, lambda state: state.update(model={}))
    assert _error(capsys, "eval", checkpoint) == f"npgrad: error: checkpoint {checkpoint} holds no model weights"


def _set(key, value):
    return lambda state: state.update({key: value})


def _edit_model(state):
    state["model"]["1.weight"] = state["model"]["1.weight"][:, :100]


RESUME_CASES = {
    "wrong shape": (_edit_model, "'model' entry does not fit: Error(s) in loading state_dict for LogisticRegression: "
                                 "size mismatch "
                                 "for 1.weight"),
    "missing key": (lambda s: s["model"].pop("1.bias"), 'Missing key(s) in state_dict: "1.bias"'),
    "extra key": (lambda s: s["model"].update(extra=s["model"]["1.bias"]), 'Unexpected key(s) in state_dict: "extra"'),
    "optimizer state": (lambda s: s["optimizer"]["state"][0].update(momentum_buffer=s["model"]["1.bias"]),
                        "'optimizer' entry does not fit: SGD.load_state_dict: state 'momentum_buffer' of parameter 0 has "
                        "shape (10,)"),
    "optimizer groups": (lambda s: s["optimizer"].pop("param_groups"), "'optimizer' entry does not fit: missing 'param_groups'"),
    "rng": (_set("rng", {"bit_generator": "MT19937x"}), "'rng' entry does not fit"),
    "loader": (_set("loader", {"epoch": -1, "seed": 0}), "'loader' entry does not fit: DataLoader.load_state_dict: epoch must "
                                                         "be a non-negative integer, got -1"),
    "history": (_set("history", [1, 2]), "'history' entry does not fit: expected a list of per-epoch dicts"),
    "best": (_set("best", ["x"]), "'best' entry does not fit"),
    "negative epoch": (_set("epoch", -1), "its 'epoch' entry -1 is not a non-negative integer"),
    "text epoch": (_set("epoch", "abc"), "its 'epoch' entry 'abc' is not a non-negative integer"),
    "negative step": (_set("step", -2), "its 'step' entry -2 is not a non-negative integer"),
    "format version": (_set("format_version", "abc"), "format_version 'abc' is not a version number"),
    "config": (_set("config", None), "its 'config' entry is a NoneType, not a dict"),
}


@pytest.mark.parametrize("case", RESUME_CASES)
def test_a_damaged_checkpoint_cannot_be_resumed_one_line_exit_2(run, capsys, case):
    edit, message = RESUME_CASES[case]
    last = _tamper(run, edit, "last.safetensors")
    line = _error(capsys, "train", "--resume", last, "--no-progress")
    assert line.startswith("npgrad: error: ") and message in line, line
    assert str(last) in line or case == "loader"  # the loader state is applied when training starts


def test_a_full_disk_stops_training_with_one_line_and_no_temporaries(tmp_path):
    import resource

    def limit_file_size():  # writes past 20 kB fail with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    argv = [sys.executable, "-m", "npgrad", "train", "--out", str(tmp_path), "--model", "logistic", "--epochs", "1",
            "--limit-batches", "1", "--no-progress"]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, preexec_fn=limit_file_size)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    (run,) = tmp_path.iterdir()
    assert result.stderr.strip().splitlines()[-1] == f"npgrad: error: cannot write {run / 'last.safetensors'}: File too large"
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]


def test_predict_writes_non_utf8_file_names_back_as_their_bytes(run, tmp_path, capsys):
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    names = [b"caf\xe9.png", b"ok.png"]  # a Latin-1 name, not valid UTF-8
    for name in names:
        Image.new("L", (28, 28), 128).save(os.fsdecode(os.path.join(os.fsencode(images), name)))
    out = tmp_path / "submission.csv"
    assert main(["predict", str(run), "--input", str(images), "--out", str(out)]) == 0, capsys.readouterr().err
    rows = out.read_bytes().splitlines()
    assert rows[0] == b"image,label" and [r.rsplit(b",", 1)[0] for r in rows[1:]] == names


def test_batches_of_one_image_with_batch_norm_name_the_option(tmp_path, capsys):
    line = _error(capsys, "train", "--out", tmp_path, "--batch-size", "1", "--epochs", "1", "--limit-batches", "1",
                  "--no-progress")
    assert line == ("npgrad: error: --batch-size 1: lenet_bn has batch normalization, which needs at least 2 images per "
                    "training batch")
    assert main(["train", "--out", str(tmp_path), "--batch-size", "1", "--model", "logistic", "--epochs", "1",
                 "--limit-batches", "2", "--no-progress"]) == 0  # without batch norm, one image per batch is fine
