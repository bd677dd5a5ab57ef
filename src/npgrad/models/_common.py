"""Helpers shared by the model families: image-size arithmetic and weight initialisation."""

from __future__ import annotations

from collections.abc import Callable

from npgrad._utils import pair
from npgrad.errors import InvalidArgumentError
from npgrad.nn import Conv2d, Linear, Module, init

# Images at least this large get the paper's (ImageNet) stem when ``stem='auto'``:
# 96 is the size d2l trains AlexNet/NiN/GoogLeNet/ResNet at on Fashion-MNIST.
IMAGENET_STEM_MIN_SIZE = 96
STEMS = ("auto", "imagenet", "small")


def image_hw(model: str, image_size: int | tuple[int, int]) -> tuple[int, int]:
    """``image_size`` (an int or an (H, W) pair) as a validated (H, W) pair."""
    h, w = pair(model, "image_size", image_size)
    if h < 1 or w < 1:
        raise InvalidArgumentError(f"{model}: image_size must be positive, got {image_size!r}")
    return h, w


def check_positive(model: str, **values: int) -> None:
    """ValueError naming ``model`` and the argument for any value below 1."""
    for name, value in values.items():
        if int(value) != value or value < 1:
            raise InvalidArgumentError(f"{model}: {name} must be a positive integer, got {value!r}")


def scale_width(channels: int, width_ratio: int) -> int:
    """``channels // width_ratio``, at least 1 (d2l's ``ratio`` for the small VGG)."""
    return max(1, channels // width_ratio)


def resolve_stem(model: str, stem: str, hw: tuple[int, int]) -> str:
    """'imagenet' or 'small': ``stem='auto'`` picks 'imagenet' when both sides are >= 96 pixels."""
    if stem not in STEMS:
        raise InvalidArgumentError(f"{model}: stem must be one of {', '.join(STEMS)}, got {stem!r}")
    if stem == "auto":
        return "imagenet" if min(hw) >= IMAGENET_STEM_MIN_SIZE else "small"
    return stem


def conv_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution or pooling window along one side; 0 once the map has vanished."""
    if size < 1:
        return 0
    return max(0, (size + 2 * padding - kernel) // stride + 1)


def feature_hw(model: str, hw: tuple[int, int], feature_size: Callable[[int], int], max_size: int = 4096) -> tuple[int, int]:
    """The (H, W) of the last feature map, ``feature_size`` applied to each side of ``hw``.

    ``feature_size`` maps an input side length to the final side length,
    returning 0 when an intermediate map vanishes (use `conv_size`). When a side
    collapses, raise a ValueError naming the model, the image size and the
    smallest image size the model supports.
    """
    out = (feature_size(hw[0]), feature_size(hw[1]))
    if min(out) >= 1:
        return out
    smallest = next((s for s in range(1, max_size + 1) if feature_size(s) >= 1), None)
    hint = f"smallest supported image size: {smallest}x{smallest}" if smallest else "no image size is supported"
    raise InvalidArgumentError(f"{model}: image size {hw[0]}x{hw[1]} is too small, its feature maps shrink below 1x1 ({hint})")


_SCHEMES: dict[str, Callable[..., object]] = {
    "xavier": init.xavier_uniform_,
    "xavier_uniform": init.xavier_uniform_,
    "xavier_normal": init.xavier_normal_,
    "kaiming": lambda w: init.kaiming_normal_(w, nonlinearity="relu"),
    "kaiming_normal": lambda w: init.kaiming_normal_(w, nonlinearity="relu"),
    "kaiming_uniform": lambda w: init.kaiming_uniform_(w, nonlinearity="relu"),
}


def init_weights(model: Module, scheme: str = "xavier", std: float | None = None) -> Module:
    """Re-initialise every ``Linear`` and ``Conv2d`` of ``model`` in place; biases become 0.

    Schemes: ``'xavier'`` (= ``'xavier_uniform'``, d2l's ``init_cnn``), ``'xavier_normal'``,
    ``'kaiming'`` (= ``'kaiming_normal'``, fan_in, ReLU gain), ``'kaiming_uniform'``, and
    ``'normal'``: weights ~ N(0, std²) — the cs231n ``weight_scale`` initialisation
    (``std`` required). Normalisation layers keep weight 1, bias 0. Returns ``model``.
    """
    if scheme == "normal":
        if std is None or std <= 0:
            raise InvalidArgumentError(f"init_weights: scheme 'normal' needs a positive std, got {std!r}")

        def initialise(w: object) -> object:
            return init.normal_(w, 0.0, std)

    elif scheme in _SCHEMES:
        initialise = _SCHEMES[scheme]
    else:
        raise InvalidArgumentError(f"init_weights: unknown scheme {scheme!r}; available: {', '.join([*_SCHEMES, 'normal'])}")
    for module in model.modules():
        if isinstance(module, (Linear, Conv2d)):
            initialise(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
    return model


def apply_weight_scale(model: Module, weight_scale: float | None) -> Module:
    """cs231n-style init when ``weight_scale`` is a float: weights ~ N(0, weight_scale²), biases 0."""
    return model if weight_scale is None else init_weights(model, "normal", std=weight_scale)
