import os
import pickle

import numpy as np
import pytest

from npgrad.data import CIFAR10
from npgrad.errors import DataError, MissingFileError


def _records(labels, seed=0):
    """CIFAR-10 binary records and the (N, 3, 32, 32) images they hold."""
    images = np.random.default_rng(seed).integers(0, 256, (len(labels), 3, 32, 32), dtype=np.uint8)
    records = np.concatenate([np.asarray(labels, np.uint8)[:, None], images.reshape(len(labels), -1)], axis=1)
    return records.tobytes(), images


def _write_binary(folder, n_per_batch=2):
    folder.mkdir(parents=True, exist_ok=True)
    all_images = []
    for i, stem in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data, images = _records([(i + j) % 10 for j in range(n_per_batch)], seed=i)
        (folder / f"{stem}.bin").write_bytes(data)
        all_images.append(images)
    return all_images


def test_binary_batches_record_layout(tmp_path):
    images = _write_binary(tmp_path)
    train, test = CIFAR10(tmp_path), CIFAR10(tmp_path, train=False)
    assert (len(train), len(test)) == (10, 2)
    assert np.array_equal(train.data, np.concatenate(images[:5])) and np.array_equal(test.data, images[5])
    assert train.targets.tolist() == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5] and test.targets.tolist() == [5, 6]
    image, label = train[3]
    assert image.shape == (3, 32, 32) and image.dtype == np.uint8 and label == 2
    raw = (tmp_path / "data_batch_2.bin").read_bytes()
    assert image[0, 0, :4].tolist() == list(raw[3074:3078])  # red plane first, row-major
    assert image[2, 31, 31] == raw[2 * 3073 - 1]  # last byte of the record: blue, bottom right
    assert train.classes[3] == "cat" and train.get_batch([3])[1].tolist() == [2]


def test_extracted_archive_folder(tmp_path):
    _write_binary(tmp_path / "cifar-10-batches-bin")
    assert len(CIFAR10(tmp_path)) == 10


def test_truncated_binary_batch(tmp_path):
    _write_binary(tmp_path)
    data = (tmp_path / "test_batch.bin").read_bytes()
    (tmp_path / "test_batch.bin").write_bytes(data[:-10])
    with pytest.raises(DataError, match=r"test_batch.bin': not a CIFAR-10 binary batch: 6136 bytes, expected a whole "
                                        r"number \(1 to 10000\) of 3073-byte records"):
        CIFAR10(tmp_path, train=False)


@pytest.mark.parametrize("size", [0, 1, 3072, 3074, 3 * 3073 + 1])
def test_binary_batch_of_wrong_size(tmp_path, size):
    (tmp_path / "test_batch.bin").write_bytes(b"\0" * size)
    with pytest.raises(DataError, match=f"test_batch.bin': not a CIFAR-10 binary batch: {size} bytes"):
        CIFAR10(tmp_path, train=False)


def test_cifar100_records_named(tmp_path):
    (tmp_path / "test_batch.bin").write_bytes(b"\0" * (3 * 3074))  # CIFAR-100: coarse and fine label bytes
    with pytest.raises(DataError, match="3074-byte records, the CIFAR-100 layout"):
        CIFAR10(tmp_path, train=False)


def test_huge_binary_batch_refused_before_reading(tmp_path):
    with open(tmp_path / "test_batch.bin", "wb") as f:  # 100 GB sparse, a whole number of records
        f.truncate(3073 * 32_540_000)
    with pytest.raises(DataError, match="99995420000 bytes, expected a whole number \\(1 to 10000\\)"):
        CIFAR10(tmp_path, train=False)


def test_largest_binary_batch_loads(tmp_path):
    (tmp_path / "test_batch.bin").write_bytes(_records([3] * 10_000)[0])
    assert len(CIFAR10(tmp_path, train=False)) == 10_000


@pytest.mark.parametrize("label", [10, 11, 255])
def test_label_outside_classes(tmp_path, label):
    _write_binary(tmp_path)
    (tmp_path / "data_batch_3.bin").write_bytes(_records([1, 2, label, 4])[0])
    with pytest.raises(DataError, match=f"data_batch_3.bin', record 2: label {label} outside the CIFAR-10 classes 0..9"):
        CIFAR10(tmp_path)


def test_python_batch_label_outside_classes(tmp_path):
    data, _ = _records([0, 0])
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({"labels": [3, 12], "data": np.frombuffer(data, np.uint8).reshape(2, -1)[:, 1:].copy()}, f)
    with pytest.raises(DataError, match="test_batch', record 1: label 12 outside"):
        CIFAR10(tmp_path, train=False)


@pytest.mark.parametrize("labels", [[1], [1, 2, 3]])
def test_python_batch_label_count(tmp_path, labels):
    data, _ = _records([0, 0])
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({"labels": labels, "data": np.frombuffer(data, np.uint8).reshape(2, -1)[:, 1:].copy()}, f)
    with pytest.raises(DataError, match=rf"test_batch': expected 'data' of shape \(N, 3072\) and N 'labels'.*got "
                                        rf"\(2, 3072\) and \({len(labels)},\)"):
        CIFAR10(tmp_path, train=False)


def test_huge_python_batch_refused_before_unpickling(tmp_path):
    with open(tmp_path / "test_batch", "wb") as f:
        f.truncate(10**11)
    with pytest.raises(DataError, match="test_batch': not a CIFAR-10 python batch: 100000000000 bytes, more than"):
        CIFAR10(tmp_path, train=False)


def test_python_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    data, images = _records([7, 9])
    records = np.frombuffer(data, np.uint8).reshape(2, -1)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"batch_label": "testing", "labels": [7, 9], "data": records[:, 1:].copy()}, f, protocol=2)
    ds = CIFAR10(tmp_path, train=False)
    assert np.array_equal(ds.data, images) and ds.targets.tolist() == [7, 9]


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_python_batches_refuse_arbitrary_objects(tmp_path):
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({"data": _Exploit(), "labels": []}, f)
    with pytest.raises(DataError, match="test_batch': not a CIFAR-10 python batch .*refusing to load"):
        CIFAR10(tmp_path, train=False)


def test_missing_batches(tmp_path):
    with pytest.raises(MissingFileError, match="no training batches .* data_batch_1.bin, .*data_batch_5.bin"):
        CIFAR10(tmp_path)


def test_some_batches_missing_named(tmp_path):
    _write_binary(tmp_path / "cifar-10-batches-bin")
    (tmp_path / "cifar-10-batches-bin" / "data_batch_2.bin").unlink()
    (tmp_path / "cifar-10-batches-bin" / "data_batch_5.bin").unlink()
    with pytest.raises(MissingFileError, match="CIFAR10: data_batch_2.bin, data_batch_5.bin missing in "
                                               ".*cifar-10-batches-bin' \\(the training set is data_batch_1.bin, "):
        CIFAR10(tmp_path)
    assert len(CIFAR10(tmp_path, train=False)) == 2  # the test batch is complete


def test_a_folder_named_like_a_batch_is_not_a_batch(tmp_path):
    (tmp_path / "test_batch.bin").mkdir()
    with pytest.raises(MissingFileError, match="no test batches"):
        CIFAR10(tmp_path, train=False)


@pytest.mark.parametrize("content, reason", [
    (b"\x95\x00\x00\x00\x00\x00\x00\x00\x80", "OverflowError"),  # FRAME of 2^63 bytes: was an uncaught OverflowError
    (b"\x95\x00\x00\x00\x00\x00\x00\x00\x01", "UnpicklingError: pickle data was truncated"),  # 2^56: was MemoryError
    (b"\x80\x05\x96\x00\x00\x00\x00\x00\x00\x00\x01", "MemoryError"),  # BYTEARRAY8 of 2^56 bytes
    (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00bX\x04\x00\x00\x00zlib\x86R.", "refusing .* codec 'zlib'"),
    (b"\x80\x02)K\x01a.", "AttributeError"),  # APPEND to a tuple
])
def test_python_batch_hostile_pickles(tmp_path, content, reason):
    (tmp_path / "test_batch").write_bytes(content)
    with pytest.raises(DataError, match=f"test_batch': not a CIFAR-10 python batch .*{reason}"):
        CIFAR10(tmp_path, train=False)
