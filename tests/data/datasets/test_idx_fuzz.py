"""Property-based fuzzing of `read_idx`: any bytes, gzipped or not, give an array or a `DataError`.

A brief budget runs in CI; ``pytest -m fuzz`` runs the long one.
"""

import gzip
import os
import struct
import tempfile

import pytest

from npgrad.data.datasets.idx import read_idx
from npgrad.errors import DataError

hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")

BRIEF = hypothesis.settings(max_examples=150, deadline=None, derandomize=True)  # the same examples every run
LONG = hypothesis.settings(max_examples=20000, deadline=None)

# A plausible header (magic type x dims, sizes near the edges) followed by some payload: reaches the size checks.
headers = st.builds(
    lambda code, sizes, payload: struct.pack(f">I{len(sizes)}I", (code << 8) | len(sizes), *sizes) + payload,
    st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07]),
    st.lists(st.one_of(st.integers(0, 4), st.integers(0, 2**32 - 1)), min_size=0, max_size=4),
    st.binary(max_size=64),
)
files = st.tuples(st.one_of(st.binary(max_size=64), headers), st.booleans(), st.integers(0, 100))


def _read(content: tuple[bytes, bool, int]) -> None:
    data, gz, cut = content
    if gz:
        data = gzip.compress(data)
        data = data[: max(2, len(data) * cut // 100)] if cut < 100 else data  # truncated gzip streams too
    fd, path = tempfile.mkstemp()
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            array = read_idx(path)
        except DataError:
            return
        assert array.size > 0 and array.dtype.isnative
    finally:
        os.unlink(path)


test_read_idx_fuzz = BRIEF(hypothesis.given(files)(_read))
test_read_idx_fuzz_long = pytest.mark.fuzz(LONG(hypothesis.given(files)(_read)))
