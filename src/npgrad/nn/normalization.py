"""Normalisation layers: `BatchNorm1d`, `BatchNorm2d`, `SyncBatchNorm`, `LayerNorm`, `GroupNorm`.

Default init (PyTorch's): weight 1, bias 0; running_mean 0, running_var 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from npgrad import distributed as dist
from npgrad.nn import functional as F
from npgrad.nn import init
from npgrad.nn.module import Module, Parameter
from npgrad.ops.norm import sync_batch_norm
from npgrad.tensor import Tensor


def _affine(module: Module, shape: tuple[int, ...], affine: bool, bias: bool) -> None:
    """Register float32 ``weight`` (ones) and ``bias`` (zeros) of ``shape`` when ``affine`` (the bias only with ``bias``)."""
    module.register_parameter("weight", Parameter(np.ones(shape, dtype=np.float32)) if affine else None)
    module.register_parameter("bias", Parameter(np.zeros(shape, dtype=np.float32)) if affine and bias else None)


def _reset_affine(module: Module) -> None:
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


class _BatchNorm(Module):
    """Batch normalisation over the channel axis 1 of (N, C, *): the shared body of BatchNorm1d/2d.

    In training, each channel is normalised with the batch mean and (biased)
    variance, and the running statistics move towards them:
    r = (1 - momentum) * r + momentum * s, using the unbiased variance for
    ``running_var``; ``momentum=None`` makes them the cumulative average over the
    ``num_batches_tracked`` batches seen. In evaluation the running statistics
    are used. With ``track_running_stats=False`` there are no running statistics
    (the buffers are None) and batch statistics are used in both modes.

    Parameters (float32, when ``affine``): ``weight`` (C,) = 1 and ``bias`` (C,) = 0
    (None with ``bias=False``, a recent PyTorch option). Buffers: ``running_mean``
    (C,) = 0, ``running_var`` (C,) = 1 (float32) and ``num_batches_tracked`` (an
    int64 scalar), exactly PyTorch's state-dict entries.
    """

    _expected_dims: tuple[int, ...] = ()
    _expected_layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, *, bias: bool = True):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self._create_state(num_features, bias)

    def _create_state(self, num_features: int, bias: bool) -> None:
        """The parameters and running statistics of ``num_features`` channels (a lazy batch norm's materialisation too)."""
        self.num_features = num_features
        _affine(self, (num_features,), self.affine, bias)
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=np.float32))
            self.register_buffer("running_var", np.ones(num_features, dtype=np.float32))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self) -> None:
        """Running statistics to 0 / 1 / 0 batches, weight to 1 and bias to 0."""
        self.reset_running_stats()
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in self._expected_dims:
            raise ValueError(f"{type(self).__name__}: expected input of shape {self._expected_layout}, got shape {input.shape}")
        update = self.training and self.track_running_stats
        momentum = self.momentum
        if update and momentum is None:
            momentum = 1.0 / (int(self.num_batches_tracked.item()) + 1)
        use_running = not self.training and self.track_running_stats
        output = self._normalize(
            input,
            self.running_mean if update or use_running else None,
            self.running_var if update or use_running else None,
            training=not use_running, momentum=0.0 if momentum is None else momentum,
        )
        if update:
            self.num_batches_tracked.data += 1
        return output

    def _normalize(self, input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, training: bool,
                   momentum: float) -> Tensor:
        return F.batch_norm(input, running_mean, running_var, self.weight, self.bias, training=training, momentum=momentum,
                            eps=self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm of (N, C) features or (N, C, L) sequences, per channel C (see `_BatchNorm`)."""

    _expected_dims = (2, 3)
    _expected_layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm of (N, C, H, W) images, per channel C, over N, H and W (see `_BatchNorm`)."""

    _expected_dims = (4,)
    _expected_layout = "(N, C, H, W)"


class SyncBatchNorm(_BatchNorm):
    """Batch norm whose training statistics are those of the global batch of every MPI rank (see `_BatchNorm`).

    For data-parallel training (`npgrad.nn.parallel.DistributedDataParallel`): in training mode,
    with `npgrad.distributed` initialised over more than one process, the mean and variance are
    computed over the union of the ranks' batches (one all_gather forward, one allreduce backward:
    `npgrad.nn.functional.sync_batch_norm`), so R ranks of batch b normalise exactly like one
    process of batch R*b, and the running statistics stay identical on every rank. Otherwise (a
    single process, or evaluation) it is `BatchNorm2d`. Input (N, C, *) with at least 2 dims.
    ``process_group`` must be None (npgrad has one group, the world).
    """

    _expected_dims = (2, 3, 4, 5)
    _expected_layout = "(N, C, *)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group: None = None, *, bias: bool = True):
        if process_group is not None:
            raise ValueError("SyncBatchNorm: process_group must be None (npgrad.distributed has one group, the world)")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, bias=bias)

    def _normalize(self, input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, training: bool,
                   momentum: float) -> Tensor:
        if training and dist.is_initialized() and dist.get_world_size() > 1:
            return sync_batch_norm(input, running_mean, running_var, self.weight, self.bias, momentum, self.eps, dist)
        return super()._normalize(input, running_mean, running_var, training, momentum)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: None = None) -> Module:
        """``module`` with every `BatchNorm1d`/`BatchNorm2d` replaced by a `SyncBatchNorm` sharing its tensors.

        The new layers take over the old ones' parameters and buffers (the same objects, so an
        optimizer built before still updates them) and their training mode. Returns ``module``
        (a new layer when ``module`` itself is a batch norm).
        """
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            sync = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                       process_group, bias=module.bias is not None)
            sync._parameters.update(module._parameters)
            sync._buffers.update(module._buffers)
            sync.train(module.training)
            return sync
        for name, child in list(module._modules.items()):
            if child is not None:
                module._modules[name] = cls.convert_sync_batchnorm(child, process_group)
        return module


class LayerNorm(Module):
    """Normalise each sample over its trailing ``normalized_shape`` dimensions: (*, *normalized_shape) -> same.

    ``normalized_shape`` is an int or a sequence, stored as a tuple. Parameters
    (float32, when ``elementwise_affine``): ``weight`` = 1 and ``bias`` = 0 (None
    when ``bias=False``), both of shape ``normalized_shape``.
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else normalized_shape
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _affine(self, self.normalized_shape, elementwise_affine, bias)

    def reset_parameters(self) -> None:
        """Weight to 1 and bias to 0."""
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """Split the channels of (N, C, *) into ``num_groups`` groups and normalise each group of each sample.

    Parameters (float32, when ``affine``): per-channel ``weight`` (C,) = 1 and ``bias`` (C,) = 0
    (None with ``bias=False``).
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, *, bias: bool = True):
        super().__init__()
        if num_groups < 1 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _affine(self, (num_channels,), affine, bias)

    def reset_parameters(self) -> None:
        """Weight to 1 and bias to 0."""
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, bias={self.bias is not None}"


class LocalResponseNorm(Module):
    """Local response normalisation across channels (AlexNet's), PyTorch's layer: (N, C, *) -> same shape.

    out[n, c] = x[n, c] / (k + alpha / size * sum of x[n, c']**2)**beta over the ``size``
    channels c' from c - size // 2 to c + (size - 1) // 2 (zeros beyond the ends); see
    `npgrad.nn.functional.local_response_norm`. No parameters.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Tensor) -> Tensor:
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
