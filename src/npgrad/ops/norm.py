"""Normalisation layers: batch_norm, layer_norm and group_norm, all through one kernel; and
local_response_norm (AlexNet's cross-channel normalisation, its own kernel at the end).

Each of them computes x_hat = (x - mean) / sqrt(var + eps) over some axes and then
an affine y = x_hat * weight + bias; they differ only in the axes:

    batch_norm  x (N, C, *)    statistics per channel, over N and *       weight (C,)
    layer_norm  x (*, S...)    statistics per sample, over the trailing S  weight S
    group_norm  x (N, C, *)    viewed as (N, G, C/G, *), over (C/G, *)    weight (C,)

so `Normalize` takes the view, the axes and the shape the affine parameters
broadcast as, and its backward is the closed form for every case:

    dx = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))
       = (1/n) * inv_std * (n dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat))

with the means over the normalised axes (n values each) and dx_hat = dout * weight.

Synchronised batch norm (`sync_batch_norm`, several processes each holding a shard of the
batch) is the same kernel given a communicator: the statistics, and backward's two sums
sum(dx_hat) and sum(dx_hat * x_hat), are those of the global batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from npgrad import _parallel
from npgrad.function import Function
from npgrad.ops.elementwise import unbroadcast
from npgrad.tensor import Tensor, _values


def _sum(a: np.ndarray, axes: tuple[int, ...], b: np.ndarray | None = None) -> np.ndarray:
    """Sum of ``a`` (or of ``a * b``, never formed) over ``axes``, kept as size-1 dimensions (`_sums`)."""
    return _sums(axes, (a,) if b is None else (a, b))[0]


def _sums(axes: tuple[int, ...], *terms: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """For each term (a,) or (a, b): the sum of a (or of a * b, never formed) over ``axes``, kept as size-1 dims.

    einsum reads its operands once, in memory order, whatever the axes: NumPy's sum over
    non-trailing axes such as batch norm's (0, 2) is several times slower. The batch (axis 0)
    is split over threads, each piece summing every term while it is in cache; the partial sums
    are added (or stacked, when axis 0 is kept).
    """
    a = terms[0][0]
    dims = "abcdefghijklmnopqrstuvwxyz"[: a.ndim]
    kept = "".join(d for i, d in enumerate(dims) if i not in axes)
    shape = [1 if i in axes else n for i, n in enumerate(a.shape)]

    def part(lo: int, hi: int) -> list[np.ndarray]:
        piece_shape = [hi - lo if i == 0 and 0 not in axes else n for i, n in enumerate(shape)]
        return [np.einsum(",".join([dims] * len(term)) + "->" + kept, *(t[lo:hi] for t in term)).reshape(piece_shape)
                for term in terms]

    parts = _parallel.parallel_for(len(a), part, work=sum(a.size * len(term) for term in terms))
    return [_join([p[k] for p in parts], axes) for k in range(len(terms))]


def _join(parts: list[np.ndarray], axes: tuple[int, ...]) -> np.ndarray:
    """The batch pieces' partial sums as the whole batch's: added when axis 0 is summed over, else stacked."""
    return sum(parts[1:], parts[0]) if 0 in axes else np.concatenate(parts)


def _at(v: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Samples lo:hi of an operand that has the batch's size on axis 0, or v itself if it broadcasts there (size 1)."""
    return v if v.shape[0] == 1 else v[lo:hi]


def _centered(x: np.ndarray, mean: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(x - mean, the sum of its squares over ``axes``): each piece of the batch centred, then summed while in cache.

    mean broadcasts against x as `_elementwise`'s operands do.
    """
    centered = np.empty(x.shape, dtype=np.result_type(x, mean))

    def piece(lo: int, hi: int) -> np.ndarray:
        np.subtract(x[lo:hi], _at(mean, lo, hi), out=centered[lo:hi])
        return _sum(centered[lo:hi], axes, centered[lo:hi])  # inline: already on a thread

    parts = _parallel.parallel_for(len(x), piece, work=3 * x.size)
    return centered, _join(parts, axes)


def _elementwise(a: np.ndarray, *steps: tuple[np.ufunc, np.ndarray]) -> np.ndarray:
    """A new array: ``a``, then ``out = ufunc(out, operand)`` for each (ufunc, operand) of ``steps``, in order.

    Operands have a's shape or broadcast against it with size 1 on axis 0 (rows from `_row`).
    Each piece of the batch takes all the steps while it is in cache; the pieces run on threads.
    """
    out = np.empty(a.shape, dtype=np.result_type(a, *(operand for _, operand in steps)))

    def piece(lo: int, hi: int) -> None:
        (ufunc, operand), *rest = steps
        ufunc(a[lo:hi], _at(operand, lo, hi), out=out[lo:hi])
        for ufunc, operand in rest:
            ufunc(out[lo:hi], _at(operand, lo, hi), out=out[lo:hi])

    _parallel.parallel_for(len(a), piece, work=a.size * (1 + len(steps)))
    return out


def _row(v: np.ndarray, view_shape: tuple[int, ...]) -> np.ndarray:
    """A constant v of size 1 on axis 0 (batch norm's (1, C, 1), say) as one full row (1, *view_shape[1:]).

    ``x (N, C, L) * row`` walks N contiguous C*L-long runs; ``x * v`` walks N*C runs only
    L long, measured 1.5-2x slower. A row costs at most 1/N of x. Other v are returned as is.
    """
    if v.shape[0] != 1:
        return v
    return np.ascontiguousarray(np.broadcast_to(v, (1, *view_shape[1:])))


class Normalize(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, with x viewed as ``view_shape``.

    training=True: mean and biased variance of x over ``axes`` (differentiated through);
    if ``running_mean``/``running_var`` (arrays, one value per kept element) are given,
    they are updated in place like PyTorch's batch norm: r = (1 - momentum) r + momentum s,
    with the unbiased variance for ``running_var``.
    training=False: normalise with ``running_mean``/``running_var`` (constants), so
    dx = dout * weight * inv_std.
    weight and bias (or None) broadcast against the view as ``affine_shape``.
    comm (batch norm in training only): an object with npgrad.distributed's ``all_gather`` and
    ``all_reduce``; x is this process's shard of the batch and the statistics are the global
    batch's. The gradients of weight and bias stay local (data parallelism averages them).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, view_shape, axes, affine_shape, eps,
                training=True, running_mean=None, running_var=None, momentum=0.1, comm=None):
        xv = x.reshape(view_shape)
        stats_shape = tuple(1 if i in axes else size for i, size in enumerate(view_shape))
        affine_shape = (1,) * (len(view_shape) - len(affine_shape)) + tuple(affine_shape)  # aligned with the view
        if training:
            n = xv.size // math.prod(stats_shape)
            mean = _sum(xv, axes) / max(n, 1)  # stats_shape
            centered, sum_sq = _centered(xv, _row(mean, view_shape), axes)  # (view_shape), stats_shape
            if comm is not None:
                n, mean, sum_sq = _global_moments(comm, n, mean, sum_sq)
                centered = _elementwise(xv, (np.subtract, _row(mean, view_shape)))
            var = sum_sq / n  # biased
            # A batch with NaN/Inf (a diverging run, a corrupt image) would poison the statistics for good:
            # they keep their last finite values (PyTorch would propagate the NaN).
            if running_mean is not None and np.isfinite(sum_sq).all() and np.isfinite(mean).all():
                running_mean[...] = (1 - momentum) * running_mean + momentum * mean.reshape(running_mean.shape)
                running_var[...] = (1 - momentum) * running_var + momentum * (sum_sq / (n - 1)).reshape(running_var.shape)
        else:
            mean = running_mean.astype(x.dtype, copy=False).reshape(stats_shape)
            var = running_var.astype(x.dtype, copy=False).reshape(stats_shape)
            centered = None  # rebuilt by backward if needed
        inv_std = 1 / np.sqrt(var + eps)  # stats_shape
        ctx.args = (x.shape, view_shape, axes, affine_shape, training, None if bias is None else bias.shape,
                    comm, n if training else None)
        ctx.save_for_backward(centered, mean, inv_std, x, weight)
        # y = x_hat * weight + bias as two passes, centered * scale + bias (or x * scale + shift in
        # evaluation, PyTorch's form); x_hat = centered * inv_std itself is never formed.
        scale = inv_std if weight is None else inv_std * weight.reshape(affine_shape)
        if training:
            source, shift = centered, None if bias is None else bias.reshape(affine_shape)
        else:
            source, shift = xv, -mean * scale if bias is None else bias.reshape(affine_shape) - mean * scale
        steps = [(np.multiply, _row(scale, view_shape))] + ([] if shift is None else [(np.add, _row(shift, view_shape))])
        out = _elementwise(source, *steps)
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx, dout):
        centered, mean, inv_std, x, weight = ctx.saved
        x_shape, view_shape, axes, affine_shape, training, bias_shape, comm, n = ctx.args  # affine_shape aligned with the view
        dout = dout.reshape(view_shape)
        if centered is None and ctx.needs_input_grad[1]:
            centered = _elementwise(x.reshape(view_shape), (np.subtract, mean))
        w = None if weight is None else weight.reshape(affine_shape)
        dx = dweight = dbias = None
        if all(affine_shape[i] == 1 for i in axes):
            # Batch norm: weight is constant over each normalised group, so dx_hat = dout * w sums to
            # w * sum(dout) over `axes`, and those sums are also what dweight and dbias reduce:
            # every reduction is over dout (and x_hat = centered * inv_std), once.
            g, scale = dout, (inv_std if w is None else inv_std * w)  # dx = scale * (terms in g = dout)
            dx_needs_sums = training and ctx.needs_input_grad[0]
            need_g, need_gx = dx_needs_sums or ctx.needs_input_grad[2], dx_needs_sums or ctx.needs_input_grad[1]
            terms = [term for term, needed in (((dout,), need_g), ((dout, centered), need_gx)) if needed]
            sums = iter(_sums(axes, *terms) if terms else ())  # both in one pass over dout
            sum_g = next(sums) if need_g else None
            sum_gx = next(sums) * inv_std if need_gx else None
            if ctx.needs_input_grad[1]:
                dweight = unbroadcast(sum_gx, affine_shape).reshape(weight.shape)
            if ctx.needs_input_grad[2]:
                dbias = unbroadcast(sum_g, affine_shape).reshape(bias_shape)
            if comm is not None and dx_needs_sums:  # dx needs the global batch's sums; one packed allreduce
                packed = np.concatenate([sum_g.ravel(), sum_gx.ravel()])
                comm.all_reduce(packed, op="sum")
                sum_g, sum_gx = (part.reshape(sum_g.shape) for part in np.split(packed, 2))
        else:  # layer / group norm: weight varies inside a group
            x_hat = centered * inv_std
            if ctx.needs_input_grad[1]:
                dweight = unbroadcast(dout * x_hat, affine_shape).reshape(weight.shape)
            if ctx.needs_input_grad[2]:
                dbias = unbroadcast(dout, affine_shape).reshape(bias_shape)
            g, scale = (dout if w is None else dout * w), inv_std  # g = dx_hat
            sum_g, sum_gx = (_sum(g, axes), _sum(g, axes, x_hat)) if training else (None, None)
        if ctx.needs_input_grad[0]:
            if training:  # dx = scale * (g - mean(g) - x_hat * mean(g * x_hat)), means over `axes` (n values)
                dx = _elementwise(centered, (np.multiply, _row(-sum_gx * inv_std / n, view_shape)), (np.add, g),
                                  (np.subtract, _row(sum_g / n, view_shape)), (np.multiply, _row(scale, view_shape)))
            else:
                dx = _elementwise(g, (np.multiply, _row(scale, view_shape)))
            dx = dx.reshape(x_shape)
        return dx, dweight, dbias


def _global_moments(comm: Any, n: int, mean: np.ndarray, sum_sq: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """The count, mean and sum of squared deviations of the union of every process's shard.

    One all_gather of each shard's (count, mean, sum of squares about its own mean), combined
    in float64 by Chan et al.'s rule: M2 = sum(M2_r) + sum(n_r (mean_r - mean)^2). Unlike a sum
    of x^2 (E[x^2] - E[x]^2), this loses no precision when the mean is large against the spread.
    """
    packed = np.concatenate([[n], mean.ravel(), sum_sq.ravel()]).astype(np.float64)
    shards = np.stack(comm.all_gather(None, packed))  # (processes, 1 + 2C)
    counts, means, m2 = shards[:, :1], shards[:, 1:1 + mean.size], shards[:, 1 + mean.size:]
    total = counts.sum()
    global_mean = (counts * means).sum(axis=0) / total
    global_m2 = m2.sum(axis=0) + (counts * (means - global_mean) ** 2).sum(axis=0)
    return int(total), global_mean.reshape(mean.shape).astype(mean.dtype), global_m2.reshape(sum_sq.shape).astype(sum_sq.dtype)


def _check_param(op: str, name: str, param: Any, expected: tuple[int, ...], input: Tensor) -> None:
    """``param`` (weight or bias) must be None or have shape ``expected`` and the input's dtype (as in PyTorch)."""
    if param is None:
        return
    if tuple(param.shape) != expected:
        raise ValueError(f"{op}: {name} must have shape {expected} for input shape {input.shape}, got {tuple(param.shape)}")
    if param.dtype != input.dtype:
        raise TypeError(f"{op}: {name} has dtype {param.dtype} but the input has dtype {input.dtype}; they must match")


def _running_stat(name: str, stat: Any, channels: int, input_shape: tuple[int, ...]) -> np.ndarray | None:
    """The array behind a running statistic (updated in place), checked to be floating with shape (C,)."""
    if stat is None:
        return None
    array = _values(stat)
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"batch_norm: {name} must be a floating Tensor or ndarray (it is updated in place), got {stat!r}")
    if array.shape != (channels,):
        raise ValueError(f"batch_norm: {name} must have shape ({channels},) for input shape {input_shape}, got {array.shape}")
    return array


def _batch_norm_checks(op: str, input: Tensor, running_mean: Any, running_var: Any, weight: Any, bias: Any,
                       training: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Validate batch norm's arguments; returns the arrays behind the running statistics."""
    if input.ndim < 2:
        raise ValueError(f"{op}: input must have shape (N, C, *), got {input.shape}")
    channels = input.shape[1]
    running_mean = _running_stat("running_mean", running_mean, channels, input.shape)
    running_var = _running_stat("running_var", running_var, channels, input.shape)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var, or neither")
    if not training and running_mean is None:
        raise ValueError(f"{op}: running_mean and running_var must be given in evaluation mode (training=False)")
    _check_param(op, "weight", weight, (channels,), input)
    _check_param(op, "bias", bias, (channels,), input)
    return running_mean, running_var


def _batch_norm(input: Tensor, weight: Any, bias: Any, **options: Any) -> Tensor:
    channels = input.shape[1]
    return Normalize.apply(
        input, weight, bias,
        view_shape=(input.shape[0], channels, math.prod(input.shape[2:])),  # (N, C, L): the spatial axes merged
        axes=(0, 2),
        affine_shape=(channels, 1),
        **options,
    )


def batch_norm(
    input: Tensor,
    running_mean: Tensor | np.ndarray | None,
    running_var: Tensor | np.ndarray | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel (axis 1) of ``input`` over the batch and every other axis.

    Args:
        input: (N, C) or (N, C, L) or (N, C, H, W) (any (N, C, *)).
        running_mean, running_var: (C,) Tensors or ndarrays, or None. In training
            they are updated in place (no gradient): r = (1 - momentum) r + momentum s,
            with the batch mean, and the unbiased batch variance (n / (n - 1) times
            the biased one, n = N * prod(*)) for ``running_var``. In evaluation
            (``training=False``) they are what the input is normalised with, so
            they are required then.
        weight, bias: (C,) or None (meaning 1 and 0).
        training: use (and differentiate through) the batch statistics, which are
            the mean and the biased variance, as in PyTorch.

    Returns:
        Tensor of ``input``'s shape: (x - mean) / sqrt(var + eps) * weight + bias.
    """
    running_mean, running_var = _batch_norm_checks("batch_norm", input, running_mean, running_var, weight, bias, training)
    if training and np.prod(input.shape) // max(input.shape[1], 1) <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input shape {input.shape}")
    return _batch_norm(input, weight, bias, eps=eps, training=training, running_mean=running_mean, running_var=running_var,
                       momentum=momentum)




def sync_batch_norm(
    input: Tensor,
    running_mean: Tensor | np.ndarray | None,
    running_var: Tensor | np.ndarray | None,
    weight: Tensor | None,
    bias: Tensor | None,
    momentum: float,
    eps: float,
    comm: Any,
) -> Tensor:
    """`batch_norm` in training mode over the global batch, of which ``input`` is this process's shard.

    ``comm`` is `npgrad.distributed` (or any object with its ``all_gather`` and ``all_reduce``).
    Every process must call it, in the same order, with the same number of channels. Forward
    costs one all_gather of (count, mean, sum of squares) per channel; backward one allreduce
    of (sum dout*w, sum dout*w*x_hat) per channel. The running statistics get the global batch's
    mean and unbiased variance, identically on every process.
    """
    running_mean, running_var = _batch_norm_checks("sync_batch_norm", input, running_mean, running_var, weight, bias, True)
    return _batch_norm(input, weight, bias, eps=eps, training=True, running_mean=running_mean, running_var=running_var,
                       momentum=momentum, comm=comm)

def layer_norm(
    input: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each sample over its trailing ``normalized_shape`` dimensions.

    Args:
        input: (*, *normalized_shape).
        normalized_shape: an int or a sequence: the last dimensions of ``input``.
        weight, bias: of shape ``normalized_shape`` (element-wise affine), or None.

    Returns:
        Tensor of ``input``'s shape. The variance is the biased one, as in PyTorch.
    """
    shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) else tuple(map(int, normalized_shape))
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[-k:]) != shape:
        raise ValueError(
            f"layer_norm: normalized_shape {shape} must equal the trailing dimensions of the input, "
            f"got input shape {input.shape}"
        )
    _check_param("layer_norm", "weight", weight, shape, input)
    _check_param("layer_norm", "bias", bias, shape, input)
    return Normalize.apply(
        input, weight, bias, view_shape=input.shape, axes=tuple(range(input.ndim - k, input.ndim)), affine_shape=shape, eps=eps
    )


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Split the C channels into ``num_groups`` groups and normalise each group of each sample.

    Args:
        input: (N, C, *), with C divisible by ``num_groups``.
        num_groups: G. G = 1 is layer norm over (C, *); G = C is instance norm.
        weight, bias: (C,) per-channel affine, or None.

    Returns:
        Tensor of ``input``'s shape.
    """
    if input.ndim < 2:
        raise ValueError(f"group_norm: input must have shape (N, C, *), got {input.shape}")
    n, channels, *spatial = input.shape
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)) or num_groups < 1:
        raise ValueError(f"group_norm: num_groups must be a positive int, got {num_groups!r}")
    if channels % num_groups:
        raise ValueError(
            f"group_norm: num_groups {num_groups} must divide the number of channels {channels} (input shape {input.shape})"
        )
    _check_param("group_norm", "weight", weight, (channels,), input)
    _check_param("group_norm", "bias", bias, (channels,), input)
    group_size = channels // num_groups
    return Normalize.apply(
        input, weight, bias,
        view_shape=(n, num_groups, group_size, *spatial),  # (N, G, C/G, *)
        axes=tuple(range(2, input.ndim + 1)),
        affine_shape=(num_groups, group_size) + (1,) * len(spatial),
        eps=eps,
    )


def _channel_window_sum(a: np.ndarray, size: int, before: int) -> np.ndarray:
    """out[:, c] = sum of a[:, c'] over c' in [c - before, c - before + size), zero outside [0, C). a: (N, C, L).

    A loop over the ``size`` window offsets (not over channels), each a shifted slice of a zero-padded copy.
    """
    N, C, L = a.shape
    padded = np.zeros((N, C + size - 1, L), dtype=a.dtype)
    padded[:, before : before + C] = a
    out = padded[:, :C].copy()
    for offset in range(1, size):
        out += padded[:, offset : offset + C]
    return out


class LocalResponseNorm(Function):
    """out[n, c] = x[n, c] * s[n, c] ** -beta, s[n, c] = k + alpha / size * sum of x[n, c'] ** 2 over the window.

    The window is the ``size`` channels c' in [c - before, c - before + size), those outside
    [0, C) counting as zeros: PyTorch's has before = size // 2, ONNX's (size - 1) // 2 (the same
    for odd sizes). x: (N, C, *). out_c depends on x_j for every j in c's window, so::

        dx_j = dout_j * s_j ** -beta - (2 * alpha * beta / size) * x_j * sum over c with j in window(c) of dout_c * out_c / s_c

    and the channels c whose window holds j form the mirrored window (before' = size - 1 - before).
    """

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k, before):
        x3 = x.reshape(x.shape[0], x.shape[1], -1)  # (N, C, L)
        scale = _channel_window_sum(x3 * x3, size, before)
        scale *= alpha / size
        scale += k  # s, (N, C, L)
        factor = scale ** -beta
        out = x3 * factor
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(x3, scale, factor)
            ctx.params = (x.shape, size, alpha, beta, before)
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx, dout):  # dout: x's shape
        x3, scale, factor = ctx.saved
        shape, size, alpha, beta, before = ctx.params
        g = dout.reshape(x3.shape)
        through_scale = _channel_window_sum(g * x3 * factor / scale, size, size - 1 - before)  # sum of dout_c * out_c / s_c
        return (g * factor - (2 * alpha * beta / size) * x3 * through_scale).reshape(shape)


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """Local response normalisation across channels, PyTorch's ``torch.nn.functional.local_response_norm``.

    out[n, c] = x[n, c] / (k + alpha / size * sum of x[n, c'] ** 2) ** beta over the ``size``
    channels c' from c - size // 2 to c + (size - 1) // 2, zeros beyond the first and last
    channel. Note that ``alpha`` is divided by ``size``, as in PyTorch (AlexNet's paper writes
    alpha for alpha / size).

    Args:
        input: (N, C, *), floating point, at least 3-D.
        size: the number of neighbouring channels in the sum (a positive int).

    Returns:
        Tensor of ``input``'s shape.
    """
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: input must be (N, C, *) with at least 3 dimensions, got shape {input.shape}")
    if not np.issubdtype(input.dtype, np.floating):
        raise TypeError(f"local_response_norm: expected a floating-point input, got dtype {input.dtype}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"local_response_norm: size must be a positive int, got {size!r}")
    return LocalResponseNorm.apply(input, size=int(size), alpha=float(alpha), beta=float(beta), k=float(k),
                                   before=int(size) // 2)
