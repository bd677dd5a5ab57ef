"""Ready-made models and the registry behind ``npgrad.models.create`` and the ``npgrad models`` command.

Every model is a plain ``nn.Module`` built from the three keywords
``in_channels``, ``num_classes`` and ``image_size`` (plus its own options), with
an attribute ``num_outputs`` (1 for a binary model returning one logit per
sample, else the number of classes). Its ``state_dict`` keys match the
equivalent PyTorch module tree. Importing this package builds nothing.

    >>> model = npgrad.models.create("lenet", in_channels=1, num_classes=10, image_size=28, init="xavier")
"""

from npgrad.models._common import init_weights
from npgrad.models.registry import ModelEntry, create, describe, get, register
from npgrad.models.registry import list as list  # public, but kept out of __all__

# Importing the family modules registers their builders (in this order).
from npgrad.models.logistic import LogisticRegression
from npgrad.models.mlp import MLP
from npgrad.models.convnet import ThreeLayerConvNet
from npgrad.models.lenet import LeNet, lenet_bn
from npgrad.models.alexnet import AlexNet
from npgrad.models.vgg import VGG, VGG11, vgg_block
from npgrad.models.nin import NiN, nin_block
from npgrad.models.googlenet import GoogLeNet, Inception
from npgrad.models.resnet import ResNet, Residual, resnet34

# `list` is left out so that `from npgrad.models import *` cannot shadow the builtin.
__all__ = [
    "MLP", "VGG", "VGG11", "AlexNet", "GoogLeNet", "Inception", "LeNet", "LogisticRegression", "ModelEntry", "NiN",
    "Residual", "ResNet", "ThreeLayerConvNet", "create", "describe", "get", "init_weights", "lenet_bn",
    "nin_block", "register", "resnet34", "vgg_block",
]
