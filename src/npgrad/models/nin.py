"""Network in Network as in d2l: NiN blocks (conv + two 1x1 convs), max pools, global average pooling."""

from __future__ import annotations

from npgrad import nn
from npgrad.models._common import check_positive, image_hw, materialize, resolve_stem, scale_width
from npgrad.models.registry import register


def nin_block(in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int) -> nn.Sequential:
    """Conv(kernel_size) - ReLU - Conv(1x1) - ReLU - Conv(1x1) - ReLU: a per-pixel MLP after a conv."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
    )


@register("nin")
class NiN(nn.Sequential):
    """Network in Network (d2l): four NiN blocks with 3x3/2 max pools and dropout, global average pooling to classes.

    ``Sequential(nin_block(C, 96, 11, 4, 0), MaxPool2d(3, 2), nin_block(96, 256, 5, 1, 2),
    MaxPool2d(3, 2), nin_block(256, 384, 3, 1, 1), MaxPool2d(3, 2), Dropout(0.5),
    nin_block(384, num_classes, 3, 1, 1), AdaptiveAvgPool2d((1, 1)), Flatten())``: no
    fully-connected layer; the last block's ReLU'd channel averages are the logits, as in d2l.

    Small-input adaptation (``stem='small'``, chosen by ``stem='auto'`` below 96
    pixels): the first block's convolution becomes 3x3, stride 1, padding 1
    (instead of 11x11 stride 4), so 28 → 13 → 6 → 2x2 before the global pooling.
    Smallest image: 15 with the small stem, 67 with the ImageNet stem.

    Args:
        stem: 'auto', 'imagenet' or 'small'.
        width_ratio: divide the 96/256/384 channel counts by this.
        dropout: drop probability before the last block.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int | tuple[int, int] = 224,
        stem: str = "auto",
        width_ratio: int = 1,
        dropout: float = 0.5,
    ):
        check_positive("nin", in_channels=in_channels, num_classes=num_classes, width_ratio=width_ratio)
        hw = image_hw("nin", image_size)
        stem = resolve_stem("nin", stem, hw)
        k1, s1, p1 = (11, 4, 0) if stem == "imagenet" else (3, 1, 1)
        c1, c2, c3 = (scale_width(c, width_ratio) for c in (96, 256, 384))
        super().__init__(
            nin_block(in_channels, c1, kernel_size=k1, stride=s1, padding=p1),
            nn.MaxPool2d(3, stride=2),
            nin_block(c1, c2, kernel_size=5, stride=1, padding=2),
            nn.MaxPool2d(3, stride=2),
            nin_block(c2, c3, kernel_size=3, stride=1, padding=1),
            nn.MaxPool2d(3, stride=2),
            nn.Dropout(dropout),
            nin_block(c3, num_classes, kernel_size=3, stride=1, padding=1),
            nn.AdaptiveAvgPool2d((1, 1)),
            nn.Flatten(),
        )
        self.num_outputs = num_classes
        materialize(self, f"nin ({stem} stem)", in_channels, hw)  # no lazy layer: checks the size
