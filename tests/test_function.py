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
