"""Dataset loaders for real file formats; every item is ``(image uint8 (C, H, W), label int)``."""

from npgrad.data.datasets.bundled import fashion_mnist_small
from npgrad.data.datasets.cifar import CIFAR10
from npgrad.data.datasets.csv import CSVImageDataset
from npgrad.data.datasets.folder import IMG_EXTENSIONS, ImageFiles, ImageFileDataset, ImageFolder, load_image
from npgrad.data.datasets.idx import MNIST, FashionMNIST, read_idx, write_idx

__all__ = [
    "CIFAR10", "CSVImageDataset", "FashionMNIST", "IMG_EXTENSIONS", "ImageFileDataset", "ImageFiles", "ImageFolder",
    "MNIST", "fashion_mnist_small", "load_image", "read_idx", "write_idx",
]
