"""VGG as in d2l: blocks of 3x3 convolutions each closed by a 2x2 max pool, then three FC layers."""

from __future__ import annotations

from collections.abc import Sequence

from npgrad import nn
from npgrad.errors import InvalidArgumentError
from npgrad.models._common import check_positive, image_hw, materialize, scale_width
from npgrad.models.registry import register

VGG11 = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))


def vgg_block(num_convs: int, in_channels: int, out_channels: int, pool: bool = True) -> nn.Sequential:
    """``num_convs`` x (3x3 padding-1 conv + ReLU), then a 2x2 stride-2 max pool when ``pool``."""
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers += [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU()]
        in_channels = out_channels
    if pool:
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


# The paper's recipe (sgd lr 0.01, momentum 0.9, weight decay 5e-4): no batch norm, lr 0.1 is too large.
@register("vgg", "vgg11", optimizer={"name": "sgd", "lr": 0.01})
class VGG(nn.Sequential):
    """VGG (d2l): VGG blocks from ``conv_arch`` (default VGG-11), then 4096-4096 FC with dropout 0.5.

    ``Sequential(block_1, ..., block_B, Flatten(), Linear(c_B*h*w, 4096), ReLU(),
    Dropout(0.5), Linear(4096, 4096), ReLU(), Dropout(0.5), Linear(4096, num_classes))``
    where block i is ``Sequential(Conv2d, ReLU, ..., MaxPool2d(2, 2))`` with
    ``conv_arch[i] = (num_convs, out_channels)``. 224 → 7x7 after five blocks.

    Small-input adaptation: a block's max pool is left out when the map entering
    it is already smaller than 2x2, so every image size works (28 → 14, 7, 3, 1, 1:
    the last block does not pool; 32 → 1x1 with all five pools). Pools hold no
    parameters, so ``state_dict`` keys do not change.

    Args:
        conv_arch: ((num_convs, out_channels), ...) per block.
        width_ratio: divide every block's channel count by this (d2l's small VGG uses 4;
            the FC width is set separately by ``hidden_dim``, as in d2l).
        hidden_dim: width of the two hidden FC layers (4096 in the paper).
        dropout: drop probability of the FC layers.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int | tuple[int, int] = 224,
        conv_arch: Sequence[tuple[int, int]] = VGG11,
        width_ratio: int = 1,
        hidden_dim: int = 4096,
        dropout: float = 0.5,
    ):
        check_positive("vgg", in_channels=in_channels, num_classes=num_classes, width_ratio=width_ratio, hidden_dim=hidden_dim)
        if len(conv_arch) == 0:
            raise InvalidArgumentError("vgg: conv_arch needs at least one (num_convs, out_channels) block")
        hw = h, w = image_hw("vgg", image_size)
        image_channels = in_channels
        blocks = []
        for i, (num_convs, out_channels) in enumerate(conv_arch):
            check_positive("vgg", **{f"conv_arch[{i}] num_convs": num_convs, f"conv_arch[{i}] out_channels": out_channels})
            out_channels = scale_width(out_channels, width_ratio)
            pool = min(h, w) >= 2
            blocks.append(vgg_block(num_convs, in_channels, out_channels, pool))
            if pool:
                h, w = h // 2, w // 2
            in_channels = out_channels
        super().__init__(
            *blocks,
            nn.Flatten(),
            # Lazy (sized by the dry forward below), all three so the weights are drawn in layer order.
            nn.LazyLinear(hidden_dim), nn.ReLU(), nn.Dropout(dropout),
            nn.LazyLinear(hidden_dim), nn.ReLU(), nn.Dropout(dropout),
            nn.LazyLinear(num_classes),
        )
        self.num_outputs = num_classes
        materialize(self, "vgg", image_channels, hw)
