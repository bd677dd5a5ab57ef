"""Property-based fuzzing of ``npgrad info`` and the checkpoint loader: any damage gives exit 0 or one line, exit 2.

A brief budget runs in CI; ``pytest -m fuzz`` runs the long one.
"""

import contextlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from npgrad.cli import main
from npgrad.serialization import load, save

hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")

BRIEF = hypothesis.settings(max_examples=100, deadline=None, derandomize=True)  # the same examples every run
LONG = hypothesis.settings(max_examples=20000, deadline=None)
BASE = load(Path(__file__).parent / "fixtures" / "run_v0_1" / "last.safetensors")

# Where damage goes: top-level entries, config entries, the last history record, the weights.
PLACES = [(k,) for k in BASE] + [("config", k) for k in BASE["config"]] + [("history", -1, k) for k in BASE["history"][-1]] \
    + [("model", "1.weight"), ("config", "model", "options"), ("config", "preprocessing", "mean")]
values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8)
    | st.builds(np.full, st.sampled_from([(), (2,), (10, 784)]), st.sampled_from([np.nan, 1.0])),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
damage = st.lists(st.tuples(st.sampled_from(PLACES), values | st.just(KeyError)), min_size=1, max_size=3)


def _info(changes) -> None:
    state = load(Path(__file__).parent / "fixtures" / "run_v0_1" / "last.safetensors")
    for place, value in changes:
        node = state
        with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError):
            for key in place[:-1]:
                node = node[key]
            if value is KeyError:
                node.pop(place[-1], None)
            else:
                node[place[-1]] = value
    fd, path = tempfile.mkstemp(suffix=".safetensors")
    os.close(fd)
    try:
        save(state, path)
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main(["info", path])
        assert code == 0 or (code == 2 and err.getvalue().startswith("npgrad: error: ") and len(err.getvalue().splitlines()) == 1)
    finally:
        os.unlink(path)


test_info_fuzz = BRIEF(hypothesis.given(damage)(_info))
test_info_fuzz_long = pytest.mark.fuzz(LONG(hypothesis.given(damage)(_info)))


def test_info_flags_non_finite_weights(tmp_path, capsys):
    state = dict(BASE)
    state["model"] = {**BASE["model"], "1.bias": np.full(10, np.nan, np.float32)}
    save(state, tmp_path / "nan.safetensors")
    assert main(["info", str(tmp_path / "nan.safetensors")]) == 0
    assert "weights     NOT FINITE: 1.bias hold NaN or Inf" in capsys.readouterr().out
