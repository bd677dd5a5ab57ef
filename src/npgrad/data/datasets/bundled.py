"""`fashion_mnist_small`: a Fashion-MNIST subset shipped inside the package, usable offline.

The files in ``_bundled/`` are standard gzipped IDX files (10,000 training images, 1,000
per class, and 2,000 test images, 200 per class, drawn with a fixed seed from the full
Fashion-MNIST) written by ``scripts/make_bundled_dataset.py``.
"""

from __future__ import annotations

from pathlib import Path

from npgrad.data.datasets.idx import FashionMNIST

BUNDLED_DIR = Path(__file__).with_name("_bundled")


def fashion_mnist_small(train: bool = True) -> FashionMNIST:
    """The bundled Fashion-MNIST subset: 10,000 training or 2,000 test images (1, 28, 28), 10 classes."""
    return FashionMNIST(BUNDLED_DIR, train=train)
