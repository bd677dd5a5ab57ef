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
    assert isinstance(x.grad, np.ndarray)  # an InPlaceArray: an ndarray with PyTorch's zero_() etc.
    np.testing.assert_array_equal(x.grad, [2 + 3, 4 + 3])
    assert x.grad.zero_() is x.grad and not x.grad.any()
    assert type(x.grad.numpy()) is np.ndarray


def test_grad_supports_the_gradient_clipping_idioms_of_course_code():
    x = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    (x * x).sum().backward()  # grad = [6, 8], norm 10
    norm = npgrad.sqrt(npgrad.sum(x.grad ** 2))
    assert isinstance(norm, Tensor) and norm.item() == pytest.approx(10)
    assert x.grad.norm().item() == pytest.approx(10)
    x.grad[:] *= 1.0 / norm  # d2l's grad_clipping: a Tensor on the right of an in-place operator
    np.testing.assert_allclose(x.grad, [0.6, 0.8])
    grad = x.grad
    grad += Tensor(np.array([1.0, 1.0]))
    grad -= Tensor(np.array([0.5, 0.5]))
    grad /= Tensor(np.array(2.0))
    assert grad is x.grad
    np.testing.assert_allclose(x.grad, [0.55, 0.65])
    assert type(x.grad * 2) is np.ndarray and isinstance(x.grad * Tensor(np.array(2.0)), Tensor)
    assert x.grad.clone() is not x.grad and np.array_equal(x.grad.clone(), x.grad)


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
    with pytest.raises(RuntimeError, match=r"one-element outputs.*shape \(2, 3\), so pass gradient="):
        (x * 2).backward()
    with pytest.raises(ValueError, match="gradient has shape"):
        (x * 2).backward(np.ones(3))
    (x * 2).backward(gradient=npgrad.ones(2, 3))  # PyTorch's keyword
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 2))
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


def test_post_accumulate_grad_hook_sees_the_complete_gradient_once():
    w = npgrad.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    x = npgrad.Tensor(np.array([3.0, 4.0]), requires_grad=True)
    seen = []
    handle = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.copy()))
    ((w * x).sum() + (w * w).sum()).backward()  # two paths into w, summed before the hook
    assert len(seen) == 1 and np.allclose(seen[0], x.data + 2 * w.data)
    handle.remove()
    (w * x).sum().backward()
    assert len(seen) == 1
    with pytest.raises(RuntimeError, match="leaf"):
        (w * 2).register_post_accumulate_grad_hook(lambda t: None)


def test_weights_are_ready_right_after_their_layer_in_backward():
    """The last layer's weight is complete before the first layer's backward runs (what DDP's overlap needs)."""
    from npgrad import nn

    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))
    order = []
    for name, p in model.named_parameters():
        p.register_post_accumulate_grad_hook(lambda t, name=name: order.append(name))
    model(npgrad.randn(5, 4)).sum().backward()
    assert [n.split(".")[0] for n in order] == ["4", "4", "2", "2", "0", "0"]


def test_to_type_and_the_conversion_methods():
    x = npgrad.tensor([1.5, -2.0], requires_grad=True)
    assert x.to("cpu") is x and x.to(npgrad.float32) is x and x.cpu() is x and x.type(npgrad.float32) is x
    assert x.to("cpu", npgrad.float64).dtype == np.float64 and x.to(dtype=np.float64, device="cpu").dtype == np.float64
    assert x.to(npgrad.zeros(1, dtype=npgrad.int64)).dtype == np.int64
    assert x.to(copy=True) is not x and x.to(npgrad.float32, False, True) is not x
    assert x.long().tolist() == [1, -2] and x.int().dtype == np.int32 and x.bool().dtype == np.bool_
    assert x.half().dtype == np.float16 and x.double().dtype == np.float64 and x.float() is x
    x.double().sum().backward()  # differentiable between floating dtypes
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [1, 1]
    with pytest.raises(TypeError, match="unexpected keyword argument 'dvice'"):
        x.to(dvice="cpu")
    with pytest.raises(TypeError, match="Tensor.type: expected a dtype"):
        x.type("not a dtype")
    with pytest.raises(RuntimeError, match="CPU only"):
        x.to("cuda")


def test_clone_copies_and_keeps_the_graph_detach_cuts_it():
    x = npgrad.tensor([1.0, 2.0], requires_grad=True)
    y = x.clone()
    assert not np.shares_memory(y.data, x.data) and y.requires_grad
    (y * 3).sum().backward()
    assert x.grad.tolist() == [3, 3]
    assert np.shares_memory(x.detach().data, x.data) and not x.detach().requires_grad


def test_inplace_updates_under_no_grad_as_in_a_from_scratch_sgd_step():
    w = npgrad.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    with npgrad.no_grad():
        w -= 0.5 * w.grad
        w.grad.zero_()
    assert w.tolist() == [0.0, 0.0] and w.grad.tolist() == [0, 0] and w.is_leaf
    with npgrad.no_grad():
        w.add_(npgrad.tensor([1.0, 1.0]), alpha=2).mul_(3).sub_(1).div_(5)
        assert w.tolist() == [1.0, 1.0]
        w.fill_(4).clamp_(max=3)
        assert w.tolist() == [3.0, 3.0]
        w.copy_(np.array([7.0]))  # broadcast, as PyTorch's copy_
        w[0] = npgrad.tensor(-1.0)
        assert w.tolist() == [-1.0, 7.0]
        npgrad.manual_seed(0)
        w.normal_(0, 0.01)
        npgrad.manual_seed(0)
        expected = npgrad.nn.init.normal_(np.zeros(2, np.float32), 0, 0.01)
        np.testing.assert_array_equal(w.data, expected)
        w.uniform_(2, 3).zero_()
    assert w.tolist() == [0.0, 0.0]


def test_inplace_changes_of_tensors_that_require_grad_need_no_grad():
    w = npgrad.tensor([1.0, 2.0], requires_grad=True)
    for change in (lambda: w.add_(1), lambda: w.zero_(), lambda: w.normal_(), lambda: w.copy_([1.0, 1.0])):
        with pytest.raises(RuntimeError, match="cannot be changed in place while gradients are recorded"):
            change()
    with pytest.raises(RuntimeError, match=r"x \+= y: a tensor that requires grad"):
        w += 1
    with pytest.raises(RuntimeError, match=r"x\[index\] = value"):
        w[0] = 3.0
    h = w * 2  # a non-leaf: `h += 1` is Python's h = h + 1, recorded out of place
    h += 1
    h.sum().backward()
    assert h.tolist() == [3.0, 5.0] and w.grad.tolist() == [2, 2]
    total = npgrad.zeros(())  # accumulating a loss into a plain tensor keeps the graph
    total += (w * w).sum()
    assert total.requires_grad
    with pytest.raises(TypeError, match=r"add_: cannot update a tensor of shape \(2,\) and dtype int64 in place"):
        npgrad.tensor([1, 2]).add_(0.5)


def test_creation_functions_follow_pytorch_signatures_and_dtypes():
    npgrad.manual_seed(0)
    assert npgrad.zeros((2, 3)).shape == npgrad.ones(2, 3).shape == npgrad.empty(2, 3).shape == (2, 3)
    assert npgrad.rand(size=(2, 3)).shape == (2, 3) and npgrad.randn(size=4).shape == (4,)
    with pytest.raises(TypeError, match="give the size once"):
        npgrad.zeros(2, size=(2,))
    assert npgrad.zeros(2, dtype=npgrad.long).dtype == np.int64 and npgrad.rand(2, dtype=None).dtype == np.float32
    assert npgrad.full((2, 2), 3).dtype == np.int64 and npgrad.full((2,), 1.5).tolist() == [1.5, 1.5]
    assert npgrad.full((1,), True).dtype == np.bool_ and npgrad.full(3, 0.0, dtype=npgrad.float64).dtype == np.float64
    assert npgrad.eye(2, 3).tolist() == [[1, 0, 0], [0, 1, 0]] and npgrad.eye(2).dtype == np.float32
    np.testing.assert_allclose(npgrad.linspace(0, 1, 5).data, [0, 0.25, 0.5, 0.75, 1])
    assert npgrad.arange(5).dtype == np.int64 and npgrad.arange(0, 1, 0.5).tolist() == [0.0, 0.5]
    r = npgrad.randint(3, (1000,))
    assert r.dtype == np.int64 and set(r.tolist()) == {0, 1, 2}
    assert set(npgrad.randint(5, 7, size=(100,)).tolist()) == {5, 6}
    n = npgrad.normal(2.0, 0.5, (20000,))
    assert n.dtype == np.float32 and abs(n.mean().item() - 2) < 0.02 and abs(n.std().item() - 0.5) < 0.02
    assert npgrad.normal(npgrad.zeros(3, 1), npgrad.ones(4)).shape == (3, 4)
    x = npgrad.zeros(2, 3, dtype=npgrad.float64)
    for like in (npgrad.zeros_like, npgrad.ones_like, npgrad.empty_like, npgrad.rand_like, npgrad.randn_like):
        assert like(x).shape == (2, 3) and like(x).dtype == np.float64
    assert npgrad.full_like(x, 7).tolist() == [[7] * 3] * 2 and npgrad.zeros_like(x, dtype=npgrad.int64).dtype == np.int64
    assert npgrad.ones(2, requires_grad=True).requires_grad
    with pytest.raises(TypeError, match=r"randint: expected \(high, size\)"):
        npgrad.randint(1, 2, 3, (4,))


def test_from_numpy_shares_memory_and_tensor_copies():
    a = np.arange(3.0)
    t = npgrad.from_numpy(a)
    a[0] = 9
    assert t.dtype == np.float64 and t[0].item() == 9 and npgrad.tensor(a, dtype=npgrad.float32).dtype == np.float32
    assert not np.shares_memory(npgrad.tensor(a).data, a)
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray, got list"):
        npgrad.from_numpy([1, 2])


def test_method_spellings_of_the_operators():
    x = npgrad.tensor([[1.0, -2.0], [3.0, 4.0]])
    assert x.add(1).tolist() == [[2, -1], [4, 5]] and x.sub(1).mul(2).div(2).tolist() == [[0, -3], [2, 3]]
    assert x.pow(2).tolist() == [[1, 4], [9, 16]] and x.neg().tolist() == [[-1, 2], [-3, -4]]
    assert x.t().tolist() == [[1, 3], [-2, 4]] and x.matmul(x).tolist() == (x @ x).tolist()
    assert x.eq(1).tolist() == [[True, False], [False, False]] and x.gt(0).dtype == np.bool_
    assert x.ne(1).sum().item() == 3 and x.lt(0).any().item() and not x.ge(0).all().item() and x.le(4).all().item()
    assert npgrad.numel(x) == 4 and x.view_as(npgrad.zeros(4)).shape == (4,)
    with pytest.raises(ValueError, match="t: expects a tensor of at most 2 dimensions"):
        npgrad.zeros(1, 2, 3).t()


def test_set_grad_enabled_as_a_call_and_as_a_context():
    with npgrad.set_grad_enabled(False):
        assert not npgrad.is_grad_enabled()
    assert npgrad.is_grad_enabled()
    npgrad.set_grad_enabled(False)
    try:
        assert not npgrad.is_grad_enabled()
    finally:
        npgrad.set_grad_enabled(True)
    assert npgrad.is_grad_enabled()


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


def test_the_smaller_pieces_of_pytorchs_tensor_surface():
    x = npgrad.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.type() == "torch.FloatTensor" and npgrad.tensor([1]).type() == "torch.LongTensor"
    assert x.is_floating_point() and not npgrad.tensor([1]).is_floating_point() and x.element_size() == 4
    assert x.contiguous() is x and x.T.contiguous().data.flags.c_contiguous
    assert x.mT.shape == (2, 2) and x.mT[0, 1].item() == 3
    assert x.new_zeros(3).dtype == np.float32 and x.new_ones((2, 1)).shape == (2, 1)
    assert x.new_full((2,), 7).tolist() == [7.0, 7.0] and x.new_tensor([1, 2]).dtype == np.float32
    assert x.new_empty(2, 3).shape == (2, 3)
    np.testing.assert_array_equal((npgrad.tensor([7, -7]) // 2).numpy(), [3, -4])  # floor, as PyTorch
    np.testing.assert_array_equal((npgrad.tensor([7, -7]) % 3).numpy(), [1, 2])  # the divisor's sign
    np.testing.assert_array_equal((10 // npgrad.tensor([3])).numpy(), [3])
    with pytest.raises(RuntimeError, match="'//' has no gradient"):
        npgrad.tensor([1.0], requires_grad=True) // 2
    assert npgrad.tensor([[0, 1], [1, 0]]).nonzero().tolist() == [[0, 1], [1, 0]]
    assert [t.tolist() for t in npgrad.nonzero(npgrad.tensor([0, 3, 4]), as_tuple=True)] == [[1, 2]]
    values, inverse, counts = npgrad.tensor([3, 1, 3, 2]).unique(return_inverse=True, return_counts=True)
    assert values.tolist() == [1, 2, 3] and inverse.tolist() == [2, 0, 2, 1] and counts.tolist() == [1, 1, 2]
    assert npgrad.allclose(x, x + 1e-7) and not x.allclose(x + 1)
    assert npgrad.is_tensor(x) and not npgrad.is_tensor(x.data)
    assert npgrad.softmax(x, dim=1).shape == (2, 2) and npgrad.sigmoid(x).shape == (2, 2)
