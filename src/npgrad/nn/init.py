"""Weight initialisation, with PyTorch's names, formulas and defaults.

Every function fills ``tensor.data`` in place (keeping its dtype) and returns the
tensor; a plain ndarray works too. Random values come from the global generator
`npgrad.random.generator()`, so ``npgrad.manual_seed(s)`` makes a model's
initial weights reproducible. They are drawn in float64 and then cast, so a
float32 and a float64 model built after the same seed get the same values
(up to rounding).

Fans follow PyTorch: for a weight of shape (out, in, *kernel), with receptive
field r = prod(kernel) (1 for a Linear weight (out, in)),
fan_in = in * r and fan_out = out * r. For a grouped Conv2d the weight is
(out, in / groups, kh, kw), so fan_in is (in / groups) * kh * kw.

The classic "``weight_scale``" initialisation (weights ~ N(0, weight_scale²), as
in cs231n's assignments) is ``normal_(w, std=weight_scale)``.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np

from npgrad.random import generator
from npgrad.tensor import Tensor

T = TypeVar("T", Tensor, np.ndarray)

_LINEAR_GAIN_NAMES = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                      "conv_transpose3d", "sigmoid")


def _array(tensor: Tensor | np.ndarray) -> np.ndarray:
    return tensor.data if isinstance(tensor, Tensor) else tensor


def _fill(tensor: T, values: Any) -> T:
    _array(tensor)[...] = values
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for an activation (PyTorch's table).

    linear, conv*, sigmoid: 1; tanh: 5/3; relu: sqrt(2); leaky_relu: sqrt(2 / (1 + slope²))
    with ``param`` the negative slope (default 0.01); selu: 3/4.
    """
    if nonlinearity in _LINEAR_GAIN_NAMES:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor: Tensor | np.ndarray) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel); see the module docstring."""
    shape = _array(tensor).shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out can not be computed for a tensor with fewer than 2 dimensions, got shape {shape}")
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _calculate_correct_fan(tensor: Tensor | np.ndarray, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def zeros_(tensor: T) -> T:
    """Fill with 0."""
    return _fill(tensor, 0)


def ones_(tensor: T) -> T:
    """Fill with 1."""
    return _fill(tensor, 1)


def constant_(tensor: T, val: float) -> T:
    """Fill with ``val``."""
    return _fill(tensor, val)


def uniform_(tensor: T, a: float = 0.0, b: float = 1.0) -> T:
    """Fill with samples of U(a, b)."""
    return _fill(tensor, generator().uniform(a, b, _array(tensor).shape))


def normal_(tensor: T, mean: float = 0.0, std: float = 1.0) -> T:
    """Fill with samples of N(mean, std²). ``normal_(w, std=weight_scale)`` is the classic weight-scale init."""
    return _fill(tensor, generator().normal(mean, std, _array(tensor).shape))


def xavier_uniform_(tensor: T, gain: float = 1.0) -> T:
    """Glorot & Bengio (2010): U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: T, gain: float = 1.0) -> T:
    """Glorot & Bengio (2010): N(0, std²) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor: T, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> T:
    """He et al. (2015), "MSRA": U(-bound, bound) with bound = gain * sqrt(3 / fan).

    ``gain = calculate_gain(nonlinearity, a)`` (``a`` is the leaky-ReLU negative
    slope); ``fan`` is fan_in (preserves the forward variance) or fan_out (the
    backward one). ``a = sqrt(5)`` gives bound = 1 / sqrt(fan_in): the default
    of `Linear` and `Conv2d`.
    """
    gain = calculate_gain(nonlinearity, a)
    bound = gain * math.sqrt(3.0 / _calculate_correct_fan(tensor, mode))
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: T, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> T:
    """He et al. (2015), "MSRA": N(0, std²) with std = gain / sqrt(fan) (see `kaiming_uniform_`)."""
    gain = calculate_gain(nonlinearity, a)
    return normal_(tensor, 0.0, gain / math.sqrt(_calculate_correct_fan(tensor, mode)))


def _reset_weight_and_bias(weight: T, bias: T | None) -> None:
    """PyTorch's default for Linear and Conv2d: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    The weight through ``kaiming_uniform_(a=sqrt(5))``, whose bound is exactly
    1 / sqrt(fan_in); fan_in = in_features, or (in_channels / groups) * kh * kw.
    """
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)
