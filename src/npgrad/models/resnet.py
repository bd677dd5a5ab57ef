"""ResNet as in d2l: residual blocks of two 3x3 convs with batch norm, 1x1 projection shortcuts."""

from __future__ import annotations

from collections.abc import Sequence

from npgrad import Tensor, nn
from npgrad.errors import InvalidArgumentError
from npgrad.models._common import check_positive, image_hw, resolve_stem
from npgrad.models.registry import register
from npgrad.nn import functional as F
from npgrad.nn.fusion import layer_then_batch_norm


class Residual(nn.Module):
    """Basic residual block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).

    conv1 is 3x3 with ``stride``, conv2 3x3; the shortcut is the identity, or with
    ``use_1x1conv`` a 1x1 convolution ``conv3`` with ``stride`` (projection,
    needed when the channel count or the size changes). As in d2l the convs keep
    their biases and the projection has no batch norm (torchvision's ResNet drops
    the biases and normalises the projection). (N, C_in, H, W) → (N, C_out, ⌈H/stride⌉, ⌈W/stride⌉).
    """

    def __init__(self, in_channels: int, out_channels: int, use_1x1conv: bool = False, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, stride=stride)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride) if use_1x1conv else None
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(layer_then_batch_norm(self.conv1, self.bn1, x))  # bn(conv(x)), folded in inference (nn.fusion)
        y = layer_then_batch_norm(self.conv2, self.bn2, y)
        shortcut = x if self.conv3 is None else self.conv3(x)
        return F.relu(y + shortcut)


@register("resnet", "resnet18")
class ResNet(nn.Sequential):
    """ResNet (d2l; default ResNet-18): stem, stages of basic residual blocks, global average pool, FC.

    ``Sequential(stem, stage_1, ..., stage_S, AdaptiveAvgPool2d((1, 1)), Flatten(),
    Linear(channels[-1], num_classes))``; stage i is ``Sequential`` of
    ``blocks_per_stage[i]`` `Residual` blocks with ``channels[i]`` channels. The first
    block of every stage but the first has stride 2 and a 1x1 projection (so does any
    first block whose channel count changes). ResNet-18 = (2, 2, 2, 2) blocks of
    (64, 128, 256, 512) channels; ResNet-34 = (3, 4, 6, 3).

    Stems (``stem='auto'`` picks 'imagenet' from 96 pixels up, else 'small'):
    'imagenet' = ``Sequential(Conv2d(C, 64, 7, stride=2, padding=3), BatchNorm2d(64), ReLU(),
    MaxPool2d(3, 2, 1))`` (d2l, the paper); 'small' = the CIFAR-style
    ``Sequential(Conv2d(C, 64, 3, padding=1), BatchNorm2d(64), ReLU())`` — stride 1, no
    pool — so 28/32 images reach the last stage at 4x4. All strided layers are padded
    and round up, so no image size collapses. ``state_dict`` keys are the same for both stems.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int | tuple[int, int] = 96,
        blocks_per_stage: Sequence[int] = (2, 2, 2, 2),
        channels: Sequence[int] = (64, 128, 256, 512),
        stem: str = "auto",
    ):
        check_positive("resnet", in_channels=in_channels, num_classes=num_classes,
                       **{f"blocks_per_stage[{i}]": b for i, b in enumerate(blocks_per_stage)},
                       **{f"channels[{i}]": c for i, c in enumerate(channels)})
        if len(blocks_per_stage) != len(channels) or len(channels) == 0:
            raise InvalidArgumentError(
                f"resnet: blocks_per_stage and channels need the same non-zero length, got {tuple(blocks_per_stage)} "
                f"and {tuple(channels)}"
            )
        stem = resolve_stem("resnet", stem, image_hw("resnet", image_size))
        c0 = channels[0]
        if stem == "imagenet":
            b1 = nn.Sequential(
                nn.Conv2d(in_channels, c0, kernel_size=7, stride=2, padding=3), nn.BatchNorm2d(c0), nn.ReLU(),
                nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            )
        else:
            b1 = nn.Sequential(nn.Conv2d(in_channels, c0, kernel_size=3, padding=1), nn.BatchNorm2d(c0), nn.ReLU())
        stages = []
        width = c0
        for i, (num_blocks, out_channels) in enumerate(zip(blocks_per_stage, channels)):
            stride = 1 if i == 0 else 2
            blocks = [Residual(width, out_channels, use_1x1conv=stride != 1 or width != out_channels, stride=stride)]
            blocks += [Residual(out_channels, out_channels) for _ in range(num_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            width = out_channels
        super().__init__(b1, *stages, nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(width, num_classes))
        self.num_outputs = num_classes


@register("resnet34")
def resnet34(in_channels: int = 1, num_classes: int = 10, image_size: int | tuple[int, int] = 96, stem: str = "auto") -> ResNet:
    """ResNet-34: basic residual blocks (3, 4, 6, 3) of (64, 128, 256, 512) channels."""
    return ResNet(in_channels, num_classes, image_size, blocks_per_stage=(3, 4, 6, 3), stem=stem)
