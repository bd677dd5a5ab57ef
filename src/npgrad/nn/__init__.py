"""Neural-network building blocks with PyTorch's API: `Module`, layers, losses, `init`, `functional`, `summary`."""

from npgrad.nn import functional, init, parallel, utils
from npgrad.nn.activation import ELU, Hardtanh, LeakyReLU, LogSoftmax, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softplus, Tanh
from npgrad.nn.conv import Conv2d
from npgrad.nn.dropout import Dropout, Dropout2d
from npgrad.nn.flatten import Flatten
from npgrad.nn.lazy import LazyBatchNorm1d, LazyBatchNorm2d, LazyConv2d, LazyLinear
from npgrad.nn.linear import Identity, Linear
from npgrad.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    MultiMarginLoss,
    NLLLoss,
    SmoothL1Loss,
)
from npgrad.nn.module import Module, ModuleList, Parameter, Sequential
from npgrad.nn.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm, LocalResponseNorm, SyncBatchNorm
from npgrad.nn.pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d, MaxUnpool2d
from npgrad.nn.summary import ModelSummary, summary

__all__ = [
    "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "AvgPool2d", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d",
    "BatchNorm2d", "Conv2d", "CrossEntropyLoss", "Dropout", "Dropout2d", "ELU", "Flatten", "GroupNorm", "Hardtanh",
    "HuberLoss", "Identity", "L1Loss", "LayerNorm", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyConv2d", "LazyLinear",
    "LeakyReLU", "Linear", "LocalResponseNorm", "LogSoftmax", "MSELoss", "MaxPool2d", "MaxUnpool2d", "ModelSummary",
    "Module", "ModuleList", "MultiMarginLoss", "NLLLoss", "Parameter", "ReLU", "ReLU6", "Sequential", "SiLU",
    "Sigmoid", "SmoothL1Loss", "Softmax", "Softplus", "SyncBatchNorm", "Tanh", "functional", "init", "parallel",
    "summary", "utils",
]
