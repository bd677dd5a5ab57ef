"""Build the Fashion-MNIST subset bundled with npgrad (`npgrad.data.datasets.fashion_mnist_small`).

Draws a stratified sample — by default 1,000 training images per class from the 60,000 and
200 test images per class from the 10,000 — with a fixed seed, shuffles each split, and
writes standard gzipped IDX files with gzip mtime 0, so re-running gives identical bytes::

    PYTHONPATH=src python scripts/make_bundled_dataset.py [--source DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from npgrad.data.datasets.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx, write_idx

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "fashion-mnist"
DEFAULT_OUT = REPO / "src" / "npgrad" / "data" / "datasets" / "_bundled"


def stratified_indices(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """``per_class`` random indices of each label, in a random order."""
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ValueError(f"class {c} has only {len(members)} images, {per_class} requested")
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return rng.permutation(np.concatenate(chosen))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="folder of the full Fashion-MNIST IDX files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (the package's _bundled/)")
    parser.add_argument("--train-per-class", type=int, default=1000)
    parser.add_argument("--test-per-class", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for prefix, per_class in (("train", args.train_per_class), ("t10k", args.test_per_class)):
        images = read_idx(args.source / f"{prefix}-images-idx3-ubyte.gz", IMAGES_MAGIC)
        labels = read_idx(args.source / f"{prefix}-labels-idx1-ubyte.gz", LABELS_MAGIC)
        keep = stratified_indices(labels, per_class, rng)
        for kind, array in (("images-idx3", images[keep]), ("labels-idx1", labels[keep])):
            path = args.out / f"{prefix}-{kind}-ubyte.gz"
            write_idx(path, array)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            print(f"{path}: {array.shape} {path.stat().st_size / 1e6:.2f} MB sha256 {digest}...")


if __name__ == "__main__":
    main()
