import numpy as np
import pytest

import npgrad
from npgrad import Function, Tensor
from npgrad.testing import gradcheck


def test_dtypes_follow_pytorch():
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(3.5).dtype == np.float32
    assert Tensor([1, 2]).dtype == np.int64
    assert Tensor(np.zeros(2)).dtype == np.float64  # arrays keep their dtype
    assert Tensor([1.0], dtype=np.float64).dtype == np.float64
    assert npgrad.zeros(2, 3).dtype == np.float32
    assert npgrad.randn((2, 3), dtype=np.float64).shape == (2, 3)
    assert npgrad.arange(5).dtype == np.int64
    assert npgrad.arange(0, 1, 0.25).dtype == np.float32


def test_python_scalars_do_not_upcast():
    x = npgrad.ones(3, requires_grad=True)
    y = (x * 2.0 + 1) / 3.0 - 0.5
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, np.full(3, 2 / 3), rtol=1e-6)


def test_data_and_grad_are_ndarrays_and_grad_accumulates():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert type(x.data) is np.ndarray
    (x * x).sum().backward()
    (x * 3).sum().backward()
    assert type(x.grad) is np.ndarray
    np.testing.assert_array_equal(x.grad, [2 + 3, 4 + 3])


def test_shared_subexpression_gradients_add_up():
    x = Tensor(np.array([2.0]), requires_grad=True)
    y = x * x
    z = y + y * y  # dz/dx = 2x + 4x^3
    z.backward()
    np.testing.assert_allclose(x.grad, [4 + 32])


def test_long_chain_does_not_hit_recursion_limit():
    x = npgrad.ones(1, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad, [1.0001**10_000], rtol=1e-3)


def test_backward_needs_grad_for_non_scalar():
    x = npgrad.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"one-element outputs.*shape \(2, 3\)"):
        (x * 2).backward()
    with pytest.raises(ValueError, match="grad has shape"):
        (x * 2).backward(np.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        npgrad.ones(2).sum().backward()


def test_graph_is_freed_unless_retained():
    x = Tensor(np.array([3.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, [12.0])
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_no_grad_stops_recording_and_detach_cuts():
    x = npgrad.ones(2, requires_grad=True)
    with npgrad.no_grad():
        y = x * 2
    assert not y.requires_grad and y.is_leaf
    z = x.detach()
    assert not z.requires_grad and z.data is x.data

    @npgrad.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad
    assert npgrad.is_grad_enabled()


def test_retain_grad_keeps_intermediate_gradient():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, 2 * h.data)


def test_only_float_tensors_can_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        Tensor([1, 2], requires_grad=True)


def test_attributes_and_conversions():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    assert x.shape == (2, 3) and x.ndim == 2 and x.numel() == 6 and len(x) == 2
    assert x.T.shape == (3, 2) and x.size(1) == 3
    assert x.numpy() is x.data
    assert Tensor([[4.0]]).item() == 4.0
    with pytest.raises(ValueError, match="one-element"):
        x.item()
    assert "requires_grad=True" in repr(Tensor([1.0], requires_grad=True))
    assert np.asarray(x).shape == (2, 3)


def test_comparisons_give_bool_tensors_without_grad():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    mask = x > 1.5
    assert mask.dtype == bool and not mask.requires_grad
    np.testing.assert_array_equal((x == 2.0).data, [False, True, False])


def test_numpy_array_on_the_left_defers_to_tensor():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, Tensor)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_user_defined_function_takes_part_in_autograd_and_gradcheck():
    class Cube(Function):
        @staticmethod
        def forward(ctx, x, scale):
            ctx.save_for_backward(x)
            ctx.scale = scale
            return scale * x**3

        @staticmethod
        def backward(ctx, dout):
            (x,) = ctx.saved
            return 3 * ctx.scale * x**2 * dout, None

    x = np.random.default_rng(0).standard_normal((3, 2))
    gradcheck(lambda t: Cube.apply(t, 2.0), x)

    class Wrong(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, dout):
            return dout * 3

    with pytest.raises(AssertionError, match="gradcheck failed"):
        gradcheck(lambda t: Wrong.apply(t), x)


def test_backward_reports_a_function_returning_a_wrong_shape():
    class BadShape(Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, dout):
            return np.ones(7)

    with pytest.raises(RuntimeError, match=r"BadShape.backward returned a gradient of shape \(7,\)"):
        BadShape.apply(npgrad.ones(2, requires_grad=True)).backward()


def test_manual_seed_makes_random_tensors_reproducible():
    npgrad.manual_seed(3)
    a = npgrad.randn(4)
    state = npgrad.get_rng_state()
    b = npgrad.rand(4)
    npgrad.manual_seed(3)
    np.testing.assert_array_equal(a.data, npgrad.randn(4).data)
    npgrad.set_rng_state(state)
    np.testing.assert_array_equal(b.data, npgrad.rand(4).data)


def test_assigning_a_tensor_or_a_wrong_shape_to_grad():
    from npgrad.optim import SGD

    p = npgrad.Tensor(np.ones(3, np.float32), requires_grad=True)
    p.grad = npgrad.Tensor(np.full(3, 2.0, np.float32))  # as in PyTorch: a tensor is a valid grad
    assert isinstance(p.grad, np.ndarray)
    SGD([p], lr=0.5).step()
    assert p.data.tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"assigned grad has shape \(2,\), but the tensor has shape \(3,\)"):
        p.grad = np.zeros(2, np.float32)
    p.grad = None
    (p * 2).sum().backward()
    assert p.grad.tolist() == [2.0, 2.0, 2.0]
