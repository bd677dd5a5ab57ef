"""Property-based fuzzing of `CIFAR10`: any bytes in a batch file give a dataset or a `DataError`.

Binary batches get random bytes and whole records with random labels, cut or extended; python
batches get real pickles (every protocol) with bytes changed and cut. A brief budget runs in CI;
``pytest -m fuzz`` runs the long one.
"""

import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest

from npgrad.data import CIFAR10
from npgrad.errors import DataError

hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")

BRIEF = hypothesis.settings(max_examples=150, deadline=None, derandomize=True)  # the same examples every run
LONG = hypothesis.settings(max_examples=20000, deadline=None)
RECORD = 3073

# Whole records (label bytes of any value), then a few bytes cut off or appended: reaches the size and label checks.
records = st.builds(
    lambda labels, pixel, extra: b"".join(bytes([label]) + bytes([pixel]) * (RECORD - 1) for label in labels)[
        : max(0, len(labels) * RECORD + extra)] + b"\x07" * max(0, extra),
    st.lists(st.one_of(st.integers(0, 9), st.integers(0, 255)), min_size=0, max_size=4),
    st.integers(0, 255),
    st.one_of(st.just(0), st.integers(-RECORD, RECORD)),
)
binary = st.one_of(st.binary(max_size=64), records)


def _pickled(labels: list[int], protocol: int) -> bytes:
    data = np.arange(len(labels) * 3072, dtype=np.uint8).reshape(len(labels), 3072)
    return pickle.dumps({"batch_label": "fuzz", "labels": labels, "data": data}, protocol=protocol)


# A real python batch, then bytes changed and the stream cut: reaches the unpickler's every branch.
python = st.one_of(st.binary(max_size=64), st.builds(
    lambda labels, protocol, changes, cut: _changed(_pickled(labels, protocol), changes, cut),
    st.lists(st.integers(-2, 12), min_size=0, max_size=3),
    st.integers(2, pickle.HIGHEST_PROTOCOL),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
    st.integers(1, 100),
))


def _changed(data: bytes, changes: list[tuple[int, int]], cut: int) -> bytes:
    data = bytearray(data)
    for at, value in changes:
        data[at % len(data)] = value
    return bytes(data[: max(1, len(data) * cut // 100)])


def _load(content: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / name).write_bytes(content)
        try:
            ds = CIFAR10(folder, train=False)
        except DataError as e:
            assert name in str(e)
            return
        assert len(ds) > 0 and ds.data.shape[1:] == (3, 32, 32) and ds.data.dtype == np.uint8
        assert ds.targets.min() >= 0 and ds.targets.max() <= 9


def _binary(content: bytes) -> None:
    _load(content, "test_batch.bin")


def _python(content: bytes) -> None:
    _load(content, "test_batch")


test_binary_batch_fuzz = BRIEF(hypothesis.given(binary)(_binary))
test_binary_batch_fuzz_long = pytest.mark.fuzz(LONG(hypothesis.given(binary)(_binary)))
test_python_batch_fuzz = BRIEF(hypothesis.given(python)(_python))
test_python_batch_fuzz_long = pytest.mark.fuzz(LONG(hypothesis.given(python)(_python)))
