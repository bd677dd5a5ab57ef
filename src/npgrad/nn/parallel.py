"""`DistributedDataParallel`: the same model on every MPI rank, gradients averaged after each backward.

    import npgrad.distributed as dist
    dist.init_process_group()
    model = DistributedDataParallel(model)          # rank 0's weights and buffers everywhere
    loss = criterion(model(x_of_this_rank), y)      # each rank its own shard of the batch
    loss.backward()                                 # grads = mean over ranks when it returns
    optimizer.step()                                # identical on every rank

The gradients are packed into contiguous buckets of about ``bucket_cap_mb`` (PyTorch's 25 MB
default, and its rule: a bucket closes at the parameter that fills it to the cap; the first at 1 MB),
filled in the order backward completes them (the last layers first); one allreduce per bucket, not
one per parameter. A bucket's non-blocking ``Iallreduce`` starts from the
parameters' post-accumulate-grad hooks as soon as its last gradient is complete, while backward
goes on through the earlier layers; the backward waits for all of them after the last gradient.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from npgrad import distributed as dist
from npgrad.nn.module import Module, Parameter


class _Bucket:
    """Parameters of one dtype whose gradients are reduced together, in one flat buffer."""

    def __init__(self, params: list[Parameter]):
        self.params = params
        self.flat = np.empty(sum(p.numel() for p in params), dtype=params[0].dtype)
        self.views: dict[int, np.ndarray] = {}
        offset = 0
        for p in params:
            self.views[id(p)] = self.flat[offset:offset + p.numel()].reshape(p.shape)
            offset += p.numel()
        self.ready: set[int] = set()  # ids of the parameters whose gradient is in `flat`
        self.work: dist.Work | None = None


_FIRST_BUCKET_BYTES = 2**20  # PyTorch's _DEFAULT_FIRST_BUCKET_BYTES: the first reduction starts early


def _buckets(params: list[Parameter], cap_bytes: int, first_cap_bytes: int = _FIRST_BUCKET_BYTES) -> list[_Bucket]:
    """Consecutive runs of ``params`` of one dtype, in order, as PyTorch's DDP assigns them: a bucket is
    closed by the parameter that brings it to ``cap_bytes`` or more (the first bucket: ``first_cap_bytes``,
    or ``cap_bytes`` if smaller), so that no bucket but the last is small.

    ResNet-18's 42.6 MiB: 9.0, 25.3 and 8.3 MiB (buckets of at most the cap made 18.5 and 24.1, and the
    last one, complete only when the backward ends, is the allreduce nothing overlaps).
    """
    buckets: list[list[Parameter]] = []
    size, cap, closed = 0, min(first_cap_bytes, cap_bytes), True
    for p in params:
        if closed or buckets[-1][0].dtype != p.dtype:
            buckets.append([])
            size = 0
        buckets[-1].append(p)
        size += p.data.nbytes
        closed = size >= cap
        if closed:
            cap = cap_bytes
    return [_Bucket(b) for b in buckets]


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training over the `npgrad.distributed` world.

    At construction rank 0's parameters and buffers are broadcast to every rank. Each backward
    through the wrapper's output leaves in every parameter's ``grad`` the mean of the ranks'
    gradients (each rank's loss is its own mean, so this is the gradient of the global batch).
    Every parameter that requires grad must receive a gradient in every backward (npgrad has no
    ``find_unused_parameters``); a forward after a backward that missed some raises.

    Args:
        module: the model; reachable as ``.module`` (save ``.module.state_dict()``: it has no
            ``module.`` prefix and loads into the plain model).
        bucket_cap_mb: a bucket is closed when it holds this many MiB or more (the first: 1 MiB).
        broadcast_buffers: before each forward in training mode, overwrite the buffers (batch-norm
            running statistics) with rank 0's, as PyTorch does; `sync_buffers` does it on demand.
        overlap: start each bucket's reduction as soon as its gradients are complete (non-blocking,
            overlapping the rest of the backward); False reduces every bucket after the last
            gradient (to measure what the overlap gains).
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 25, broadcast_buffers: bool = True, overlap: bool = True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be an npgrad.nn.Module, got {type(module).__name__}")
        if bucket_cap_mb <= 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb}")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.overlap = overlap
        self.world_size = dist.get_world_size()
        self.require_backward_grad_sync = True
        for p in module.parameters():
            dist.broadcast(p, src=0)
        self.sync_buffers()
        # Reverse registration order: roughly the order backward completes the gradients.
        params = [p for p in module.parameters() if p.requires_grad][::-1]
        self._bucket_list = _buckets(params, int(bucket_cap_mb * 2**20))
        self._bucket_of = {id(p): b for b in self._bucket_list for p in b.params}
        self._num_params = len(params)
        self._ready = 0
        if self.world_size > 1:
            self._hooks = [p.register_post_accumulate_grad_hook(self._grad_ready) for p in params]

    @property
    def bucket_sizes(self) -> list[int]:
        """The number of gradient elements in each bucket, in reduction order."""
        return [b.flat.size for b in self._bucket_list]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self._ready:
            missing = [name for name, p in self.module.named_parameters()
                       if id(p) in self._bucket_of and id(p) not in self._bucket_of[id(p)].ready]
            raise RuntimeError(
                "DistributedDataParallel: the previous backward produced no gradient for "
                f"{', '.join(missing)}; every parameter that requires grad must take part in the loss "
                "(or set requires_grad=False on it before wrapping)"
            )
        if self.broadcast_buffers and self.training:
            self.sync_buffers()
        return self.module(*args, **kwargs)

    def sync_buffers(self) -> None:
        """Overwrite every buffer with rank 0's (before evaluating or saving a checkpoint)."""
        for buffer in self.module.buffers():
            dist.broadcast(buffer, src=0)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backwards inside accumulate local gradients only; the first backward after it averages the sum."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    # ------------------------------------------------------------ gradient sync
    def _grad_ready(self, p: Parameter) -> None:
        """Post-accumulate-grad hook: copy the gradient into its bucket; reduce full buckets."""
        if not self.require_backward_grad_sync:
            return
        bucket = self._bucket_of[id(p)]
        view = bucket.views[id(p)]
        if not np.shares_memory(view, p.grad):  # it is the view itself after a zero_grad(set_to_none=False)
            view[...] = p.grad
        p.grad = view
        bucket.ready.add(id(p))
        self._ready += 1
        if self.overlap and len(bucket.ready) == len(bucket.params):
            bucket.work = dist.all_reduce(bucket.flat, op="mean", async_op=True)
        elif self.overlap:
            for b in self._bucket_list:  # MPI progresses non-blocking collectives only inside MPI calls
                if b.work is not None:
                    b.work.is_completed()
        if self._ready == self._num_params:
            self._finish()

    def _finish(self) -> None:
        for bucket in self._bucket_list:
            if bucket.work is not None:
                bucket.work.wait()
            else:
                dist.all_reduce(bucket.flat, op="mean")
            bucket.work = None
            bucket.ready.clear()
        self._ready = 0
