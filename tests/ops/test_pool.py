import numpy as np
import pytest

import npgrad
from npgrad.ops.pool import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d, max_unpool2d
from npgrad.testing import naive
from npgrad.testing.op_check import check_op

rng = np.random.default_rng(0)


def distinct(*shape):
    """Distinct values in [0, 1), at least 1/size apart: no ties, and far more than gradcheck's step."""
    return rng.permutation(np.prod(shape)).reshape(shape) / np.prod(shape)


def torch_f(name, *args, **kwargs):
    def op(x):
        import torch

        return getattr(torch.nn.functional, name)(x, *args, **kwargs)

    return op


WINDOWS = [
    # x shape, kernel_size, stride, padding
    ((2, 3, 8, 8), 2, None, 0),
    ((2, 2, 7, 9), 2, None, 0),  # sizes not divisible: the last row/column is dropped
    ((2, 2, 7, 7), 3, 1, 1),  # overlapping windows
    ((2, 2, 9, 7), 3, 2, 1),  # overlapping windows, stride 2
    ((2, 2, 9, 8), 3, 2, 0),
    ((1, 2, 7, 8), (3, 2), (2, 1), (1, 0)),  # non-square everything
    ((2, 2, 5, 5), 2, 1, 0),
    ((2, 2, 7, 7), 3, 3, 0),
    ((2, 2, 6, 9), 3, None, 0),  # tiles exactly with output rows shorter than the kernel: the block path
    ((1, 3, 4, 5), 1, 2, 0),
    ((1, 1, 5, 5), 5, 1, 2),  # padding = kernel // 2 (the largest allowed)
]


@pytest.mark.parametrize("shape, kernel_size, stride, padding", WINDOWS)
def test_max_pool2d_matches_naive_gradcheck_and_torch(shape, kernel_size, stride, padding, threads):
    check_op(lambda x: max_pool2d(x, kernel_size, stride, padding), distinct(*shape),
             reference=lambda x: naive.max_pool2d_forward(x, kernel_size, stride, padding),
             torch_op=torch_f("max_pool2d", kernel_size, stride, padding))


@pytest.mark.parametrize("shape, kernel_size, stride, padding", WINDOWS)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_matches_naive_gradcheck_and_torch(shape, kernel_size, stride, padding, count_include_pad, threads):
    options = dict(count_include_pad=count_include_pad)
    check_op(lambda x: avg_pool2d(x, kernel_size, stride, padding, **options), rng.standard_normal(shape),
             reference=lambda x: naive.avg_pool2d_forward(x, kernel_size, stride, padding, **options),
             torch_op=torch_f("avg_pool2d", kernel_size, stride, padding, **options))


@pytest.mark.parametrize("shape, kernel_size, stride, padding", WINDOWS)
def test_pool_backward_matches_naive(shape, kernel_size, stride, padding, threads):
    x = distinct(*shape)
    for op, naive_backward in [(max_pool2d, naive.max_pool2d_backward), (avg_pool2d, naive.avg_pool2d_backward)]:
        t = npgrad.Tensor(x, requires_grad=True)
        out = op(t, kernel_size, stride, padding)
        dout = rng.standard_normal(out.shape)
        out.backward(dout)
        np.testing.assert_allclose(t.grad, naive_backward(dout, x, kernel_size, stride, padding), rtol=1e-12, atol=1e-12)


CEIL_WINDOWS = [
    # x shape, kernel_size, stride, padding, dilation: in ceil mode each keeps a partial last window or drops one
    ((2, 2, 7, 6), 3, 2, 1, 1),  # the last column window hangs over the padding's edge
    ((2, 2, 7, 6), 2, 2, 1, 1),  # ceil would start a row window in the padding: PyTorch drops it
    ((1, 3, 8, 9), (3, 2), (2, 3), (1, 0), 1),  # non-square, batch 1
    ((2, 2, 5, 5), 3, 3, 0, 1),  # 5 = 3 + 2: a two-row last window, no padding at all
    ((1, 1, 1, 1), 2, 2, 1, 1),  # a 1x1 image
    ((2, 2, 9, 7), 3, 2, 1, 2),  # dilation 2, overlapping
    ((1, 2, 6, 7), 2, 1, 0, (2, 3)),  # dilation (2, 3), stride 1
]


@pytest.mark.parametrize("shape, kernel_size, stride, padding, dilation", CEIL_WINDOWS)
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_pool2d_ceil_mode_and_dilation_match_naive_gradcheck_and_torch(shape, kernel_size, stride, padding, dilation,
                                                                          ceil_mode, threads):
    options = dict(dilation=dilation, ceil_mode=ceil_mode)
    check_op(lambda x: max_pool2d(x, kernel_size, stride, padding, **options), distinct(*shape),
             reference=lambda x: naive.max_pool2d_forward(x, kernel_size, stride, padding, **options),
             torch_op=torch_f("max_pool2d", kernel_size, stride, padding, **options))


@pytest.mark.parametrize("shape, kernel_size, stride, padding", [w[:4] for w in CEIL_WINDOWS if w[4] == 1])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("divisor_override", [None, 5])
def test_avg_pool2d_ceil_mode_divisors_match_naive_gradcheck_and_torch(shape, kernel_size, stride, padding,
                                                                       count_include_pad, divisor_override, threads):
    options = dict(ceil_mode=True, count_include_pad=count_include_pad, divisor_override=divisor_override)
    check_op(lambda x: avg_pool2d(x, kernel_size, stride, padding, **options), rng.standard_normal(shape),
             reference=lambda x: naive.avg_pool2d_forward(x, kernel_size, stride, padding, **options),
             torch_op=torch_f("avg_pool2d", kernel_size, stride, padding, **options))


def test_avg_pool2d_ceil_mode_divisor_counts_padding_but_not_the_overhang():
    x = npgrad.ones(1, 1, 4, 4, dtype=np.float64)
    # kernel 3, stride 2, padding 1 on 4 rows: windows start at -1 and 1 (floor), and 3 in ceil mode, which
    # covers row 3, the padding row 4 and one row beyond the padding: 2 counted rows (PyTorch's pool_size).
    out = avg_pool2d(x, 3, 2, 1, ceil_mode=True).data[0, 0]
    rows = np.array([2, 3, 1]) / np.array([3, 3, 2])  # real rows / counted rows per window
    np.testing.assert_allclose(out, np.outer(rows, rows))
    np.testing.assert_allclose(avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False).data, np.ones((1, 1, 3, 3)))


@pytest.mark.parametrize("shape, kernel_size, stride, padding, dilation", CEIL_WINDOWS + [((2, 2, 7, 7), 3, 1, 1, 1)])
def test_max_pool2d_return_indices_match_naive_and_torch(shape, kernel_size, stride, padding, dilation, threads):
    x = np.round(rng.standard_normal(shape) * 2)  # ties: the index of the first maximum, as the gradient's
    options = dict(dilation=dilation, ceil_mode=True)
    expected_out, expected_indices = naive.max_pool2d_forward(x, kernel_size, stride, padding, return_indices=True,
                                                              **options)
    t = npgrad.Tensor(x, requires_grad=True)
    out, indices = max_pool2d(t, kernel_size, stride, padding, return_indices=True, **options)
    assert indices.dtype == np.int64 and not indices.requires_grad
    np.testing.assert_array_equal(out.data, expected_out)
    np.testing.assert_array_equal(indices.data, expected_indices)
    out.backward(np.ones(out.shape))
    np.testing.assert_array_equal(t.grad, max_pool_grad(x, kernel_size, stride, padding, *options.values()))
    with npgrad.no_grad():  # the inference path records the maxima too when indices are asked for
        np.testing.assert_array_equal(max_pool2d(t, kernel_size, stride, padding, return_indices=True, **options)[1].data,
                                      expected_indices)
    torch = pytest.importorskip("torch")
    theirs = torch.nn.functional.max_pool2d(torch.tensor(x), kernel_size, stride, padding, return_indices=True, **options)
    np.testing.assert_array_equal(indices.data, theirs[1].numpy())


# windows that do not overlap: every index is unique, so unpooling has a gradient
@pytest.mark.parametrize("shape, kernel_size, stride, padding", [((2, 3, 8, 8), 2, None, 0), ((1, 2, 7, 9), 3, 3, 1),
                                                                 ((2, 2, 5, 6), (2, 3), (2, 3), (1, 0))])
def test_max_unpool2d_matches_naive_gradcheck_and_torch(shape, kernel_size, stride, padding):
    x = distinct(*shape)
    pooled, indices = naive.max_pool2d_forward(x, kernel_size, stride, padding, return_indices=True)
    size = shape[2:]
    check_op(lambda p: max_unpool2d(p, indices, kernel_size, stride, padding, output_size=size), pooled,
             reference=lambda p: naive.max_unpool2d_forward(p, indices, size),
             torch_op=lambda p: __import__("torch").nn.functional.max_unpool2d(
                 p, __import__("torch").from_numpy(indices), kernel_size, stride, padding, output_size=size))


def test_max_unpool2d_inverts_max_pool2d_on_the_maxima():
    x = npgrad.Tensor(distinct(2, 3, 7, 9))
    pooled, indices = max_pool2d(x, 2, return_indices=True)
    restored = max_unpool2d(pooled, indices, 2, output_size=x.shape)  # 7x9: the default would be 6x8
    assert restored.shape == x.shape
    np.testing.assert_array_equal(max_pool2d(restored, 2).data, pooled.data)
    assert np.count_nonzero(restored.data) == pooled.data.size
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 48\) for output size \(6, 8\)"):
        max_unpool2d(pooled, indices, 2)  # the default size (6, 8) is not the size the indices point into


def max_pool_grad(x, *args):
    t = npgrad.Tensor(x, requires_grad=True)
    out = max_pool2d(t, *args)
    out.backward(np.ones(out.shape))
    return t.grad


def test_max_pool2d_tie_gradient_goes_to_first_max_in_row_major_order():
    x = np.array([[[[1.0, 2.0, 2.0, 0.0],
                    [2.0, 2.0, 0.0, 0.0],
                    [5.0, 3.0, 4.0, 4.0],
                    [5.0, 5.0, 4.0, 4.0]]]])
    expected = np.array([[[[0.0, 1.0, 1.0, 0.0],
                           [0.0, 0.0, 0.0, 0.0],
                           [1.0, 0.0, 1.0, 0.0],
                           [0.0, 0.0, 0.0, 0.0]]]])
    np.testing.assert_array_equal(max_pool_grad(x, 2), expected)


@pytest.mark.parametrize("kernel_size, stride, padding", [(2, 2, 0), (3, 1, 1), (3, 2, 1), (2, 1, 0), ((3, 2), (1, 2), (1, 0))])
def test_max_pool2d_ties_match_naive_and_torch(kernel_size, stride, padding):
    x = np.round(rng.standard_normal((2, 2, 7, 6)))  # integers: many ties, overlapping windows
    x[0, 0] = 0.0  # a whole plane of ties
    grad = max_pool_grad(x, kernel_size, stride, padding)
    np.testing.assert_array_equal(grad, naive.max_pool2d_backward(np.ones_like(
        naive.max_pool2d_forward(x, kernel_size, stride, padding)), x, kernel_size, stride, padding))
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(tx, kernel_size, stride, padding).sum().backward()
    np.testing.assert_array_equal(grad, tx.grad.numpy())


def test_max_pool2d_overlapping_windows_accumulate(threads):
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1.0  # the maximum of all nine 3x3 stride-1 windows
    dout = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    t = npgrad.Tensor(x, requires_grad=True)
    max_pool2d(t, 3, 1).backward(dout)
    assert t.grad[0, 0, 2, 2] == dout.sum() and np.count_nonzero(t.grad) == 1
    t.grad = None
    max_pool2d(t, 3, 2).backward(dout[:, :, :2, :2])  # 3x3 stride 2: four windows share the centre
    assert t.grad[0, 0, 2, 2] == dout[:, :, :2, :2].sum() and np.count_nonzero(t.grad) == 1


def test_avg_pool2d_overlapping_windows_accumulate(threads):
    t = npgrad.Tensor(np.zeros((1, 1, 5, 5)), requires_grad=True)
    avg_pool2d(t, 3, 2).backward(np.ones((1, 1, 2, 2)))
    # the centre belongs to all four windows, the edge middles to two, the corners to one
    expected = np.array([[1, 1, 2, 1, 1], [1, 1, 2, 1, 1], [2, 2, 4, 2, 2], [1, 1, 2, 1, 1], [1, 1, 2, 1, 1]]) / 9
    np.testing.assert_allclose(t.grad[0, 0], expected, rtol=1e-15)


def test_avg_pool2d_count_include_pad_divisors():
    x = npgrad.ones(1, 1, 3, 3, dtype=np.float64)
    expected = np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]]) / 9  # zeros of the padding count
    np.testing.assert_allclose(avg_pool2d(x, 3, 1, 1).data[0, 0], expected)
    np.testing.assert_allclose(avg_pool2d(x, 3, 1, 1, count_include_pad=False).data, np.ones((1, 1, 3, 3)))


ADAPTIVE = [
    ((2, 3, 8, 8), (4, 4)),  # divides: runs as a plain pool
    ((2, 3, 5, 5), 1),  # global pooling
    ((2, 2, 7, 5), (3, 2)),  # uneven, overlapping bins
    ((2, 2, 2, 3), (5, 4)),  # more bins than inputs
    ((1, 2, 10, 7), (4, None)),  # None keeps the input width
    ((1, 2, 9, 6), (3, 4)),  # divides along one axis only
]


@pytest.mark.parametrize("shape, output_size", ADAPTIVE)
@pytest.mark.parametrize("kind", ["avg", "max"])
def test_adaptive_pools_match_naive_gradcheck_and_torch(shape, output_size, kind):
    op = adaptive_avg_pool2d if kind == "avg" else adaptive_max_pool2d
    sizes = (output_size, output_size) if isinstance(output_size, int) else output_size
    sizes = tuple(shape[2 + i] if s is None else s for i, s in enumerate(sizes))
    x = rng.standard_normal(shape) if kind == "avg" else distinct(*shape)  # max: no ties
    check_op(lambda x: op(x, output_size), x,
             reference=lambda x: naive.adaptive_pool2d_forward(x, sizes, "mean" if kind == "avg" else "max"),
             torch_op=torch_f(f"adaptive_{kind}_pool2d", output_size))


@pytest.mark.parametrize("shape, output_size", ADAPTIVE)
def test_adaptive_max_pool2d_indices_point_at_the_maxima_like_torch(shape, output_size):
    x = np.round(rng.standard_normal(shape) * 2)  # ties: the first maximum of each bin
    out, indices = adaptive_max_pool2d(npgrad.Tensor(x, requires_grad=True), output_size, return_indices=True)
    assert indices.dtype == np.int64 and indices.shape == out.shape
    planes = x.reshape(*x.shape[:2], -1)
    np.testing.assert_array_equal(np.take_along_axis(planes, indices.data.reshape(*x.shape[:2], -1), axis=-1),
                                  out.data.reshape(*x.shape[:2], -1))
    torch = pytest.importorskip("torch")
    _, expected = torch.nn.functional.adaptive_max_pool2d(torch.tensor(x), output_size, return_indices=True)
    np.testing.assert_array_equal(indices.data, expected.numpy())


def test_adaptive_max_pool2d_ties_go_to_first_max_like_torch():
    x = np.round(rng.standard_normal((2, 2, 7, 5)))
    t = npgrad.Tensor(x, requires_grad=True)
    adaptive_max_pool2d(t, (3, 2)).sum().backward()
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.adaptive_max_pool2d(tx, (3, 2)).sum().backward()
    np.testing.assert_array_equal(t.grad, tx.grad.numpy())


@pytest.mark.parametrize(
    "op",
    [
        lambda x: max_pool2d(x, 2),
        lambda x: max_pool2d(x, 3, 1, 1),
        lambda x: avg_pool2d(x, 2),
        lambda x: avg_pool2d(x, 3, 2, 1, count_include_pad=False),
        lambda x: adaptive_avg_pool2d(x, 1),
        lambda x: adaptive_avg_pool2d(x, (3, 5)),
        lambda x: adaptive_max_pool2d(x, (3, 5)),
        lambda x: max_pool2d(x, 3, 2, 1, dilation=2, ceil_mode=True),
        lambda x: max_pool2d(x, 3, 2, ceil_mode=True, return_indices=True)[0],
        lambda x: avg_pool2d(x, 3, 2, 1, ceil_mode=True),
        lambda x: max_unpool2d(*max_pool2d(x, 2, return_indices=True), 2),
    ],
)
def test_pools_keep_float32(op):
    x = npgrad.randn(2, 3, 8, 8, requires_grad=True)
    out = op(x)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert x.grad.dtype == np.float32


X = npgrad.ones(1, 1, 4, 4)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: max_pool2d(npgrad.ones(4, 4), 2), ValueError,
         r"max_pool2d: input must be 4-D \(N, C, H, W\), got shape \(4, 4\)"),
        (lambda: max_pool2d(X, 0), ValueError, r"max_pool2d: kernel_size must be >= 1, got \(0, 0\)"),
        (lambda: max_pool2d(X, 2, (1, 0)), ValueError, r"max_pool2d: stride must be >= 1, got \(1, 0\)"),
        (lambda: max_pool2d(X, 2, 1, -1), ValueError, r"max_pool2d: padding must be >= 0, got \(-1, -1\)"),
        (lambda: max_pool2d(X, 3, 1, 2), ValueError,
         r"max_pool2d: padding \(2, 2\) must be at most half of kernel_size \(3, 3\)"),
        (lambda: avg_pool2d(X, 2, 1, (0, 2)), ValueError,
         r"avg_pool2d: padding \(0, 2\) must be at most half of kernel_size \(2, 2\)"),
        (lambda: max_pool2d(X, 5), ValueError,
         r"max_pool2d: kernel_size \(5, 5\) is larger than the padded input \(4, 4\) \(input \(4, 4\), padding \(0, 0\)\)"),
        (lambda: max_pool2d(X, "2"), ValueError, r"max_pool2d: kernel_size must be an int or a pair of ints"),
        (lambda: avg_pool2d(npgrad.Tensor(np.ones((1, 1, 4, 4), dtype=np.int64)), 2), TypeError,
         r"avg_pool2d: expected a floating-point input, got dtype int64"),
        (lambda: adaptive_avg_pool2d(X, 0), ValueError, r"adaptive_avg_pool2d: output_size must be >= 1, got \(0, 0\)"),
        (lambda: adaptive_max_pool2d(X, (1, 2, 3)), ValueError, r"adaptive_max_pool2d: output_size must be an int or a pair"),
        (lambda: adaptive_max_pool2d(npgrad.ones(2, 4, 4), 2), ValueError, r"adaptive_max_pool2d: input must be 4-D"),
        (lambda: max_pool2d(X, 2, dilation=0), ValueError, r"max_pool2d: dilation must be >= 1, got \(0, 0\)"),
        (lambda: max_pool2d(X, 2, dilation=4), ValueError,
         r"max_pool2d: kernel_size \(2, 2\) with dilation \(4, 4\) \(extent \(5, 5\)\) is larger than the padded input"),
        (lambda: avg_pool2d(X, 2, divisor_override=0), ValueError,
         r"avg_pool2d: divisor_override must be a nonzero int or None, got 0"),
        (lambda: max_unpool2d(X, np.zeros((1, 1, 4, 4), np.int64), 2, output_size=(10, 8)), ValueError,
         r"max_unpool2d: invalid output_size \(10, 8\) \(dim 0 must be between 6 and 10, exclusive\)"),
        (lambda: max_unpool2d(X, np.full((1, 1, 4, 4), 64), 2), ValueError,
         r"max_unpool2d: indices must lie in \[0, 64\) for output size \(8, 8\), got values in \[64, 64\]"),
        (lambda: max_unpool2d(X, np.zeros((1, 1, 4, 4)), 2), ValueError,
         r"max_unpool2d: indices must be integers of the input's shape \(1, 1, 4, 4\), got float64"),
    ],
)
def test_pools_validate_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("kernel_size, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 1, 1), ((3, 2), (1, 2), (1, 0)), (1, 2, 0)])
def test_max_pool2d_inference_forward_equals_training_forward(kernel_size, stride, padding, threads):
    x = np.random.default_rng(3).standard_normal((2, 3, 7, 8)).astype(np.float32)
    x[0, 0, 0, 0] = np.nan  # NaN propagates on both paths
    x[1, 2, :2, :2] = -np.inf  # a window of -inf next to the -inf padding
    with npgrad.no_grad():
        inference = max_pool2d(npgrad.Tensor(x, requires_grad=True), kernel_size, stride, padding).data
    training = max_pool2d(npgrad.Tensor(x, requires_grad=True), kernel_size, stride, padding).data
    np.testing.assert_array_equal(inference, training)
    np.testing.assert_array_equal(inference, naive.max_pool2d_forward(x, kernel_size, stride, padding))
