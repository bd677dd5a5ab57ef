"""Exact rewrites of adjacent layers: a batch norm in evaluation mode folded into the conv or linear
layer before it, and max pooling moved before the ReLU that feeds it.

In evaluation a batch norm is a fixed per-channel affine map of its input,
``bn(z) = z * s + (beta - running_mean * s)`` with ``s = gamma / sqrt(running_var + eps)``,
so after ``z = conv(x, W) + b`` it is the same layer with

    W' = W * s (per output channel)          b' = (b - running_mean) * s + beta

(what ``torch.nn.utils.fuse_conv_bn_eval``, ``torch.jit.freeze`` and oneDNN do). The two
passes the batch norm makes over the activations disappear; the price is one pass over
the layer's weights. npgrad applies it by itself, with nothing to call: `Sequential` and
the zoo's blocks run a layer followed by its batch norm through `layer_then_batch_norm`,
which folds when

* both modules are in evaluation mode, the batch norm has running statistics and
  gradient recording is off (``no_grad()``): no gradient can need the unfused graph;
* neither module has forward hooks (they would not see the unfused calls);
* the layer is a plain `Conv2d` (then a `BatchNorm2d`) or `Linear` on (N, C) input (then a
  `BatchNorm1d`);
* folding is cheaper than the batch norm: the weights are at most as large as the
  activations the batch norm would pass over (so batch-1 inference of a wide layer keeps
  the unfused path).

The fold is recomputed on every call from the current parameters and buffers, so no
cached copy can go stale when weights change (an optimizer step, ``load_state_dict``). The
result equals ``bn(layer(x))`` up to float32 rounding (tests check 1e-5 relative).

ReLU then max pooling, in training and inference alike (`_relu_then_max_pool`): max is monotone,
so ``max_pool(relu(x)) == relu(max_pool(x))`` exactly, NaN included, and the gradients are equal
too: max pooling sends each window's gradient to its first maximum, and wherever the two orders
pick different elements (a window whose maximum is 0 or below, where ReLU ties the
non-positive entries at 0) the ReLU passes no gradient either way. Run in the second order, the
ReLU and its backward touch 1/(kh*kw) of the elements (a quarter for 2x2 pooling). It applies to
a plain `ReLU` (not ``inplace``, whose caller may expect its input changed) before a plain
`MaxPool2d` without ``return_indices`` (the indices could differ on such ties), neither with hooks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from npgrad.nn import functional as F
from npgrad.nn.conv import Conv2d
from npgrad.nn.linear import Linear
from npgrad.nn.module import Module
from npgrad.nn.activation import ReLU
from npgrad.nn.normalization import BatchNorm1d, BatchNorm2d, _BatchNorm
from npgrad.nn.pooling import MaxPool2d
from npgrad.tensor import Tensor, is_grad_enabled

_PAIRS = ((Conv2d, BatchNorm2d), (Linear, BatchNorm1d))


def fold_batch_norm(weight: np.ndarray, bias: np.ndarray | None, bn: _BatchNorm) -> tuple[np.ndarray, np.ndarray]:
    """(W', b'): ``weight`` (C_out, ...) and ``bias`` (C_out,) or None with ``bn``'s evaluation-mode map folded in."""
    scale = 1 / np.sqrt(bn.running_var.data.astype(np.float64) + bn.eps)  # (C_out,), float64: one rounding at the end
    if bn.weight is not None:
        scale = scale * bn.weight.data
    shift = -bn.running_mean.data * scale if bias is None else (bias - bn.running_mean.data) * scale
    if bn.bias is not None:
        shift = shift + bn.bias.data
    folded = weight * scale.astype(weight.dtype).reshape(-1, *(1,) * (weight.ndim - 1))
    return folded, shift.astype(weight.dtype)


def _is_pair(layer: Module, bn: Module) -> bool:
    """A plain Conv2d then a BatchNorm2d, or a plain Linear then a BatchNorm1d (subclasses may change forward)."""
    return any(type(layer) is kind and type(bn) is norm for kind, norm in _PAIRS)


def _foldable(layer: Module, bn: Module, x: Any) -> bool:
    if not _is_pair(layer, bn):
        return False
    if is_grad_enabled() or layer.training or bn.training or not bn.track_running_stats:
        return False
    if _hooked(layer, bn):
        return False
    if not isinstance(x, Tensor) or x.ndim != (4 if type(layer) is Conv2d else 2):
        return False
    if type(layer) is Conv2d:
        stride = layer.stride[0] * layer.stride[1]
        activations = x.shape[0] * layer.out_channels * x.shape[2] * x.shape[3] // stride  # about the output's size
    else:
        activations = x.shape[0] * layer.out_features
    return layer.weight.data.size <= activations


def layer_then_batch_norm(layer: Module, bn: Module, x: Any) -> Any:
    """``bn(layer(x))``, computed as one folded layer when that is exact and cheaper (see the module docstring)."""
    if not _foldable(layer, bn, x):
        return bn(layer(x))
    weight, bias = fold_batch_norm(layer.weight.data, None if layer.bias is None else layer.bias.data, bn)
    if type(layer) is Conv2d:
        return F.conv2d(x, Tensor(weight), Tensor(bias), layer.stride, layer.padding, layer.dilation, layer.groups)
    return F.linear(x, Tensor(weight), Tensor(bias))


def _hooked(*modules: Module) -> bool:
    return any(m._forward_hooks or m._forward_pre_hooks for m in modules)


def _relu_then_max_pool(relu: Module, pool: Module) -> bool:
    return type(relu) is ReLU and type(pool) is MaxPool2d and not relu.inplace and not pool.return_indices \
        and not _hooked(relu, pool)


def run_sequence(modules: Iterable[Module], x: Any) -> Any:
    """Apply ``modules`` in order, with the rewrites of the module docstring where they apply.

    A layer followed by a batch norm goes through `layer_then_batch_norm`; a ReLU followed by
    max pooling runs as the pooling, then the ReLU.
    """
    modules = list(modules)
    i = 0
    while i < len(modules):
        pair = modules[i : i + 2]
        if len(pair) == 2 and _is_pair(*pair):
            x = layer_then_batch_norm(*pair, x)
            i += 2
        elif len(pair) == 2 and _relu_then_max_pool(*pair):
            x = pair[0](pair[1](x))
            i += 2
        else:
            x = modules[i](x)
            i += 1
    return x
