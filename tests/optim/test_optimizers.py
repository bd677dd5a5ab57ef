"""Optimizers: each update rule against a float64 NumPy transcription of its formula, and against torch.optim."""

import numpy as np
import pytest

import npgrad
from npgrad.optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from npgrad.serialization import load, save

SHAPES = [(3, 4), (5,)]
STEPS = 4


def _problem(dtype=np.float64, seed=0):
    """Initial weights and a fixed sequence of STEPS gradients for each of two parameters."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=s).astype(dtype) for s in SHAPES]
    grads = [[rng.normal(size=s).astype(dtype) for s in SHAPES] for _ in range(STEPS)]
    return weights, grads


def _run(make, weights, grads):
    params = [npgrad.Tensor(w.copy(), requires_grad=True) for w in weights]
    opt = make(params)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.copy()
        opt.step()
    return [p.data for p in params]


# --------------------------------------------------- the formulas, in float64
def _sgd_ref(w, gs, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    w, v = w.copy(), None
    for g in gs:
        g = g + weight_decay * w
        if momentum:
            v = g.copy() if v is None else momentum * v + (1 - dampening) * g
            g = g + momentum * v if nesterov else v
        w = w - lr * g
    return w


def _rmsprop_ref(w, gs, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    w = w.copy()
    s, m, b = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for g in gs:
        g = g + weight_decay * w
        s = alpha * s + (1 - alpha) * g**2
        m = alpha * m + (1 - alpha) * g
        d = np.sqrt(s - m**2 if centered else s) + eps
        if momentum:
            b = momentum * b + g / d
            w = w - lr * b
        else:
            w = w - lr * g / d
    return w


def _adam_ref(w, gs, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False):
    (b1, b2), w = betas, w.copy()
    m, v, v_max = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(gs, start=1):
        if decoupled:
            w = w * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        v_max = np.maximum(v_max, v)
        v_hat = (v_max if amsgrad else v) / (1 - b2**t)
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v_hat) + eps)
    return w


def _adagrad_ref(w, gs, lr=0.01, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    w, s = w.copy(), np.full_like(w, initial_accumulator_value)
    for t, g in enumerate(gs, start=1):
        g = g + weight_decay * w
        s = s + g**2
        w = w - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s) + eps)
    return w


CASES = [
    (SGD, _sgd_ref, dict(lr=0.1)),
    (SGD, _sgd_ref, dict(lr=0.1, momentum=0.9)),
    (SGD, _sgd_ref, dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    (SGD, _sgd_ref, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
    (RMSprop, _rmsprop_ref, dict()),
    (RMSprop, _rmsprop_ref, dict(lr=0.02, alpha=0.9, weight_decay=0.1)),
    (RMSprop, _rmsprop_ref, dict(lr=0.02, alpha=0.9, momentum=0.5)),
    (RMSprop, _rmsprop_ref, dict(lr=0.02, alpha=0.9, momentum=0.5, centered=True)),
    (Adam, _adam_ref, dict()),
    (Adam, _adam_ref, dict(lr=0.01, betas=(0.8, 0.95), weight_decay=0.1)),
    (Adam, _adam_ref, dict(lr=0.01, amsgrad=True)),
    (AdamW, lambda w, gs, **kw: _adam_ref(w, gs, decoupled=True, **{"weight_decay": 0.01, **kw}), dict(lr=0.01)),
    (AdamW, lambda w, gs, **kw: _adam_ref(w, gs, decoupled=True, **kw), dict(lr=0.01, weight_decay=0.5, amsgrad=True)),
    (Adagrad, _adagrad_ref, dict()),
    (Adagrad, _adagrad_ref, dict(lr=0.1, lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.5)),
]
IDS = [f"{cls.__name__}-{kwargs}" for cls, _, kwargs in CASES]


@pytest.mark.parametrize("cls, reference, kwargs", CASES, ids=IDS)
def test_matches_formula_float64(cls, reference, kwargs):
    weights, grads = _problem()
    got = _run(lambda ps: cls(ps, **kwargs), weights, grads)
    for i, (w, out) in enumerate(zip(weights, got)):
        expected = reference(w, [g[i] for g in grads], **kwargs)
        np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15)
        assert not np.allclose(out, w)  # the parameter did move


@pytest.mark.parametrize("cls, reference, kwargs", CASES, ids=IDS)
def test_matches_torch(cls, reference, kwargs):
    torch = pytest.importorskip("torch")
    for dtype, rtol, atol in ((np.float32, 2e-6, 1e-6), (np.float64, 1e-12, 1e-14)):
        weights, grads = _problem(dtype)
        got = _run(lambda ps: cls(ps, **kwargs), weights, grads)
        params = [torch.tensor(w, requires_grad=True) for w in weights]
        opt = getattr(torch.optim, cls.__name__)(params, **kwargs)
        for step_grads in grads:
            for p, g in zip(params, step_grads):
                p.grad = torch.tensor(g)
            opt.step()
        for out, p in zip(got, params):
            assert out.dtype == dtype
            np.testing.assert_allclose(out, p.detach().numpy(), rtol=rtol, atol=atol)


def test_sgd_momentum_by_hand():
    # v1 = 1 -> w = 1 - 0.1 = 0.9; v2 = 0.9*1 + 2 = 2.9 -> w = 0.9 - 0.29 = 0.61; v3 = 2.61 - 1 = 1.61 -> w = 0.449
    w = npgrad.Tensor(np.array([1.0]), requires_grad=True)
    opt = SGD([w], lr=0.1, momentum=0.9)
    for g, expected in ((1.0, 0.9), (2.0, 0.61), (-1.0, 0.449)):
        w.grad = np.array([g])
        opt.step()
        assert w.data[0] == pytest.approx(expected, abs=1e-15)


def test_sgd_momentum_equals_classic_form_at_constant_lr():
    # v = mu*v + g; w -= lr*v  versus  u = mu*u - lr*g; w += u
    weights, grads = _problem()
    ours = _run(lambda ps: SGD(ps, lr=0.1, momentum=0.9), weights, grads)
    w, u = weights[0].copy(), np.zeros_like(weights[0])
    for g in grads:
        u = 0.9 * u - 0.1 * g[0]
        w = w + u
    np.testing.assert_allclose(ours[0], w, rtol=1e-13)


def test_adam_first_step_by_hand():
    # after one step the bias-corrected ratio is g/|g|: w moves by lr*sign(g) (up to eps)
    w = npgrad.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    w.grad = np.array([0.3, -5.0])
    Adam([w], lr=0.1).step()
    np.testing.assert_allclose(w.data, [0.9, -1.9], rtol=1e-7)


@pytest.mark.parametrize("cls, _, kwargs", CASES, ids=IDS)
def test_float32_in_place_and_grad_untouched(cls, _, kwargs):
    weights, grads = _problem(np.float32)
    params = [npgrad.Tensor(w.copy(), requires_grad=True) for w in weights]
    arrays = [p.data for p in params]
    opt = cls(params, **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.copy()
        opt.step()
        for p, g in zip(params, step_grads):
            np.testing.assert_array_equal(p.grad, g)
    for p, a in zip(params, arrays):
        assert p.data is a and a.dtype == np.float32
    for state in opt.state.values():
        assert all(v.dtype == np.float32 for v in state.values() if isinstance(v, np.ndarray))


def test_params_without_grad_are_skipped():
    a = npgrad.Tensor(np.ones(3), requires_grad=True)
    b = npgrad.Tensor(np.ones(3), requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    a.grad = np.ones(3)
    opt.step()
    np.testing.assert_array_equal(b.data, np.ones(3))
    assert b not in opt.state and opt.state[a]["step"] == 1
    assert list(opt.state_dict()["state"]) == [0]


def test_param_groups_with_different_lr():
    weights, grads = _problem()
    params = [npgrad.Tensor(w.copy(), requires_grad=True) for w in weights]
    opt = SGD([{"params": [params[0]]}, {"params": [params[1]], "lr": 0.01}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert opt.param_groups[1]["momentum"] == 0.9  # defaults fill what a group leaves out
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.copy()
        opt.step()
    for i, lr in enumerate((0.1, 0.01)):
        expected = _sgd_ref(weights[i], [g[i] for g in grads], lr=lr, momentum=0.9)
        np.testing.assert_allclose(params[i].data, expected, rtol=1e-13)


def test_add_param_group():
    a = npgrad.Tensor(np.ones(2), requires_grad=True)
    b = npgrad.Tensor(np.ones(2), requires_grad=True)
    opt = Adam([a], lr=0.1)
    opt.add_param_group({"params": b, "lr": 0.5})
    assert opt.param_groups[1]["params"] == [b] and opt.param_groups[1]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


def test_zero_grad():
    a = npgrad.Tensor(np.ones(2), requires_grad=True)
    opt = SGD([a], lr=0.1)
    a.grad = np.ones(2)
    grad = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is grad and not grad.any()
    opt.zero_grad()
    assert a.grad is None


def test_step_with_closure():
    w = npgrad.Tensor(np.array([3.0]), requires_grad=True)
    opt = SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with npgrad.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 9.0 and w.data[0] == 1.5  # w - 0.25 * 2w


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda ps: SGD(ps, lr=-1), "invalid learning rate"),
        (lambda ps: SGD(ps, lr=0.1, nesterov=True), "Nesterov"),
        (lambda ps: SGD(ps, lr=0.1, momentum=-0.5), "momentum"),
        (lambda ps: Adam(ps, betas=(0.9, 1.0)), "beta parameter at index 1"),
        (lambda ps: AdamW(ps, eps=-1), "eps"),
        (lambda ps: RMSprop(ps, alpha=-0.1), "alpha"),
        (lambda ps: Adagrad(ps, lr_decay=-1), "lr_decay"),
        (lambda ps: SGD([{"params": ps, "lr": -0.1}], lr=0.1), "invalid learning rate"),
        (lambda ps: SGD([], lr=0.1), "empty parameter list"),
        (lambda ps: SGD(ps + ps, lr=0.1), "more than once"),
    ],
)
def test_invalid_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make([npgrad.Tensor(np.ones(2), requires_grad=True)])


def test_invalid_params():
    w = npgrad.Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(TypeError, match="single Tensor"):
        SGD(w, lr=0.1)
    with pytest.raises(TypeError, match="ordered"):
        SGD([{"params": {w}}], lr=0.1)
    with pytest.raises(TypeError, match="only optimize Tensors"):
        SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        SGD([w * 2], lr=0.1)


# ---------------------------------------------------------------- state dicts
RESUME_CASES = [
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda ps: RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    lambda ps: Adam(ps, lr=0.01, amsgrad=True, weight_decay=1e-2),
    lambda ps: AdamW(ps, lr=0.01),
    lambda ps: Adagrad(ps, lr=0.1, lr_decay=0.01),
]


@pytest.mark.parametrize("make", RESUME_CASES, ids=["SGD", "RMSprop", "Adam", "AdamW", "Adagrad"])
def test_resume_from_checkpoint_is_bit_exact(make, tmp_path):
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=s).astype(np.float32) for s in SHAPES]
    grads = [[rng.normal(size=s).astype(np.float32) for s in SHAPES] for _ in range(7)]
    uninterrupted = _run(make, weights, grads)

    params = [npgrad.Tensor(w.copy(), requires_grad=True) for w in weights]
    opt = make(params)
    for step_grads in grads[:4]:
        for p, g in zip(params, step_grads):
            p.grad = g.copy()
        opt.step()
    opt.param_groups[0]["lr"] *= 0.5  # a changed hyperparameter travels with the state
    save({"params": [p.data for p in params], "optimizer": opt.state_dict()}, tmp_path / "ckpt.safetensors")
    ckpt = load(tmp_path / "ckpt.safetensors")

    fresh = [npgrad.Tensor(a, requires_grad=True) for a in ckpt["params"]]
    opt2 = make(fresh)
    opt2.load_state_dict(ckpt["optimizer"])
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    opt2.param_groups[0]["lr"] *= 2
    for step_grads in grads[4:]:
        for p, g in zip(fresh, step_grads):
            p.grad = g.copy()
        opt2.step()
    for expected, p in zip(uninterrupted, fresh):
        assert p.dtype == np.float32
        np.testing.assert_array_equal(p.data, expected)


def test_state_dict_format_and_snapshot():
    a = npgrad.Tensor(np.ones(2, np.float32), requires_grad=True)
    b = npgrad.Tensor(np.ones(3, np.float32), requires_grad=True)
    opt = Adam([{"params": [a]}, {"params": [b], "lr": 0.5}])
    a.grad, b.grad = np.ones(2, np.float32), np.ones(3, np.float32)
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert set(sd["state"]) == {0, 1} and sd["state"][1]["step"] == 1
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    before = sd["state"][0]["exp_avg"].copy()
    opt.step()
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"], before)  # a snapshot, not live references


def test_load_state_dict_casts_and_copies():
    a = npgrad.Tensor(np.ones(2, np.float32), requires_grad=True)
    opt = SGD([a], lr=0.1, momentum=0.9)
    buf = np.array([1.0, 2.0])  # float64, e.g. written by another tool
    opt.load_state_dict({"state": {0: {"momentum_buffer": buf}}, "param_groups": [{"lr": 0.2, "params": [0]}]})
    loaded = opt.state[a]["momentum_buffer"]
    assert loaded.dtype == np.float32 and loaded is not buf
    assert opt.param_groups[0]["lr"] == 0.2 and opt.param_groups[0]["params"] == [a]


def test_load_state_dict_errors():
    a = npgrad.Tensor(np.ones(2), requires_grad=True)
    b = npgrad.Tensor(np.ones(3), requires_grad=True)
    opt = SGD([a, b], lr=0.1, momentum=0.9)
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="2 parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": sd["param_groups"] * 2})
    with pytest.raises(ValueError, match="group 0 has 2 parameters in the state dict but 1"):
        SGD([a], lr=0.1).load_state_dict(sd)
    bad = {"state": {1: {"momentum_buffer": np.zeros(2)}}, "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match=r"parameter 1 has shape \(2,\) but the parameter has shape \(3,\)"):
        opt.load_state_dict(bad)


def test_custom_optimizer_subclass():
    class SignSGD(Optimizer):
        def __init__(self, params, lr):
            super().__init__(params, dict(lr=lr))

        def _update(self, param, grad, state, group):
            param -= group["lr"] * np.sign(grad)

    w = npgrad.Tensor(np.array([1.0, 1.0]), requires_grad=True)
    w.grad = np.array([-3.0, 0.5])
    SignSGD([w], lr=0.25).step()
    np.testing.assert_array_equal(w.data, [1.25, 0.75])


def test_repr():
    text = repr(SGD([npgrad.Tensor(np.ones(1), requires_grad=True)], lr=0.1))
    assert text.startswith("SGD (") and "lr: 0.1" in text


def test_load_state_dict_refuses_partial_or_malformed_state():
    a = npgrad.Tensor(np.ones(2, np.float32), requires_grad=True)
    opt = Adam([a], lr=0.1)
    a.grad = np.ones(2, np.float32)
    opt.step()
    sd = opt.state_dict()
    partial = {"state": {0: {"step": 1, "exp_avg": np.zeros(2)}}, "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: state 'exp_avg_sq' of parameter 0 is missing"):
        Adam([a], lr=0.1).load_state_dict(partial)
    scalar = {"state": {0: {**sd["state"][0], "exp_avg": 0.5}}, "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 0 should be an array of shape \(2,\)"):
        Adam([a], lr=0.1).load_state_dict(scalar)
    negative = {"state": {0: {**sd["state"][0], "step": -3}}, "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match="state 'step' of parameter 0 should be a non-negative integer, got -3"):
        Adam([a], lr=0.1).load_state_dict(negative)
    for lr in ("fast", -1.0):
        groups = [{**sd["param_groups"][0], "lr": lr}]
        with pytest.raises(ValueError, match="learning rate|parameter group 0"):
            Adam([a], lr=0.1).load_state_dict({"state": {}, "param_groups": groups})
    fresh = Adam([a], lr=0.1)
    fresh.load_state_dict(sd)
    fresh.step()  # a complete state still loads and steps
