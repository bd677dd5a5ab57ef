"""The model registry: names, descriptions, errors, options and a cheap, side-effect-free import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import npgrad.models as models
from npgrad import nn
from npgrad.models import registry

NAMES = [
    "alexnet", "convnet", "fc_net", "googlenet", "lenet", "lenet_bn", "logistic", "logistic_regression", "mlp",
    "nin", "resnet", "resnet18", "resnet34", "three_layer_convnet", "vgg", "vgg11",
]


def test_list_is_sorted_and_complete():
    assert models.list() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_has_a_one_line_description(name):
    description = models.describe(name)
    assert description and "\n" not in description and len(description) < 130


def test_aliases_share_builder():
    assert models.get("resnet18").builder is models.get("resnet").builder is models.ResNet
    assert models.get("vgg11").builder is models.VGG


def test_unknown_model():
    with pytest.raises(ValueError, match=r"unknown model 'lenet6'; available: alexnet, convnet, .*, vgg11$"):
        models.create("lenet6")


def test_unknown_option_is_named_with_the_accepted_ones():
    expected = r"model 'lenet' got unknown option\(s\) hidden_dims; its options are: padding, batch_norm"
    with pytest.raises(ValueError, match=expected):
        models.create("lenet", hidden_dims=(3,))
    with pytest.raises(ValueError, match="model 'mlp' got unknown option"):
        models.create("mlp", width_ratio=4)


def test_every_model_accepts_the_three_keywords():
    for name in NAMES:
        entry = models.get(name)
        assert all(k not in entry.options for k in ("in_channels", "num_classes", "image_size"))


def test_create_passes_options_and_init():
    model = models.create("mlp", in_channels=3, num_classes=4, image_size=8, hidden_dims=(5,), init="xavier")
    assert model[1].weight.shape == (5, 3 * 8 * 8) and model[3].weight.shape == (4, 5)
    assert not model[1].bias.data.any()


def test_register_and_its_errors():
    @registry.register("_test_tiny")
    def tiny(in_channels=1, num_classes=10, image_size=28, width=2):
        """A tiny model.

        More text.
        """
        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size * image_size, num_classes))

    try:
        assert models.describe("_test_tiny") == "A tiny model."
        assert models.get("_test_tiny").options == ("width",)
        assert models.create("_test_tiny", in_channels=2, num_classes=3, image_size=4, width=5)[1].weight.shape == (3, 32)
        with pytest.raises(ValueError, match="already registered"):
            registry.register("_test_tiny")(tiny)
    finally:
        del registry._REGISTRY["_test_tiny"]

    with pytest.raises(TypeError, match="must accept the keywords image_size"):
        registry.register("_test_bad")(lambda in_channels=1, num_classes=10: None)


def test_import_builds_nothing():
    """Importing npgrad.models draws nothing from the global generator (building a model would)."""
    code = (
        "import npgrad; npgrad.manual_seed(0); import npgrad.models; "
        "import numpy as np; expected = np.random.default_rng(0).random(); "
        "assert npgrad.random.generator().random() == expected"
    )
    src = Path(__file__).resolve().parents[2] / "src"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(src)})
