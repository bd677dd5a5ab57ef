import gzip
import struct

import numpy as np
import pytest

from npgrad.data import MNIST, FashionMNIST
from npgrad.data.datasets.idx import read_idx, write_idx
from npgrad.errors import DataError, MissingFileError


def _idx_bytes(magic: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    return struct.pack(f">I{len(shape)}I", magic, *shape) + payload


def _write_mnist(root, prefix="train", n=5, gz=True, labels=None):
    """Hand-built IDX files (not via write_idx): image i is filled with 10*i."""
    root.mkdir(parents=True, exist_ok=True)
    images = np.repeat(np.arange(n, dtype=np.uint8) * 10, 28 * 28).tobytes()
    labels = bytes(range(n)) if labels is None else bytes(labels)
    for name, data in ((f"{prefix}-images-idx3-ubyte", _idx_bytes(0x803, (n, 28, 28), images)),
                       (f"{prefix}-labels-idx1-ubyte", _idx_bytes(0x801, (len(labels),), labels))):
        if gz:
            (root / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (root / name).write_bytes(data)


def test_read_idx_parses_a_hand_built_file(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(_idx_bytes(0x0B02, (2, 3), struct.pack(">6h", -1, 2, 300, -400, 5, 6)))
    array = read_idx(path)
    assert array.dtype == np.int16 and array.dtype.isnative and array.tolist() == [[-1, 2, 300], [-400, 5, 6]]


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_write_read_round_trip(tmp_path, name, dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    write_idx(tmp_path / name, array)
    back = read_idx(tmp_path / name)
    assert back.dtype == array.dtype and np.array_equal(back, array)
    assert (tmp_path / name).read_bytes()[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\x00\x00")


def test_gzip_output_is_deterministic(tmp_path):
    write_idx(tmp_path / "a.gz", np.arange(100, dtype=np.uint8))
    write_idx(tmp_path / "b.gz", np.arange(100, dtype=np.uint8))
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_truncated_data_names_file_and_sizes(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_idx_bytes(0x803, (3, 28, 28), bytes(100))))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz: truncated IDX file: header says 3 items of "
                                         r"28x28 \(2352 bytes\) but only 100 bytes follow"):
        read_idx(path, 0x803)


def test_truncated_header_and_trailing_bytes(tmp_path):
    (tmp_path / "short").write_bytes(_idx_bytes(0x803, (3, 28), b""))
    with pytest.raises(ValueError, match="short: truncated IDX file: the header needs 16 bytes"):
        read_idx(tmp_path / "short")
    (tmp_path / "long").write_bytes(_idx_bytes(0x801, (2,), bytes(3)))
    with pytest.raises(ValueError, match="malformed IDX file: header says 2 items \\(2 bytes\\) but 3 bytes follow"):
        read_idx(tmp_path / "long")


def test_bad_magic_numbers(tmp_path):
    (tmp_path / "labels").write_bytes(_idx_bytes(0x801, (2,), bytes(2)))
    with pytest.raises(ValueError, match=r"labels: bad magic number 0x00000801, expected 0x00000803 \(uint8, 3 dims\)"):
        read_idx(tmp_path / "labels", 0x803)
    (tmp_path / "text").write_bytes(b"hello world, not IDX")
    with pytest.raises(ValueError, match=r"text: bad magic number 0x68656C6C: not an IDX file"):
        read_idx(tmp_path / "text")


def test_corrupt_gzip_names_file(tmp_path):
    data = gzip.compress(_idx_bytes(0x801, (1000,), bytes(range(256)) * 3 + bytes(232)))
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.gz: corrupt or truncated gzip data"):
        read_idx(tmp_path / "cut.gz")


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_loads_train_and_test_files(tmp_path, gz):
    _write_mnist(tmp_path, "train", n=5, gz=gz)
    _write_mnist(tmp_path, "t10k", n=3, gz=gz)
    train, test = MNIST(tmp_path), MNIST(tmp_path, train=False)
    assert (len(train), len(test)) == (5, 3)
    image, label = train[4]
    assert image.shape == (1, 28, 28) and image.dtype == np.uint8 and np.all(image == 40) and label == 4
    images, labels = train.get_batch(np.array([2, 0]))
    assert images.shape == (2, 1, 28, 28) and np.all(images[0] == 20) and labels.tolist() == [2, 0]
    assert train.targets.dtype == np.int64 and train.classes[3] == "3"


def test_fashion_mnist_classes(tmp_path):
    _write_mnist(tmp_path)
    ds = FashionMNIST(tmp_path)
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert ds.class_to_idx["Sneaker"] == 7


def test_missing_files_say_what_to_place_where(tmp_path):
    with pytest.raises(MissingFileError, match=r"FashionMNIST: missing train-images-idx3-ubyte.gz, "
                                                r"train-labels-idx1-ubyte.gz in .*download=True"):
        FashionMNIST(tmp_path)


def test_inconsistent_files(tmp_path):
    _write_mnist(tmp_path, n=5, labels=[0, 1, 2])
    with pytest.raises(DataError, match="has 5 images but train-labels-idx1-ubyte.gz has 3 labels"):
        MNIST(tmp_path)
    _write_mnist(tmp_path, n=3, labels=[0, 12, 2])
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz: label 12 outside the known classes 0..9"):
        MNIST(tmp_path)


def test_gzip_bomb_is_not_decompressed_beyond_the_header(tmp_path):
    import tracemalloc

    bomb = tmp_path / "bomb.gz"  # a 2-item header, then 200 MB of zeros: about 200 KB compressed
    with gzip.open(bomb, "wb", compresslevel=9) as f:
        f.write(_idx_bytes(0x801, (2,), bytes(2)))
        zeros = bytes(1 << 20)
        for _ in range(200):
            f.write(zeros)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"bomb.gz: malformed IDX file: header says 2 items \(2 bytes\) but more than "
                                            r"2 bytes follow"):
            read_idx(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20


def test_sizes_that_overflow_int64_or_exceed_the_file(tmp_path):
    shape = (1 << 22, 1 << 21, 1 << 21)  # 2^64 bytes: np.prod wraps to 0
    (tmp_path / "huge").write_bytes(_idx_bytes(0x803, shape, b""))
    with pytest.raises(DataError, match=r"huge: truncated IDX file: header says 4194304 items of 2097152x2097152 "
                                        r"\(18446744073709551616 bytes\) but only 0 bytes follow"):
        read_idx(tmp_path / "huge")
    (tmp_path / "huge.gz").write_bytes(gzip.compress(_idx_bytes(0x803, (10**9, 28, 28), bytes(1000))))
    with pytest.raises(DataError, match=r"huge.gz: truncated IDX file: header says 1000000000 items of 28x28 "
                                        r"\(784000000000 bytes\) but a gzip file of \d+ bytes holds at most \d+"):
        read_idx(tmp_path / "huge.gz")


@pytest.mark.parametrize("shape", [(0,), (0, 28, 28), (5, 0, 28)])
def test_zero_sizes_are_rejected(tmp_path, shape):
    (tmp_path / "empty").write_bytes(_idx_bytes(0x800 + len(shape), shape, b""))
    with pytest.raises(DataError, match="empty: empty IDX file: header says"):
        read_idx(tmp_path / "empty")


def test_an_empty_mnist_split_is_an_error(tmp_path):
    _write_mnist(tmp_path, n=0)
    with pytest.raises(DataError, match="empty IDX file: header says 0 items of 28x28"):
        MNIST(tmp_path)
