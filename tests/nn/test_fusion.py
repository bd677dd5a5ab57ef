"""`npgrad.nn.fusion`: batch norm folded into the layer before it in inference (exact, automatic, never stale),
and max pooling moved before the ReLU that feeds it."""

from __future__ import annotations

import numpy as np
import pytest

import npgrad
from npgrad import nn
from npgrad.nn import fusion


def _trained_bn(bn: nn.Module, rng: np.random.Generator) -> nn.Module:
    """Non-trivial statistics and affine parameters, as after training."""
    c = bn.num_features
    bn.running_mean.data[...] = rng.standard_normal(c)
    bn.running_var.data[...] = rng.uniform(0.5, 2.0, c)
    if bn.weight is not None:
        bn.weight.data[...] = rng.uniform(0.5, 1.5, c)
        bn.bias.data[...] = rng.standard_normal(c)
    return bn.eval()


@pytest.fixture
def count_folds(monkeypatch):
    calls = []
    real = fusion.fold_batch_norm

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(fusion, "fold_batch_norm", counting)
    return calls


CONVS = [
    dict(kernel_size=3, padding=1),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), padding="same"),
    dict(kernel_size=3, groups=2, bias=False),
    dict(kernel_size=1, stride=2),
]


@pytest.mark.parametrize("options", CONVS)
@pytest.mark.parametrize("affine", [True, False])
def test_folded_conv_equals_conv_then_batch_norm(options, affine, count_folds):
    rng = np.random.default_rng(0)
    conv = nn.Conv2d(4, 6, **options).eval()
    bn = _trained_bn(nn.BatchNorm2d(6, affine=affine), rng)
    x = npgrad.Tensor(rng.standard_normal((8, 4, 9, 7), dtype=np.float32))
    with npgrad.no_grad():
        expected = bn(conv(x)).data
        got = fusion.layer_then_batch_norm(conv, bn, x).data
    assert len(count_folds) == 1
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert got.dtype == np.float32


def test_fold_batch_norm_closed_form_in_float64():
    rng = np.random.default_rng(1)
    bn = _trained_bn(nn.BatchNorm1d(5), rng)
    weight, bias = rng.standard_normal((5, 3)), rng.standard_normal(5)
    folded_weight, folded_bias = fusion.fold_batch_norm(weight, bias, bn)
    x = rng.standard_normal((4, 3))
    z = x @ weight.T + bias
    s = bn.weight.data / np.sqrt(bn.running_var.data.astype(np.float64) + bn.eps)
    expected = (z - bn.running_mean.data) * s + bn.bias.data
    np.testing.assert_allclose(x @ folded_weight.T + folded_bias, expected, rtol=1e-12)


def test_sequential_folds_in_inference_only(count_folds):
    rng = np.random.default_rng(2)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 4), nn.BatchNorm1d(4))
    x = npgrad.Tensor(rng.standard_normal((16, 3, 6, 6), dtype=np.float32))
    model(x)  # training: statistics move, nothing folds
    assert count_folds == []
    model.eval()
    with_grad = model(x).data  # evaluation with gradient recording: the unfused graph
    assert count_folds == []
    with npgrad.no_grad():
        folded = model(x).data
    assert len(count_folds) == 2  # conv+bn2d and linear+bn1d
    np.testing.assert_allclose(folded, with_grad, rtol=1e-5, atol=1e-5)


def test_folding_follows_weight_changes(count_folds):
    rng = np.random.default_rng(3)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), _trained_bn(nn.BatchNorm2d(4), rng)).eval()
    x = npgrad.Tensor(rng.standard_normal((8, 2, 8, 8), dtype=np.float32))
    with npgrad.no_grad():
        before = model(x).data
        model[0].weight.data *= 2  # an in-place update, as an optimizer step makes
        model[1].running_mean.data += 1
        after = model(x).data
        unfused = model[1](model[0](x)).data
    assert len(count_folds) == 2
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, unfused, rtol=1e-5, atol=1e-5)


def test_no_folding_with_hooks_without_running_stats_or_when_weights_outweigh_activations(count_folds):
    rng = np.random.default_rng(4)
    x = npgrad.Tensor(rng.standard_normal((8, 2, 8, 8), dtype=np.float32))
    hooked = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4)).eval()
    seen = []
    hooked[1].register_forward_hook(lambda module, args, output: seen.append(output))
    no_stats = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4, track_running_stats=False)).eval()
    wide = nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512)).eval()  # 262k weights, 512 activations at batch 1
    with npgrad.no_grad():
        hooked(x)
        no_stats(x)
        wide(npgrad.Tensor(rng.standard_normal((1, 512), dtype=np.float32)))
    assert count_folds == [] and len(seen) == 1


def test_resnet_blocks_fold_and_match(count_folds):
    npgrad.manual_seed(0)
    model = npgrad.models.create("resnet18", in_channels=1, num_classes=10, image_size=28, stem="small",
                                 channels=(8, 16, 16, 16))
    x = npgrad.Tensor(np.random.default_rng(5).standard_normal((64, 1, 28, 28), dtype=np.float32))
    model(x)  # one training forward: non-trivial running statistics
    model.eval()
    expected = model(x).data  # gradient recording on: unfused
    with npgrad.no_grad():
        got = model(x).data
    assert len(count_folds) >= 8
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


# ReLU then max pooling, run as the pooling then the ReLU.

POOLS = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=1, padding=1, dilation=1),
    dict(kernel_size=(2, 3), stride=(2, 1), ceil_mode=True),
    dict(kernel_size=2, stride=2, dilation=2, padding=1),
]


def _ops(model: nn.Module, x: npgrad.Tensor) -> list[str]:
    """The Functions that model(x) runs, in order."""
    with npgrad.function.trace() as calls:
        model(x)
    return [call.function.__name__ for call in calls]


def _with_ties(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values where ReLU ties: windows whose entries are all negative, and exact zeros."""
    x = rng.standard_normal(shape)
    x[:, :, ::3] = -np.abs(x[:, :, ::3])  # whole rows of negatives
    x[x > 1.2] = 0.0
    x[0, 0, 0, :2] = np.nan
    return x


@pytest.mark.parametrize("options", POOLS)
def test_relu_then_max_pool_runs_as_pool_then_relu_with_the_same_values_and_gradients(options, threads):
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(**options))
    data = _with_ties(rng, (3, 2, 9, 8))
    x, reference_x = npgrad.Tensor(data, requires_grad=True), npgrad.Tensor(data, requires_grad=True)
    assert _ops(model, x) == ["MaxPool2d", "ReLU"]
    out = model(x)
    expected = nn.functional.max_pool2d(nn.functional.relu(reference_x), **options)  # the order as written
    np.testing.assert_array_equal(out.data, expected.data)  # NaN where NaN
    dout = rng.standard_normal(out.shape)
    out.backward(dout)
    expected.backward(dout)
    np.testing.assert_array_equal(x.grad, reference_x.grad)
    with npgrad.no_grad():
        np.testing.assert_array_equal(model.eval()(x).data, expected.data)


@pytest.mark.parametrize("model", [
    nn.Sequential(nn.ReLU(inplace=True), nn.MaxPool2d(2)),
    nn.Sequential(nn.ReLU(), nn.MaxPool2d(2, return_indices=True)),
    nn.Sequential(nn.LeakyReLU(), nn.MaxPool2d(2)),
    nn.Sequential(nn.ReLU(), nn.AvgPool2d(2)),
], ids=["inplace", "return_indices", "leaky", "avg"])
def test_relu_and_pool_keep_their_order_when_the_rewrite_does_not_apply(model):
    x = npgrad.Tensor(np.random.default_rng(2).standard_normal((2, 2, 4, 4)))
    assert _ops(model, x)[0] in ("ReLU", "LeakyReLU")


def test_relu_and_pool_keep_their_order_with_hooks():
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))
    seen = []
    model[0].register_forward_hook(lambda module, inputs, output: seen.append(output.shape))
    assert _ops(model, npgrad.Tensor(np.ones((1, 1, 4, 4)))) == ["ReLU", "MaxPool2d"]
    assert seen == [(1, 1, 4, 4)]
