import numpy as np
import pytest

import npgrad
from npgrad.ops.elementwise import unbroadcast
from npgrad.testing.op_check import check_op

rng = np.random.default_rng(0)
A = rng.standard_normal((3, 4))
B_ROW = rng.standard_normal((4,))
B_COL = rng.standard_normal((3, 1))
POS = rng.uniform(0.5, 2.0, (3, 4))


@pytest.mark.parametrize("b", [A + 0.5, B_ROW, B_COL], ids=["same", "row", "col"])
@pytest.mark.parametrize(
    "name, op, ref",
    [
        ("add", lambda a, b: a + b, np.add),
        ("sub", lambda a, b: a - b, np.subtract),
        ("mul", lambda a, b: a * b, np.multiply),
        ("div", lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1)),
    ],
)
def test_binary_ops_broadcast(name, op, ref, b):
    check_op(op, A, b, reference=ref, torch_op=op)


def test_pow_both_ways():
    check_op(lambda a, b: a**b, POS, B_ROW, reference=np.power, torch_op=lambda a, b: a**b)
    check_op(lambda a: a**3, A, reference=lambda a: a**3)
    check_op(lambda a: 2.0**a, A, reference=lambda a: 2.0**a)


@pytest.mark.parametrize(
    "name, op, ref, x",
    [
        ("neg", lambda t: -t, np.negative, A),
        ("exp", npgrad.exp, np.exp, A),
        ("log", npgrad.log, np.log, POS),
        ("sqrt", npgrad.sqrt, np.sqrt, POS),
        ("abs", npgrad.abs, np.abs, A),
        ("sin", npgrad.sin, np.sin, A),
        ("cos", npgrad.cos, np.cos, A),
        ("clip", lambda t: npgrad.clip(t, -0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), A),
        ("rsub", lambda t: 1.0 - t, lambda a: 1.0 - a, A),
        ("rdiv", lambda t: 1.0 / t, lambda a: 1.0 / a, POS),
    ],
)
def test_unary_ops(name, op, ref, x):
    torch_op = op if name in ("neg", "rsub", "rdiv") else None
    if name in ("sin", "cos"):
        torch_op = lambda t: getattr(__import__("torch"), name)(t)  # noqa: E731
    check_op(op, x, reference=ref, torch_op=torch_op)


def test_abs_and_clip_gradients_at_kinks_match_pytorch():
    x = npgrad.Tensor(np.array([-1.0, 0.0, 1.0, 2.0]), requires_grad=True)
    npgrad.abs(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [-1, 0, 1, 1])
    x.grad = None
    x.clip(0.0, 1.0).sum().backward()  # boundaries are inside, like torch.clamp
    np.testing.assert_array_equal(x.grad, [0, 1, 1, 0])


def test_where_routes_gradients():
    cond = A > 0
    check_op(lambda a, b: npgrad.where(cond, a, b), A, B_ROW, reference=lambda a, b: np.where(cond, a, b))
    check_op(lambda a: npgrad.where(cond, a, 0.0), A, reference=lambda a: np.where(cond, a, 0.0))


def test_unbroadcast_sums_stretched_and_leading_dims():
    grad = np.ones((2, 3, 4))
    np.testing.assert_array_equal(unbroadcast(grad, (3, 1)), np.full((3, 1), 8.0))
    np.testing.assert_array_equal(unbroadcast(grad, (4,)), np.full((4,), 6.0))
    assert unbroadcast(grad, (2, 3, 4)) is grad
    assert unbroadcast(grad, ()).shape == ()


def test_astype_is_differentiable_between_float_dtypes():
    x = npgrad.Tensor(np.ones(3, np.float32), requires_grad=True)
    y = x.double() * 2
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match="at least one"):
        npgrad.clip(npgrad.ones(2))


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@pytest.mark.parametrize("b", [B_ROW, B_COL])
def test_maximum_and_minimum_broadcast(name, b):
    check_op(getattr(npgrad, name), A, b, reference=getattr(np, name), torch_op=lambda x, y: getattr(x, name)(y))


def test_maximum_shares_the_gradient_at_ties_and_max_of_two_tensors_is_maximum():
    x = npgrad.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    zeros = npgrad.zeros_like(x)
    y = npgrad.max(x, zeros)  # d2l's relu from scratch
    assert y.tolist() == [0.0, 0.0, 2.0]
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 0.5, 1.0] and x.grad.dtype == np.float32
    assert npgrad.min(x, zeros).tolist() == [-1.0, 0.0, 0.0] and npgrad.maximum(x, 1.0).tolist() == [1.0, 1.0, 2.0]


@pytest.mark.parametrize("name", ["sign", "round", "floor", "ceil", "trunc"])
def test_step_functions_have_a_zero_gradient_as_in_pytorch(name):
    x = np.array([-2.3, -1.2, -0.4, 0.3, 1.7, 2.6])  # away from the jumps, where the numerical gradient is 0 too
    check_op(lambda t: getattr(t, name)(), x, reference=getattr(np, name), torch_op=lambda t: getattr(t, name)())
    t = npgrad.tensor(x, requires_grad=True)
    (getattr(npgrad, name)(t) * 3).sum().backward()
    np.testing.assert_array_equal(t.grad, np.zeros(6))
    np.testing.assert_array_equal(npgrad.tensor([1.2345]).round(decimals=2).numpy(), np.float32([1.23]))
    np.testing.assert_array_equal(npgrad.round(npgrad.tensor([0.5, 1.5, -2.5])).numpy(), [0, 2, -2])  # half to even


def test_masked_fill_puts_the_value_where_the_mask_is_true_with_no_gradient_there():
    x = np.arange(6.0).reshape(2, 3)
    mask = np.array([True, False, True])
    check_op(lambda t: t.masked_fill(mask, -1.0), x, reference=lambda a: np.where(mask, -1.0, a))
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        npgrad.tensor(x).masked_fill(npgrad.tensor([1, 0, 1]), 0.0)


def test_allclose_is_numpys_test_with_pytorchs_defaults():
    a = npgrad.tensor([1.0, 2.0])
    assert npgrad.allclose(a, a + 1e-6) and not npgrad.allclose(a, a + 1e-3)
    assert npgrad.allclose(a, np.array([1.0, 2.0]), rtol=0, atol=0)
    assert npgrad.allclose(npgrad.tensor([[1.0], [1.0]]), npgrad.ones(2, 3))  # broadcasting
    nan = npgrad.tensor([float("nan")])
    assert not npgrad.allclose(nan, nan) and npgrad.allclose(nan, nan, equal_nan=True)


def test_equal_needs_the_same_shape_and_elements():
    a = npgrad.tensor([1.0, 2.0])
    assert npgrad.equal(a, a.clone()) and not npgrad.equal(a, a + 1e-6)
    assert not npgrad.equal(npgrad.ones(1, 2), npgrad.ones(2))  # no broadcasting, unlike allclose
