"""GoogLeNet as in d2l: a stem, then Inception blocks (four parallel paths concatenated on channels)."""

from __future__ import annotations

from npgrad import Tensor, cat, nn
from npgrad.models._common import check_positive, image_hw, resolve_stem, scale_width
from npgrad.models.registry import register
from npgrad.nn import functional as F

# (c1, (c2_reduce, c2), (c3_reduce, c3), c4) per Inception block of stages b3, b4, b5 (GoogLeNet paper, table 1).
_B3 = ((64, (96, 128), (16, 32), 32), (128, (128, 192), (32, 96), 64))
_B4 = (
    (192, (96, 208), (16, 48), 64),
    (160, (112, 224), (24, 64), 64),
    (128, (128, 256), (24, 64), 64),
    (112, (144, 288), (32, 64), 64),
    (256, (160, 320), (32, 128), 128),
)
_B5 = ((256, (160, 320), (32, 128), 128), (384, (192, 384), (48, 128), 128))


class Inception(nn.Module):
    """Four parallel paths, ReLU after every conv, concatenated on channels: (N, C, H, W) → (N, c1+c2+c3+c4, H, W).

    path 1: 1x1 conv (c1); path 2: 1x1 conv (c2[0]) - 3x3 conv (c2[1]);
    path 3: 1x1 conv (c3[0]) - 5x5 conv (c3[1]); path 4: 3x3/1 max pool - 1x1 conv (c4).
    Attribute names (``p1_1`` ... ``p4_2``) follow d2l.
    """

    def __init__(self, in_channels: int, c1: int, c2: tuple[int, int], c3: tuple[int, int], c4: int):
        super().__init__()
        self.p1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        self.p2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        self.p3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)
        self.out_channels = c1 + c2[1] + c3[1] + c4

    def forward(self, x: Tensor) -> Tensor:
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        return cat([p1, p2, p3, p4], dim=1)


def _inception_stage(in_channels: int, configs: tuple, width_ratio: int) -> list[Inception]:
    blocks = []
    for c1, (c2r, c2), (c3r, c3), c4 in configs:
        s = [scale_width(c, width_ratio) for c in (c1, c2r, c2, c3r, c3, c4)]
        blocks.append(Inception(in_channels, s[0], (s[1], s[2]), (s[3], s[4]), s[5]))
        in_channels = blocks[-1].out_channels
    return blocks


@register("googlenet")
class GoogLeNet(nn.Sequential):
    """GoogLeNet (d2l): stem b1, b2 (1x1 + 3x3 convs), 2 + 5 + 2 Inception blocks (b3..b5), global average pool, FC.

    ``Sequential(b1, b2, b3, b4, b5, Linear(1024, num_classes))`` with
    b1 = ``Sequential(Conv2d(C, 64, 7, 2, 3), ReLU(), MaxPool2d(3, 2, 1))``,
    b2 = ``Sequential(Conv2d(64, 64, 1), ReLU(), Conv2d(64, 192, 3, padding=1), ReLU(), MaxPool2d(3, 2, 1))``,
    b3 = 2 Inceptions + ``MaxPool2d(3, 2, 1)``, b4 = 5 Inceptions + ``MaxPool2d(3, 2, 1)``,
    b5 = 2 Inceptions + ``AdaptiveAvgPool2d((1, 1))`` + ``Flatten()``. The padded
    3x3/2 pools round up, so no image size collapses (96 → 3x3 before the pooling).

    Small-input adaptation (``stem='small'``, chosen by ``stem='auto'`` below 96
    pixels): b1 becomes ``Sequential(Conv2d(C, 64, 3, padding=1), ReLU())`` — no
    stride, no pool — so a 28/32 image reaches b5 at 4x4 instead of 1x1. The
    ``state_dict`` keys are the same for both stems.

    Args:
        stem: 'auto', 'imagenet' or 'small'.
        width_ratio: divide every channel count (stem, b2 and all Inception paths) by this.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int | tuple[int, int] = 96,
        stem: str = "auto",
        width_ratio: int = 1,
    ):
        check_positive("googlenet", in_channels=in_channels, num_classes=num_classes, width_ratio=width_ratio)
        stem = resolve_stem("googlenet", stem, image_hw("googlenet", image_size))
        c64, c192 = scale_width(64, width_ratio), scale_width(192, width_ratio)
        if stem == "imagenet":
            b1 = nn.Sequential(
                nn.Conv2d(in_channels, c64, kernel_size=7, stride=2, padding=3), nn.ReLU(),
                nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            )
        else:
            b1 = nn.Sequential(nn.Conv2d(in_channels, c64, kernel_size=3, padding=1), nn.ReLU())
        b2 = nn.Sequential(
            nn.Conv2d(c64, c64, kernel_size=1), nn.ReLU(),
            nn.Conv2d(c64, c192, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        b3_blocks = _inception_stage(c192, _B3, width_ratio)
        b4_blocks = _inception_stage(b3_blocks[-1].out_channels, _B4, width_ratio)
        b5_blocks = _inception_stage(b4_blocks[-1].out_channels, _B5, width_ratio)
        super().__init__(
            b1,
            b2,
            nn.Sequential(*b3_blocks, nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
            nn.Sequential(*b4_blocks, nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
            nn.Sequential(*b5_blocks, nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten()),
            nn.Linear(b5_blocks[-1].out_channels, num_classes),
        )
        self.num_outputs = num_classes
