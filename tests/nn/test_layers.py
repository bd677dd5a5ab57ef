"""Layers: output equals the functional op, parameter shapes and default init, batch-norm state, validation."""

import math

import numpy as np
import pytest

import npgrad
from npgrad import nn
from npgrad.nn import functional as F

rng = np.random.default_rng(7)


def _x(*shape):
    return npgrad.Tensor(rng.standard_normal(shape).astype(np.float32))


# (layer, input shape, the same computation through nn.functional)
LAYERS = [
    (lambda: nn.Linear(5, 3), (4, 5), lambda m, x: F.linear(x, m.weight, m.bias)),
    (lambda: nn.Linear(5, 3, bias=False), (2, 6, 5), lambda m, x: F.linear(x, m.weight)),
    (lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), (2, 4, 7, 6),
     lambda m, x: F.conv2d(x, m.weight, m.bias, stride=2, padding=1, groups=2)),
    (lambda: nn.Conv2d(2, 3, (3, 2), dilation=(1, 2), bias=False), (1, 2, 6, 6),
     lambda m, x: F.conv2d(x, m.weight, None, dilation=(1, 2))),
    (lambda: nn.Conv2d(2, 3, 3, padding="same"), (1, 2, 5, 4), lambda m, x: F.conv2d(x, m.weight, m.bias, padding=1)),
    (lambda: nn.MaxPool2d(3, 2, 1), (2, 3, 7, 7), lambda m, x: F.max_pool2d(x, 3, 2, 1)),
    (lambda: nn.MaxPool2d(2), (1, 2, 6, 4), lambda m, x: F.max_pool2d(x, 2, 2)),
    (lambda: nn.AvgPool2d(3, 1, 1, count_include_pad=False), (1, 2, 5, 5),
     lambda m, x: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)),
    (lambda: nn.AvgPool2d(2), (2, 2, 4, 6), lambda m, x: F.avg_pool2d(x, 2, 2)),
    (lambda: nn.MaxPool2d(3, 2, 1, 2, ceil_mode=True), (1, 2, 8, 9),
     lambda m, x: F.max_pool2d(x, 3, 2, 1, dilation=2, ceil_mode=True)),
    (lambda: nn.AvgPool2d(3, 2, 1, True, False, 4), (2, 2, 6, 7),  # PyTorch's positional order
     lambda m, x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False, divisor_override=4)),
    (lambda: nn.LocalResponseNorm(3, 0.5, 0.75, 2.0), (2, 5, 3, 4), lambda m, x: F.local_response_norm(x, 3, 0.5, 0.75, 2.0)),
    (lambda: nn.AdaptiveMaxPool2d((2, None)), (2, 3, 5, 7), lambda m, x: F.adaptive_max_pool2d(x, (2, None))),
    (lambda: nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 5, 7), lambda m, x: F.adaptive_avg_pool2d(x, (2, 3))),
    (lambda: nn.LayerNorm((3, 4)), (2, 5, 3, 4), lambda m, x: F.layer_norm(x, (3, 4), m.weight, m.bias)),
    (lambda: nn.LayerNorm(4, elementwise_affine=False), (3, 4), lambda m, x: F.layer_norm(x, (4,))),
    (lambda: nn.GroupNorm(2, 4, eps=1e-3), (2, 4, 3, 3), lambda m, x: F.group_norm(x, 2, m.weight, m.bias, eps=1e-3)),
    (lambda: nn.ReLU(), (3, 4), lambda m, x: F.relu(x)),
    (lambda: nn.ReLU(inplace=True), (3, 4), lambda m, x: F.relu(x)),
    (lambda: nn.LeakyReLU(0.2), (3, 4), lambda m, x: F.leaky_relu(x, 0.2)),
    (lambda: nn.ELU(0.5), (3, 4), lambda m, x: F.elu(x, 0.5)),
    (lambda: nn.SiLU(), (3, 4), lambda m, x: F.silu(x)),
    (lambda: nn.Softplus(2, 5), (3, 4), lambda m, x: F.softplus(x, 2, 5)),
    (lambda: nn.Hardtanh(-2, 3.5), (3, 4), lambda m, x: F.hardtanh(x, -2, 3.5)),
    (lambda: nn.ReLU6(inplace=True), (3, 4), lambda m, x: F.relu6(x)),
    (lambda: nn.Sigmoid(), (3, 4), lambda m, x: F.sigmoid(x)),
    (lambda: nn.Tanh(), (3, 4), lambda m, x: F.tanh(x)),
    (lambda: nn.Softmax(dim=0), (3, 4), lambda m, x: F.softmax(x, 0)),
    (lambda: nn.Softmax(), (3, 4), lambda m, x: F.softmax(x, -1)),
    (lambda: nn.LogSoftmax(dim=1), (2, 3, 4), lambda m, x: F.log_softmax(x, 1)),
    (lambda: nn.Flatten(), (2, 3, 4, 5), lambda m, x: x.reshape(2, 60)),
    (lambda: nn.Flatten(0, 1), (2, 3, 4), lambda m, x: x.reshape(6, 4)),
    (lambda: nn.Identity(3, unused=True), (2, 3), lambda m, x: x),
]


@pytest.mark.parametrize(("make", "shape", "functional"), LAYERS, ids=lambda v: "" if callable(v) else str(v))
def test_layer_output_equals_the_functional_op(make, shape, functional):
    layer = make()
    for param in layer.parameters():  # not the identity affine of a norm layer
        param.data += rng.standard_normal(param.shape).astype(np.float32)
    x = _x(*shape)
    out = layer(x)
    np.testing.assert_array_equal(out.data, functional(layer, x).data)
    assert out.dtype == np.float32


def test_layers_are_differentiable_through_their_parameters():
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.GroupNorm(3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 2))
    model(_x(2, 2, 4, 4)).sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape and p.grad.any() for p in model.parameters())


# ------------------------------------------------------------ default init
def test_linear_shapes_dtype_and_default_init_bounds():
    npgrad.manual_seed(0)
    lin = nn.Linear(400, 300)
    assert lin.weight.shape == (300, 400) and lin.bias.shape == (300,)
    assert lin.weight.dtype == lin.bias.dtype == np.float32
    bound = 1 / math.sqrt(400)
    for values in (lin.weight.data, lin.bias.data):
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.98 * bound
        assert abs(values.mean()) < 0.1 * bound
    assert abs(lin.weight.data.std() - bound / math.sqrt(3)) < 0.01 * bound  # U(-b, b) has std b / sqrt(3)
    assert nn.Linear(3, 2, bias=False).bias is None


def test_conv_default_init_uses_the_grouped_fan_in():
    npgrad.manual_seed(0)
    conv = nn.Conv2d(32, 64, (3, 5), groups=4)
    assert conv.weight.shape == (64, 8, 3, 5)
    bound = 1 / math.sqrt(8 * 3 * 5)  # fan_in = in_channels / groups * kh * kw = 120
    for values in (conv.weight.data, conv.bias.data):
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.9 * bound
    assert conv.kernel_size == (3, 5) and conv.stride == (1, 1) and conv.padding == (0, 0) and conv.dilation == (1, 1)


def test_default_init_is_reproducible_with_manual_seed():
    npgrad.manual_seed(3)
    a = nn.Conv2d(3, 4, 3)
    npgrad.manual_seed(3)
    b = nn.Conv2d(3, 4, 3)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    a.reset_parameters()
    assert not np.array_equal(a.weight.data, b.weight.data)


@pytest.mark.parametrize("make", [lambda: nn.BatchNorm2d(5), lambda: nn.LayerNorm(5), lambda: nn.GroupNorm(1, 5)])
def test_norm_layers_start_as_weight_one_bias_zero(make):
    layer = make()
    np.testing.assert_array_equal(layer.weight.data, np.ones(5, np.float32))
    np.testing.assert_array_equal(layer.bias.data, np.zeros(5, np.float32))
    layer.weight.data[:] = 3
    layer.reset_parameters()
    assert (layer.weight.data == 1).all()


def test_norm_bias_and_affine_switches():
    assert nn.LayerNorm(3, bias=False).bias is None and nn.LayerNorm(3, bias=False).weight is not None
    assert nn.GroupNorm(1, 3, bias=False).bias is None
    assert nn.BatchNorm1d(3, affine=False).num_parameters() == 0
    assert nn.LayerNorm(3, elementwise_affine=False).num_parameters() == 0


# -------------------------------------------------------------- batch norm
def test_batch_norm_training_updates_running_statistics():
    bn = nn.BatchNorm2d(3, momentum=0.2)
    x = _x(4, 3, 2, 5) * 3 + 1
    out = bn(x)
    np.testing.assert_array_equal(out.data, F.batch_norm(x, None, None, bn.weight, bn.bias, training=True).data)
    mean = x.data.mean(axis=(0, 2, 3))
    var = x.data.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(bn.running_mean.data, 0.2 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.data, 0.8 + 0.2 * var, rtol=1e-5)
    assert bn.num_batches_tracked.item() == 1
    bn(x)
    assert bn.num_batches_tracked.item() == 2


def test_batch_norm_eval_uses_running_statistics_and_does_not_update():
    bn = nn.BatchNorm1d(4)
    bn.running_mean.data[:] = [1, 2, 3, 4]
    bn.running_var.data[:] = [1, 4, 9, 16]
    bn.eval()
    x = _x(3, 4, 2)
    expected = (x.data - bn.running_mean.data[:, None]) / np.sqrt(bn.running_var.data[:, None] + 1e-5)
    np.testing.assert_allclose(bn(x).data, expected, rtol=1e-5, atol=1e-6)
    assert bn.num_batches_tracked.item() == 0 and bn.running_mean.data[0] == 1


def test_batch_norm_momentum_none_is_a_cumulative_average():
    bn = nn.BatchNorm1d(2, momentum=None)
    batches = [_x(8, 2) + i for i in range(3)]
    for batch in batches:
        bn(batch)
    np.testing.assert_allclose(bn.running_mean.data, np.mean([b.data.mean(0) for b in batches], axis=0), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.data, np.mean([b.data.var(0, ddof=1) for b in batches], axis=0), rtol=1e-5)


def test_batch_norm_without_running_statistics_always_uses_the_batch():
    bn = nn.BatchNorm2d(2, track_running_stats=False)
    assert bn.running_mean is None and list(bn.state_dict()) == ["weight", "bias"]
    x = _x(3, 2, 2, 2)
    np.testing.assert_array_equal(bn.eval()(x).data, nn.BatchNorm2d(2)(x).data)


def test_batch_norm_checks_the_input_rank():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected input of shape \(N, C, H, W\), got shape \(2, 3\)"):
        nn.BatchNorm2d(3)(_x(2, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected input of shape \(N, C\) or \(N, C, L\)"):
        nn.BatchNorm1d(3)(_x(2, 3, 1, 1))
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError):
        bn(_x(1, 3))  # one value per channel in training
    assert bn.num_batches_tracked.item() == 0  # a failed forward does not count


# --------------------------------------------------------------- dropout
def test_dropout_in_training_and_eval():
    x = npgrad.ones(200, 50)
    drop = nn.Dropout(0.3)
    npgrad.manual_seed(5)
    out = drop(x)
    npgrad.manual_seed(5)
    np.testing.assert_array_equal(out.data, F.dropout(x, 0.3, True).data)
    assert set(np.unique(out.data)) == {0.0, np.float32(1 / 0.7)}
    assert abs((out.data == 0).mean() - 0.3) < 0.02
    assert drop.eval()(x) is x
    with pytest.raises(ValueError, match=r"Dropout: p must be a probability in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)


# ---------------------------------------------------------------- validation
def test_constructor_validation():
    with pytest.raises(ValueError, match=r"in_channels \(3\) and out_channels \(4\) must be divisible by groups \(2\)"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair"):
        nn.Conv2d(3, 4, (1, 2, 3))
    with pytest.raises(ValueError, match=r"num_channels \(5\) must be divisible by num_groups \(2\)"):
        nn.GroupNorm(2, 5)


def test_pool_stride_defaults_to_the_kernel_size():
    assert nn.MaxPool2d(3).stride == 3 and nn.AvgPool2d((2, 3)).stride == (2, 3) and nn.MaxPool2d(3, 1).stride == 1


# ------------------------------------------------------------------- losses
def _logits_and_classes():
    return _x(6, 4), np.array([0, 3, 1, 1, 2, 3])


def test_loss_modules_equal_the_functional_losses():
    logits, classes = _logits_and_classes()
    weight = np.array([1.0, 2.0, 0.5, 1.5], dtype=np.float32)
    pairs = [
        (nn.CrossEntropyLoss(), F.cross_entropy(logits, classes)),
        (nn.CrossEntropyLoss(weight, label_smoothing=0.1, ignore_index=3, reduction="sum"),
         F.cross_entropy(logits, classes, weight=weight, label_smoothing=0.1, ignore_index=3, reduction="sum")),
        (nn.MultiMarginLoss(p=2, margin=0.5, weight=weight),
         F.multi_margin_loss(logits, classes, p=2, margin=0.5, weight=weight)),
        (nn.MultiMarginLoss(reduction="none"), F.multi_margin_loss(logits, classes, reduction="none")),
    ]
    for module, expected in pairs:
        np.testing.assert_array_equal(module(logits, classes).data, expected.data)
    probabilities = npgrad.Tensor(rng.uniform(0.05, 0.95, (6, 4)).astype(np.float32))
    targets = (rng.random((6, 4)) > 0.5).astype(np.float32)
    pos_weight = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    pairs = [
        (nn.BCEWithLogitsLoss(pos_weight=pos_weight), F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight)),
        (nn.BCEWithLogitsLoss(weight, reduction="none"),
         F.binary_cross_entropy_with_logits(logits, targets, weight, reduction="none")),
        (nn.BCELoss(), F.binary_cross_entropy(probabilities, targets)),
        (nn.MSELoss(reduction="sum"), F.mse_loss(logits, targets, reduction="sum")),
        (nn.L1Loss(), F.l1_loss(logits, targets)),
        (nn.SmoothL1Loss(beta=0.5, reduction="none"), F.smooth_l1_loss(logits, targets, beta=0.5, reduction="none")),
        (nn.HuberLoss(delta=2.0), F.huber_loss(logits, targets, delta=2.0)),
    ]
    for module, expected in pairs:
        x = probabilities if isinstance(module, nn.BCELoss) else logits
        np.testing.assert_array_equal(module(x, targets).data, expected.data)


def test_loss_weights_are_buffers():
    loss = nn.CrossEntropyLoss(weight=[1.0, 2.0])
    assert isinstance(loss.weight, npgrad.Tensor) and loss.weight.dtype == np.float32
    assert list(loss.state_dict()) == ["weight"] and loss.num_parameters() == 0
    assert list(nn.BCEWithLogitsLoss(pos_weight=np.ones(3)).state_dict()) == ["pos_weight"]
    assert list(nn.MSELoss().state_dict()) == []
    assert loss.double().weight.dtype == np.float64


def test_convert_sync_batchnorm_replaces_batch_norms_sharing_their_tensors():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, momentum=None), nn.Flatten(), nn.BatchNorm1d(8, affine=False))
    model.eval()
    weight, running_mean = model[1].weight, model[1].running_mean
    before = model.state_dict()
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model and isinstance(model[1], nn.SyncBatchNorm) and isinstance(model[3], nn.SyncBatchNorm)
    assert model[1].weight is weight and model[1].running_mean is running_mean and model[1].momentum is None
    assert model[3].weight is None and not model[1].training
    assert list(model.state_dict()) == list(before)
    root = nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm2d(3))
    assert isinstance(root, nn.SyncBatchNorm) and root.num_features == 3


def test_sync_batch_norm_in_one_process_is_batch_norm():
    npgrad.manual_seed(0)
    x = npgrad.randn(4, 3, 2, 2)
    plain, sync = nn.BatchNorm2d(3), nn.SyncBatchNorm(3)
    np.testing.assert_array_equal(sync(x).data, plain(x).data)
    np.testing.assert_array_equal(sync.running_var.data, plain.running_var.data)
    with pytest.raises(ValueError, match="process_group"):
        nn.SyncBatchNorm(3, process_group=object())


@pytest.mark.mpi
@pytest.mark.parametrize("shape", [(8, 3, 4, 4), (6, 5)])
def test_sync_batch_norm_on_two_ranks_equals_batch_norm_of_the_whole_batch(mpirun, shape):
    """Forward, dx, the summed weight/bias grads and the running statistics, against one BatchNorm over both shards."""
    mpirun(f"""
        import numpy as np
        import npgrad
        import npgrad.distributed as dist
        from npgrad import nn
        dist.init_process_group()
        rank = dist.get_rank()
        shape = {shape!r}
        rng = np.random.default_rng(0)
        x, upstream = rng.normal(3, 2, shape), rng.standard_normal(shape)
        half = slice(rank * shape[0] // 2, (rank + 1) * shape[0] // 2)
        sync = nn.SyncBatchNorm(shape[1]).double()
        plain = nn.BatchNorm2d(shape[1]).double() if len(shape) == 4 else nn.BatchNorm1d(shape[1]).double()
        for layer in (sync, plain):
            layer.weight.data[...] = np.linspace(0.5, 2, shape[1])
            layer.bias.data[...] = 0.3
        for step in range(2):
            xs, xp = npgrad.Tensor(x[half] + step, requires_grad=True), npgrad.Tensor(x + step, requires_grad=True)
            ys, yp = sync(xs), plain(xp)
            (ys * npgrad.Tensor(upstream[half])).sum().backward()
            (yp * npgrad.Tensor(upstream)).sum().backward()
            np.testing.assert_allclose(ys.data, yp.data[half], rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(xs.grad, xp.grad[half], rtol=1e-10, atol=1e-12)
            for p in sync.parameters():
                dist.all_reduce(p.grad)  # the sum over ranks, as for the loss summed over both shards
            np.testing.assert_allclose(sync.weight.grad, plain.weight.grad, rtol=1e-10)
            np.testing.assert_allclose(sync.bias.grad, plain.bias.grad, rtol=1e-10)
            sync.zero_grad(), plain.zero_grad()
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            np.testing.assert_allclose(getattr(sync, name).data, getattr(plain, name).data, rtol=1e-12, err_msg=name)
    """)


def test_max_pool_indices_feed_max_unpool_as_in_pytorch():
    x = _x(2, 3, 7, 9)
    out, indices = nn.MaxPool2d(2, return_indices=True)(x)
    np.testing.assert_array_equal(out.data, F.max_pool2d(x, 2).data)
    restored = nn.MaxUnpool2d(2)(out, indices, output_size=x.shape)
    np.testing.assert_array_equal(restored.data, F.max_unpool2d(out, indices, 2, output_size=x.shape).data)


@pytest.mark.parametrize("make", [lambda m: m.MaxPool2d(3, 2, 1, 2, True, True), lambda m: m.MaxPool2d(2),
                                  lambda m: m.AvgPool2d(3, 2, 1, True, False, 2), lambda m: m.MaxUnpool2d(3, 2),
                                  lambda m: m.AdaptiveMaxPool2d((2, None), True), lambda m: m.ELU(0.5), lambda m: m.SiLU(),
                                  lambda m: m.Softplus(2, 5), lambda m: m.Hardtanh(-2, 3.5), lambda m: m.ReLU6(),
                                  lambda m: m.LocalResponseNorm(5), lambda m: m.LocalResponseNorm(2, 1e-3, 0.5, 2)])
def test_pool_lrn_and_activation_reprs_match_pytorch(make):
    torch = pytest.importorskip("torch")
    assert repr(make(nn)) == repr(make(torch.nn))
