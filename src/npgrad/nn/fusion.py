"""Inference fusion: a batch norm in evaluation mode folded into the conv or linear layer before it.

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
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from npgrad.nn import functional as F
from npgrad.nn.conv import Conv2d
from npgrad.nn.linear import Linear
from npgrad.nn.module import Module
from npgrad.nn.normalization import BatchNorm1d, BatchNorm2d, _BatchNorm
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
    if layer._forward_hooks or layer._forward_pre_hooks or bn._forward_hooks or bn._forward_pre_hooks:
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


def run_sequence(modules: Iterable[Module], x: Any) -> Any:
    """Apply ``modules`` in order, each layer followed by a batch norm through `layer_then_batch_norm`."""
    modules = list(modules)
    i = 0
    while i < len(modules):
        if i + 1 < len(modules) and _is_pair(modules[i], modules[i + 1]):
            x = layer_then_batch_norm(modules[i], modules[i + 1], x)
            i += 2
        else:
            x = modules[i](x)
            i += 1
    return x
