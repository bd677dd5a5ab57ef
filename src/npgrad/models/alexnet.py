"""AlexNet as in d2l (single-tower, 5 convolutions + 3 fully-connected layers with dropout)."""

from __future__ import annotations

from npgrad import nn
from npgrad.models._common import check_positive, image_hw, materialize, resolve_stem, scale_width
from npgrad.models.registry import register


# The paper's recipe (sgd lr 0.01, momentum 0.9, weight decay 5e-4): no batch norm, lr 0.1 is too large.
@register("alexnet", optimizer={"name": "sgd", "lr": 0.01})
class AlexNet(nn.Sequential):
    """AlexNet (d2l): 5 conv layers with ReLU and three 3x3/2 max pools, then 4096-4096 FC with dropout 0.5.

    ``Sequential(Conv2d(C, 96, 11, stride=4, padding=1), ReLU(), MaxPool2d(3, 2),
    Conv2d(96, 256, 5, padding=2), ReLU(), MaxPool2d(3, 2), Conv2d(256, 384, 3, padding=1),
    ReLU(), Conv2d(384, 384, 3, padding=1), ReLU(), Conv2d(384, 256, 3, padding=1), ReLU(),
    MaxPool2d(3, 2), Flatten(), Linear(256*h*w, 4096), ReLU(), Dropout(0.5),
    Linear(4096, 4096), ReLU(), Dropout(0.5), Linear(4096, num_classes))``.
    At 224x224 the last map is 5x5 (6400 features), as in d2l.

    Small-input adaptation (``stem='small'``, chosen by ``stem='auto'`` below 96
    pixels): d2l upsamples Fashion-MNIST to 224 instead; here the first
    convolution becomes 3x3, stride 1, padding 1 (96 filters), everything else
    unchanged, so 28 → last map 2x2 (1024 features) and 32 → 3x3 (2304). Smallest
    image: 15 with the small stem, 65 with the ImageNet stem.

    Args:
        stem: 'auto', 'imagenet' (11x11 stride-4 first conv) or 'small'.
        width_ratio: divide every conv's channel count by this (d2l's small-model trick).
        hidden_dim: width of the two hidden FC layers (4096 in the paper).
        dropout: drop probability of the FC layers.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int | tuple[int, int] = 224,
        stem: str = "auto",
        width_ratio: int = 1,
        hidden_dim: int = 4096,
        dropout: float = 0.5,
    ):
        check_positive("alexnet", in_channels=in_channels, num_classes=num_classes, width_ratio=width_ratio,
                       hidden_dim=hidden_dim)
        hw = image_hw("alexnet", image_size)
        stem = resolve_stem("alexnet", stem, hw)
        k1, s1, p1 = (11, 4, 1) if stem == "imagenet" else (3, 1, 1)
        c1, c2, c3 = (scale_width(c, width_ratio) for c in (96, 256, 384))
        super().__init__(
            nn.Conv2d(in_channels, c1, kernel_size=k1, stride=s1, padding=p1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c1, c2, kernel_size=5, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(c3, c3, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(c3, c2, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Flatten(),
            # Lazy (sized by the dry forward below), all three so the weights are drawn in layer order.
            nn.LazyLinear(hidden_dim), nn.ReLU(), nn.Dropout(dropout),
            nn.LazyLinear(hidden_dim), nn.ReLU(), nn.Dropout(dropout),
            nn.LazyLinear(num_classes),
        )
        self.num_outputs = num_classes
        materialize(self, f"alexnet ({stem} stem)", in_channels, hw)
