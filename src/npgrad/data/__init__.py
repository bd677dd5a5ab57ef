"""npgrad.data: datasets, the DataLoader and batch transforms, all on plain NumPy arrays.

A dataset item is ``(image, label)``: ``image`` ``uint8 (C, H, W)``, ``label`` an int (-1 when
unlabelled). A `DataLoader` yields ``(x, y)`` batches: ``x`` float32 ``(N, C, H, W)`` in
[0, 1] by default (or whatever its ``transform`` returns), ``y`` int64 ``(N,)``.

This package imports nothing else from npgrad, and Pillow only when an image file is decoded.
"""

from npgrad.data import datasets, transforms
from npgrad.data.dataloader import DataLoader, collate
from npgrad.data.dataset import UNLABELLED, Dataset, Subset, TensorDataset, random_split
from npgrad.data.datasets import (
    CIFAR10,
    MNIST,
    CSVImageDataset,
    FashionMNIST,
    ImageFiles,
    ImageFolder,
    fashion_mnist_small,
    load_image,
)
from npgrad.data.transforms import (
    CenterCrop,
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    Resize,
    ToFloat,
    Transform,
)
from npgrad.data.sampler import DistributedSampler

__all__ = [
    "CIFAR10", "CSVImageDataset", "CenterCrop", "Compose", "DataLoader", "Dataset", "DistributedSampler", "FashionMNIST",
    "ImageFiles", "ImageFolder", "MNIST", "Normalize", "RandomCrop", "RandomHorizontalFlip", "Resize", "Subset", "TensorDataset",
    "ToFloat", "Transform", "UNLABELLED", "collate", "datasets", "fashion_mnist_small", "load_image", "random_split",
    "transforms",
]
