import numpy as np
import pytest

from npgrad.serialization import save
from npgrad.train.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint, tensor_stats
from npgrad.errors import NpgradError


def _state(epoch=1):
    return {"model": {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array(3)}, "epoch": epoch,
            "config": {"model": {"name": "mlp"}}, "rng": {"state": {"state": 2**100, "inc": 7}}}


def test_round_trip_and_folder_resolution(tmp_path):
    save_checkpoint(_state(1), tmp_path / "last.safetensors")
    assert resolve_checkpoint(tmp_path) == tmp_path / "last.safetensors"  # no best yet: falls back
    save_checkpoint(_state(2), tmp_path / "best.safetensors")
    assert resolve_checkpoint(tmp_path) == tmp_path / "best.safetensors"
    assert resolve_checkpoint(tmp_path, prefer="last") == tmp_path / "last.safetensors"
    state = load_checkpoint(tmp_path)
    assert state["epoch"] == 2 and state["format"] == "npgrad-checkpoint" and state["path"].endswith("best.safetensors")
    np.testing.assert_array_equal(state["model"]["w"], _state()["model"]["w"])
    assert state["model"]["n"].shape == () and state["rng"]["state"]["state"] == 2**100  # 0-d arrays, big ints
    assert tensor_stats(state) == (2, 24 + 8)


def test_unusable_files_are_usage_errors(tmp_path):
    with pytest.raises(NpgradError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.safetensors")
    with pytest.raises(NpgradError, match="no checkpoint in folder"):
        load_checkpoint(tmp_path)
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 40)
    with pytest.raises(NpgradError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "junk.safetensors")
    save({"weights": np.zeros(3)}, tmp_path / "foreign.safetensors")
    with pytest.raises(NpgradError, match="not an npgrad training checkpoint"):
        load_checkpoint(tmp_path / "foreign.safetensors")
