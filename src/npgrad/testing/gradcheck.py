"""Numerical gradient checking: autograd versus centered finite differences in float64.

For a function ``f`` of tensors, pick a fixed random projection ``r`` of its
output so that ``L = sum(f(x) * r)`` is a scalar. Autograd gives dL/dx with one
``backward(r)``; the numerical gradient of element ``i`` is

    (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)

The two are compared element by element with the relative error

    |a - n| / max(|a| + |n|, floor),   floor = max(1e-12, 1e-3 * max|n|)

The floor keeps an entry whose true gradient is zero (where both sides are
round-off noise) from reporting a meaningless ratio; it is a thousandth of the
largest gradient entry of that input, so real errors are never hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from npgrad.tensor import Tensor


class GradcheckError(AssertionError):
    """Raised by `gradcheck` when analytic and numerical gradients disagree."""


@dataclass
class GradcheckResult:
    """What `gradcheck` measured.

    Attributes:
        max_relative_error: the worst relative error over all checked inputs.
        input_index: which positional input holds the worst element.
        element: the multi-index of the worst element in that input.
        analytic: the autograd value there.
        numerical: the finite-difference value there.
    """

    max_relative_error: float
    input_index: int
    element: tuple[int, ...]
    analytic: float
    numerical: float

    def __str__(self) -> str:
        return (
            f"max relative error {self.max_relative_error:.3e} at input {self.input_index}, "
            f"element {self.element}: autograd {self.analytic:.10g}, numerical {self.numerical:.10g}"
        )


def _as_input(value: Any) -> Any:
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        return Tensor(value, requires_grad=True)
    return value


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs: Any,
    eps: float = 1e-6,
    rtol: float = 1e-6,
    seed: int = 0,
    raise_exception: bool = True,
) -> GradcheckResult:
    """Compare autograd's gradients of ``fn(*inputs)`` with centered differences.

    Args:
        fn: a function of the inputs returning a Tensor (any shape).
        *inputs: Tensors (those with ``requires_grad=True`` are checked; they must
            be float64), floating NumPy arrays (wrapped as float64-checked Tensors)
            or any other argument, passed through unchanged.
        eps: the finite-difference step.
        rtol: the largest relative error accepted (see the module docstring).
        seed: seeds the output projection ``r``.
        raise_exception: raise `GradcheckError` when the check fails (otherwise
            just return the result).

    Returns:
        A `GradcheckResult` with the worst relative error and where it occurred.
    """
    inputs = tuple(_as_input(v) for v in inputs)
    checked = [i for i, v in enumerate(inputs) if isinstance(v, Tensor) and v.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise ValueError(f"gradcheck: input {i} has dtype {inputs[i].dtype}; gradients must be checked in float64")
        inputs[i].grad = None

    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    projection = np.random.default_rng(seed).standard_normal(out.shape)

    def projected_loss() -> float:
        return float(np.sum(fn(*inputs).data * projection))

    out.backward(projection)

    worst = GradcheckResult(0.0, checked[0], (), 0.0, 0.0)
    for i in checked:
        x = inputs[i].data
        analytic = inputs[i].grad if inputs[i].grad is not None else np.zeros_like(x)
        numerical = np.zeros_like(x)
        for element in np.ndindex(x.shape):
            original = x[element]
            x[element] = original + eps
            plus = projected_loss()
            x[element] = original - eps
            minus = projected_loss()
            x[element] = original
            numerical[element] = (plus - minus) / (2 * eps)
        floor = max(1e-12, 1e-3 * float(np.max(np.abs(numerical), initial=0.0)))
        error = np.abs(analytic - numerical) / np.maximum(np.abs(analytic) + np.abs(numerical), floor)
        if error.size and error.max() >= worst.max_relative_error:
            element = np.unravel_index(int(np.argmax(error)), x.shape)
            element = tuple(int(e) for e in element)
            worst = GradcheckResult(float(error.max()), i, element, float(analytic[element]), float(numerical[element]))
    if raise_exception and not worst.max_relative_error < rtol:
        raise GradcheckError(f"gradcheck failed: {worst} (rtol {rtol:g})")
    return worst
