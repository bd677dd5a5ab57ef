import importlib.util
from pathlib import Path

import numpy as np

import npgrad
from npgrad.data import DataLoader, FashionMNIST
from npgrad.data.datasets import fashion_mnist_small
from npgrad.data.datasets.bundled import BUNDLED_DIR
from npgrad.data.datasets.idx import read_idx, write_idx

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "make_bundled_dataset.py"


def test_bundled_subset_is_stratified_fashion_mnist():
    train, test = fashion_mnist_small(), fashion_mnist_small(train=False)
    assert isinstance(train, FashionMNIST) and train.classes[9] == "Ankle boot"
    assert train.data.shape == (10_000, 1, 28, 28) and test.data.shape == (2_000, 1, 28, 28)
    assert np.bincount(train.targets).tolist() == [1000] * 10
    assert np.bincount(test.targets).tolist() == [200] * 10
    assert train.targets[:10].tolist() != sorted(train.targets[:10].tolist())  # shuffled, not grouped by class
    x, y = next(iter(DataLoader(train, batch_size=256, shuffle=True, seed=0)))
    assert x.shape == (256, 1, 28, 28) and 0.0 == x.min() and x.max() == 1.0 and y.dtype == np.int64


def test_bundled_files_live_inside_the_package():
    assert BUNDLED_DIR.is_relative_to(Path(npgrad.__file__).parent)
    assert sorted(p.name for p in BUNDLED_DIR.glob("*.gz")) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_make_bundled_dataset_script_is_stratified_and_deterministic(tmp_path):
    spec = importlib.util.spec_from_file_location("make_bundled_dataset", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    source = tmp_path / "full"
    source.mkdir()
    for prefix, n in (("train", 60), ("t10k", 30)):
        labels = np.arange(n, dtype=np.uint8) % 10
        write_idx(source / f"{prefix}-images-idx3-ubyte.gz", np.repeat(np.arange(n, dtype=np.uint8), 4).reshape(n, 2, 2))
        write_idx(source / f"{prefix}-labels-idx1-ubyte.gz", labels)
    outputs = []
    for run in ("a", "b"):
        args = ["--source", str(source), "--out", str(tmp_path / run), "--train-per-class", "4", "--test-per-class", "2"]
        script.main(args)
        outputs.append({p.name: p.read_bytes() for p in sorted((tmp_path / run).iterdir())})
    assert outputs[0] == outputs[1] and len(outputs[0]) == 4
    images = read_idx(tmp_path / "a" / "train-images-idx3-ubyte.gz")
    labels = read_idx(tmp_path / "a" / "train-labels-idx1-ubyte.gz")
    assert np.bincount(labels).tolist() == [4] * 10
    assert np.all(images[:, 0, 0] % 10 == labels)  # each image kept with its own label
    assert np.bincount(read_idx(tmp_path / "a" / "t10k-labels-idx1-ubyte.gz")).tolist() == [2] * 10
