"""Gradient clipping: clip_grad_norm_ and clip_grad_value_ against hand computation and torch."""

import numpy as np
import pytest

import npgrad
from npgrad.nn.utils import clip_grad_norm_, clip_grad_value_


def _params(dtype=np.float64):
    """Three parameters: gradients (3, 4) and (2,), and one without a gradient."""
    rng = np.random.default_rng(0)
    params = [npgrad.Tensor(np.zeros(s, dtype), requires_grad=True) for s in ((3, 4), (2,), (5,))]
    params[0].grad = rng.normal(size=(3, 4)).astype(dtype)
    params[1].grad = np.array([3.0, -4.0], dtype)
    return params


def _all_grads(params):
    return np.concatenate([p.grad.ravel() for p in params if p.grad is not None])


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
def test_clip_grad_norm_clips(norm_type):
    params = _params()
    flat = _all_grads(params)
    expected_norm = np.abs(flat).max() if norm_type == float("inf") else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    total = clip_grad_norm_(params, max_norm=1.0, norm_type=norm_type)
    assert isinstance(total, npgrad.Tensor) and total.shape == ()
    assert float(total) == pytest.approx(expected_norm, rel=1e-12)
    np.testing.assert_allclose(_all_grads(params), flat / (expected_norm + 1e-6), rtol=1e-12)
    assert params[2].grad is None


def test_clip_grad_norm_leaves_small_gradients_alone():
    params = _params()
    before = _all_grads(params)
    total = clip_grad_norm_(params, max_norm=100.0)
    np.testing.assert_array_equal(_all_grads(params), before)
    assert float(total) == pytest.approx(np.linalg.norm(before), rel=1e-12)


def test_clip_grad_norm_by_hand_single_tensor():
    w = npgrad.Tensor(np.zeros(2, np.float32), requires_grad=True)
    w.grad = np.array([3.0, 4.0], np.float32)  # norm 5
    total = clip_grad_norm_(w, max_norm=2.5)
    assert float(total) == 5.0 and w.grad.dtype == np.float32
    np.testing.assert_allclose(w.grad, [1.5, 2.0], rtol=1e-6)


def test_clip_grad_norm_edge_cases():
    w = npgrad.Tensor(np.zeros(2), requires_grad=True)
    assert float(clip_grad_norm_([w], 1.0)) == 0.0  # no gradients at all
    empty = npgrad.Tensor(np.zeros((0, 3)), requires_grad=True)
    empty.grad = np.zeros((0, 3))
    assert float(clip_grad_norm_([empty], 1.0, norm_type=float("inf"))) == 0.0
    w.grad = np.array([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="total norm"):
        clip_grad_norm_([w], 1.0, error_if_nonfinite=True)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_matches_torch(norm_type):
    torch = pytest.importorskip("torch")
    params = _params(np.float32)
    torch_params = [torch.zeros(p.shape, requires_grad=True) for p in params]
    for p, tp in zip(params, torch_params):
        if p.grad is not None:
            tp.grad = torch.tensor(p.grad)
    total = clip_grad_norm_(params, 0.5, norm_type=norm_type)
    torch_total = torch.nn.utils.clip_grad_norm_(torch_params, 0.5, norm_type=norm_type)
    assert float(total) == pytest.approx(float(torch_total), rel=1e-6)
    for p, tp in zip(params, torch_params):
        if p.grad is not None:
            np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_clip_grad_value_():
    params = _params()
    before = params[0].grad.copy()
    clip_grad_value_(params, 0.5)
    np.testing.assert_array_equal(params[0].grad, np.clip(before, -0.5, 0.5))
    np.testing.assert_array_equal(params[1].grad, [0.5, -0.5])
    assert params[2].grad is None
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value_(params, -1.0)
