"""Gradient clipping: `clip_grad_norm_` and `clip_grad_value_` (PyTorch's ``torch.nn.utils``).

Both work in place on the ``.grad`` arrays of the given parameters and skip
parameters whose ``grad`` is None. They are called between ``loss.backward()``
and ``optimizer.step()``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from npgrad.tensor import Tensor


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[np.ndarray]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale all gradients together so that their total norm is at most ``max_norm``.

    The total norm is the ``norm_type``-norm of the vector of all gradient
    entries (computed as the norm of the per-parameter norms, like PyTorch);
    ``norm_type=inf`` gives the largest absolute entry. When it exceeds
    ``max_norm`` every gradient is multiplied by ``max_norm / (total_norm + 1e-6)``;
    otherwise the gradients are left untouched.

    Args:
        parameters: a Tensor or an iterable of Tensors (e.g. ``model.parameters()``).
        max_norm: the largest allowed total norm.
        norm_type: the p of the p-norm; ``float('inf')`` for the max-norm.
        error_if_nonfinite: raise ``RuntimeError`` when the total norm is nan or inf.

    Returns:
        The total norm of the gradients *before* clipping, as a 0-d Tensor (0.0
        when no parameter has a gradient), like PyTorch.
    """
    grads = [g for g in _grads(parameters) if g.size]  # an empty gradient adds nothing to any norm
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not grads:
        return Tensor(np.float32(0.0))
    # Per-gradient norms first, then the norm of those: equal to the norm of all entries, and PyTorch's order.
    norms = np.stack([np.linalg.norm(g.reshape(-1), ord=norm_type) for g in grads])
    total_norm = np.linalg.norm(norms, ord=norm_type)
    if error_if_nonfinite and not np.isfinite(total_norm):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total_norm}, "
            "so they cannot be clipped; pass error_if_nonfinite=False to ignore this"
        )
    clip_coef = max_norm / (float(total_norm) + 1e-6)
    if not clip_coef >= 1.0:  # PyTorch clamps the coefficient at 1 (a no-op multiply); a nan norm makes nan grads
        for g in grads:
            g *= g.dtype.type(clip_coef)
    return Tensor(np.asarray(total_norm))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient entry to ``[-clip_value, clip_value]``, in place."""
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be non-negative, got {clip_value}")
    for g in _grads(parameters):
        np.clip(g, -clip_value, clip_value, out=g)
