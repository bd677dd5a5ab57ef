"""nn.init: gains, fans, and the distributions' bounds and standard deviations on large tensors."""

import math

import numpy as np
import pytest

import npgrad
from npgrad import nn
from npgrad.nn import init


@pytest.mark.parametrize(("nonlinearity", "param", "gain"), [
    ("linear", None, 1.0), ("conv2d", None, 1.0), ("sigmoid", None, 1.0), ("tanh", None, 5 / 3),
    ("relu", None, math.sqrt(2)), ("leaky_relu", None, math.sqrt(2 / (1 + 0.01**2))),
    ("leaky_relu", 0.2, math.sqrt(2 / 1.04)), ("leaky_relu", math.sqrt(5), math.sqrt(1 / 3)), ("selu", None, 0.75),
])
def test_calculate_gain(nonlinearity, param, gain):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(gain, rel=1e-12)


def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch")
    for name in ("linear", "sigmoid", "tanh", "relu", "selu", "leaky_relu"):
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name), rel=1e-12)


def test_calculate_gain_rejects_unknown_input():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'gelu'"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="negative_slope True is not a valid number"):
        init.calculate_gain("leaky_relu", True)


@pytest.mark.parametrize(("shape", "fans"), [
    ((30, 20), (20, 30)),                 # Linear (out, in)
    ((16, 6, 5, 5), (150, 400)),          # Conv2d (out, in, kh, kw)
    ((8, 2, 3, 1), (6, 24)),              # grouped / non-square
    ((4, 3, 2), (6, 8)),
])
def test_fan_in_and_fan_out(shape, fans):
    assert init._calculate_fan_in_and_fan_out(npgrad.zeros(*shape)) == fans


def test_fan_matches_torch():
    torch = pytest.importorskip("torch")
    for shape in [(30, 20), (16, 6, 5, 5), (8, 2, 3, 1)]:
        assert init._calculate_fan_in_and_fan_out(np.zeros(shape)) == torch.nn.init._calculate_fan_in_and_fan_out(
            torch.zeros(shape))


def test_fan_needs_two_dimensions():
    with pytest.raises(ValueError, match=r"fewer than 2 dimensions, got shape \(5,\)"):
        init.xavier_uniform_(npgrad.zeros(5))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_normal_(npgrad.zeros(2, 2), mode="fan_avg")


SHAPE = (400, 100, 3, 3)  # fan_in 900, fan_out 3600, 360,000 values


def _uniform_bound(values, bound):
    assert values.min() >= -bound and values.max() <= bound
    assert values.max() > 0.999 * bound and values.min() < -0.999 * bound
    assert abs(values.std() - bound / math.sqrt(3)) < 0.005 * bound


@pytest.mark.parametrize(("fill", "bound"), [
    (lambda t: init.uniform_(t, -0.3, 0.3), 0.3),
    (lambda t: init.xavier_uniform_(t), math.sqrt(6 / 4500)),
    (lambda t: init.xavier_uniform_(t, gain=init.calculate_gain("tanh")), 5 / 3 * math.sqrt(6 / 4500)),
    (lambda t: init.kaiming_uniform_(t), math.sqrt(2) * math.sqrt(3 / 900)),  # a=0: leaky_relu gain sqrt(2)
    (lambda t: init.kaiming_uniform_(t, a=math.sqrt(5)), 1 / math.sqrt(900)),
    (lambda t: init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"), math.sqrt(2) * math.sqrt(3 / 3600)),
], ids=["uniform", "xavier", "xavier-tanh-gain", "kaiming", "kaiming-a-sqrt5", "kaiming-fan-out-relu"])
def test_uniform_initialisers_bounds_and_std(fill, bound):
    npgrad.manual_seed(0)
    t = npgrad.zeros(*SHAPE)
    assert fill(t) is t
    assert t.dtype == np.float32
    _uniform_bound(t.data, bound)


@pytest.mark.parametrize(("fill", "mean", "std"), [
    (lambda t: init.normal_(t, 0.5, 0.02), 0.5, 0.02),
    (lambda t: init.normal_(t, std=1e-3), 0.0, 1e-3),  # the classic weight_scale init
    (lambda t: init.xavier_normal_(t), 0.0, math.sqrt(2 / 4500)),
    (lambda t: init.kaiming_normal_(t, nonlinearity="relu"), 0.0, math.sqrt(2 / 900)),
    (lambda t: init.kaiming_normal_(t, a=0.1, mode="fan_out"), 0.0, math.sqrt(2 / 1.01) / math.sqrt(3600)),
], ids=["normal", "weight-scale", "xavier", "kaiming-relu", "kaiming-leaky-fan-out"])
def test_normal_initialisers_mean_and_std(fill, mean, std):
    npgrad.manual_seed(0)
    t = npgrad.zeros(*SHAPE)
    assert fill(t) is t
    assert abs(t.data.mean() - mean) < 0.01 * std + 1e-9
    assert abs(t.data.std() - std) < 0.005 * std


def test_constant_fills_keep_dtype_and_work_on_arrays():
    t = npgrad.Tensor(np.empty((2, 3)))  # float64
    assert init.constant_(t, 2.5) is t and (t.data == 2.5).all() and t.dtype == np.float64
    assert (init.ones_(t).data == 1).all() and not init.zeros_(t).data.any()
    array = np.empty((3, 4), dtype=np.float32)
    assert init.xavier_uniform_(array) is array and np.abs(array).max() <= math.sqrt(6 / 7)


def test_initialisers_modify_parameters_in_place_and_follow_the_seed():
    lin = nn.Linear(50, 40)
    data = lin.weight.data
    npgrad.manual_seed(11)
    init.kaiming_normal_(lin.weight)
    assert lin.weight.data is data
    first = data.copy()
    npgrad.manual_seed(11)
    init.kaiming_normal_(lin.weight)
    np.testing.assert_array_equal(lin.weight.data, first)
    npgrad.manual_seed(11)
    double = init.kaiming_normal_(npgrad.Tensor(np.zeros((40, 50))))
    np.testing.assert_allclose(double.data, first, rtol=1e-6)  # drawn in float64, then cast
