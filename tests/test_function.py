"""The Function contract (npgrad.function): what a kernel's ctx tells it."""

from __future__ import annotations

import numpy as np

from npgrad import Tensor, no_grad
from npgrad.function import Function


def test_under_no_grad_no_input_needs_a_gradient():
    """Kernels skip saving for backward in inference: needs_input_grad is all False under no_grad()."""
    seen = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, x, w):
            seen.append(ctx.needs_input_grad)
            return x * w

    x, w = Tensor(np.ones(3)), Tensor(np.ones(3), requires_grad=True)
    Probe.apply(x, w)
    with no_grad():
        out = Probe.apply(x, w)
    assert seen == [(False, True), (False, False)]
    assert not out.requires_grad


class _MaxWithIndex(Function):
    """out = max over the last axis, plus the argmax as a non-differentiable extra output."""

    @staticmethod
    def forward(ctx, x):
        index = x.argmax(axis=-1)
        ctx.save_for_backward(index, x.shape)
        return np.take_along_axis(x, index[..., None], axis=-1)[..., 0], index

    @staticmethod
    def backward(ctx, dout):
        index, shape = ctx.saved
        dx = np.zeros(shape)
        np.put_along_axis(dx, index[..., None], dout[..., None], axis=-1)
        return dx


def test_forward_may_return_non_differentiable_extras():
    x = Tensor(np.array([[1.0, 3.0, 2.0], [5.0, 4.0, 0.0]]), requires_grad=True)
    out, index = _MaxWithIndex.apply(x)
    assert isinstance(index, Tensor) and not index.requires_grad and out.requires_grad
    np.testing.assert_array_equal(index.data, [1, 0])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])
