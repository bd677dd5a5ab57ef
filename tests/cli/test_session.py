"""Checkpoints as hostile input to eval / predict / resume / info: one clear line, exit 2, nothing huge allocated."""

import shutil
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
