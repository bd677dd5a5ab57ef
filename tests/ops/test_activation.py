import warnings

import numpy as np
import pytest

import npgrad
from npgrad.ops.activation import (
    dropout,
    dropout2d,
    elu,
    hardtanh,
    leaky_relu,
    log_softmax,
    relu,
    relu6,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from npgrad.testing.gradcheck import gradcheck
from npgrad.testing.op_check import check_op


def _torch(name, *args, **kwargs):
    """A torch_op calling torch.nn.functional.<name> (torch is imported only when check_op uses it)."""

    def op(*tensors):
        import torch.nn.functional as F

        return getattr(F, name)(*tensors, *args, **kwargs)

    return op


def _away_from_zero(shape, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.where(np.abs(x) < 0.05, 0.5, x)  # ReLU's kink at 0 is tested separately


def _np_softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


X = _away_from_zero((3, 4, 5))


@pytest.mark.parametrize(
    "op, reference, torch_op",
    [
        (relu, lambda a: np.maximum(a, 0), _torch("relu")),
        (leaky_relu, lambda a: np.where(a > 0, a, 0.01 * a), _torch("leaky_relu")),
        (lambda t: leaky_relu(t, 0.2), lambda a: np.where(a > 0, a, 0.2 * a), _torch("leaky_relu", 0.2)),
        (sigmoid, lambda a: 1 / (1 + np.exp(-a)), _torch("sigmoid")),
        (tanh, np.tanh, _torch("tanh")),
    ],
    ids=["relu", "leaky_relu", "leaky_relu_0.2", "sigmoid", "tanh"],
)
def test_elementwise_activations(op, reference, torch_op, threads):
    check_op(op, X, reference=reference, torch_op=torch_op)


@pytest.mark.parametrize("dim", [-1, 0, 1, 2])
def test_softmax_and_log_softmax(dim):
    check_op(lambda t: softmax(t, dim), X, reference=lambda a: _np_softmax(a, dim), torch_op=_torch("softmax", dim))
    check_op(lambda t: log_softmax(t, dim), X, reference=lambda a: np.log(_np_softmax(a, dim)),
             torch_op=_torch("log_softmax", dim))


def test_softmax_dim_defaults_to_last_and_accepts_numpy_axis():
    t = npgrad.Tensor(X)
    expected = _np_softmax(X, -1)
    np.testing.assert_allclose(softmax(t).data, expected, rtol=1e-12)
    np.testing.assert_allclose(softmax(t, None).data, expected, rtol=1e-12)
    np.testing.assert_allclose(softmax(t, axis=0).data, _np_softmax(X, 0), rtol=1e-12)
    np.testing.assert_allclose(log_softmax(t, axis=1).data, np.log(_np_softmax(X, 1)), rtol=1e-12)
    np.testing.assert_allclose(softmax(t, 1).data.sum(axis=1), 1.0, rtol=1e-12)


def test_softmax_argument_errors():
    t = npgrad.Tensor(X)
    with pytest.raises(TypeError, match="softmax: give either dim or axis"):
        softmax(t, 0, axis=0)
    with pytest.raises(ValueError, match="log_softmax: dim 3 is out of range for a tensor with 3 dimensions"):
        log_softmax(t, 3)
    with pytest.raises(TypeError, match=r"softmax: dim must be an int, got \(0, 1\)"):
        softmax(t, (0, 1))
    with pytest.raises(ValueError, match="softmax: input must have at least one dimension"):
        softmax(npgrad.Tensor(np.float64(2.0)))


def test_relu_gradient_at_zero_is_zero_and_leaky_relu_uses_the_slope(threads):
    x = npgrad.Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    out = relu(x)
    out.backward(np.array([5.0, 7.0, 11.0]))
    np.testing.assert_array_equal(out.data, [0.0, 0.0, 2.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 11.0])

    x.grad = None
    out = leaky_relu(x, 0.25)
    out.backward(np.array([5.0, 8.0, 11.0]))
    np.testing.assert_array_equal(out.data, [-0.25, 0.0, 2.0])
    np.testing.assert_array_equal(x.grad, [1.25, 2.0, 11.0])  # slope at 0, like PyTorch


def test_relu_propagates_nan(threads):
    assert np.isnan(relu(npgrad.Tensor(np.array([np.nan]))).data[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_extremes_are_exact_and_warning_free(dtype):
    x = npgrad.Tensor(np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0], dtype=dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = sigmoid(x)
        out.backward(np.ones(5, dtype=dtype))
    assert out.dtype == dtype and x.grad.dtype == dtype
    np.testing.assert_allclose(out.data, [0.0, np.exp(-30.0) / (1 + np.exp(-30.0)), 0.5, 1.0, 1.0], rtol=1e-6)
    np.testing.assert_array_equal(out.data[[0, 4]], [0.0, 1.0])
    assert np.all(np.isfinite(x.grad)) and x.grad[0] == 0 and x.grad[2] == 0.25


def test_softmax_is_stable_for_huge_logits():
    x = npgrad.Tensor(np.array([[1000.0, 1000.0, 0.0], [-1000.0, 0.0, 1000.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probabilities = softmax(x).data
        log_probabilities = log_softmax(x).data
    np.testing.assert_array_equal(probabilities, [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(log_probabilities, [[-np.log(2), -np.log(2), -1000 - np.log(2)], [-2000, -1000, 0]], rtol=1e-12)


@pytest.mark.parametrize(
    "op", [relu, leaky_relu, sigmoid, tanh, softmax, log_softmax, lambda t: softmax(t, 0), lambda t: dropout(t, 0.3)]
)
def test_float32_stays_float32(op):
    x = npgrad.Tensor(X.astype(np.float32), requires_grad=True)
    out = op(x)
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert out.dtype == np.float32 and x.grad.dtype == np.float32


# ---------------------------------------------------------------- dropout
def test_dropout_mask_statistics_and_scaling():
    npgrad.manual_seed(0)
    p = 0.3
    out = dropout(npgrad.ones(200, 500), p).data
    dropped = out == 0
    assert abs(dropped.mean() - p) < 0.01  # 100 000 Bernoulli draws: std 0.0015
    np.testing.assert_array_equal(out[~dropped], np.float32(1 / (1 - p)))
    assert abs(out.mean() - 1) < 0.02  # inverted dropout keeps the expectation


def test_dropout_is_identity_in_eval_or_with_p0_and_zero_with_p1():
    x = npgrad.Tensor(X, requires_grad=True)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x
    out = dropout(x, 1.0)
    out.backward(np.ones(X.shape))
    np.testing.assert_array_equal(out.data, 0.0)
    np.testing.assert_array_equal(x.grad, 0.0)


def test_dropout_is_reproducible_with_manual_seed():
    x = npgrad.ones(50, 40)
    npgrad.manual_seed(7)
    a = dropout(x).data
    npgrad.manual_seed(7)
    b = dropout(x).data
    npgrad.manual_seed(8)
    c = dropout(x).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_dropout_backward_uses_the_forward_mask():
    npgrad.manual_seed(1)
    x = npgrad.Tensor(X + 10, requires_grad=True)  # no zeros in x, so out == 0 exactly where dropped
    out = dropout(x, 0.4)
    dout = np.random.default_rng(2).standard_normal(X.shape)
    out.backward(dout)
    kept = out.data != 0
    assert 0 < kept.sum() < kept.size
    np.testing.assert_allclose(x.grad, dout * kept / 0.6, rtol=1e-14)


def test_dropout_gradcheck_with_a_fixed_mask():
    def seeded_dropout(t):
        npgrad.manual_seed(3)
        return dropout(t, 0.5)

    gradcheck(seeded_dropout, X)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_dropout_rejects_p_outside_0_1(p):
    with pytest.raises(ValueError, match=r"dropout: p must be a probability in \[0, 1\], got"):
        dropout(npgrad.Tensor(X), p)


# ------------------------------------------------- fast-kernel edge cases
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_nan_infinities_and_deep_tail(dtype, threads):
    x = np.array([np.nan, -np.inf, np.inf, -80.0, 80.0, -1e30], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e^-x overflowing to inf is intended, and silenced
        out = sigmoid(npgrad.Tensor(x)).data
    assert out.dtype == dtype and np.isnan(out[0])
    np.testing.assert_array_equal(out[[1, 2, 4, 5]], [0.0, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(out[3], np.exp(-80.0), rtol=1e-5)  # relative accuracy deep in the tail


def test_sigmoid_backward_does_not_touch_dout_or_the_output(threads):
    x = npgrad.Tensor(X, requires_grad=True)
    out = sigmoid(x)
    kept = out.data.copy()
    dout = np.full(X.shape, 2.0)
    dout.flags.writeable = False  # backward must not write into dout
    out.backward(dout)
    np.testing.assert_array_equal(out.data, kept)
    np.testing.assert_allclose(x.grad, 2.0 * kept * (1 - kept), rtol=1e-15)


@pytest.mark.parametrize("op", [relu, sigmoid, tanh])
def test_inference_forward_equals_training_forward(op, threads):
    x = X.astype(np.float32)
    with npgrad.no_grad():
        inference = op(npgrad.Tensor(x, requires_grad=True)).data
    np.testing.assert_array_equal(inference, op(npgrad.Tensor(x, requires_grad=True)).data)


def test_relu_backward_with_read_only_broadcast_dout(threads):
    x = npgrad.Tensor(np.array([[-1.0, 2.0], [3.0, -4.0]], dtype=np.float32), requires_grad=True)
    relu(x).backward(np.broadcast_to(np.float32(3.0), (2, 2)))
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [[0.0, 3.0], [3.0, 0.0]])


def test_dropout2d_drops_whole_channels_and_backward_uses_the_mask():
    npgrad.manual_seed(3)
    x = npgrad.Tensor(np.random.default_rng(4).standard_normal((8, 16, 3, 3)) + 10, requires_grad=True)
    out = dropout2d(x, 0.5)
    kept = (out.data != 0).all(axis=(2, 3))
    assert np.array_equal(kept, (out.data != 0).any(axis=(2, 3)))  # all of a map or none of it
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(out.data[kept], x.data[kept] * 2, rtol=1e-14)
    dout = np.ones(x.shape)
    out.backward(dout)
    np.testing.assert_allclose(x.grad, np.broadcast_to(kept[..., None, None] * 2.0, x.shape), rtol=1e-14)
    assert dropout2d(x, 0.5, training=False) is x and npgrad.nn.Dropout2d(0.2).eval()(x) is x
    assert npgrad.nn.Dropout2d(0.5)(npgrad.ones(4, 2, 2)).shape == (4, 2, 2)  # (C, H, W): per channel
    with pytest.raises(ValueError, match=r"dropout2d: input must be \(N, C, H, W\) or \(C, H, W\)"):
        dropout2d(npgrad.ones(4, 4), 0.5)
    with pytest.raises(ValueError, match="Dropout2d: p must be a probability"):
        npgrad.nn.Dropout2d(2)


def test_the_activations_are_also_top_level_functions_as_torch_relu_and_torch_tanh():
    assert (npgrad.relu, npgrad.sigmoid, npgrad.tanh, npgrad.softmax) == (relu, sigmoid, tanh, softmax)



def _away_from(points, shape=(3, 4, 5), seed=3, scale=3.0):
    """Normal draws times ``scale``, none within 0.05 of a kink in ``points`` (gradchecks there are ill-posed)."""
    x = np.random.default_rng(seed).standard_normal(shape) * scale
    for p in points:
        x = np.where(np.abs(x - p) < 0.05, p + 0.5, x)
    return x


def _np_sigmoid(a):
    return 1 / (1 + np.exp(-a))


@pytest.mark.parametrize(
    "op, reference, torch_op, kinks",
    [
        (elu, lambda a: np.where(a > 0, a, np.expm1(a)), _torch("elu"), [0]),
        (lambda t: elu(t, 0.3), lambda a: np.where(a > 0, a, 0.3 * np.expm1(a)), _torch("elu", 0.3), [0]),
        (silu, lambda a: a * _np_sigmoid(a), _torch("silu"), []),
        (softplus, lambda a: np.log1p(np.exp(a)), _torch("softplus"), []),
        (lambda t: softplus(t, 2.0, 3.0), lambda a: np.where(2 * a > 3, a, np.log1p(np.exp(2 * a)) / 2),
         _torch("softplus", 2.0, 3.0), [1.5]),  # beta * x > threshold: the linear part
        (hardtanh, lambda a: np.clip(a, -1, 1), _torch("hardtanh"), [-1, 1]),
        (lambda t: hardtanh(t, -2.0, 0.5), lambda a: np.clip(a, -2, 0.5), _torch("hardtanh", -2.0, 0.5), [-2, 0.5]),
        (relu6, lambda a: np.clip(a, 0, 6), _torch("relu6"), [0, 6]),
    ],
    ids=["elu", "elu_0.3", "silu", "softplus", "softplus_beta_threshold", "hardtanh", "hardtanh_bounds", "relu6"],
)
def test_more_elementwise_activations(op, reference, torch_op, kinks):
    check_op(op, _away_from(kinks), reference=reference, torch_op=torch_op)


def test_activation_gradients_at_their_kinks_follow_pytorch():
    x = np.array([-1.0, 0.0, 1.0, 6.0, -2.0, 0.5])
    torch = pytest.importorskip("torch")
    cases = [(elu, "elu", ()), (hardtanh, "hardtanh", ()), (relu6, "relu6", ()), (lambda t: hardtanh(t, -2.0, 0.5),
             "hardtanh", (-2.0, 0.5))]
    for op, name, args in cases:
        t = npgrad.Tensor(x.copy(), requires_grad=True)
        op(t).sum().backward()
        tx = torch.tensor(x, requires_grad=True)
        getattr(torch.nn.functional, name)(tx, *args).sum().backward()
        np.testing.assert_array_equal(t.grad, tx.grad.numpy(), err_msg=name)


def test_more_activations_keep_float32_and_do_not_overflow():
    x = npgrad.Tensor(np.array([-1e4, -50.0, 0.5, 50.0, 1e4], np.float32), requires_grad=True)
    for op in (elu, silu, softplus, lambda t: softplus(t, 30.0, 1e6), relu6):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no overflow warnings
            out = op(x)
            out.backward(np.ones(5, np.float32))
        assert out.dtype == np.float32 and x.grad.dtype == np.float32 and np.isfinite(out.data).all()
        x.grad = None
    with pytest.raises(TypeError, match="elu: expected a floating-point input, got dtype int64"):
        elu(npgrad.Tensor(np.arange(3)))
    with pytest.raises(ValueError, match=r"hardtanh: min_val \(1.0\) must not exceed max_val \(0.0\)"):
        hardtanh(x, 1.0, 0.0)
