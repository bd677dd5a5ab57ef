"""One helper to test an operator three ways (Chainer's FunctionTestCase and tinygrad's helper_test_op).

``check_op(op, *inputs, reference=..., torch_op=...)``:

1. runs ``op`` on Tensors made from the float64 ``inputs`` and compares the output
   with ``reference`` (a slow, obvious NumPy version or a closed form);
2. gradchecks ``op`` in float64 (relative error below ``grad_rtol``);
3. when PyTorch is importable and ``torch_op`` is given, compares the output and
   every input gradient with PyTorch's, in float64.

Floating NumPy arrays among the inputs are differentiated; anything else (ints,
tuples, integer label arrays) is passed through unchanged.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np

from npgrad.tensor import Tensor
from npgrad.testing.gradcheck import gradcheck


def torch_available() -> bool:
    """True when PyTorch can be imported (it is only ever a test oracle)."""
    return importlib.util.find_spec("torch") is not None


def _is_checked(value: Any) -> bool:
    return isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating)


def check_op(
    op: Callable[..., Tensor],
    *inputs: Any,
    reference: Callable[..., np.ndarray] | None = None,
    torch_op: Callable[..., Any] | None = None,
    forward_atol: float = 1e-10,
    grad_rtol: float = 1e-6,
    check_grad: bool = True,
) -> None:
    """Check ``op``'s forward against ``reference`` and torch, and its backward by gradcheck.

    Args:
        op: a function of Tensors (and pass-through arguments) returning a Tensor.
        *inputs: float64 arrays to differentiate, or other arguments.
        reference: the same computation on NumPy arrays.
        torch_op: the same computation on torch tensors (skipped without torch).
        forward_atol: tolerance of the forward comparisons.
        grad_rtol: the gradcheck's relative-error bound.
        check_grad: set False for operators with no gradient.
    """
    for i, value in enumerate(inputs):
        if _is_checked(value) and value.dtype != np.float64:
            raise ValueError(f"check_op: input {i} must be float64, got {value.dtype}")

    def wrap() -> list[Any]:
        return [Tensor(v.copy(), requires_grad=check_grad) if _is_checked(v) else v for v in inputs]

    out = op(*wrap())
    if reference is not None:
        expected = reference(*(v.copy() if isinstance(v, np.ndarray) else v for v in inputs))
        np.testing.assert_allclose(out.data, expected, rtol=forward_atol, atol=forward_atol, err_msg="forward vs reference")
    if check_grad:
        gradcheck(op, *wrap(), rtol=grad_rtol)
    if torch_op is not None and torch_available():
        _compare_with_torch(op, torch_op, inputs, wrap(), forward_atol, check_grad)


def _compare_with_torch(
    op: Callable[..., Tensor],
    torch_op: Callable[..., Any],
    inputs: tuple[Any, ...],
    tensors: list[Any],
    atol: float,
    check_grad: bool,
) -> None:
    import torch

    torch_inputs = [
        torch.tensor(v, dtype=torch.float64, requires_grad=check_grad)
        if _is_checked(v)
        else torch.from_numpy(v)
        if isinstance(v, np.ndarray)
        else v
        for v in inputs
    ]
    ours = op(*tensors)
    theirs = torch_op(*torch_inputs)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=atol, atol=atol, err_msg="forward vs torch")
    if not check_grad:
        return
    projection = np.random.default_rng(1).standard_normal(ours.shape)
    ours.backward(projection)
    theirs.backward(torch.from_numpy(projection))
    for i, (mine, their) in enumerate(zip(tensors, torch_inputs)):
        if isinstance(mine, Tensor) and mine.requires_grad:
            expected = their.grad.numpy() if their.grad is not None else np.zeros(mine.shape)
            actual = mine.grad if mine.grad is not None else np.zeros(mine.shape)
            np.testing.assert_allclose(actual, expected, rtol=1e-7, atol=1e-9, err_msg=f"gradient of input {i} vs torch")
