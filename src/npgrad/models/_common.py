"""Helpers shared by the model families: argument checks, the dry forward that sizes lazy layers, weight init."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from npgrad._utils import pair
from npgrad.errors import InvalidArgumentError
from npgrad.nn import Conv2d, Linear, Module, init
from npgrad.random import get_rng_state, set_rng_state
from npgrad.tensor import Tensor, no_grad

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


# Sizes tried when looking for the smallest image a model takes (error path only).
_MAX_PROBE_SIZE = 512


def _dry_forward(model: Module, in_channels: int, hw: tuple[int, int]) -> None:
    training = [(m, m.training) for m in model.modules()]
    model.eval()  # batch norm neither needs two samples nor updates its statistics
    try:
        with no_grad():
            model(Tensor(np.zeros((1, in_channels, *hw), dtype=np.float32)))
    finally:
        for m, flag in training:
            m.training = flag


def _fits(model: Module, in_channels: int, size: int) -> bool:
    try:
        _dry_forward(copy.deepcopy(model), in_channels, (size, size))
    except ValueError:
        return False
    return True


def _smallest_size(model: Module, in_channels: int, above: int) -> int | None:
    """The smallest square image side ``model`` (not yet materialised) takes, assuming every larger side works too."""
    state = get_rng_state()  # probes materialise copies of the lazy layers, drawing from the global generator
    try:
        hi = above + 1
        while not _fits(model, in_channels, hi):
            if hi >= _MAX_PROBE_SIZE:
                return None
            hi = min(2 * hi, _MAX_PROBE_SIZE)
        lo = 0  # lo fails (or is 0), hi fits
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if _fits(model, in_channels, mid) else (mid, hi)
        return hi
    finally:
        set_rng_state(state)


def materialize(model: Module, name: str, in_channels: int, hw: tuple[int, int]) -> Module:
    """Run a dummy (1, C, H, W) batch through ``model`` in eval mode, so its lazy layers take their sizes.

    An image too small for the model (a feature map shrinking below a kernel) raises
    `InvalidArgumentError` naming ``name``, the size and the smallest square size that works.
    Weights drawn by the lazy layers come from the global generator, in forward order.
    """
    try:
        _dry_forward(model, in_channels, hw)
    except ValueError:
        smallest = _smallest_size(model, in_channels, max(hw))
        if smallest is None:
            raise
        raise InvalidArgumentError(f"{name}: image size {hw[0]}x{hw[1]} is too small, its feature maps shrink below 1x1 "
                                   f"(smallest supported image size: {smallest}x{smallest})") from None
    return model


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
