"""The model zoo: output shapes, exact parameter counts, gradients, overfitting, sizes, init, summary."""

from __future__ import annotations

import numpy as np
import pytest

import npgrad
import npgrad.models as models
from npgrad import nn
from npgrad.nn import functional as F

INPUTS = [(1, 28), (3, 32)]  # (in_channels, image_size)

# Parameter counts of the default architectures with 10 classes, at 1x28x28 and 3x32x32.
# Obtained by building the same architecture in PyTorch 2.13 (the d2l-style twins in
# test_torch_twins.py, whose first FC layer is a LazyLinear sized by a torch forward pass)
# and summing p.numel() over net.parameters().
PARAM_COUNTS = {
    "logistic_regression": (7_850, 30_730),
    "mlp": (535_818, 1_707_274),
    "three_layer_convnet": (629_910, 825_046),
    "lenet": (61_706, 83_126),
    "lenet_bn": (44_878, 62_458),
    "alexnet": (24_733_898, 29_978_506),
    "vgg11": (28_142_858, 28_144_010),
    "nin": (1_981_414, 1_983_142),
    "googlenet": (5_974_970, 5_976_122),
    "resnet18": (11_175_818, 11_176_970),
    "resnet34": (21_287_690, 21_288_842),
}
# The paper-sized (ImageNet) stems: (image size, options, count with 1 input channel, with 3), 10 classes,
# from the same torch twins. The 1-channel counts equal those d2l prints for Fashion-MNIST, except
# VGG-11's, built with 16-wide hidden FC layers to keep this test fast: drawing the 103M weights of
# its 25088x4096 layer takes seconds (the full count, 128,806,154, is d2l's).
IMAGENET_COUNTS = {
    "alexnet": (224, {}, 46_764_746, 46_787_978),
    "vgg11": (224, {"hidden_dim": 16}, 9_621_194, 9_622_346),
    "nin": (224, {}, 1_992_166, 2_015_398),
    "googlenet": (96, {}, 5_977_530, 5_983_802),
    "resnet18": (96, {}, 11_178_378, 11_184_650),
}
# Narrow variants (same structure, fewer channels) for the tests that run forward and backward.
SMALL = {
    "logistic_regression": {},
    "mlp": {"hidden_dims": (32, 16), "normalization": "batchnorm", "dropout": 0.1},
    "three_layer_convnet": {"num_filters": 8, "hidden_dim": 16},
    "lenet": {},
    "lenet_bn": {},
    "alexnet": {"width_ratio": 16, "hidden_dim": 32},
    "vgg11": {"width_ratio": 16, "hidden_dim": 32},
    "nin": {"width_ratio": 16},
    "googlenet": {"width_ratio": 16},
    "resnet18": {"channels": (8, 16, 16, 16)},
}


def count_parameters(model: nn.Module) -> int:
    return sum(p.data.size for p in model.parameters())


def loss_for(model: nn.Module, out: npgrad.Tensor, y: np.ndarray) -> npgrad.Tensor:
    if model.num_outputs == 1:
        return F.binary_cross_entropy_with_logits(out, npgrad.Tensor((y[:, None] % 2).astype(np.float32)))
    return F.cross_entropy(out, y)


@pytest.mark.parametrize("name", list(PARAM_COUNTS))
def test_parameter_counts_match_pytorch(name):
    for (c, s), expected in zip(INPUTS, PARAM_COUNTS[name]):
        assert count_parameters(models.create(name, in_channels=c, num_classes=10, image_size=s)) == expected, (c, s)


@pytest.mark.parametrize("name", list(IMAGENET_COUNTS))
def test_imagenet_stem_parameter_counts(name):
    s, options, ones, threes = IMAGENET_COUNTS[name]
    assert count_parameters(models.create(name, in_channels=1, num_classes=10, image_size=s, **options)) == ones
    assert count_parameters(models.create(name, in_channels=3, num_classes=10, image_size=s, **options)) == threes


@pytest.mark.parametrize(("c", "s"), INPUTS)
@pytest.mark.parametrize("name", list(SMALL))
def test_output_shape(name, c, s):
    npgrad.manual_seed(0)
    model = models.create(name, in_channels=c, num_classes=10, image_size=s, **SMALL[name]).eval()
    x = npgrad.randn(2, c, s, s)
    with npgrad.no_grad():
        out = model(x)
    assert model.num_outputs == 10
    assert out.shape == (2, 10)
    assert out.dtype == np.float32
    assert np.isfinite(out.data).all()


@pytest.mark.parametrize(("name", "s"), [("alexnet", 96), ("nin", 96), ("googlenet", 96), ("resnet18", 96), ("vgg11", 64)])
def test_output_shape_at_paper_stems(name, s):
    npgrad.manual_seed(0)
    model = models.create(name, in_channels=3, num_classes=7, image_size=s, **SMALL[name]).eval()
    with npgrad.no_grad():
        assert model(npgrad.randn(2, 3, s, s)).shape == (2, 7)


@pytest.mark.parametrize(("c", "s"), INPUTS)
@pytest.mark.parametrize("name", list(SMALL))
def test_backward_gives_finite_gradient_to_every_parameter(name, c, s):
    npgrad.manual_seed(0)
    model = models.create(name, in_channels=c, num_classes=10, image_size=s, **SMALL[name]).train()
    x = npgrad.randn(2, c, s, s)
    loss = loss_for(model, model(x), np.array([3, 8]))
    loss.backward()
    total = 0.0
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert p.grad.shape == p.shape and p.grad.dtype == np.float32, pname
        assert np.isfinite(p.grad).all(), pname
        total += float(np.abs(p.grad).sum())
    assert total > 0


def _adam(params: list, lr: float) -> callable:
    moments = [(np.zeros_like(p.data), np.zeros_like(p.data)) for p in params]
    step = [0]

    def update() -> None:
        step[0] += 1
        for p, (m, v) in zip(params, moments):
            m[...] = 0.9 * m + 0.1 * p.grad
            v[...] = 0.999 * v + 0.001 * p.grad**2
            m_hat, v_hat = m / (1 - 0.9 ** step[0]), v / (1 - 0.999 ** step[0])
            p.data -= lr * m_hat / (np.sqrt(v_hat) + 1e-8)
            p.grad = None

    return update


@pytest.mark.parametrize(
    ("name", "c", "s", "options", "lr", "steps"),
    [
        ("logistic_regression", 1, 28, {"num_classes": 2}, 1e-2, 60),
        ("logistic_regression", 3, 16, {}, 1e-2, 60),
        ("mlp", 1, 28, {"hidden_dims": (64, 32)}, 1e-2, 60),
        ("mlp", 1, 28, {"hidden_dims": (64, 32), "normalization": "batchnorm"}, 1e-2, 60),
        ("mlp", 1, 28, {"hidden_dims": (64, 32), "normalization": "layernorm", "weight_scale": 5e-2}, 1e-2, 60),
        ("three_layer_convnet", 3, 16, {"num_filters": 8, "hidden_dim": 32}, 1e-2, 60),
        ("lenet", 1, 28, {"init": "xavier"}, 1e-2, 300),  # sigmoids: a plateau at the label entropy first
        ("lenet_bn", 1, 28, {}, 2e-2, 60),
    ],
)
def test_small_models_overfit_a_tiny_batch(name, c, s, options, lr, steps):
    npgrad.manual_seed(0)
    rng = np.random.default_rng(0)
    options = {"num_classes": 10, **options}
    model = models.create(name, in_channels=c, image_size=s, **options).train()
    x = npgrad.Tensor(rng.standard_normal((16, c, s, s)).astype(np.float32))
    y = rng.integers(0, options["num_classes"], 16)
    update = _adam(list(model.parameters()), lr)
    for _ in range(steps):
        loss = loss_for(model, model(x), y)
        loss.backward()
        update()
    assert loss.item() < 0.05, loss.item()


@pytest.mark.parametrize(
    ("name", "options", "s", "smallest"),
    [
        ("lenet", {}, 11, 12),
        ("lenet_bn", {}, 15, 16),
        ("three_layer_convnet", {}, 1, 2),
        ("alexnet", {}, 14, 15),
        ("alexnet", {"stem": "imagenet"}, 64, 65),
        ("nin", {}, 14, 15),
        ("nin", {"stem": "imagenet"}, 66, 67),
    ],
)
def test_too_small_image_raises_naming_model_size_and_minimum(name, options, s, smallest):
    with pytest.raises(ValueError) as info:
        models.create(name, image_size=s, **options)
    message = str(info.value)
    assert name.split("_bn")[0] in message and f"{s}x{s}" in message and f"{smallest}x{smallest}" in message
    models.create(name, image_size=smallest, **options)  # the minimum itself works


def test_smallest_sizes_really_run():
    npgrad.manual_seed(0)
    for name, s, options in [("lenet", 12, {}), ("alexnet", 15, SMALL["alexnet"]), ("vgg11", 1, SMALL["vgg11"])]:
        model = models.create(name, image_size=s, **options).eval()
        with npgrad.no_grad():
            assert model(npgrad.randn(1, 1, s, s)).shape == (1, 10)


def test_rectangular_images():
    model = models.create("lenet", image_size=(28, 32))
    assert model[7].in_features == 16 * 5 * 6
    assert model(npgrad.randn(2, 1, 28, 32)).shape == (2, 10)


def test_flattened_size_follows_image_size():
    assert models.create("lenet", image_size=28)[7].in_features == 16 * 5 * 5
    assert models.create("lenet", image_size=32)[7].in_features == 16 * 6 * 6
    assert models.create("lenet_bn", image_size=28)[9].in_features == 16 * 4 * 4
    assert models.create("three_layer_convnet", in_channels=3, image_size=32)[4].in_features == 32 * 16 * 16


def test_stem_selection():
    small, paper = (models.create("alexnet", image_size=s, width_ratio=16, hidden_dim=8) for s in (95, 96))
    assert small[0].kernel_size == (3, 3) and small[0].stride == (1, 1)
    assert paper[0].kernel_size == (11, 11) and paper[0].stride == (4, 4)
    assert len(models.create("resnet18", image_size=32)[0]) == 3  # conv, bn, relu: no max pool
    assert len(models.create("resnet18", image_size=32, stem="imagenet")[0]) == 4
    assert models.create("googlenet", image_size=224, stem="small")[0][0].kernel_size == (3, 3)
    with pytest.raises(ValueError, match="stem must be one of"):
        models.create("resnet18", stem="cifar10")


def test_vgg_drops_only_the_pools_that_would_collapse():
    def pools(s):
        vgg = models.create("vgg11", image_size=s, width_ratio=16, hidden_dim=8)
        return [isinstance(block[-1], nn.MaxPool2d) for block in list(vgg)[:5]]

    assert pools(224) == pools(32) == [True] * 5
    assert pools(28) == [True, True, True, True, False]
    assert pools(4) == [True, True, False, False, False]


def test_num_outputs_and_logistic_modes():
    assert models.create("logistic_regression", num_classes=2).num_outputs == 1
    multinomial = models.create("logistic_regression", num_classes=5)
    assert multinomial.num_outputs == 5 and multinomial(npgrad.randn(3, 1, 28, 28)).shape == (3, 5)
    tabular = models.create("logistic_regression", num_classes=2, input_dim=7)
    assert tabular(npgrad.randn(4, 7)).shape == (4, 1)
    for name in ("mlp", "lenet", "resnet18"):
        assert models.create(name, num_classes=2).num_outputs == 2


def test_mlp_layers_and_weight_scale():
    npgrad.manual_seed(0)
    mlp = models.create("mlp", hidden_dims=(300, 200), normalization="layernorm", dropout=0.5, weight_scale=0.05)
    kinds = [type(m).__name__ for m in mlp]
    assert kinds == ["Flatten", "Linear", "LayerNorm", "ReLU", "Dropout", "Linear", "LayerNorm", "ReLU", "Dropout", "Linear"]
    weight = mlp[1].weight.data
    assert abs(weight.std() - 0.05) < 0.002 and abs(weight.mean()) < 0.002
    assert not mlp[1].bias.data.any() and not mlp[9].bias.data.any()
    assert [type(m).__name__ for m in models.create("mlp", hidden_dims=(8,), normalization="batchnorm")] == [
        "Flatten", "Linear", "BatchNorm1d", "ReLU", "Linear"]
    with pytest.raises(ValueError, match="normalization"):
        models.create("mlp", normalization="groupnorm")
    with pytest.raises(ValueError, match="dropout"):
        models.create("mlp", dropout=1.0)


def test_default_init_is_pytorchs_and_weight_scale_replaces_it():
    npgrad.manual_seed(0)
    conv = models.create("three_layer_convnet", in_channels=3, image_size=32)[0]
    bound = 1 / np.sqrt(3 * 7 * 7)  # kaiming_uniform(a=sqrt(5)) on fan_in = 147
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.weight.data).max() > 0.9 * bound
    scaled = models.create("three_layer_convnet", in_channels=3, image_size=32, weight_scale=1e-3)[0]
    assert abs(scaled.weight.data.std() - 1e-3) < 1e-4 and not scaled.bias.data.any()


def test_init_weights_xavier():
    npgrad.manual_seed(0)
    model = models.create("lenet", init="xavier")
    for layer in model:
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            w = layer.weight.data
            fan_in, fan_out = w[0].size, w.shape[0] * (w[0, 0].size if w.ndim == 4 else 1)
            bound = np.sqrt(6 / (fan_in + fan_out))
            assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
            assert not layer.bias.data.any()
    kaiming = models.init_weights(models.create("mlp", hidden_dims=(400,)), "kaiming")
    assert abs(kaiming[1].weight.data.std() - np.sqrt(2 / 784)) < 0.002
    with pytest.raises(ValueError, match="unknown scheme 'orthogonal'"):
        models.init_weights(kaiming, "orthogonal")
    with pytest.raises(ValueError, match="positive std"):
        models.init_weights(kaiming, "normal")


def test_state_dict_keys_follow_the_module_tree():
    resnet = models.create("resnet18", channels=(4, 8, 8, 8))
    keys = set(resnet.state_dict())
    assert {"0.0.weight", "0.1.running_mean", "1.0.conv1.weight", "1.0.bn2.bias", "2.0.conv3.weight", "7.weight"} <= keys
    assert not any(k.startswith("1.0.conv3") for k in keys)  # the first stage needs no projection
    googlenet = models.create("googlenet", width_ratio=16)
    assert {"2.0.p1_1.weight", "2.0.p4_2.bias", "3.4.p3_2.weight", "4.1.p2_2.weight", "5.weight"} <= set(googlenet.state_dict())


@pytest.mark.parametrize(("name", "c", "s"), [("lenet", 1, 28), ("resnet18", 3, 32), ("logistic_regression", 3, 32)])
def test_summary_table(name, c, s):
    model = models.create(name, in_channels=c, image_size=s, **SMALL[name])
    table = nn.summary(model, (c, s, s))
    text = str(table)
    total = count_parameters(model)
    assert table.total_params == total and f"Total params: {total:,}" in text
    assert str((1, model.num_outputs)) in text  # the output shape, batch 1
    assert len(text.splitlines()) >= 8
