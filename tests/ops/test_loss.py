import warnings

import numpy as np
import pytest

import npgrad
from npgrad.ops.activation import sigmoid
from npgrad.ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    smooth_l1_loss,
    multi_margin_loss,
    nll_loss,
)
from npgrad.ops.activation import log_softmax
from npgrad.testing.op_check import check_op

rng = np.random.default_rng(314)  # not 0: gradcheck projects the output on default_rng(0) noise
REDUCTIONS = ["mean", "sum", "none"]


def _torch(name, *tensors, **kwargs):
    """A torch_op calling torch.nn.functional.<name>; ndarray keyword arguments become torch tensors."""

    def op(*args):
        import torch

        converted = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        extra = [torch.from_numpy(t) for t in tensors]
        return getattr(torch.nn.functional, name)(*args, *extra, **converted)

    return op


def _reduce(losses, reduction, normaliser=None):
    if reduction == "none":
        return losses
    return losses.sum() / (1 if reduction == "sum" else normaliser if normaliser is not None else losses.size)


# ------------------------------------------------------------ cross-entropy
def ce_reference(x, y, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Sample by sample: -sum_c w_c t_c log p_c with t the smoothed one-hot (or probability) target."""
    n, c = x.shape
    w = np.ones(c) if weight is None else weight
    log_p = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    losses, normaliser = np.zeros(n), 0.0
    for i in range(n):
        if y.ndim == 2:  # probabilities
            t, normaliser = y[i], normaliser + 1
        elif y[i] == ignore_index:
            continue
        else:
            t, normaliser = np.eye(c)[y[i]], normaliser + w[y[i]]
        t = (1 - label_smoothing) * t + label_smoothing / c
        losses[i] = -(w * t * log_p[i]).sum()
    return _reduce(losses, reduction, normaliser)


X = rng.standard_normal((6, 5)) * 2
Y = np.array([0, 3, 4, 1, 3, 2])
Y_IGNORED = np.array([0, -100, 4, 1, -100, 2])
WEIGHT = rng.uniform(0.2, 2.0, 5)
PROBABILITIES = rng.dirichlet(np.ones(5), size=6)

CE_CASES = {
    "plain": (Y, {}),
    "label_smoothing": (Y, {"label_smoothing": 0.15}),
    "weight": (Y, {"weight": WEIGHT}),
    "weight_and_smoothing": (Y, {"weight": WEIGHT, "label_smoothing": 0.3}),
    "ignore_index": (Y_IGNORED, {}),
    "ignore_index_weight_smoothing": (Y_IGNORED, {"weight": WEIGHT, "label_smoothing": 0.2}),
    "custom_ignore_index": (Y, {"ignore_index": 3}),
    "probabilities": (PROBABILITIES, {}),
    "probabilities_weight_smoothing": (PROBABILITIES, {"weight": WEIGHT, "label_smoothing": 0.1}),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CE_CASES)
def test_cross_entropy(case, reduction):
    target, kwargs = CE_CASES[case]
    kwargs = dict(kwargs, reduction=reduction)
    if target.dtype == np.float64:  # probability targets are differentiable inputs of check_op: hold them fixed
        check_op(lambda t: cross_entropy(t, target, **kwargs), X,
                 reference=lambda a: ce_reference(a, target, **kwargs), torch_op=_torch("cross_entropy", target, **kwargs))
    else:
        check_op(lambda t, y: cross_entropy(t, y, **kwargs), X, target,
                 reference=lambda a, y: ce_reference(a, y, **kwargs), torch_op=_torch("cross_entropy", **kwargs))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_spatial_and_unbatched(reduction):
    x = rng.standard_normal((2, 4, 3))  # (N, C, d1)
    y = np.array([[0, 3, 1], [2, -100, 3]])
    kwargs = {"reduction": reduction, "weight": WEIGHT[:4], "label_smoothing": 0.1}

    def reference(a, y):
        flat = ce_reference(a.transpose(0, 2, 1).reshape(-1, 4), y.reshape(-1), **kwargs)
        return flat.reshape(y.shape) if reduction == "none" else flat

    check_op(lambda t, y: cross_entropy(t, y, **kwargs), x, y, reference=reference, torch_op=_torch("cross_entropy", **kwargs))
    check_op(lambda t, y: cross_entropy(t, y, reduction=reduction), X[0], np.array(2),
             reference=lambda a, y: ce_reference(a[None], np.array([y]), reduction=reduction).reshape(()),
             torch_op=lambda t, y: __import__("torch").nn.functional.cross_entropy(t, y, reduction=reduction))


def test_cross_entropy_ignored_samples_get_no_gradient_and_all_ignored_is_nan():
    x = npgrad.Tensor(X, requires_grad=True)
    cross_entropy(x, Y_IGNORED).backward()
    np.testing.assert_array_equal(x.grad[Y_IGNORED == -100], 0.0)
    assert np.all(x.grad[Y_IGNORED != -100] != 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(cross_entropy(npgrad.Tensor(X), np.full(6, -100)).item())  # 0 / 0, as in PyTorch
    np.testing.assert_array_equal(cross_entropy(npgrad.Tensor(X), np.full(6, -100), reduction="none").data, 0.0)


def test_cross_entropy_is_stable_for_huge_logits():
    x = npgrad.Tensor(np.array([[1000.0, 0.0, -1000.0]] * 2, dtype=np.float32), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = cross_entropy(x, np.array([0, 2]), reduction="none")
        loss.sum().backward()
    np.testing.assert_array_equal(loss.data, [0.0, 2000.0])
    np.testing.assert_array_equal(x.grad, [[0, 0, 0], [1, 0, -1]])


def test_cross_entropy_accepts_integer_tensor_targets_and_matches_log_softmax_pick():
    x = npgrad.Tensor(X)
    loss = cross_entropy(x, npgrad.tensor(Y.tolist()), reduction="none")
    log_p = X - np.log(np.exp(X).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(loss.data, -log_p[np.arange(6), Y], rtol=1e-12)


def test_cross_entropy_errors():
    x = npgrad.Tensor(X)
    with pytest.raises(ValueError, match=r"cross_entropy: class-index targets must have an integer dtype, got float64"):
        cross_entropy(x, Y.astype(np.float64))
    with pytest.raises(ValueError, match=r"cross_entropy: target must have shape \(6,\) for input shape \(6, 5\), got \(6, 1\)"):
        cross_entropy(x, Y[:, None])
    with pytest.raises(ValueError, match=r"cross_entropy: target value 5 at position \(2,\) is out of range for 5 classes "
                                         r"\(0 <= target < 5, or ignore_index=-100\)"):
        cross_entropy(x, np.array([0, 1, 5, 1, 0, 0]))
    with pytest.raises(ValueError, match=r"cross_entropy: target value -1 at position \(0,\) is out of range"):
        cross_entropy(x, np.array([-1, 1, 2, 1, 0, 0]))
    with pytest.raises(ValueError, match=r"cross_entropy: weight must have shape \(5,\) \(one value per class\), got \(4,\)"):
        cross_entropy(x, Y, np.ones(4))
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must be in \[0, 1\], got 1.5"):
        cross_entropy(x, Y, label_smoothing=1.5)
    with pytest.raises(ValueError, match="cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'average'"):
        cross_entropy(x, Y, reduction="average")
    with pytest.raises(ValueError, match="cross_entropy: input must be floating point, got dtype int64"):
        cross_entropy(npgrad.Tensor(Y[:, None]), Y)


# ------------------------------------------------------------ multi-margin (SVM)
def mm_reference(x, y, p=1, margin=1.0, weight=None, reduction="mean"):
    n, c = x.shape
    losses = np.zeros(n)
    for i in range(n):
        for j in range(c):
            if j != y[i]:
                w = 1.0 if weight is None else weight[y[i]]
                losses[i] += w * max(0.0, margin - x[i, y[i]] + x[i, j]) ** p / c
    return _reduce(losses, reduction)


MM_X = rng.standard_normal((6, 5))
MM_Y = np.array([1, 0, 4, 4, 2, 3])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p, margin, weight", [(1, 1.0, None), (2, 1.0, None), (1, 0.5, WEIGHT), (2, 0.7, WEIGHT)])
def test_multi_margin_loss(p, margin, weight, reduction):
    z = margin - MM_X[np.arange(6), MM_Y][:, None] + MM_X
    z[np.arange(6), MM_Y] = 1.0
    assert np.abs(z).min() > 1e-3 and (z > 0).any() and (z < 0).any()  # away from the hinge, both sides used
    kwargs = {"p": p, "margin": margin, "weight": weight, "reduction": reduction}
    check_op(lambda t, y: multi_margin_loss(t, y, **kwargs), MM_X, MM_Y,
             reference=lambda a, y: mm_reference(a, y, **kwargs), torch_op=_torch("multi_margin_loss", **kwargs))


def test_multi_margin_loss_unbatched_and_cs231n_relation():
    check_op(lambda t, y: multi_margin_loss(t, y), MM_X[0], np.array(1),
             reference=lambda a, y: mm_reference(a[None], np.array([y])), torch_op=_torch("multi_margin_loss"))
    # cs231n's SVM loss: sum over j != y of max(0, x_j - x_y + 1), averaged over the batch, without the 1 / C
    margins = np.maximum(0, MM_X - MM_X[np.arange(6), MM_Y][:, None] + 1)
    margins[np.arange(6), MM_Y] = 0
    cs231n = margins.sum(axis=1).mean()
    np.testing.assert_allclose(5 * multi_margin_loss(npgrad.Tensor(MM_X), MM_Y).item(), cs231n, rtol=1e-12)


def test_multi_margin_loss_errors():
    x = npgrad.Tensor(MM_X)
    with pytest.raises(ValueError, match="multi_margin_loss: p must be 1 or 2, got 3"):
        multi_margin_loss(x, MM_Y, p=3)
    with pytest.raises(ValueError, match=r"multi_margin_loss: target value 5 at position \(1,\) is out of range for 5 classes "
                                         r"\(0 <= target < 5\)"):
        multi_margin_loss(x, np.array([0, 5, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match=r"multi_margin_loss: input must have shape \(N, C\) or \(C,\), got \(6, 5, 1\)"):
        multi_margin_loss(npgrad.Tensor(MM_X[..., None]), MM_Y)
    with pytest.raises(ValueError, match="multi_margin_loss: class-index targets must have an integer dtype, got float32"):
        multi_margin_loss(x, MM_Y.astype(np.float32))


# ------------------------------------------------------------ binary cross-entropy
def softplus(a):
    return np.log1p(np.exp(-np.abs(a))) + np.maximum(a, 0)


def bce_logits_reference(x, t, weight=None, reduction="mean", pos_weight=None):
    pw = 1.0 if pos_weight is None else pos_weight
    w = 1.0 if weight is None else weight
    return _reduce(w * (pw * t * softplus(-x) + (1 - t) * softplus(x)), reduction)


def bce_reference(x, t, weight=None, reduction="mean"):
    w = 1.0 if weight is None else weight
    return _reduce(-w * (t * np.log(x) + (1 - t) * np.log(1 - x)), reduction)


B_X = rng.standard_normal((4, 3)) * 3
B_T = rng.uniform(0, 1, (4, 3))
B_P = rng.uniform(0.05, 0.95, (4, 3))
B_W = rng.uniform(0.5, 2.0, (4, 1))  # broadcast over the last dimension
POS_WEIGHT = np.array([0.5, 2.0, 3.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight, pos_weight", [(None, None), (B_W, None), (None, POS_WEIGHT), (B_W, POS_WEIGHT)])
def test_binary_cross_entropy_with_logits(weight, pos_weight, reduction):
    kwargs = {"weight": weight, "reduction": reduction, "pos_weight": pos_weight}
    # the target is differentiated too, as in PyTorch
    check_op(lambda x, t: binary_cross_entropy_with_logits(x, t, **kwargs), B_X, B_T,
             reference=lambda x, t: bce_logits_reference(x, t, **kwargs),
             torch_op=_torch("binary_cross_entropy_with_logits", **kwargs))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_with_logits_extremes(dtype):
    x = npgrad.Tensor(np.array([1000.0, 1000.0, -1000.0, -1000.0, 0.0], dtype=dtype), requires_grad=True)
    t = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = binary_cross_entropy_with_logits(x, t, reduction="none", pos_weight=np.full(5, 2.0))
        loss.sum().backward()
    assert loss.dtype == x.grad.dtype == dtype
    np.testing.assert_allclose(loss.data, [0.0, 1000.0, 2000.0, 0.0, 2 * np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(x.grad, [0.0, 1.0, -2.0, 0.0, -1.0], rtol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, B_W])
def test_binary_cross_entropy(weight, reduction):
    kwargs = {"weight": weight, "reduction": reduction}
    check_op(lambda x, t: binary_cross_entropy(x, t, **kwargs), B_P, B_T,
             reference=lambda x, t: bce_reference(x, t, **kwargs), torch_op=_torch("binary_cross_entropy", **kwargs))


def test_binary_cross_entropy_clamps_log_at_minus_100_like_pytorch():
    x = npgrad.Tensor(np.array([0.0, 1.0, 0.0, 1.0]), requires_grad=True)
    t = np.array([1.0, 0.0, 0.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = binary_cross_entropy(x, t, reduction="none")
        loss.sum().backward()
    np.testing.assert_array_equal(loss.data, [100.0, 100.0, 0.0, 0.0])
    np.testing.assert_array_equal(x.grad, [-1e12, 1e12, 0.0, 0.0])  # PyTorch's (x - t) / max(x (1 - x), 1e-12)


@pytest.mark.parametrize("op", [binary_cross_entropy, binary_cross_entropy_with_logits])
def test_binary_cross_entropy_errors(op):
    name = op.__name__
    x = npgrad.Tensor(B_P)
    with pytest.raises(ValueError, match=rf"{name}: target shape \(4,\) must equal the input shape \(4, 3\)"):
        op(x, B_T[:, 0])
    with pytest.raises(ValueError, match=rf"{name}: target values must be in \[0, 1\], got values in \[-0.5, "):
        op(x, np.where(B_T > 0.5, B_T, -0.5))
    with pytest.raises(ValueError, match=rf"{name}: weight of shape \(3, 1\) does not broadcast to the input shape \(4, 3\)"):
        op(x, B_T, np.ones((3, 1)))
    with pytest.raises(ValueError, match=rf"{name}: reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        op(x, B_T, reduction="avg")
    with pytest.raises(ValueError, match=rf"{name}: target dtype float32 must equal the input dtype float64"):
        op(x, npgrad.Tensor(B_T.astype(np.float32), requires_grad=True))


def test_binary_cross_entropy_rejects_input_outside_0_1():
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input values must be probabilities in \[0, 1\], "
                                         r"got values in \[-0.1, "):
        binary_cross_entropy(npgrad.Tensor(np.array([-0.1, 0.5])), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="binary_cross_entropy_with_logits: pos_weight of shape"):
        binary_cross_entropy_with_logits(npgrad.Tensor(B_X), B_T, pos_weight=np.ones(4))


# ------------------------------------------------------------ mean squared error
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss(reduction):
    check_op(lambda x, t: mse_loss(x, t, reduction=reduction), B_X, B_T,
             reference=lambda x, t: _reduce((x - t) ** 2, reduction), torch_op=_torch("mse_loss", reduction=reduction))


def test_mse_loss_rejects_a_target_shape_pytorch_would_broadcast():
    with pytest.raises(ValueError, match=r"mse_loss: target shape \(4, 1\) must equal the input shape \(4,\)"):
        mse_loss(npgrad.Tensor(B_X[:, 0]), B_T[:, :1])


# ------------------------------------------------------------ dtypes
def _smooth_l1(d, beta):
    return np.where(np.abs(d) < beta, 0.5 * d * d / beta, np.abs(d) - 0.5 * beta)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, op, reference, torch_op", [
    ("l1", lambda x, t, r: l1_loss(x, t, reduction=r), lambda d: np.abs(d), lambda r: _torch("l1_loss", reduction=r)),
    ("smooth_l1", lambda x, t, r: smooth_l1_loss(x, t, reduction=r), lambda d: _smooth_l1(d, 1.0),
     lambda r: _torch("smooth_l1_loss", reduction=r)),
    ("smooth_l1_beta_2.5", lambda x, t, r: smooth_l1_loss(x, t, reduction=r, beta=2.5), lambda d: _smooth_l1(d, 2.5),
     lambda r: _torch("smooth_l1_loss", reduction=r, beta=2.5)),
    ("smooth_l1_beta_0", lambda x, t, r: smooth_l1_loss(x, t, reduction=r, beta=0.0), lambda d: np.abs(d),
     lambda r: _torch("smooth_l1_loss", reduction=r, beta=0.0)),
    ("huber_delta_2", lambda x, t, r: huber_loss(x, t, reduction=r, delta=2.0), lambda d: 2.0 * _smooth_l1(d, 2.0),
     lambda r: _torch("huber_loss", reduction=r, delta=2.0)),
])
def test_l1_smooth_l1_and_huber_losses(name, op, reference, torch_op, reduction):
    # B_X ~ N(0, 9) and B_T in [0, 1): differences on both sides of every beta and delta here
    check_op(lambda x, t: op(x, t, reduction), B_X, B_T, reference=lambda x, t: _reduce(reference(x - t), reduction),
             torch_op=torch_op(reduction))


def test_l1_gradient_at_zero_difference_is_zero_and_bad_arguments_raise():
    x = npgrad.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    l1_loss(x, np.array([1.0, 0.0, 5.0]), reduction="sum").backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, -1.0])
    with pytest.raises(ValueError, match="smooth_l1_loss: beta must be >= 0, got -1"):
        smooth_l1_loss(x, np.zeros(3), beta=-1)
    with pytest.raises(ValueError, match="huber_loss: delta must be > 0, got 0"):
        huber_loss(x, np.zeros(3), delta=0)
    with pytest.raises(ValueError, match=r"l1_loss: target shape \(3, 1\) must equal the input shape \(3,\)"):
        l1_loss(x, np.zeros((3, 1)))


LOSSES = {
    "cross_entropy": lambda x, r: cross_entropy(x, Y, WEIGHT, label_smoothing=0.1, reduction=r),
    "cross_entropy_probabilities": lambda x, r: cross_entropy(x, PROBABILITIES, reduction=r),
    "multi_margin_loss": lambda x, r: multi_margin_loss(x, MM_Y, p=2, weight=WEIGHT, reduction=r),
    "bce_with_logits": lambda x, r: binary_cross_entropy_with_logits(x, np.eye(6, 5), np.ones(5), reduction=r,
                                                                     pos_weight=POS_WEIGHT[:1]),
    "bce": lambda x, r: binary_cross_entropy(sigmoid(x), np.eye(6, 5), np.ones(5), reduction=r),
    "mse_loss": lambda x, r: mse_loss(x, np.eye(6, 5), reduction=r),
    "smooth_l1_loss": lambda x, r: smooth_l1_loss(x, np.eye(6, 5), reduction=r, beta=0.5),
    "huber_loss": lambda x, r: huber_loss(x, np.eye(6, 5), reduction=r, delta=0.5),
    "l1_loss": lambda x, r: l1_loss(x, np.eye(6, 5), reduction=r),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
def test_float32_stays_float32(name, reduction):
    """float64 targets and weights do not upcast a float32 input."""
    x = npgrad.Tensor(X.astype(np.float32), requires_grad=True)
    loss = LOSSES[name](x, reduction)
    loss.backward(np.ones(loss.shape, dtype=np.float32))
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32



@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("target", [Y, Y_IGNORED])
@pytest.mark.parametrize("weight", [None, np.linspace(0.5, 2, 5)])
def test_nll_loss_picks_minus_the_target_log_probability(target, weight, reduction):
    kwargs = {"weight": weight, "reduction": reduction}

    def reference(a):
        kept = target != -100
        w = np.ones(5) if weight is None else weight
        picked = np.where(kept, -a[np.arange(len(a)), np.where(kept, target, 0)] * w[np.where(kept, target, 0)], 0)
        return _reduce(picked, reduction, np.where(kept, w[np.where(kept, target, 0)], 0).sum())

    check_op(lambda t: nll_loss(t, target, **kwargs), X, reference=reference, torch_op=_torch("nll_loss", target, **kwargs))


def test_nll_of_log_softmax_is_cross_entropy_and_the_module_matches():
    x = npgrad.Tensor(X)
    np.testing.assert_allclose(nll_loss(log_softmax(x, 1), Y).data, cross_entropy(x, Y).data, rtol=1e-12)
    module = npgrad.nn.NLLLoss(ignore_index=3, reduction="sum")
    np.testing.assert_allclose(module(x, Y).data, nll_loss(x, Y, ignore_index=3, reduction="sum").data)
    with pytest.raises(ValueError, match="nll_loss"):
        nll_loss(x, np.array([0, 1]))


def test_one_hot_as_pytorch():
    out = npgrad.nn.functional.one_hot(npgrad.tensor([[0, 2], [1, 1]]))
    assert out.dtype == np.int64 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.numpy()[0], [[1, 0, 0], [0, 0, 1]])
    assert npgrad.nn.functional.one_hot(npgrad.tensor([1]), num_classes=4).shape == (1, 4)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        npgrad.nn.functional.one_hot(npgrad.tensor([0, 2]), 2)
    with pytest.raises(TypeError, match="integer tensor"):
        npgrad.nn.functional.one_hot(npgrad.tensor([0.0]))
