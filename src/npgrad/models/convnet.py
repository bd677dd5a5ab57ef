"""cs231n's three-layer convolutional network."""

from __future__ import annotations

from npgrad import nn
from npgrad.models._common import apply_weight_scale, check_positive, image_hw, materialize
from npgrad.models.registry import register


@register("three_layer_convnet", "convnet")
class ThreeLayerConvNet(nn.Sequential):
    """cs231n's three-layer convnet: conv - relu - 2x2 max pool - affine - relu - affine.

    ``Sequential(Conv2d(C, num_filters, filter_size, padding=(filter_size - 1) // 2),
    ReLU(), MaxPool2d(2, 2), Flatten(), Linear(num_filters * H' * W', hidden_dim),
    ReLU(), Linear(hidden_dim, num_classes))``. For odd ``filter_size`` the
    convolution preserves the size, so H' = H // 2 (32 → 16: 32 * 16 * 16 = 8192
    features); an even ``filter_size`` shrinks the map by one pixel first.

    Args:
        num_filters, filter_size, hidden_dim: as in cs231n's ``ThreeLayerConvNet``.
        weight_scale: None keeps PyTorch's default initialisation; a float gives
            cs231n's: weights ~ N(0, weight_scale²), biases 0 (cs231n used 1e-3).

    Input (N, in_channels, H, W) with H, W >= 2; output (N, num_classes) logits.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        image_size: int | tuple[int, int] = 32,
        num_filters: int = 32,
        filter_size: int = 7,
        hidden_dim: int = 100,
        weight_scale: float | None = None,
    ):
        name = "three_layer_convnet"
        check_positive(name, in_channels=in_channels, num_classes=num_classes, num_filters=num_filters,
                       filter_size=filter_size, hidden_dim=hidden_dim)
        padding = (filter_size - 1) // 2
        hw = image_hw(name, image_size)
        super().__init__(
            nn.Conv2d(in_channels, num_filters, filter_size, padding=padding),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Flatten(),
            nn.LazyLinear(hidden_dim),  # sized by the dry forward below; both lazy: weights drawn in layer order
            nn.ReLU(),
            nn.LazyLinear(num_classes),
        )
        self.num_outputs = num_classes
        materialize(self, name, in_channels, hw)
        apply_weight_scale(self, weight_scale)
