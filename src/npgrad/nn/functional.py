"""`npgrad.nn.functional`: the operators under PyTorch's names.

Each name here is the validated public wrapper that lives next to its `Function`
in `npgrad.ops` (one home per operator); this module only gathers them.
"""

from npgrad.ops.activation import (
    dropout,
    dropout2d,
    elu,
    hardtanh,
    leaky_relu,
    log_softmax,
    relu,
    relu6,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from npgrad.ops.conv import conv2d
from npgrad.ops.linear import linear
from npgrad.ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    multi_margin_loss,
    nll_loss,
    one_hot,
    smooth_l1_loss,
)
from npgrad.ops.norm import batch_norm, group_norm, layer_norm, local_response_norm, sync_batch_norm
from npgrad.ops.pool import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d, max_unpool2d
from npgrad.ops.shape import flatten

__all__ = [
    "adaptive_avg_pool2d", "adaptive_max_pool2d", "avg_pool2d", "batch_norm", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "conv2d", "cross_entropy", "dropout", "dropout2d", "elu", "flatten",
    "group_norm", "hardtanh", "huber_loss", "l1_loss", "layer_norm", "leaky_relu", "linear", "local_response_norm",
    "log_softmax", "max_pool2d", "max_unpool2d", "mse_loss", "multi_margin_loss", "nll_loss", "one_hot", "relu",
    "relu6", "sigmoid", "silu", "smooth_l1_loss", "softmax", "softplus", "sync_batch_norm", "tanh",
]
