"""LazyLinear / LazyConv2d / LazyBatchNorm1d/2d: sized by the first input, then exactly the eager layer (PyTorch's semantics)."""

import numpy as np
import pytest

import npgrad
from npgrad import nn


def _x(*shape):
    return npgrad.Tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32))


def test_lazy_linear_materialises_on_the_first_forward_as_the_same_draws_as_linear():
    lazy = nn.LazyLinear(5)
    assert lazy.weight is None and lazy.bias is None and lazy.num_parameters() == 0
    assert repr(lazy) == "LazyLinear(in_features=0, out_features=5, bias=True)"
    npgrad.manual_seed(3)
    y = lazy(_x(2, 7))
    npgrad.manual_seed(3)
    eager = nn.Linear(7, 5)
    assert type(lazy) is nn.Linear and lazy.in_features == 7 and y.shape == (2, 5)
    assert repr(lazy) == repr(eager) and list(lazy.state_dict()) == ["weight", "bias"]
    np.testing.assert_array_equal(lazy.weight.data, eager.weight.data)
    np.testing.assert_array_equal(lazy.bias.data, eager.bias.data)
    np.testing.assert_allclose(y.data, eager(_x(2, 7)).data)
    assert nn.LazyLinear(3, bias=False)(_x(4, 2)).shape == (4, 3)


@pytest.mark.parametrize(("kwargs", "channels"), [
    ({"kernel_size": 3, "padding": 1}, 3),
    ({"kernel_size": (3, 2), "stride": 2, "bias": False}, 2),
    ({"kernel_size": 3, "groups": 2, "dilation": 2}, 4),
])
def test_lazy_conv2d_materialises_as_conv2d(kwargs, channels):
    lazy = nn.LazyConv2d(4, **kwargs)
    assert lazy.weight is None and lazy.num_parameters() == 0 and lazy.in_channels == 0
    npgrad.manual_seed(1)
    y = lazy(_x(2, channels, 7, 7))
    npgrad.manual_seed(1)
    eager = nn.Conv2d(channels, 4, **kwargs)
    assert type(lazy) is nn.Conv2d and repr(lazy) == repr(eager)
    np.testing.assert_array_equal(lazy.weight.data, eager.weight.data)
    np.testing.assert_allclose(y.data, eager(_x(2, channels, 7, 7)).data)


def test_lazy_conv2d_checks_groups():
    with pytest.raises(ValueError, match="out_channels"):
        nn.LazyConv2d(3, 3, groups=2)
    with pytest.raises(ValueError, match="not divisible by groups"):
        nn.LazyConv2d(4, 3, groups=2)(_x(1, 3, 5, 5))


def test_summary_counts_the_parameters_of_a_lazy_model():
    model = nn.Sequential(nn.LazyConv2d(4, 3), nn.Flatten(), nn.LazyLinear(2))
    report = nn.summary(model, (1, 6, 6))
    assert report.total_params == (4 * 9 + 4) + (4 * 16 * 2 + 2) == model.num_parameters()


def test_lazy_layers_match_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = nn.LazyLinear(3), torch.nn.LazyLinear(3)
    x = _x(2, 6)
    ours(x), theirs(torch.from_numpy(x.data))
    assert type(theirs) is torch.nn.Linear and theirs.in_features == ours.in_features == 6
    conv_ours, conv_theirs = nn.LazyConv2d(2, 3, padding=1), torch.nn.LazyConv2d(2, 3, padding=1)
    conv_ours(_x(1, 5, 4, 4)), conv_theirs(torch.zeros(1, 5, 4, 4))
    assert tuple(conv_theirs.weight.shape) == conv_ours.weight.shape
    assert {k: tuple(v.shape) for k, v in conv_theirs.state_dict().items()} == {
        k: v.shape for k, v in conv_ours.state_dict().items()}


@pytest.mark.parametrize(("lazy", "eager", "shape"), [
    (lambda **kw: nn.LazyBatchNorm2d(**kw), nn.BatchNorm2d, (4, 3, 5, 5)),
    (lambda **kw: nn.LazyBatchNorm1d(**kw), nn.BatchNorm1d, (6, 7)),
    (lambda **kw: nn.LazyBatchNorm1d(**kw), nn.BatchNorm1d, (6, 2, 5)),
])
@pytest.mark.parametrize("kwargs", [{}, {"momentum": None, "affine": False}, {"eps": 1e-3, "track_running_stats": False}])
def test_lazy_batch_norm_materialises_as_the_eager_one(lazy, eager, shape, kwargs):
    layer = lazy(**kwargs)
    assert layer.num_parameters() == 0 and layer.weight is None and layer.running_mean is None
    assert repr(layer).startswith(f"Lazy{eager.__name__}(0, ")
    x = _x(*shape)
    y = layer(x)  # training mode: batch statistics, and the running statistics move
    reference = eager(shape[1], **kwargs)
    assert type(layer) is eager and repr(layer) == repr(reference)
    assert list(layer.state_dict()) == list(reference.state_dict())
    np.testing.assert_array_equal(y.data, reference(x).data)
    for name, value in reference.state_dict().items():
        np.testing.assert_array_equal(layer.state_dict()[name], value)


def test_lazy_batch_norm_checks_the_input_and_matches_pytorch_repr():
    with pytest.raises(ValueError, match=r"LazyBatchNorm2d: expected input of shape \(N, C, H, W\), got shape \(2, 3\)"):
        nn.LazyBatchNorm2d()(_x(2, 3))
    torch = pytest.importorskip("torch")
    for make in (lambda m: m.LazyBatchNorm2d(), lambda m: m.LazyBatchNorm1d(momentum=None, affine=False)):
        assert repr(make(nn)) == repr(make(torch.nn))


def test_d2l_style_lazy_batch_norm_lenet_trains():
    npgrad.manual_seed(0)
    net = nn.Sequential(nn.LazyConv2d(6, kernel_size=5), nn.LazyBatchNorm2d(), nn.Sigmoid(), nn.AvgPool2d(2, 2),
                        nn.Flatten(), nn.LazyLinear(10), nn.LazyBatchNorm1d())
    x, y = _x(8, 1, 12, 12), np.arange(8) % 10
    net(x)  # the dry run that sizes every lazy layer, then the optimizer
    assert [type(m).__name__ for m in net][:2] == ["Conv2d", "BatchNorm2d"] and type(net[-1]) is nn.BatchNorm1d
    optimizer = npgrad.optim.SGD(net.parameters(), lr=0.5)
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
