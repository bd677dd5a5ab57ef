import numpy as np
import pytest

import npgrad
from npgrad.ops.norm import batch_norm, group_norm, layer_norm, local_response_norm
from npgrad.testing import naive
from npgrad.testing.op_check import check_op

EPS = 1e-5
rng = np.random.default_rng(20240)  # not 0: gradcheck projects the output on default_rng(0) noise


def _normalize(a, axes):
    mean = a.mean(axis=axes, keepdims=True)
    return (a - mean) / np.sqrt(a.var(axis=axes, keepdims=True) + EPS)


def _affine(shape):
    """weight and bias; weights away from 0 (a tiny weight shrinks its channel's gradient into round-off noise)."""
    return rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape), rng.standard_normal(shape)


def _channel(v, ndim):
    """A per-channel (C,) vector shaped to broadcast over (N, C, *)."""
    return v.reshape((-1,) + (1,) * (ndim - 2))


def _torch_batch_norm(training, running=None):
    def op(x, *affine):
        import torch

        stats = [None if r is None else torch.from_numpy(r.copy()) for r in (running or (None, None))]
        return torch.nn.functional.batch_norm(x, *stats, *affine, training=training)

    return op


# ------------------------------------------------------------ batch norm
@pytest.mark.parametrize("shape", [(6, 4), (5, 3, 4), (3, 3, 2, 3)], ids=["N,D", "N,C,L", "N,C,H,W"])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training(shape, affine, threads):
    x = rng.standard_normal(shape) * 3 + 1
    axes = (0, *range(2, len(shape)))
    if affine:
        check_op(lambda t, w, b: batch_norm(t, None, None, w, b, training=True), x, *_affine(shape[1]),
                 reference=lambda a, w, b: _normalize(a, axes) * _channel(w, a.ndim) + _channel(b, a.ndim),
                 torch_op=_torch_batch_norm(True))
    else:
        check_op(lambda t: batch_norm(t, None, None, training=True), x,
                 reference=lambda a: _normalize(a, axes), torch_op=_torch_batch_norm(True))


@pytest.mark.parametrize("shape", [(6, 4), (4, 3, 5, 2)], ids=["N,D", "N,C,H,W"])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_eval_uses_running_stats(shape, affine, threads):
    x = rng.standard_normal(shape)
    c = shape[1]
    running_mean, running_var = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)

    def expected(a, w=None, b=None):
        w, b = (np.ones(c), np.zeros(c)) if w is None else (w, b)
        x_hat = (a - _channel(running_mean, a.ndim)) / np.sqrt(_channel(running_var, a.ndim) + EPS)
        return x_hat * _channel(w, a.ndim) + _channel(b, a.ndim)

    stats = (running_mean, running_var)
    if affine:
        check_op(lambda t, w, b: batch_norm(t, *stats, w, b), x, *_affine(c),
                 reference=expected, torch_op=_torch_batch_norm(False, stats))
    else:
        check_op(lambda t: batch_norm(t, *stats), x, reference=expected, torch_op=_torch_batch_norm(False, stats))
    np.testing.assert_array_equal(stats, (running_mean, running_var))  # eval never updates them


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 6)], ids=["N,D", "N,C,H,W"])
def test_batch_norm_running_stats_after_several_steps(shape, threads):
    c, momentum = shape[1], 0.2
    axes = (0, *range(2, len(shape)))
    batches = [rng.standard_normal(shape) * (i + 1) + i for i in range(3)]
    running_mean, running_var = np.zeros(c), np.ones(c)
    expected_mean, expected_var = np.zeros(c), np.ones(c)
    for x in batches:
        batch_norm(npgrad.Tensor(x), running_mean, running_var, training=True, momentum=momentum)
        expected_mean = (1 - momentum) * expected_mean + momentum * x.mean(axis=axes)
        expected_var = (1 - momentum) * expected_var + momentum * x.var(axis=axes, ddof=1)  # unbiased
    # the kernel sums in another order than x.mean / x.var: equal up to rounding
    np.testing.assert_allclose(running_mean, expected_mean, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(running_var, expected_var, rtol=1e-13)

    torch = pytest.importorskip("torch")
    torch_mean, torch_var = torch.zeros(c, dtype=torch.float64), torch.ones(c, dtype=torch.float64)
    for x in batches:
        torch.nn.functional.batch_norm(torch.from_numpy(x), torch_mean, torch_var, training=True, momentum=momentum)
    np.testing.assert_allclose(running_mean, torch_mean.numpy(), rtol=1e-13)
    np.testing.assert_allclose(running_var, torch_var.numpy(), rtol=1e-13)


def test_batch_norm_updates_running_tensors_in_place_without_grad():
    x = npgrad.Tensor(rng.standard_normal((5, 2)).astype(np.float32), requires_grad=True)
    running_mean, running_var = npgrad.zeros(2), npgrad.ones(2)
    mean_array = running_mean.data
    out = batch_norm(x, running_mean, running_var, training=True)
    out.sum().backward()
    assert running_mean.data is mean_array and running_mean.dtype == np.float32 and running_mean.grad is None
    np.testing.assert_allclose(running_mean.data, 0.1 * x.data.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(running_var.data, 0.9 + 0.1 * x.data.var(axis=0, ddof=1), rtol=1e-6)


def test_batch_norm_errors():
    x = npgrad.ones(4, 3, 2)
    stats = (np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel when training, "
                                         r"got input shape \(1, 3\)"):
        batch_norm(npgrad.ones(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean and running_var must be given in evaluation mode"):
        batch_norm(x, None, None)
    with pytest.raises(ValueError, match="batch_norm: give both running_mean and running_var, or neither"):
        batch_norm(x, np.zeros(3), None, training=True)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean must have shape \(3,\) for input shape \(4, 3, 2\), "
                                         r"got \(4,\)"):
        batch_norm(x, np.zeros(4), np.ones(3))
    with pytest.raises(ValueError, match=r"batch_norm: weight must have shape \(3,\) for input shape \(4, 3, 2\), got \(2,\)"):
        batch_norm(x, *stats, weight=npgrad.ones(2))
    with pytest.raises(ValueError, match=r"batch_norm: bias must have shape \(3,\) for input shape \(4, 3, 2\), got \(3, 1\)"):
        batch_norm(x, *stats, bias=npgrad.ones(3, 1))
    with pytest.raises(ValueError, match=r"batch_norm: input must have shape \(N, C, \*\), got \(3,\)"):
        batch_norm(npgrad.ones(3), *stats)
    with pytest.raises(TypeError, match="batch_norm: running_var must be a floating Tensor or ndarray"):
        batch_norm(x, np.zeros(3), [1.0, 1.0, 1.0])


@pytest.mark.parametrize(
    "call",
    [
        lambda x, p: batch_norm(x, np.zeros(3), np.ones(3), weight=p),
        lambda x, p: batch_norm(x, np.zeros(3), np.ones(3), bias=p, training=True),
        lambda x, p: layer_norm(x.permute(0, 2, 1), 3, weight=p),
        lambda x, p: group_norm(x, 3, bias=p),
    ],
    ids=["batch_norm weight", "batch_norm bias", "layer_norm weight", "group_norm bias"],
)
def test_norm_weight_and_bias_must_have_the_input_dtype(call):
    x = npgrad.ones(4, 3, 2)  # float32
    with pytest.raises(TypeError, match=r"_norm: (weight|bias) has dtype float64 but the input has dtype float32"):
        call(x, npgrad.Tensor(np.ones(3)))


# ------------------------------------------------------------ layer norm
@pytest.mark.parametrize("normalized_shape", [4, (4,), (3, 4)])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm(normalized_shape, affine, threads):
    # The same data whatever ran before; not seed 0, gradcheck's projection (x_hat would be parallel to it:
    # a zero gradient).
    x = np.random.default_rng(1).standard_normal((2, 3, 4)) * 2 - 1
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    axes = tuple(range(3 - len(shape), 3))

    def torch_op(t, *affine):
        import torch

        return torch.nn.functional.layer_norm(t, shape, *affine)

    if affine:
        check_op(lambda t, w, b: layer_norm(t, normalized_shape, w, b), x, *_affine(shape),
                 reference=lambda a, w, b: _normalize(a, axes) * w + b, torch_op=torch_op)
    else:
        check_op(lambda t: layer_norm(t, normalized_shape), x, reference=lambda a: _normalize(a, axes), torch_op=torch_op)


def test_layer_norm_errors():
    x = npgrad.ones(2, 3, 5)
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(4, 5\) must equal the trailing dimensions "
                                         r"of the input, got input shape \(2, 3, 5\)"):
        layer_norm(x, (4, 5))
    with pytest.raises(ValueError, match=r"layer_norm: weight must have shape \(5,\) for input shape \(2, 3, 5\), got \(3,\)"):
        layer_norm(x, 5, weight=npgrad.ones(3))
    with pytest.raises(ValueError, match=r"layer_norm: bias must have shape \(3, 5\) for input shape \(2, 3, 5\), got \(5,\)"):
        layer_norm(x, (3, 5), bias=npgrad.ones(5))


# ------------------------------------------------------------ group norm
@pytest.mark.parametrize("groups", [1, 2, "C"])
@pytest.mark.parametrize("shape", [(3, 4, 3, 2), (2, 6)], ids=["N,C,H,W", "N,C"])
def test_group_norm(groups, shape, threads):
    x = rng.standard_normal(shape) + 2
    n, c = shape[:2]
    num_groups = c if groups == "C" else groups

    def reference(a, w, b):
        grouped = a.reshape(n, num_groups, -1)
        return _normalize(grouped, 2).reshape(a.shape) * _channel(w, a.ndim) + _channel(b, a.ndim)

    def torch_op(t, w, b):
        import torch

        return torch.nn.functional.group_norm(t, num_groups, w, b)

    check_op(lambda t, w, b: group_norm(t, num_groups, w, b), x, *_affine(c),
             reference=reference, torch_op=torch_op)


def test_group_norm_without_affine_matches_layer_and_instance_norm():
    x = npgrad.Tensor(rng.standard_normal((2, 4, 3, 3)))
    np.testing.assert_allclose(group_norm(x, 1).data, layer_norm(x, (4, 3, 3)).data, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(group_norm(x, 4).data, _normalize(x.data, (2, 3)), rtol=1e-12, atol=1e-12)


def test_group_norm_errors():
    x = npgrad.ones(2, 6, 3)
    with pytest.raises(ValueError, match=r"group_norm: num_groups 4 must divide the number of channels 6 "
                                         r"\(input shape \(2, 6, 3\)\)"):
        group_norm(x, 4)
    with pytest.raises(ValueError, match="group_norm: num_groups must be a positive int, got 0"):
        group_norm(x, 0)
    with pytest.raises(ValueError, match=r"group_norm: weight must have shape \(6,\) for input shape \(2, 6, 3\), got \(3,\)"):
        group_norm(x, 3, weight=npgrad.ones(3))
    with pytest.raises(ValueError, match=r"group_norm: input must have shape \(N, C, \*\), got \(6,\)"):
        group_norm(npgrad.ones(6), 3)


# ------------------------------------------------------------ dtypes
@pytest.mark.parametrize(
    "op",
    [
        lambda x, w, b: batch_norm(x, None, None, w, b, training=True),
        lambda x, w, b: batch_norm(x, np.zeros(4), np.ones(4), w, b),  # float64 running stats: no upcast
        lambda x, w, b: layer_norm(x.permute(0, 2, 3, 1), 4, w, b),
        lambda x, w, b: group_norm(x, 2, w, b),
    ],
    ids=["batch_norm_train", "batch_norm_eval", "layer_norm", "group_norm"],
)
def test_float32_stays_float32(op):
    x = npgrad.Tensor(rng.standard_normal((2, 4, 3, 3)).astype(np.float32), requires_grad=True)
    w, b = npgrad.ones(4, requires_grad=True), npgrad.zeros(4, requires_grad=True)
    out = op(x, w, b)
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert out.dtype == np.float32
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


# ------------------------------------------------- fast-kernel paths
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("which", ["weight", "bias"])
def test_batch_norm_with_only_weight_or_only_bias(training, which, threads):
    x = rng.standard_normal((4, 3, 2, 3)) * 2 - 1
    running = (rng.standard_normal(3), rng.uniform(0.5, 2.0, 3))
    weight, bias = _affine(3)
    param = weight if which == "weight" else bias
    axes = (0, 2, 3)

    def op(t, p):
        w, b = (p, None) if which == "weight" else (None, p)
        return batch_norm(t, *(running if not training else (None, None)), w, b, training=training)

    def reference(a, p):
        if training:
            x_hat = _normalize(a, axes)
        else:
            x_hat = (a - _channel(running[0], 4)) / np.sqrt(_channel(running[1], 4) + EPS)
        return x_hat * _channel(p, 4) if which == "weight" else x_hat + _channel(p, 4)

    check_op(op, x, param, reference=reference)


def test_batch_norm_float32_large_offset_and_inference_path():
    # |mean| >> std: the two-pass (centred) variance must not lose the signal; eval's x * scale + shift form stays accurate
    x = (np.random.default_rng(1).standard_normal((64, 4, 5, 5)) + 1000).astype(np.float32)
    expected = _normalize(x.astype(np.float64), (0, 2, 3))
    out = batch_norm(npgrad.Tensor(x), None, None, training=True)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, expected, atol=2e-3)
    mean, var = x.astype(np.float64).mean(axis=(0, 2, 3)), x.astype(np.float64).var(axis=(0, 2, 3))
    with npgrad.no_grad():
        evaluated = batch_norm(npgrad.Tensor(x), mean.astype(np.float32), var.astype(np.float32), training=False)
    assert evaluated.dtype == np.float32
    np.testing.assert_allclose(evaluated.data, expected, atol=2e-3)


class _OneProcess:
    """npgrad.distributed's interface for a world of one process."""

    @staticmethod
    def all_gather(tensor_list, x):
        return [np.array(x)]

    @staticmethod
    def all_reduce(x, op="sum"):
        assert op == "sum"


class _Shards(_OneProcess):
    """all_gather returns the (count, mean, M2) packs of given shards, whatever this process sends."""

    def __init__(self, shards):
        self.shards = shards

    def all_gather(self, tensor_list, x):
        packs = []
        for shard in self.shards:
            mean = shard.mean(axis=(0, 2))
            packs.append(np.concatenate([[shard.size // shard.shape[1]], mean, ((shard - mean[:, None]) ** 2).sum(axis=(0, 2))]))
        return packs


def test_global_moments_of_shards_are_those_of_their_union():
    from npgrad.ops.norm import _global_moments

    rng = np.random.default_rng(0)
    shards = [rng.normal(1000, 0.01, (n, 3, 5)) for n in (2, 7, 1)]  # a large mean: no E[x^2] - E[x]^2 here
    whole = np.concatenate(shards)
    n, mean, m2 = _global_moments(_Shards(shards), 0, np.zeros((1, 3, 1)), np.zeros((1, 3, 1)))
    assert n == 50
    np.testing.assert_allclose(mean.ravel(), whole.mean(axis=(0, 2)), rtol=1e-14)
    np.testing.assert_allclose(m2.ravel(), ((whole - whole.mean(axis=(0, 2))[:, None]) ** 2).sum(axis=(0, 2)), rtol=1e-9)


def test_sync_batch_norm_in_a_world_of_one_is_batch_norm(rng, threads):
    from npgrad.ops.norm import sync_batch_norm

    x, weight = rng.standard_normal((4, 3, 5)), rng.standard_normal(3)
    results = []
    for sync in (False, True):
        xt = npgrad.Tensor(x.copy(), requires_grad=True)
        w = npgrad.Tensor(weight.copy(), requires_grad=True)
        b = npgrad.Tensor(np.zeros(3), requires_grad=True)
        running = [np.zeros(3), np.ones(3)]
        if sync:
            y = sync_batch_norm(xt, *running, w, b, 0.1, 1e-5, _OneProcess())
        else:
            y = batch_norm(xt, *running, w, b, training=True)
        (y * npgrad.Tensor(np.arange(60.0).reshape(4, 3, 5))).sum().backward()
        results.append((y.data, xt.grad, w.grad, b.grad, *running))
    for plain, synced in zip(*results):
        np.testing.assert_allclose(synced, plain, rtol=1e-12, atol=1e-12)


def test_a_non_finite_batch_leaves_the_running_statistics_alone():
    running_mean, running_var = np.full(2, 0.5, np.float32), np.full(2, 2.0, np.float32)
    x = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    for bad in (np.nan, np.inf):
        poisoned = x.copy()
        poisoned[1, 0, 2, 2] = bad
        out = batch_norm(npgrad.Tensor(poisoned), running_mean, running_var, training=True)
        assert np.isnan(out.data[:, 0]).all()  # the batch itself is what it is
        assert running_mean.tolist() == [0.5, 0.5] and running_var.tolist() == [2.0, 2.0]
    batch_norm(npgrad.Tensor(x), running_mean, running_var, training=True)  # a finite batch still updates them
    np.testing.assert_allclose(running_mean, 0.9 * 0.5 + 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-6)


@pytest.mark.parametrize("shape, size, alpha, beta, k", [
    ((2, 7, 3, 4), 5, 1e-4, 0.75, 1.0),  # AlexNet's setting (PyTorch's defaults)
    ((1, 6, 5, 3), 2, 0.5, 0.75, 2.0),  # even size: one more channel before than after; batch 1
    ((2, 5, 3, 3), 3, 1.0, 0.5, 1.0),  # large alpha: the normalisation, not just the identity, is checked
    ((2, 3, 4, 5), 7, 2.0, 1.5, 0.5),  # size > C: the window covers every channel from the start
    ((2, 4, 9), 4, 0.8, 0.75, 1.0),  # 3-D input (N, C, L)
    ((1, 5, 2, 3, 2), 1, 1.5, 0.75, 1.0),  # 5-D input, size 1: each channel alone
])
def test_local_response_norm_matches_naive_gradcheck_and_torch(shape, size, alpha, beta, k):
    def torch_op(x):
        import torch

        return torch.nn.functional.local_response_norm(x, size, alpha, beta, k)

    check_op(lambda x: local_response_norm(x, size, alpha, beta, k), rng.standard_normal(shape),
             reference=lambda x: naive.local_response_norm_forward(x, size, alpha, beta, k), torch_op=torch_op)


def test_local_response_norm_keeps_float32():
    x = npgrad.randn(2, 6, 4, 4, requires_grad=True)
    out = local_response_norm(x, 5, 1.0, 0.75, 2.0)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("call, error, message", [
    (lambda: local_response_norm(npgrad.ones(2, 3), 2), ValueError,
     r"local_response_norm: input must be \(N, C, \*\) with at least 3 dimensions, got shape \(2, 3\)"),
    (lambda: local_response_norm(npgrad.ones(1, 2, 3), 0), ValueError,
     r"local_response_norm: size must be a positive int, got 0"),
    (lambda: local_response_norm(npgrad.ones(1, 2, 3), 2.0), ValueError, r"size must be a positive int, got 2.0"),
    (lambda: local_response_norm(npgrad.Tensor(np.ones((1, 2, 3), np.int64)), 2), TypeError,
     r"local_response_norm: expected a floating-point input, got dtype int64"),
])
def test_local_response_norm_validates_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()
