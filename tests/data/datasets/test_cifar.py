import os
import pickle

import numpy as np
import pytest

from npgrad.data import CIFAR10


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
    with pytest.raises(ValueError, match="test_batch.bin: truncated CIFAR-10 binary batch: 6136 bytes .* 3073-byte"):
        CIFAR10(tmp_path, train=False)


def test_label_outside_classes(tmp_path):
    _write_binary(tmp_path)
    (tmp_path / "test_batch.bin").write_bytes(_records([10])[0])
    with pytest.raises(ValueError, match="label 10 outside the known classes 0..9"):
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
    with pytest.raises(ValueError, match="test_batch: not a CIFAR-10 python batch .*refusing to load"):
        CIFAR10(tmp_path, train=False)


def test_missing_batches(tmp_path):
    with pytest.raises(FileNotFoundError, match="no training batches .* data_batch_1.bin, .*data_batch_5.bin"):
        CIFAR10(tmp_path)
