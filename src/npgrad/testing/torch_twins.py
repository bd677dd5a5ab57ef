"""PyTorch twins of the model zoo: each model rewritten in plain torch (d2l style), as an oracle.

**Requires torch.** This module is an optional test and benchmark oracle: nothing else in
npgrad imports it, and npgrad never depends on torch.

Every builder takes ``(c, k, s)`` — in_channels, num_classes, image_size (an int or an
(H, W) pair) — followed by the npgrad model's architecture options under the same names
and defaults, so ``twin(name, c, k, s, **options)`` mirrors
``npgrad.models.create(name, in_channels=c, num_classes=k, image_size=s, **options)``:
same module tree, same ``state_dict`` keys and shapes. The twins are written independently
of npgrad's size arithmetic: fully-connected layers after a feature extractor are sized by
``nn.LazyLinear`` and a dummy forward pass (or by running the blocks), so torch itself checks
the flattened sizes. ``stem='auto'`` means the paper's stem from 96 pixels up (d2l's size).

Initialisation is not mirrored (options such as ``weight_scale`` are ignored): use
`copy_weights` to start a twin from an npgrad model's weights, or `xavier_init_`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

ImageSize = int | tuple[int, int]
VGG11 = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
_IMAGENET_STEM_MIN_SIZE = 96
# create() options that only change the initialisation, not the architecture.
_INIT_ONLY_OPTIONS = ("weight_scale", "init")


def _hw(s: ImageSize) -> tuple[int, int]:
    return (s, s) if isinstance(s, int) else (int(s[0]), int(s[1]))


def _stem(stem: str, s: ImageSize) -> str:
    if stem == "auto":
        return "imagenet" if min(_hw(s)) >= _IMAGENET_STEM_MIN_SIZE else "small"
    if stem not in ("imagenet", "small"):
        raise ValueError(f"torch twin: stem must be 'auto', 'imagenet' or 'small', got {stem!r}")
    return stem


def _materialize(net: nn.Module, c: int, s: ImageSize) -> nn.Module:
    """Run a dummy batch through ``net`` so that its ``LazyLinear`` layers get their sizes."""
    with torch.no_grad():
        net.eval()(torch.zeros(1, c, *_hw(s)))
    return net.train()


def logistic(c: int, k: int, s: ImageSize) -> nn.Module:
    h, w = _hw(s)
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 1 if k <= 2 else k))


def mlp(c: int, k: int, s: ImageSize, hidden_dims: Sequence[int] = (512, 256), normalization: str | None = None,
        dropout: float = 0.0) -> nn.Module:
    h, w = _hw(s)
    layers: list[nn.Module] = [nn.Flatten()]
    width = c * h * w
    for hidden in hidden_dims:
        layers.append(nn.Linear(width, hidden))
        if normalization == "batchnorm":
            layers.append(nn.BatchNorm1d(hidden))
        elif normalization == "layernorm":
            layers.append(nn.LayerNorm(hidden))
        layers.append(nn.ReLU())
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, k))


def convnet(c: int, k: int, s: ImageSize, num_filters: int = 32, filter_size: int = 7, hidden_dim: int = 100) -> nn.Module:
    net = nn.Sequential(
        nn.Conv2d(c, num_filters, filter_size, padding=(filter_size - 1) // 2), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.LazyLinear(hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, k),
    )
    return _materialize(net, c, s)


def lenet(c: int, k: int, s: ImageSize, padding: int = 2, batch_norm: bool = False) -> nn.Module:
    def maybe_bn(layer: nn.Module, norm: nn.Module) -> list[nn.Module]:
        return [layer, norm] if batch_norm else [layer]

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


def lenet_bn(c: int, k: int, s: ImageSize, padding: int = 0) -> nn.Module:
    return lenet(c, k, s, padding=padding, batch_norm=True)


def alexnet(c: int, k: int, s: ImageSize, stem: str = "auto", width_ratio: int = 1, hidden_dim: int = 4096,
            dropout: float = 0.5) -> nn.Module:
    r = width_ratio
    k1, s1, p1 = (11, 4, 1) if _stem(stem, s) == "imagenet" else (3, 1, 1)
    net = nn.Sequential(
        nn.Conv2d(c, 96 // r, kernel_size=k1, stride=s1, padding=p1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(96 // r, 256 // r, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256 // r, 384 // r, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384 // r, 384 // r, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384 // r, 256 // r, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2), nn.Flatten(),
        nn.LazyLinear(hidden_dim), nn.ReLU(), nn.Dropout(p=dropout),
        nn.Linear(hidden_dim, hidden_dim), nn.ReLU(), nn.Dropout(p=dropout),
        nn.Linear(hidden_dim, k),
    )
    return _materialize(net, c, s)


def vgg(c: int, k: int, s: ImageSize, conv_arch: Sequence[tuple[int, int]] = VGG11, width_ratio: int = 1,
        hidden_dim: int = 4096, dropout: float = 0.5) -> nn.Module:
    blocks: list[nn.Module] = []
    x = torch.zeros(1, c, *_hw(s))
    for num_convs, out in conv_arch:
        layers: list[nn.Module] = []
        for _ in range(num_convs):
            layers += [nn.Conv2d(c, out // width_ratio, kernel_size=3, padding=1), nn.ReLU()]
            c = out // width_ratio
        if min(x.shape[-2:]) >= 2:  # the small-input rule: pool only while the map is at least 2x2
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        blocks.append(nn.Sequential(*layers))
        with torch.no_grad():
            x = blocks[-1](x)
    return nn.Sequential(
        *blocks, nn.Flatten(),
        nn.Linear(x[0].numel(), hidden_dim), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden_dim, k),
    )


def nin_block(in_channels: int, out_channels: int, kernel_size: int, strides: int, padding: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
    )


def nin(c: int, k: int, s: ImageSize, stem: str = "auto", width_ratio: int = 1, dropout: float = 0.5) -> nn.Module:
    r = width_ratio
    first = (11, 4, 0) if _stem(stem, s) == "imagenet" else (3, 1, 1)
    return nn.Sequential(
        nin_block(c, 96 // r, *first), nn.MaxPool2d(3, stride=2),
        nin_block(96 // r, 256 // r, 5, 1, 2), nn.MaxPool2d(3, stride=2),
        nin_block(256 // r, 384 // r, 3, 1, 1), nn.MaxPool2d(3, stride=2),
        nn.Dropout(dropout),
        nin_block(384 // r, k, 3, 1, 1),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
    )


class Inception(nn.Module):
    def __init__(self, in_channels: int, c1: int, c2: tuple[int, int], c3: tuple[int, int], c4: int):
        super().__init__()
        self.p1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        self.p2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        self.p3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        return torch.cat((p1, p2, p3, p4), dim=1)


def googlenet(c: int, k: int, s: ImageSize, stem: str = "auto", width_ratio: int = 1) -> nn.Module:
    r = width_ratio

    def inc(cin: int, c1: int, c2: tuple[int, int], c3: tuple[int, int], c4: int) -> Inception:
        return Inception(cin // r, c1 // r, (c2[0] // r, c2[1] // r), (c3[0] // r, c3[1] // r), c4 // r)

    if _stem(stem, s) == "imagenet":
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
    def __init__(self, input_channels: int, num_channels: int, use_1x1conv: bool = False, strides: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides) if use_1x1conv else None
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.conv3:
            x = self.conv3(x)
        return F.relu(y + x)


def resnet(c: int, k: int, s: ImageSize, blocks_per_stage: Sequence[int] = (2, 2, 2, 2),
           channels: Sequence[int] = (64, 128, 256, 512), stem: str = "auto") -> nn.Module:
    c0 = channels[0]
    if _stem(stem, s) == "imagenet":
        b1 = nn.Sequential(nn.Conv2d(c, c0, kernel_size=7, stride=2, padding=3), nn.BatchNorm2d(c0), nn.ReLU(),
                           nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    else:
        b1 = nn.Sequential(nn.Conv2d(c, c0, kernel_size=3, padding=1), nn.BatchNorm2d(c0), nn.ReLU())

    def resnet_block(input_channels: int, num_channels: int, num_residuals: int, first_block: bool = False) -> nn.Module:
        blk = []
        for i in range(num_residuals):
            if i == 0 and not first_block:
                blk.append(Residual(input_channels, num_channels, use_1x1conv=True, strides=2))
            else:
                blk.append(Residual(num_channels, num_channels))
        return nn.Sequential(*blk)

    stages = [resnet_block(c0, c0, blocks_per_stage[0], first_block=True)]
    stages += [resnet_block(channels[i - 1], channels[i], blocks_per_stage[i]) for i in range(1, len(channels))]
    return nn.Sequential(b1, *stages, nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(channels[-1], k))


def resnet34(c: int, k: int, s: ImageSize, stem: str = "auto") -> nn.Module:
    return resnet(c, k, s, blocks_per_stage=(3, 4, 6, 3), stem=stem)


# Every name (and alias) of npgrad's model registry -> its twin builder.
TWINS: dict[str, Callable[..., nn.Module]] = {
    "logistic_regression": logistic, "logistic": logistic,
    "mlp": mlp, "fc_net": mlp,
    "three_layer_convnet": convnet, "convnet": convnet,
    "lenet": lenet, "lenet_bn": lenet_bn,
    "alexnet": alexnet,
    "vgg": vgg, "vgg11": vgg,
    "nin": nin,
    "googlenet": googlenet,
    "resnet": resnet, "resnet18": resnet, "resnet34": resnet34,
}


def twin(name: str, in_channels: int = 1, num_classes: int = 10, image_size: ImageSize = 28, **options: Any) -> nn.Module:
    """The torch twin of ``npgrad.models.create(name, in_channels, num_classes, image_size, **options)``.

    ``options`` are the npgrad model's architecture options (same names); the
    initialisation-only ones (``weight_scale``, ``init``) are ignored. The twin has torch's
    default initialisation and is in training mode. ValueError for a name without a twin.
    """
    if name not in TWINS:
        raise ValueError(f"twin: no torch twin for model {name!r}; available: {', '.join(sorted(TWINS))}")
    options = {key: value for key, value in options.items() if key not in _INIT_ONLY_OPTIONS}
    return TWINS[name](in_channels, num_classes, image_size, **options).train()


def copy_weights(npgrad_model: Any, torch_model: nn.Module) -> nn.Module:
    """Load ``npgrad_model.state_dict()`` into ``torch_model`` (strict: the keys must match); returns it.

    Each array is cast to the dtype of the twin's entry, so a ``.double()`` twin gets float64 weights.
    """
    dtypes = {key: value.dtype for key, value in torch_model.state_dict().items()}
    state = {}
    for key, value in npgrad_model.state_dict().items():
        tensor = torch.from_numpy(np.array(value))
        state[key] = tensor.to(dtypes[key]) if key in dtypes else tensor  # unknown keys: load_state_dict names them
    torch_model.load_state_dict(state, strict=True)
    return torch_model


def xavier_init_(torch_model: nn.Module) -> nn.Module:
    """npgrad's ``init_weights(model, 'xavier')`` in torch: Xavier-uniform Conv2d/Linear weights, zero biases."""
    for module in torch_model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return torch_model
