import numpy as np
import pytest

import npgrad
from npgrad._utils import pair
from npgrad.ops import conv as conv_module
from npgrad.ops.conv import conv2d
from npgrad.testing import naive
from npgrad.testing.op_check import check_op

rng = np.random.default_rng(0)


def torch_conv(**kwargs):
    def op(x, w, b=None):
        import torch

        return torch.nn.functional.conv2d(x, w, b, **kwargs)

    return op


def naive_padding(padding, w_shape, dilation=1):
    """The explicit (top, bottom, left, right) padding that 'same'/'valid' mean (the naive kernels take numbers)."""
    if padding == "valid":
        return 0
    if padding == "same":
        d = (dilation, dilation) if isinstance(dilation, int) else dilation
        th, tw = d[0] * (w_shape[2] - 1), d[1] * (w_shape[3] - 1)
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
    return padding


CASES = [
    # x shape, weight shape, keyword arguments
    ((2, 3, 7, 7), (4, 3, 3, 3), {}),
    ((2, 3, 7, 6), (4, 3, 3, 3), {"stride": 2, "padding": 1}),
    ((1, 2, 8, 7), (3, 2, 3, 3), {"stride": 3, "padding": 2}),
    ((2, 3, 6, 5), (4, 3, 1, 1), {}),
    ((2, 2, 7, 9), (3, 2, 3, 5), {"padding": (1, 2)}),
    ((2, 2, 7, 6), (3, 2, 3, 3), {"stride": (2, 1), "padding": (0, 1)}),
    ((2, 2, 6, 7), (3, 2, 3, 3), {"stride": (1, 2), "padding": 1}),
    ((2, 2, 6, 6), (3, 2, 4, 4), {"padding": "same"}),
    ((2, 2, 5, 7), (3, 2, 2, 3), {"padding": "same", "dilation": 2}),
    ((2, 2, 6, 6), (3, 2, 3, 3), {"padding": "valid"}),
    ((2, 2, 9, 9), (3, 2, 3, 3), {"dilation": 2, "padding": 1}),
    ((2, 2, 9, 8), (3, 2, 2, 3), {"dilation": (2, 1), "stride": 2}),
    ((2, 4, 6, 6), (6, 2, 3, 3), {"groups": 2, "padding": 1}),
    ((2, 3, 6, 6), (3, 1, 3, 3), {"groups": 3, "padding": 1}),  # depthwise
    ((1, 3, 5, 6), (6, 1, 3, 3), {"groups": 3, "stride": 2}),  # depthwise with channel multiplier 2
    ((1, 2, 4, 5), (2, 2, 4, 5), {}),  # kernel covers the whole input: 1x1 output
    ((1, 2, 4, 18), (2, 2, 3, 3), {"padding": 1}),  # output rows of 18: the usual (not batch-last) layout
    # Tall windows (4 output rows per window, few output channels): batch-last and usual layouts
    ((2, 1, 8, 9), (3, 1, 5, 5), {"padding": 2}),
    ((1, 2, 6, 20), (3, 2, 3, 2), {"padding": (0, 1), "dilation": (1, 2)}),
    ((2, 2, 4, 3), (2, 2, 3, 3), {"padding": (3, 1), "stride": (1, 2)}),
    ((2, 2, 6, 5), (10, 2, 3, 2), {"padding": 1}),  # 2 rows per window
    # 2 KiB per sample (float64), kept with samples spaced apart in batch-last: the result; then x, dout and result
    ((2, 4, 10, 10), (4, 4, 3, 3), {}),
    ((2, 16, 4, 4), (16, 16, 1, 1), {}),
    ((2, 3, 1, 1), (4, 3, 3, 3), {"padding": 1}),  # only the centre tap reads the image: cropped to 1x1
    ((2, 2, 2, 2), (3, 2, 3, 3), {"stride": 2, "padding": 1}),  # 1x1 output: the top/left taps read padding only
    ((1, 2, 1, 5), (2, 2, 3, 3), {"padding": 1}),  # cropped along the height only
    ((1, 2, 2, 3), (2, 2, 3, 3), {"padding": 3, "dilation": 2}),  # dilated taps that land in the padding
    ((1, 1, 1, 1), (2, 1, 1, 1), {"stride": 3, "padding": 2}),  # no output reads the image: bias only
]


def _check_conv(x, w, b, kwargs, spec):
    """check_op of conv2d(x, w[, b], **kwargs) against the naive loops (given ``spec``, explicit padding) and torch."""
    if b is not None:
        check_op(lambda x, w, b: conv2d(x, w, b, **kwargs), x, w, b,
                 reference=lambda x, w, b: naive.conv2d_forward(x, w, b, **spec), torch_op=torch_conv(**kwargs))
    else:
        check_op(lambda x, w: conv2d(x, w, **kwargs), x, w,
                 reference=lambda x, w: naive.conv2d_forward(x, w, None, **spec), torch_op=torch_conv(**kwargs))


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel:UserWarning")
@pytest.mark.parametrize("x_shape, w_shape, kwargs", CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_matches_naive_gradcheck_and_torch(x_shape, w_shape, kwargs, with_bias, threads):
    case = np.random.default_rng(CASES.index((x_shape, w_shape, kwargs)))  # the same data whatever ran before
    x, w, b = case.standard_normal(x_shape), case.standard_normal(w_shape), case.standard_normal(w_shape[0])
    spec = dict(kwargs, padding=naive_padding(kwargs.get("padding", 0), w_shape, kwargs.get("dilation", 1)))
    _check_conv(x, w, b if with_bias else None, kwargs, spec)


@pytest.mark.parametrize("x_shape, w_shape, kwargs", CASES[:3] + CASES[5:7] + CASES[11:15] + CASES[-7:])
def test_conv2d_backward_matches_naive(x_shape, w_shape, kwargs, threads):
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    tensors = [npgrad.Tensor(a, requires_grad=True) for a in (x, w, b)]
    out = conv2d(*tensors, **kwargs)
    dout = rng.standard_normal(out.shape)
    out.backward(dout)
    expected = naive.conv2d_backward(dout, x, w, b, **kwargs)
    for t, e in zip(tensors, expected):
        np.testing.assert_allclose(t.grad, e, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "x_shape, w_shape, kwargs, live",
    [
        ((1, 1, 1, 1), (1, 1, 3, 3), {"padding": 1}, (1, 1)),
        ((1, 1, 2, 2), (1, 1, 3, 3), {"stride": 2, "padding": 1}, (2, 2)),
        ((1, 1, 1, 6), (1, 1, 3, 3), {"padding": 1}, (1, 3)),
        ((1, 1, 7, 7), (1, 1, 3, 3), {"padding": 1}, (3, 3)),
    ],
)
def test_kernel_is_cropped_to_the_taps_that_read_the_image(x_shape, w_shape, kwargs, live):
    stride = pair("t", "stride", kwargs.get("stride", 1))
    pads = conv_module._padding4("t", kwargs["padding"], (3, 3), (1, 1), stride)
    g = conv_module._Geometry(x_shape, w_shape, stride, pads, (1, 1), 1)
    assert (g.kh, g.kw) == live


@pytest.mark.parametrize("x_shape, w_shape, padding, rows", [
    ((256, 1, 28, 28), (6, 1, 5, 5), (2, 2, 2, 2), 4),  # LeNet's first convolution: tall windows
    ((256, 1, 28, 28), (6, 1, 5, 5), (0, 0, 0, 0), 4),  # BN-LeNet's
    ((256, 6, 14, 14), (16, 6, 5, 5), (0, 0, 0, 0), 2),  # LeNet's second: 16 channels, 2 rows per window
    ((2, 1, 8, 7), (6, 1, 3, 3), (0, 0, 0, 0), 2),  # 6 output rows: not a multiple of 4
    ((2, 1, 7, 7), (6, 1, 3, 3), (0, 0, 0, 0), 1),  # 5 output rows
    ((256, 1, 28, 28), (32, 1, 7, 7), (3, 3, 3, 3), 1),  # 32 output channels: plain windows
])
def test_tall_windows_for_few_output_channels(x_shape, w_shape, padding, rows, threads):
    assert conv_module._tall_rows(x_shape, w_shape, (1, 1), padding, (1, 1), 1) == rows
    assert conv_module._tall_rows(x_shape, w_shape, (2, 1), padding, (1, 1), 1) == 1  # strided rows: plain


def test_conv2d_recomputes_col_when_too_big_to_keep(monkeypatch):
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    grads = []
    for limit in (conv_module._SAVE_COL_MAX_BYTES, 0):
        monkeypatch.setattr(conv_module, "_SAVE_COL_MAX_BYTES", limit)
        tx, tw = npgrad.Tensor(x, requires_grad=True), npgrad.Tensor(w, requires_grad=True)
        conv2d(tx, tw, padding=1).sum().backward()
        grads.append((tx.grad, tw.grad))
    np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-12)
    np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-12)


def test_conv2d_only_computes_requested_gradients(threads):
    x = npgrad.Tensor(rng.standard_normal((2, 1, 5, 5)))  # e.g. the images: no gradient wanted
    w = npgrad.Tensor(rng.standard_normal((2, 1, 3, 3)), requires_grad=True)
    conv2d(x, w).sum().backward()
    assert x.grad is None
    expected = naive.conv2d_backward(np.ones((2, 2, 3, 3)), x.data, w.data, None)[1]
    np.testing.assert_allclose(w.grad, expected, rtol=1e-12)


@pytest.mark.parametrize("kwargs", [{"padding": 2}, {"stride": 2, "padding": 1}, {"groups": 2, "dilation": 2}])
def test_conv2d_keeps_float32(kwargs):
    x = npgrad.randn(2, 4, 9, 9, requires_grad=True)
    w = npgrad.randn(6, 4 // kwargs.get("groups", 1), 3, 3, requires_grad=True)
    b = npgrad.randn(6, requires_grad=True)
    out = conv2d(x, w, b, **kwargs)
    assert out.dtype == np.float32 and out.data.flags.c_contiguous
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    expected = naive.conv2d_forward(x.data.astype(np.float64), w.data.astype(np.float64), b.data.astype(np.float64), **kwargs)
    np.testing.assert_allclose(out.data, expected, rtol=1e-4, atol=1e-4)


def ones(*shape, dtype=np.float32):
    return npgrad.Tensor(np.ones(shape, dtype=dtype))


@pytest.mark.parametrize(
    "x, w, kwargs, error, message",
    [
        (ones(3, 28, 28), ones(6, 1, 5, 5), {}, ValueError,
         r"conv2d: input must be 4-D \(N, C_in, H, W\), got shape \(3, 28, 28\)"),
        (ones(1, 1, 8, 8), ones(6, 5, 5), {}, ValueError, r"conv2d: weight must be 4-D .* got shape \(6, 5, 5\)"),
        (ones(2, 3, 28, 28), ones(6, 1, 5, 5), {}, ValueError,
         r"conv2d: input has 3 channels but weight expects 1 \(weight shape \(6, 1, 5, 5\)\)"),
        (ones(2, 4, 8, 8), ones(6, 3, 3, 3), {"groups": 2}, ValueError,
         r"conv2d: input has 4 channels but weight expects 6 \(weight shape \(6, 3, 3, 3\), groups 2\)"),
        (ones(2, 4, 8, 8), ones(5, 2, 3, 3), {"groups": 2}, ValueError, r"conv2d: groups 2 must divide the output channels 5"),
        (ones(2, 3, 8, 8), ones(4, 1, 3, 3), {"groups": 2}, ValueError, r"conv2d: groups 2 must divide the input channels 3"),
        (ones(2, 4, 8, 8), ones(6, 4, 3, 3), {"groups": 0}, ValueError, r"conv2d: groups must be a positive integer, got 0"),
        (ones(2, 1, 8, 8), ones(6, 1, 3, 3), {"bias": ones(5)}, ValueError, r"conv2d: bias must have shape \(6,\), got \(5,\)"),
        (ones(2, 1, 8, 8), ones(6, 1, 3, 3), {"stride": 0}, ValueError, r"conv2d: stride must be >= 1, got \(0, 0\)"),
        (ones(2, 1, 8, 8), ones(6, 1, 3, 3), {"dilation": (1, 0)}, ValueError, r"conv2d: dilation must be >= 1, got \(1, 0\)"),
        (ones(2, 1, 8, 8), ones(6, 1, 3, 3), {"padding": -1}, ValueError, r"conv2d: padding must be >= 0, got \(-1, -1\)"),
        (ones(2, 1, 8, 8), ones(6, 1, 3, 3), {"padding": "full"}, ValueError,
         r"conv2d: padding must be 'valid', 'same', an int or a pair of ints, got 'full'"),
        (ones(2, 1, 8, 8), ones(6, 1, 3, 3), {"padding": "same", "stride": 2}, ValueError,
         r"conv2d: padding='same' requires stride 1, got stride \(2, 2\)"),
        (ones(2, 1, 4, 4), ones(6, 1, 5, 5), {"padding": 0}, ValueError,
         r"conv2d: kernel size \(5, 5\) with dilation \(1, 1\) spans \(5, 5\), which is larger than the padded input \(4, 4\)"),
        (ones(2, 1, 6, 6), ones(6, 1, 3, 3), {"dilation": 3}, ValueError,
         r"spans \(7, 7\), which is larger than the padded input \(6, 6\)"),
        (ones(2, 1, 8, 8, dtype=np.float64), ones(6, 1, 3, 3), {}, TypeError,
         r"conv2d: input, weight and bias must have the same dtype, got input float64, weight float32"),
        (ones(2, 1, 8, 8, dtype=np.int64), ones(6, 1, 3, 3, dtype=np.int64), {}, TypeError, r"conv2d: expected floating-point"),
    ],
)
def test_conv2d_validates_arguments(x, w, kwargs, error, message):
    with pytest.raises(error, match=message):
        conv2d(x, w, **kwargs)


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel:UserWarning")
@pytest.mark.parametrize("tall", [False, True])
@pytest.mark.parametrize("batch_last", [False, True])
@pytest.mark.parametrize("x_shape, w_shape, kwargs", CASES)
def test_both_column_layouts_match_naive(monkeypatch, x_shape, w_shape, kwargs, batch_last, tall, threads):
    """Force the usual (N, Ho, Wo) or the batch-last (Ho, Wo, N) column order for every case, with tall
    windows (4 or 2 output rows each, wherever the stride, dilation, groups and height allow) or without."""
    monkeypatch.setattr(conv_module, "_BATCH_LAST_BELOW_WIDTH", 10**6 if batch_last else 0)
    monkeypatch.setattr(conv_module, "_TALL_GEMM_ROWS", 10**6 if tall else 0)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    tensors = [npgrad.Tensor(a, requires_grad=True) for a in (x, w, b)]
    out = conv2d(*tensors, **kwargs)
    spec = dict(kwargs, padding=naive_padding(kwargs.get("padding", 0), w_shape, kwargs.get("dilation", 1)))
    np.testing.assert_allclose(out.data, naive.conv2d_forward(x, w, b, **spec), rtol=1e-10, atol=1e-10)
    dout = rng.standard_normal(out.shape)
    out.backward(dout)
    for t, e in zip(tensors, naive.conv2d_backward(dout, x, w, b, **spec)):
        np.testing.assert_allclose(t.grad, e, rtol=1e-10, atol=1e-10)


def test_samples_an_aliasing_stride_apart_are_spaced_out():
    """ResNet's 128x4x4 stage (float32, 8 KiB per sample): copies for the batch-last transposes get 64-byte
    gaps between samples; the result is compact again, and unaliased arrays are passed through."""
    x = rng.standard_normal((5, 128, 4, 4)).astype(np.float32)
    spaced = conv_module._spaced(x)
    assert spaced.strides[0] == 128 * 16 * 4 + conv_module._SAMPLE_GAP_BYTES and np.array_equal(spaced, x)
    view = x[:, :3]  # a view: still 8 KiB from sample to sample
    assert conv_module._spaced(view).strides[0] == 3 * 16 * 4 + 64 and np.array_equal(conv_module._spaced(view), view)
    one, small = x[:1], x[:, :, :3, :3].copy()  # one sample; 4.5 KiB per sample
    assert conv_module._spaced(one) is one and conv_module._spaced(small) is small
    w = rng.standard_normal((128, 128, 3, 3)).astype(np.float32)
    out = conv2d(x, w, padding=1)
    assert out.data.flags.c_contiguous and out.shape == (5, 128, 4, 4)
    np.testing.assert_allclose(out.data, naive.conv2d_forward(x.astype(np.float64), w.astype(np.float64), None,
                                                             padding=1), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("batch_last", [False, True])
@pytest.mark.parametrize("groups", [1, 2])
def test_conv2d_on_an_empty_batch_returns_an_empty_output(monkeypatch, batch_last, groups, threads):
    """As PyTorch: (0, C, H, W) -> (0, C_out, Ho, Wo); the gradients are zero (x's is empty)."""
    monkeypatch.setattr(conv_module, "_BATCH_LAST_BELOW_WIDTH", 10**6 if batch_last else 0)
    x = npgrad.Tensor(np.zeros((0, 4, 7, 7), np.float32), requires_grad=True)
    w = npgrad.Tensor(rng.standard_normal((6, 4 // groups, 3, 3)).astype(np.float32), requires_grad=True)
    b = npgrad.Tensor(np.ones(6, np.float32), requires_grad=True)
    out = conv2d(x, w, b, stride=2, padding=1, groups=groups)
    assert out.shape == (0, 6, 4, 4) and out.dtype == np.float32
    out.sum().backward()
    assert x.grad.shape == (0, 4, 7, 7) and not w.grad.any() and not b.grad.any()


# Winograd F(2x2, 3x3): 3x3, stride 1, batch-last images with even output sides (forward and dx), more than
# 16 output channels (fewer take the tall windows)
WINOGRAD = [
    ((3, 4, 4, 4), (17, 4, 3, 3), {"padding": 1}),
    ((2, 3, 2, 2), (18, 3, 3, 3), {"padding": 1}),
    ((2, 3, 4, 6), (17, 3, 3, 3), {"padding": 1}),
    ((2, 3, 6, 6), (17, 3, 3, 3), {}),  # no padding: 4x4 outputs, dx padded by 2
    ((2, 3, 6, 4), (17, 3, 3, 3), {"padding": (2, 1)}),
    ((1, 2, 2, 2), (17, 2, 5, 5), {"padding": 2}),  # a 5x5 kernel cropped to its 3x3 live taps
]


@pytest.mark.parametrize("x_shape, w_shape, kwargs", WINOGRAD)
@pytest.mark.parametrize("with_bias", [True, False])
def test_winograd_convolutions_match_naive_and_gradcheck(monkeypatch, x_shape, w_shape, kwargs, with_bias, threads):
    calls = []
    real = conv_module.winograd.conv3x3
    monkeypatch.setattr(conv_module.winograd, "conv3x3", lambda *args: calls.append(args[0].shape) or real(*args))
    case = np.random.default_rng(WINOGRAD.index((x_shape, w_shape, kwargs)))
    x, w, b = case.standard_normal(x_shape), case.standard_normal(w_shape), case.standard_normal(w_shape[0])
    spec = dict(kwargs, padding=naive_padding(kwargs.get("padding", 0), w_shape))
    bias = b if with_bias else None
    _check_conv(x, w, b if with_bias else None, kwargs, spec)
    assert calls, "Winograd did not run"
    X, W = npgrad.Tensor(x, requires_grad=True), npgrad.Tensor(w, requires_grad=True)
    calls.clear()
    out = conv2d(X, W, None if bias is None else npgrad.Tensor(bias), **kwargs)
    dout = case.standard_normal(out.shape)
    out.backward(dout)
    assert any(shape[0] == w_shape[0] for shape in calls), "dx did not run through Winograd"  # dout's channels first
    dx, dw, _ = naive.conv2d_backward(dout, x, w, bias, **spec)
    np.testing.assert_allclose(X.grad, dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(W.grad, dw, rtol=1e-10, atol=1e-10)


def test_winograd_float32_is_as_close_to_the_exact_result_as_im2col(monkeypatch):
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((4, 16, 4, 4)), rng.standard_normal((24, 16, 3, 3))
    exact = naive.conv2d_forward(x, w, None, padding=1)
    x32, w32 = npgrad.Tensor(x.astype(np.float32)), npgrad.Tensor(w.astype(np.float32))
    winograd = conv2d(x32, w32, padding=1).data
    monkeypatch.setattr(conv_module, "_winograd_applies", lambda g: False)
    im2col = conv2d(x32, w32, padding=1).data
    scale = np.abs(exact).max()
    assert np.abs(winograd - exact).max() / scale < 4 * max(np.abs(im2col - exact).max() / scale, 1e-7)
    assert np.abs(winograd - exact).max() / scale < 1e-6


@pytest.mark.parametrize("x_shape, w_shape, kwargs", [
    ((2, 3, 5, 5), (17, 3, 3, 3), {"padding": 1}),  # odd output sides
    ((2, 3, 4, 4), (17, 3, 3, 3), {"padding": 1, "stride": 2}),
    ((2, 4, 4, 4), (18, 2, 3, 3), {"padding": 1, "groups": 2}),
    ((2, 3, 6, 6), (17, 3, 3, 3), {"padding": 2, "dilation": 2}),
    ((2, 3, 4, 20), (17, 3, 3, 3), {"padding": 1}),  # wide rows: not batch-last
    ((2, 3, 4, 4), (4, 3, 3, 3), {"padding": 1}),  # few output channels: tall windows
])
def test_winograd_is_not_used_where_it_does_not_apply(monkeypatch, x_shape, w_shape, kwargs):
    monkeypatch.setattr(conv_module.winograd, "conv3x3", lambda *args: pytest.fail("Winograd ran"))
    x = npgrad.Tensor(rng.standard_normal(x_shape), requires_grad=True)
    conv2d(x, npgrad.Tensor(rng.standard_normal(w_shape)), **kwargs).sum().backward()


def test_backward_splits_whenever_the_forward_did(monkeypatch):
    """The backward's pieces are the forward's: it must not run them on one thread because dout + x is small
    (LeNet-BN's 6 -> 16 convolution at 12x12 did, 5.0 against 2.96 ms)."""
    from npgrad import _parallel

    calls = []
    real = _parallel.parallel_for
    def recording(n, fn, work=None, product=False):
        calls.append(work)
        return real(n, fn, work, product)

    monkeypatch.setattr(_parallel, "parallel_for", recording)
    x = npgrad.Tensor(rng.standard_normal((256, 6, 12, 12)).astype(np.float32), requires_grad=True)
    w = npgrad.Tensor(rng.standard_normal((16, 6, 5, 5)).astype(np.float32), requires_grad=True)
    out = conv2d(x, w)
    forward_work = calls[-1]
    assert forward_work >= _parallel.MIN_PARALLEL_ELEMENTS > out.data.size + x.data.size
    out.backward(np.ones(out.shape, np.float32))
    assert calls[-1] == forward_work
