"""LeNet-5 as in d2l: sigmoid activations and average pooling, with an optional batch-norm variant."""

from __future__ import annotations

from npgrad import nn
from npgrad.errors import InvalidArgumentError
from npgrad.models._common import check_positive, image_hw, materialize
from npgrad.models.registry import register


# Sigmoids without batch norm: sgd lr 0.1 (momentum 0.9) stays at loss 2.31 and accuracy 0.10 for 240 steps on
# the bundled subset; adam lr 1e-3 reaches 1.19 and 0.59.
@register("lenet", optimizer={"name": "adam", "lr": 1e-3})
class LeNet(nn.Sequential):
    """LeNet-5 (d2l): two 5x5 conv + sigmoid + 2x2 average-pool stages, then 120-84-classes sigmoid MLP.

    ``Sequential(Conv2d(C, 6, 5, padding=padding), Sigmoid(), AvgPool2d(2, 2),
    Conv2d(6, 16, 5), Sigmoid(), AvgPool2d(2, 2), Flatten(), Linear(16*h*w, 120),
    Sigmoid(), Linear(120, 84), Sigmoid(), Linear(84, num_classes))``.

    With ``batch_norm=True`` (d2l's BN-LeNet, see `lenet_bn`) a ``BatchNorm2d``
    follows each convolution and a ``BatchNorm1d`` each hidden linear layer, before
    the sigmoid, so the Sequential indices shift accordingly (as in d2l).

    The flattened size follows the image: with ``padding=2`` (the default, d2l's
    LeNet) 28 → 16*5*5 = 400 and 32 → 16*6*6 = 576; with ``padding=0`` 28 → 16*4*4
    and 32 → 16*5*5 (the original LeNet-5 on 32x32). Smallest image: 12 with
    padding 2, 16 with padding 0; smaller sizes raise ValueError.

    d2l trains it with Xavier-uniform weights: ``create('lenet', init='xavier')``
    or ``init_weights(model, 'xavier')``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int | tuple[int, int] = 28,
        padding: int = 2,
        batch_norm: bool = False,
    ):
        name = "lenet_bn" if batch_norm else "lenet"
        check_positive(name, in_channels=in_channels, num_classes=num_classes)
        if padding < 0:
            raise InvalidArgumentError(f"{name}: padding must be >= 0, got {padding!r}")
        hw = image_hw(name, image_size)

        def with_bn(layer: nn.Module, features: int, bn: type[nn.Module]) -> list[nn.Module]:
            return [layer, bn(features)] if batch_norm else [layer]

        super().__init__(
            *with_bn(nn.Conv2d(in_channels, 6, kernel_size=5, padding=padding), 6, nn.BatchNorm2d),
            nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            *with_bn(nn.Conv2d(6, 16, kernel_size=5), 16, nn.BatchNorm2d),
            nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Flatten(),
            # Lazy (sized by the dry forward below), all three so the weights are drawn in layer order.
            *with_bn(nn.LazyLinear(120), 120, nn.BatchNorm1d),
            nn.Sigmoid(),
            *with_bn(nn.LazyLinear(84), 84, nn.BatchNorm1d),
            nn.Sigmoid(),
            nn.LazyLinear(num_classes),
        )
        self.num_outputs = num_classes
        materialize(self, name, in_channels, hw)


@register("lenet_bn")
def lenet_bn(in_channels: int = 1, num_classes: int = 10, image_size: int | tuple[int, int] = 28, padding: int = 0) -> LeNet:
    """LeNet with batch norm (d2l): BatchNorm after each conv and hidden linear layer, before the sigmoid.

    As in d2l's ``BNLeNet`` the first convolution has no padding (28 → 16*4*4 = 256
    flattened features; 32 → 16*5*5); pass ``padding=2`` for LeNet's padded layout.
    Smallest image: 16 (12 with padding 2).
    """
    return LeNet(in_channels, num_classes, image_size, padding=padding, batch_norm=True)
