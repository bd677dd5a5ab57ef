"""Learning-rate schedulers: epoch-by-epoch values against closed forms and torch, and state-dict round trips."""

import math

import numpy as np
import pytest

import npgrad
from npgrad.optim import SGD, lr_scheduler
from npgrad.serialization import load, save

LRS = (0.1, 0.02)  # two param groups, to check that each follows its own initial lr
EPOCHS = 25


def _optimizer(lrs=LRS):
    return SGD([{"params": [npgrad.Tensor(np.ones(2), requires_grad=True)], "lr": lr} for lr in lrs], lr=1.0)


def _trace(scheduler, epochs=EPOCHS):
    """The lrs of epochs 0..epochs-1, as set in the optimizer's groups."""
    out = []
    for _ in range(epochs):
        lrs = [g["lr"] for g in scheduler.optimizer.param_groups]
        assert lrs == scheduler.get_last_lr()
        out.append(lrs)
        scheduler.step()
    return np.array(out)


def _one_cycle(e, total=EPOCHS, three_phase=False, linear=False):
    """OneCycleLR for max_lr 1, div 25, final div 1e4, pct_start 0.3, written out phase by phase."""
    initial, peak = 1 / 25, 1.0
    low = initial / 1e4
    up_end = 0.3 * total - 1

    def anneal(a, b, pct):
        return a + (b - a) * pct if linear else b + (a - b) * (1 + math.cos(math.pi * pct)) / 2

    if e <= up_end:
        return anneal(initial, peak, e / up_end)
    if three_phase:
        down_end = 2 * 0.3 * total - 2
        if e <= down_end:
            return anneal(peak, initial, (e - up_end) / (down_end - up_end))
        return anneal(initial, low, (e - down_end) / (total - 1 - down_end))
    return anneal(peak, low, (e - up_end) / (total - 1 - up_end))


# (npgrad factory, closed form f(initial_lr, epoch), torch factory or None)
CASES = {
    "StepLR": (
        lambda o: lr_scheduler.StepLR(o, step_size=4, gamma=0.5),
        lambda lr, e: lr * 0.5 ** (e // 4),
        lambda t, o: t.StepLR(o, step_size=4, gamma=0.5),
    ),
    "MultiStepLR": (
        lambda o: lr_scheduler.MultiStepLR(o, milestones=[10, 3, 7, 7], gamma=0.1),
        lambda lr, e: lr * 0.1 ** ((e >= 3) + 2 * (e >= 7) + (e >= 10)),
        lambda t, o: t.MultiStepLR(o, milestones=[10, 3, 7, 7], gamma=0.1),
    ),
    "ExponentialLR": (
        lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9),
        lambda lr, e: lr * 0.9**e,
        lambda t, o: t.ExponentialLR(o, gamma=0.9),
    ),
    "CosineAnnealingLR": (
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
        lambda lr, e: 0.001 + (lr - 0.001) * (1 + math.cos(math.pi * e / 10)) / 2,
        lambda t, o: t.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
    ),
    "LinearLR": (
        lambda o: lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=4),
        lambda lr, e: lr * (0.25 + 0.75 * min(e, 4) / 4),
        lambda t, o: t.LinearLR(o, start_factor=0.25, total_iters=4),
    ),
    "LambdaLR": (
        lambda o: lr_scheduler.LambdaLR(o, lambda e: 0.5 ** (e % 3)),
        lambda lr, e: lr * 0.5 ** (e % 3),
        lambda t, o: t.LambdaLR(o, lambda e: 0.5 ** (e % 3)),
    ),
    "InverseTimeLR": (
        lambda o: lr_scheduler.InverseTimeLR(o, decay_rate=0.5),
        lambda lr, e: lr / (1 + 0.5 * e),
        lambda t, o: t.LambdaLR(o, lambda e: 1 / (1 + 0.5 * e)),
    ),
    "OneCycleLR": (
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=[1.0, 1.0], total_steps=EPOCHS),
        lambda lr, e: _one_cycle(e),
        lambda t, o: t.OneCycleLR(o, max_lr=1.0, total_steps=EPOCHS),
    ),
    "OneCycleLR-three-phase-linear": (
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, epochs=5, steps_per_epoch=5, three_phase=True, anneal_strategy="linear"),
        lambda lr, e: _one_cycle(e, three_phase=True, linear=True),
        lambda t, o: t.OneCycleLR(
            o, max_lr=1.0, epochs=5, steps_per_epoch=5, three_phase=True, anneal_strategy="linear"
        ),
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_closed_form(name):
    make, formula, _ = CASES[name]
    got = _trace(make(_optimizer()))
    expected = np.array([[formula(lr, e) for lr in LRS] for e in range(EPOCHS)])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert len(np.unique(got[:, 0])) > 2  # the schedule does change the lr


@pytest.mark.parametrize("name", CASES)
def test_matches_torch(name):
    torch = pytest.importorskip("torch")
    make, _, make_torch = CASES[name]
    got = _trace(make(_optimizer()))
    opt = torch.optim.SGD([{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in LRS], lr=1.0)
    scheduler = make_torch(torch.optim.lr_scheduler, opt)
    expected = []
    for _ in range(EPOCHS):
        expected.append([g["lr"] for g in opt.param_groups])
        opt.step()
        scheduler.step()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", CASES)
def test_state_dict_round_trip(name, tmp_path):
    make, _, _ = CASES[name]
    uninterrupted = _trace(make(_optimizer()))

    optimizer = _optimizer()
    scheduler = make(optimizer)
    first = _trace(scheduler, 9)
    save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp_path / "s.safetensors")
    ckpt = load(tmp_path / "s.safetensors")

    optimizer2 = _optimizer(lrs=(5.0, 5.0))  # different lrs: everything must come from the checkpoint
    scheduler2 = make(optimizer2)
    optimizer2.load_state_dict(ckpt["optimizer"])
    scheduler2.load_state_dict(ckpt["scheduler"])
    assert scheduler2.last_epoch == 9
    rest = _trace(scheduler2, EPOCHS - 9)
    np.testing.assert_array_equal(np.concatenate([first, rest]), uninterrupted)


@pytest.mark.parametrize(("change", "message"), [
    ({"last_epoch": None}, "StepLR.load_state_dict: 'last_epoch' must be like 0, got None"),
    ({"last_epoch": "3"}, "'last_epoch' must be like 0, got '3'"),
    ({"last_epoch": 2.5}, "'last_epoch' must be like 0, got 2.5"),
    ({"last_epoch": -5}, "'last_epoch' must be >= -1, got -5"),
    ({"step_size": None}, "'step_size' must be like 3, got None"),
    ({"gamma": float("nan")}, "'gamma' must be like 0.5, got nan"),
    ({"gamma": True}, "'gamma' must be like 0.5, got True"),
    ({"base_lrs": "abc"}, "'base_lrs' must be like"),
    ({"base_lrs": [0.1, "x"]}, r"'base_lrs'\[1\] must be like"),
    ({"base_lrs": [0.1]}, "'base_lrs' has 1 values for 2 param group"),
    ({"_last_lr": [0.1, 0.2, 0.3]}, "'_last_lr' has 3 values for 2 param group"),
    ({"T_max": 9}, r"unexpected \['T_max'\]"),
])
def test_load_state_dict_refuses_a_damaged_state_before_step(change, message):
    scheduler = lr_scheduler.StepLR(_optimizer(), step_size=3, gamma=0.5)
    with pytest.raises(ValueError, match=message):
        scheduler.load_state_dict({**scheduler.state_dict(), **change})
    with pytest.raises(ValueError, match=r"missing \['gamma'\], unexpected \[\]"):
        scheduler.load_state_dict({k: v for k, v in scheduler.state_dict().items() if k != "gamma"})
    with pytest.raises(ValueError, match="expected a dict, got list"):
        scheduler.load_state_dict([])
    assert scheduler.state_dict() == lr_scheduler.StepLR(_optimizer(), step_size=3, gamma=0.5).state_dict()  # unchanged


def test_one_cycle_phases_load_back_as_lists():
    scheduler = lr_scheduler.OneCycleLR(_optimizer(), max_lr=0.1, total_steps=10)
    state = scheduler.state_dict()
    state["_phases"] = [list(p) for p in state["_phases"]]  # what a checkpoint gives back for tuples
    scheduler.load_state_dict(state)
    with pytest.raises(ValueError, match=r"'_phases'\[0\]\[1\] must be like"):
        scheduler.load_state_dict({**state, "_phases": [[2.0, 5, "max_lr"]] + state["_phases"][1:]})


def test_lambda_lr_state_dict_omits_functions():
    scheduler = lr_scheduler.LambdaLR(_optimizer(), [lambda e: 1.0, lambda e: 0.5])
    state = scheduler.state_dict()
    assert "lr_lambdas" not in state and "optimizer" not in state and state["last_epoch"] == 0
    assert scheduler.get_last_lr() == [0.1, 0.01]


def test_construction_sets_epoch_zero_and_records_initial_lr():
    optimizer = _optimizer()
    scheduler = lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
    assert scheduler.last_epoch == 0 and scheduler.base_lrs == list(LRS)
    assert [g["initial_lr"] for g in optimizer.param_groups] == list(LRS)
    scheduler.step()
    scheduler.step()
    assert scheduler.last_epoch == 2 and scheduler.get_last_lr() == [0.025, 0.005]


def test_resume_with_last_epoch():
    optimizer = _optimizer()
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(optimizer, step_size=2, last_epoch=4)
    lr_scheduler.StepLR(optimizer, step_size=2)
    resumed = lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5, last_epoch=4)
    assert resumed.last_epoch == 5 and resumed.get_last_lr() == [0.1 * 0.25, 0.02 * 0.25]


def test_inverse_time_equals_lambda():
    a = _trace(lr_scheduler.InverseTimeLR(_optimizer(), decay_rate=0.3))
    b = _trace(lr_scheduler.LambdaLR(_optimizer(), lambda e: 1 / (1 + 0.3 * e)))
    np.testing.assert_allclose(a, b, rtol=1e-15)


def _momentum_trace(framework, optimizer, key, **options):
    """The momentum (``key`` 'momentum') or beta1 (``key`` 'betas') of each group, step by step, under OneCycleLR."""
    params = [{"params": [framework.zeros(2, requires_grad=True)], "lr": lr} for lr in LRS]
    optimizer = getattr(framework.optim, optimizer)(params, lr=1.0)
    scheduler = framework.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1.0, total_steps=EPOCHS, **options)
    out = []
    for _ in range(EPOCHS):
        out.append([g["momentum"] if key == "momentum" else g["betas"][0] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return np.array(out)


@pytest.mark.parametrize("optimizer, key", [("SGD", "momentum"), ("RMSprop", "momentum"), ("Adam", "betas"), ("AdamW", "betas")])
@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_cycles_the_momentum_inversely_as_pytorch_does(optimizer, key, three_phase):
    options = dict(base_momentum=[0.8, 0.85], three_phase=three_phase)
    got = _momentum_trace(npgrad, optimizer, key, **options)
    assert got[0].tolist() == [0.95, 0.95] and got.min(axis=0).tolist() == pytest.approx([0.8, 0.85], abs=5e-3)
    if not three_phase:  # down while the lr rises (the first 30% of the steps), then back up
        assert np.all(np.diff(got[:7, 0]) < 0) and np.all(np.diff(got[7:, 0]) > 0)
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(got, _momentum_trace(torch, optimizer, key, **options), rtol=1e-12)


def test_one_cycle_momentum_needs_an_optimizer_with_momentum_and_can_be_off():
    adagrad = npgrad.optim.Adagrad([npgrad.zeros(2, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="OneCycleLR: Adagrad has no momentum or betas to cycle; pass cycle_momentum=False"):
        lr_scheduler.OneCycleLR(adagrad, max_lr=1.0, total_steps=10)
    lr_scheduler.OneCycleLR(adagrad, max_lr=1.0, total_steps=10, cycle_momentum=False).step()
    sgd = SGD([npgrad.zeros(2, requires_grad=True)], lr=1.0, momentum=0.5)
    scheduler = lr_scheduler.OneCycleLR(sgd, max_lr=1.0, total_steps=10, cycle_momentum=False)
    scheduler.step()
    assert sgd.param_groups[0]["momentum"] == 0.5 and "max_momentum" not in sgd.param_groups[0]


def test_one_cycle_overrun_and_group_keys():
    optimizer = _optimizer()
    scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=[1.0, 2.0], total_steps=4)
    assert optimizer.param_groups[1]["max_lr"] == 2.0 and optimizer.param_groups[1]["initial_lr"] == 2.0 / 25
    for _ in range(4):
        scheduler.step()
    with pytest.raises(ValueError, match="total_steps=4"):
        scheduler.step()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda o: lr_scheduler.StepLR(o, step_size=0), "step_size"),
        (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), "T_max"),
        (lambda o: lr_scheduler.LinearLR(o, start_factor=0), "start_factor"),
        (lambda o: lr_scheduler.InverseTimeLR(o, decay_rate=-1), "decay_rate"),
        (lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0]), "one per param group"),
        (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0), "total_steps"),
        (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=10, anneal_strategy="exp"), "anneal_strategy"),
        (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=1.5), "pct_start"),
    ],
)
def test_invalid_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make(_optimizer())
