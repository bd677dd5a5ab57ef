"""nn.summary: the shape walk of a model, parameter counts, memory, and leaving the model untouched."""

import sys

import numpy as np
import pytest

import npgrad
from npgrad import nn
from npgrad.nn import functional as F


def small_convnet():
    npgrad.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.Dropout(0.5), nn.Linear(120, 10),
    )


EXPECTED = """Sequential summary
=============================================
Layer   Type         Output shape     Param #
=============================================
input                (1, 1, 28, 28)
0       Conv2d       (1, 6, 28, 28)       156
1       ReLU         (1, 6, 28, 28)         0
2       MaxPool2d    (1, 6, 14, 14)         0
3       Conv2d       (1, 16, 10, 10)    2,416
4       BatchNorm2d  (1, 16, 10, 10)       32
5       ReLU         (1, 16, 10, 10)        0
6       AvgPool2d    (1, 16, 5, 5)          0
7       Flatten      (1, 400)               0
8       Linear       (1, 120)          48,120
9       Dropout      (1, 120)               0
10      Linear       (1, 10)            1,210
output               (1, 10)
=============================================
Total params: 51,934
Trainable params: 51,934
Non-trainable params: 0
Parameter memory: 202.87 KiB
Buffer memory: 136 B
Leaf-layer output memory (batch 1): 64.20 KiB"""


def test_summary_of_a_small_convnet():
    result = nn.summary(small_convnet(), (1, 28, 28))
    assert result == EXPECTED
    assert isinstance(result, str) and repr(result) == EXPECTED
    assert result.total_params == result.trainable_params == 51_934
    assert result.param_bytes == 4 * 51_934 and result.buffer_bytes == 2 * 16 * 4 + 8
    assert result.input_shape == (1, 1, 28, 28) and result.output_shape == (1, 10)


def test_summary_leaves_the_model_as_it_was():
    model = small_convnet()
    model[9].eval()
    bn = model[4]
    hooks = [(m._forward_hooks, m._forward_pre_hooks) for m in model.modules()]
    nn.summary(model, (1, 28, 28), batch_size=3)
    assert model.training and not model[9].training and bn.training  # flags restored module by module
    assert bn.num_batches_tracked.item() == 0 and not bn.running_mean.data.any()  # ran in eval mode
    assert all(p.grad is None for p in model.parameters())
    assert all(not f and not p for f, p in hooks)
    assert model(npgrad.randn(2, 1, 28, 28)).shape == (2, 10)


def test_summary_batch_size_dtype_and_frozen_parameters():
    model = small_convnet().double()
    model[0].requires_grad_(False)
    result = nn.summary(model, (1, 28, 28), dtype=np.float64, batch_size=4)
    assert "(4, 16, 10, 10)" in result and result.output_shape == (4, 10)
    assert "Trainable params: 51,778\nNon-trainable params: 156" in result
    assert result.param_bytes == 8 * 51_934
    mlp = nn.Sequential(nn.Linear(784, 10))
    assert nn.summary(mlp, 784).output_shape == nn.summary(mlp, (784,)).output_shape == (1, 10)


class Residual(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.gate = nn.Parameter(np.zeros(1, dtype=np.float32))

    def forward(self, x):
        return F.relu(x + self.gate * self.conv(x))


def test_nested_modules_are_indented_and_counted_once():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.Sequential(Residual(4), Residual(4)),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    lines = nn.summary(model, (3, 9, 9)).splitlines()
    rows = {line.split()[0]: line.split() for line in lines[4:-8]}
    assert rows["1"] == ["1", "Sequential", "(1,", "4,", "4,", "4)", "--"]
    assert rows["1.0"] == ["1.0", "Residual", "(1,", "4,", "4,", "4)", "1"]
    assert rows["1.1.conv"][-1] == "148"
    assert [line.index("1.0.conv") for line in lines if "1.0.conv" in line] == [4]
    assert rows["2"][2:6] == ["(1,", "4,", "1,", "1)"]
    assert f"Total params: {model.num_parameters():,}" in lines


def test_a_failing_forward_names_the_layer():
    with pytest.raises(ValueError) as info:
        nn.summary(small_convnet(), (1, 32, 32))
    if sys.version_info >= (3, 11):  # exception notes
        assert info.value.__notes__ == ["summary: raised in layer '8' (Linear) on input of shape (1, 576)"]
