"""Property-based fuzzing of the image decoder and the CSV reader: any bytes give data or a `DataError`.

A brief budget runs in CI; ``pytest -m fuzz`` runs the long one.
"""

import io
import os
import shutil
import tempfile

import numpy as np
import pytest

from npgrad.data import CSVImageDataset, load_image
from npgrad.errors import DataError

hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")
Image = pytest.importorskip("PIL.Image")

BRIEF = hypothesis.settings(max_examples=150, deadline=None, derandomize=True)  # the same examples every run
LONG = hypothesis.settings(max_examples=20000, deadline=None)


def _encoded(fmt: str, mode: str) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (12, 10, 4), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").convert(mode).save(buffer, fmt)
    return buffer.getvalue()


VALID = [_encoded(f, m) for f, m in (("PNG", "RGBA"), ("PNG", "P"), ("PNG", "I;16"), ("JPEG", "RGB"), ("JPEG", "CMYK"),
                                     ("GIF", "P"), ("BMP", "RGB"), ("TIFF", "LA"), ("WEBP", "RGB"))]
# A valid file of some format and mode with a few bytes changed and maybe cut short, or random bytes.
mutated = st.builds(
    lambda data, edits, cut: bytes(_edit(bytearray(data), edits))[: max(1, len(data) * cut // 100)],
    st.sampled_from(VALID), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6), st.integers(1, 100),
)
images = st.one_of(mutated, st.binary(max_size=200))


def _edit(data: bytearray, edits) -> bytearray:
    for where, value in edits:
        data[where % len(data)] = value
    return data


def _decode(data: bytes, channels: int, size) -> None:
    fd, path = tempfile.mkstemp(suffix=".png")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    try:
        image = load_image(path, image_size=size, channels=channels)
    except DataError:
        return
    finally:
        os.unlink(path)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[0] == channels
    assert size is None or image.shape[1:] == (size, size)


decode_args = (images, st.sampled_from([1, 3]), st.sampled_from([None, 5]))
quiet = pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the damaged TIFF tags it skips
test_load_image_fuzz = quiet(BRIEF(hypothesis.given(*decode_args)(_decode)))
test_load_image_fuzz_long = quiet(pytest.mark.fuzz(LONG(hypothesis.given(*decode_args)(_decode))))

# CSV text built from the pieces that break readers: quotes, separators, line ends, BOMs, NULs, paths.
pieces = st.sampled_from(["image", "label", ",", '"', "\n", "\r\n", "\r", "\ufeff", "\x00", "a.png", "../a.png",
                          "/etc/passwd", "b", "01", "1", " ", "é", "x" * 50])
csv_bytes = st.one_of(st.lists(pieces, max_size=30).map(lambda p: "".join(p).encode("utf-8")), st.binary(max_size=100))


def _read_csv(data: bytes) -> None:
    folder = tempfile.mkdtemp()
    try:
        Image.new("L", (3, 3)).save(os.path.join(folder, "a.png"))
        with open(os.path.join(folder, "set.csv"), "wb") as f:
            f.write(data)
        try:
            ds = CSVImageDataset(os.path.join(folder, "set.csv"), channels=1)
        except (DataError, FileNotFoundError):
            return
        assert len(ds) > 0 and all(os.path.realpath(p).startswith(os.path.realpath(folder)) for p in ds.paths)
        assert ds.targets.min() >= 0 and ds.targets.max() < len(ds.classes)
    finally:
        shutil.rmtree(folder)


test_csv_fuzz = BRIEF(hypothesis.given(csv_bytes)(_read_csv))
test_csv_fuzz_long = pytest.mark.fuzz(LONG(hypothesis.given(csv_bytes)(_read_csv)))
