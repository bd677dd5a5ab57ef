import numpy as np
import pytest

import npgrad
from npgrad.ops.linear import linear
from npgrad.testing.op_check import check_op

rng = np.random.default_rng(0)


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)),
     ((3, 2, 4), (3, 4, 5))],
)
def test_matmul_shapes_and_broadcasting(a_shape, b_shape, threads):
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    check_op(lambda x, y: x @ y, a, b, reference=np.matmul, torch_op=lambda x, y: x @ y)


@pytest.mark.parametrize("x_shape", [(5, 4), (1, 4), (2, 3, 4), (4,)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_matches_closed_form(x_shape, with_bias, threads):
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((3, 4)), rng.standard_normal(3)
    if with_bias:
        check_op(linear, x, w, b, reference=lambda x, w, b: x @ w.T + b,
                 torch_op=lambda x, w, b: __import__("torch").nn.functional.linear(x, w, b))
    else:
        check_op(lambda x, w: linear(x, w), x, w, reference=lambda x, w: x @ w.T)


def test_linear_keeps_float32():
    x = npgrad.randn(8, 4)
    w = npgrad.randn(3, 4, requires_grad=True)
    out = linear(x, w, npgrad.zeros(3, requires_grad=True))
    assert out.dtype == np.float32
    out.sum().backward()
    assert w.grad.dtype == np.float32


def test_linear_validates_shapes():
    with pytest.raises(ValueError, match=r"linear: input has 5 features in its last dimension but weight expects 4"):
        linear(npgrad.ones(2, 5), npgrad.ones(3, 4))
    with pytest.raises(ValueError, match="weight must be 2-D"):
        linear(npgrad.ones(2, 4), npgrad.ones(4))
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        linear(npgrad.ones(2, 4), npgrad.ones(3, 4), npgrad.ones(4))


def test_mm_and_bmm_take_exactly_matrices_and_batches():
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    check_op(npgrad.mm, a, b, reference=np.matmul, torch_op=lambda x, y: x.mm(y))
    check_op(lambda x, y: x.bmm(y), rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 5)),
             reference=np.matmul, torch_op=lambda x, y: x.bmm(y))
    with pytest.raises(ValueError, match="mm: expects two 2-D tensors"):
        npgrad.mm(npgrad.Tensor(a), npgrad.zeros(4))
    with pytest.raises(ValueError, match=r"mm: shapes \(3, 4\) and \(3, 4\) cannot be multiplied"):
        npgrad.mm(npgrad.Tensor(a), npgrad.Tensor(a))
    with pytest.raises(ValueError, match="bmm: shapes"):
        npgrad.bmm(npgrad.zeros(2, 3, 4), npgrad.zeros(3, 4, 5))


def test_linear_refuses_mixed_dtypes_like_conv_and_pytorch():
    layer = npgrad.nn.Linear(3, 2)
    with pytest.raises(TypeError, match=r"linear: input, weight and bias must have the same dtype, got input float64, "
                                        r"weight float32, bias float32 \(convert the input with .float\(\)"):
        layer(npgrad.zeros(1, 3, dtype=npgrad.float64))
    assert layer.double()(npgrad.zeros(1, 3, dtype=npgrad.float64)).dtype == np.float64


def test_dot_and_mv_take_exactly_vectors_and_a_matrix():
    a, b, m = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal((3, 4))
    check_op(npgrad.dot, a, b, reference=np.dot, torch_op=lambda x, y: __import__("torch").dot(x, y))
    check_op(npgrad.mv, m, a, reference=np.matmul, torch_op=lambda x, y: __import__("torch").mv(x, y))
    assert npgrad.dot(npgrad.ones(3), npgrad.ones(3)).shape == ()
    with pytest.raises(ValueError, match="dot: expects two 1-D tensors"):
        npgrad.dot(npgrad.ones(3), npgrad.ones(3, 1))
    with pytest.raises(ValueError, match=r"dot: the vectors must have the same length, got shapes \(3,\) and \(4,\)"):
        npgrad.dot(npgrad.ones(3), npgrad.ones(4))
    with pytest.raises(ValueError, match="mv: expects a 2-D matrix and a 1-D vector"):
        npgrad.mv(npgrad.ones(3, 4), npgrad.ones(4, 1))
    with pytest.raises(ValueError, match=r"mv: shapes \(3, 4\) and \(3,\) cannot be multiplied"):
        npgrad.mv(npgrad.ones(3, 4), npgrad.ones(3))
