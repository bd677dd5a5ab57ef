"""Every model against its PyTorch twin: the same architecture written in plain torch (d2l style).

The twins size their first fully-connected layer with ``nn.LazyLinear`` and a dummy
forward pass, so flattened sizes are checked by torch itself, not by npgrad's
size arithmetic. The tests compare ``state_dict`` keys and shapes, parameter
counts and, after copying npgrad's weights into the twin, the eval-mode outputs.
The parameter counts written in test_models.py were printed by these twins.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import npgrad  # noqa: E402
import npgrad.models as models  # noqa: E402

VGG11 = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))


def _materialize(net: nn.Module, in_channels: int, image_size: int) -> nn.Module:
    with torch.no_grad():
        net.eval()(torch.zeros(1, in_channels, image_size, image_size))
    return net


def logistic(c, k, s):
    return nn.Sequential(nn.Flatten(), nn.Linear(c * s * s, 1 if k <= 2 else k))


def mlp(c, k, s, hidden_dims=(512, 256), normalization=None, dropout=0.0):
    layers, width = [nn.Flatten()], c * s * s
    for h in hidden_dims:
        layers.append(nn.Linear(width, h))
        if normalization == "batchnorm":
            layers.append(nn.BatchNorm1d(h))
        elif normalization == "layernorm":
            layers.append(nn.LayerNorm(h))
        layers.append(nn.ReLU())
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    return nn.Sequential(*layers, nn.Linear(width, k))


def convnet(c, k, s, num_filters=32, filter_size=7, hidden_dim=100):
    net = nn.Sequential(
        nn.Conv2d(c, num_filters, filter_size, padding=(filter_size - 1) // 2), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.LazyLinear(hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, k),
    )
    return _materialize(net, c, s)


def lenet(c, k, s, padding=2, bn=False):
    def maybe_bn(layer, norm):
        return [layer, norm] if bn else [layer]

    net = nn.Sequential(
        *maybe_bn(nn.Conv2d(c, 6, kernel_size=5, padding=padding), nn.BatchNorm2d(6)), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        *maybe_bn(nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16)), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        *maybe_bn(nn.LazyLinear(120), nn.BatchNorm1d(120)), nn.Sigmoid(),
        *maybe_bn(nn.Linear(120, 84), nn.BatchNorm1d(84)), nn.Sigmoid(),
        nn.Linear(84, k),
    )
    return _materialize(net, c, s)


def alexnet(c, k, s, stem, r=1, hidden=4096):
    k1, s1, p1 = (11, 4, 1) if stem == "imagenet" else (3, 1, 1)
    net = nn.Sequential(
        nn.Conv2d(c, 96 // r, kernel_size=k1, stride=s1, padding=p1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(96 // r, 256 // r, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256 // r, 384 // r, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384 // r, 384 // r, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384 // r, 256 // r, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2), nn.Flatten(),
        nn.LazyLinear(hidden), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(hidden, k),
    )
    return _materialize(net, c, s)


def vgg(c, k, s, conv_arch=VGG11, r=1, hidden=4096):
    blocks, x = [], torch.zeros(1, c, s, s)
    for num_convs, out in conv_arch:
        layers = []
        for _ in range(num_convs):
            layers += [nn.Conv2d(c, out // r, kernel_size=3, padding=1), nn.ReLU()]
            c = out // r
        if min(x.shape[-2:]) >= 2:  # the small-input rule: pool only while the map is at least 2x2
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        blocks.append(nn.Sequential(*layers))
        with torch.no_grad():
            x = blocks[-1](x)
    return nn.Sequential(
        *blocks, nn.Flatten(),
        nn.Linear(x[0].numel(), hidden), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(hidden, k),
    )


def nin_block(in_channels, out_channels, kernel_size, strides, padding):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
    )


def nin(c, k, s, stem, r=1):
    first = (11, 4, 0) if stem == "imagenet" else (3, 1, 1)
    return nn.Sequential(
        nin_block(c, 96 // r, *first), nn.MaxPool2d(3, stride=2),
        nin_block(96 // r, 256 // r, 5, 1, 2), nn.MaxPool2d(3, stride=2),
        nin_block(256 // r, 384 // r, 3, 1, 1), nn.MaxPool2d(3, stride=2),
        nn.Dropout(0.5),
        nin_block(384 // r, k, 3, 1, 1),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
    )


class Inception(nn.Module):
    def __init__(self, in_channels, c1, c2, c3, c4):
        super().__init__()
        self.p1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        self.p2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        self.p3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

    def forward(self, x):
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        return torch.cat((p1, p2, p3, p4), dim=1)


def googlenet(c, k, s, stem, r=1):
    def inc(cin, c1, c2, c3, c4):
        return Inception(cin // r, c1 // r, (c2[0] // r, c2[1] // r), (c3[0] // r, c3[1] // r), c4 // r)

    if stem == "imagenet":
        b1 = nn.Sequential(nn.Conv2d(c, 64 // r, kernel_size=7, stride=2, padding=3), nn.ReLU(),
                           nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    else:
        b1 = nn.Sequential(nn.Conv2d(c, 64 // r, kernel_size=3, padding=1), nn.ReLU())
    b2 = nn.Sequential(nn.Conv2d(64 // r, 64 // r, kernel_size=1), nn.ReLU(),
                       nn.Conv2d(64 // r, 192 // r, kernel_size=3, padding=1), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b3 = nn.Sequential(inc(192, 64, (96, 128), (16, 32), 32), inc(256, 128, (128, 192), (32, 96), 64),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b4 = nn.Sequential(inc(480, 192, (96, 208), (16, 48), 64), inc(512, 160, (112, 224), (24, 64), 64),
                       inc(512, 128, (128, 256), (24, 64), 64), inc(512, 112, (144, 288), (32, 64), 64),
                       inc(528, 256, (160, 320), (32, 128), 128),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b5 = nn.Sequential(inc(832, 256, (160, 320), (32, 128), 128), inc(832, 384, (192, 384), (48, 128), 128),
                       nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())
    return nn.Sequential(b1, b2, b3, b4, b5, nn.Linear(1024 // r, k))


class Residual(nn.Module):
    def __init__(self, input_channels, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides) if use_1x1conv else None
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.conv3:
            x = self.conv3(x)
        return F.relu(y + x)


def resnet(c, k, s, stem, arch=(2, 2, 2, 2), channels=(64, 128, 256, 512)):
    c0 = channels[0]
    if stem == "imagenet":
        b1 = nn.Sequential(nn.Conv2d(c, c0, kernel_size=7, stride=2, padding=3), nn.BatchNorm2d(c0), nn.ReLU(),
                           nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    else:
        b1 = nn.Sequential(nn.Conv2d(c, c0, kernel_size=3, padding=1), nn.BatchNorm2d(c0), nn.ReLU())

    def resnet_block(input_channels, num_channels, num_residuals, first_block=False):
        blk = []
        for i in range(num_residuals):
            if i == 0 and not first_block:
                blk.append(Residual(input_channels, num_channels, use_1x1conv=True, strides=2))
            else:
                blk.append(Residual(num_channels, num_channels))
        return nn.Sequential(*blk)

    stages = [resnet_block(c0, c0, arch[0], first_block=True)]
    stages += [resnet_block(channels[i - 1], channels[i], arch[i]) for i in range(1, len(arch))]
    return nn.Sequential(b1, *stages, nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(channels[-1], k))


# name: (npgrad options, twin builder, twin options): the default architectures.
DEFAULTS = {
    "logistic_regression": ({}, logistic, {}),
    "mlp": ({}, mlp, {}),
    "three_layer_convnet": ({}, convnet, {}),
    "lenet": ({}, lenet, {}),
    "lenet_bn": ({}, lenet, {"padding": 0, "bn": True}),
    "alexnet": ({}, alexnet, {"stem": "small"}),
    "vgg11": ({}, vgg, {}),
    "nin": ({}, nin, {"stem": "small"}),
    "googlenet": ({}, googlenet, {"stem": "small"}),
    "resnet18": ({}, resnet, {"stem": "small"}),
}
IMAGENET = {  # the paper-sized stems, at the size d2l uses: (size, npgrad options, twin, twin options)
    "alexnet": (224, {}, alexnet, {"stem": "imagenet"}),
    "nin": (224, {}, nin, {"stem": "imagenet"}),
    "googlenet": (96, {}, googlenet, {"stem": "imagenet"}),
    "resnet18": (96, {}, resnet, {"stem": "imagenet"}),
    "vgg11": (224, {"hidden_dim": 16}, vgg, {"hidden": 16}),  # 16-wide FC: drawing 103M weights is slow
}
# Small variants for the output comparison: (name, npgrad options, twin builder, twin options).
SMALL = [
    ("logistic_regression", {}, logistic, {}),
    ("mlp", {"hidden_dims": (16, 8), "normalization": "batchnorm"}, mlp, {"hidden_dims": (16, 8), "normalization": "batchnorm"}),
    ("mlp", {"hidden_dims": (16,), "normalization": "layernorm"}, mlp, {"hidden_dims": (16,), "normalization": "layernorm"}),
    ("three_layer_convnet", {"num_filters": 4, "hidden_dim": 8}, convnet, {"num_filters": 4, "hidden_dim": 8}),
    ("lenet", {}, lenet, {}),
    ("lenet_bn", {}, lenet, {"padding": 0, "bn": True}),
    ("alexnet", {"width_ratio": 16, "hidden_dim": 32}, alexnet, {"stem": "small", "r": 16, "hidden": 32}),
    ("vgg", {"width_ratio": 16, "hidden_dim": 32}, vgg, {"r": 16, "hidden": 32}),
    ("nin", {"width_ratio": 16}, nin, {"stem": "small", "r": 16}),
    ("googlenet", {"width_ratio": 16}, googlenet, {"stem": "small", "r": 16}),
    ("resnet", {"channels": (4, 8), "blocks_per_stage": (1, 2)}, resnet,
     {"stem": "small", "arch": (1, 2), "channels": (4, 8)}),
]
INPUTS = [(1, 28), (3, 32)]


def _shapes(state: dict) -> dict[str, tuple[int, ...]]:
    return {key: tuple(np.shape(value)) for key, value in state.items()}


@pytest.mark.parametrize(("c", "s"), INPUTS)
@pytest.mark.parametrize("name", list(DEFAULTS))
def test_state_dict_matches_torch_twin(name, c, s):
    options, twin, twin_options = DEFAULTS[name]
    ours = models.create(name, in_channels=c, num_classes=10, image_size=s, **options)
    theirs = twin(c, 10, s, **twin_options)
    assert _shapes(ours.state_dict()) == _shapes(theirs.state_dict())


@pytest.mark.parametrize("name", list(IMAGENET))
def test_imagenet_stem_matches_torch_twin(name):
    s, options, twin, twin_options = IMAGENET[name]
    ours = models.create(name, in_channels=3, num_classes=10, image_size=s, **options)
    theirs = twin(3, 10, s, **twin_options)
    assert _shapes(ours.state_dict()) == _shapes(theirs.state_dict())


@pytest.mark.parametrize(("c", "s"), INPUTS)
@pytest.mark.parametrize(("name", "options", "twin", "twin_options"), SMALL, ids=[f"{x[0]}-{i}" for i, x in enumerate(SMALL)])
def test_outputs_match_torch_twin(name, options, twin, twin_options, c, s):
    npgrad.manual_seed(0)
    ours = models.create(name, in_channels=c, num_classes=10, image_size=s, **options).eval()
    theirs = twin(c, 10, s, **twin_options).double().eval()
    state = {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in ours.state_dict().items()}
    theirs.load_state_dict(state, strict=True)
    x = np.random.default_rng(1).standard_normal((2, c, s, s))
    with npgrad.no_grad():
        out = ours(npgrad.Tensor(x.astype(np.float32))).data
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-4)
