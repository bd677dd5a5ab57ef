"""The naive kernels are the specification: check them against finite differences and PyTorch."""

import numpy as np
import pytest

from npgrad.testing import naive

rng = np.random.default_rng(0)


def numerical_grad(f, x, eps=1e-6):
    """d sum(f(x) * r) / dx by centred differences, with r fixed: compared with backward(r)."""
    r = np.random.default_rng(1).standard_normal(f(x).shape)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        original = x[i]
        x[i] = original + eps
        plus = np.sum(f(x) * r)
        x[i] = original - eps
        minus = np.sum(f(x) * r)
        x[i] = original
        grad[i] = (plus - minus) / (2 * eps)
    return r, grad


CONV_CASES = [
    ((1, 2, 5, 5), (3, 2, 3, 3), {"stride": 2, "padding": 1}),
    ((2, 4, 5, 4), (4, 2, 2, 3), {"groups": 2, "dilation": (2, 1), "padding": (0, 1, 1, 0)}),
]


@pytest.mark.parametrize("x_shape, w_shape, kwargs", CONV_CASES)
def test_conv2d_backward_is_the_derivative_of_forward(x_shape, w_shape, kwargs):
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    r, num_dx = numerical_grad(lambda x: naive.conv2d_forward(x, w, b, **kwargs), x)
    _, num_dw = numerical_grad(lambda w: naive.conv2d_forward(x, w, b, **kwargs), w)
    dx, dw, db = naive.conv2d_backward(r, x, w, b, **kwargs)
    np.testing.assert_allclose(dx, num_dx, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dw, num_dw, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, r.sum(axis=(0, 2, 3)))


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_pool_backwards_are_the_derivatives_of_forwards(count_include_pad, ceil_mode):
    x = rng.permutation(2 * 42).reshape(1, 2, 6, 7) * 0.1  # distinct values: no max ties; 7 leaves a ceil-mode window
    options = dict(ceil_mode=ceil_mode)
    r, num = numerical_grad(lambda x: naive.max_pool2d_forward(x, 3, 2, 1, **options), x)
    np.testing.assert_allclose(naive.max_pool2d_backward(r, x, 3, 2, 1, **options), num, atol=1e-8)
    r, num = numerical_grad(lambda x: naive.max_pool2d_forward(x, 2, 2, 1, dilation=2, **options), x)
    np.testing.assert_allclose(naive.max_pool2d_backward(r, x, 2, 2, 1, dilation=2, **options), num, atol=1e-8)
    options["count_include_pad"] = count_include_pad
    r, num = numerical_grad(lambda x: naive.avg_pool2d_forward(x, 3, 2, 1, **options), x)
    np.testing.assert_allclose(naive.avg_pool2d_backward(r, x, 3, 2, 1, **options), num, atol=1e-8)


def test_naive_kernels_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for x_shape, w_shape, kwargs in CONV_CASES[:1] + [((2, 4, 6, 5), (6, 2, 3, 2), {"groups": 2, "dilation": 2, "padding": 1})]:
        x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        out = F.conv2d(tx, tw, tb, **kwargs)
        dout = rng.standard_normal(out.shape)
        out.backward(torch.tensor(dout))
        np.testing.assert_allclose(naive.conv2d_forward(x, w, b, **kwargs), out.detach().numpy(), atol=1e-12)
        for ours, theirs in zip(naive.conv2d_backward(dout, x, w, b, **kwargs), (tx, tw, tb)):
            np.testing.assert_allclose(ours, theirs.grad.numpy(), atol=1e-12)
    x = np.round(rng.standard_normal((2, 2, 7, 6)) * 2)  # ties: the first maximum gets the gradient
    pools = [("max_pool2d", (3, 2, 1), {}), ("avg_pool2d", (3, 1, 1), {}), ("avg_pool2d", (2, None, 0), {}),
             ("max_pool2d", (3, 2, 1), dict(ceil_mode=True)),  # a last window over the padding's edge (width)
             ("max_pool2d", (2, 2, 1), dict(ceil_mode=True)),  # ceil drops a window that would start in the padding
             ("max_pool2d", (2, (1, 2), 1), dict(dilation=(2, 3))),
             ("avg_pool2d", (3, 2, 1), dict(ceil_mode=True)),  # its divisor counts the padding, not the overhang
             ("avg_pool2d", (3, 2, 1), dict(ceil_mode=True, count_include_pad=False)),
             ("avg_pool2d", (2, 2, 1), dict(ceil_mode=True, divisor_override=3))]
    for name, args, kwargs in pools:
        tx = torch.tensor(x, requires_grad=True)
        out = getattr(F, name)(tx, *args, **kwargs)
        dout = rng.standard_normal(out.shape)
        out.backward(torch.tensor(dout))
        ours = getattr(naive, f"{name}_forward")(x, *args, **kwargs)
        np.testing.assert_allclose(ours, out.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(getattr(naive, f"{name}_backward")(dout, x, *args, **kwargs), tx.grad.numpy(),
                                   atol=1e-12)
    distinct = rng.permutation(2 * 2 * 7 * 6).reshape(2, 2, 7, 6) * 1.0
    _, indices = naive.max_pool2d_forward(distinct, 3, 2, 1, ceil_mode=True, return_indices=True)
    np.testing.assert_array_equal(indices, F.max_pool2d(torch.tensor(distinct), 3, 2, 1, ceil_mode=True,
                                                        return_indices=True)[1].numpy())
    pooled = rng.standard_normal(indices.shape)
    np.testing.assert_array_equal(naive.max_unpool2d_forward(pooled, indices, (7, 6)),
                                  F.max_unpool2d(torch.tensor(pooled), torch.tensor(indices), 3, 2, 1, (7, 6)).numpy())
    for size in (1, 2, 5):
        np.testing.assert_allclose(naive.local_response_norm_forward(x, size, 0.3, 0.75, 2.0),
                                   F.local_response_norm(torch.tensor(x), size, 0.3, 0.75, 2.0).numpy(), atol=1e-12)
    for size in [(3, 2), (4, 4), 1]:
        for reduce, name in [("mean", "adaptive_avg_pool2d"), ("max", "adaptive_max_pool2d")]:
            expected = getattr(F, name)(torch.tensor(x), size).numpy()
            np.testing.assert_allclose(naive.adaptive_pool2d_forward(x, size, reduce), expected, atol=1e-12)
