import numpy as np
import pytest

from npgrad import Tensor
from npgrad.testing import GradcheckError, gradcheck


def test_reports_worst_element_and_passes_for_correct_gradients():
    x = np.random.default_rng(0).standard_normal((2, 3))
    result = gradcheck(lambda t: (t * t).exp().sum(dim=0), x)
    assert result.max_relative_error < 1e-7
    assert result.input_index == 0 and len(result.element) == 2


def test_detects_a_wrong_gradient_in_one_element():
    from npgrad import Function

    class OffByOne(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, dout):
            grad = dout.copy()
            grad[1, 2] += 0.01
            return grad

    x = np.random.default_rng(1).standard_normal((2, 3))
    with pytest.raises(GradcheckError, match=r"element \(1, 2\)"):
        gradcheck(lambda t: OffByOne.apply(t), x)
    result = gradcheck(lambda t: OffByOne.apply(t), x, raise_exception=False)
    assert result.element == (1, 2) and result.max_relative_error > 1e-4


def test_refuses_float32_and_inputs_without_grad():
    with pytest.raises(ValueError, match="float64"):
        gradcheck(lambda t: t * 2, Tensor(np.ones(2, np.float32), requires_grad=True))
    with pytest.raises(ValueError, match="nothing to check"):
        gradcheck(lambda t: t * 2, Tensor(np.ones(2)))
