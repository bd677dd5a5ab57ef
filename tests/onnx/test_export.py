"""ONNX export: every zoo model and every converter, checked by running the file in onnxruntime."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import npgrad
from npgrad import nn
from npgrad.errors import UnsupportedError
from npgrad.models import registry
from npgrad.nn import functional as F

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from npgrad import onnx as npgrad_onnx  # noqa: E402

# Default image sizes throughout; the widest models with narrower layers so the suite stays quick
# (the architecture and the ops are the same; test_full_width_zoo_models below runs them as defined).
NARROW = {"alexnet": dict(width_ratio=4, hidden_dim=256), "vgg": dict(width_ratio=8, hidden_dim=256)}
ZOO = ["logistic_regression", "mlp", "three_layer_convnet", "lenet", "lenet_bn", "alexnet", "vgg", "nin", "googlenet",
       "resnet18", "resnet34"]


def default_size(name: str) -> int:
    return inspect.signature(registry.get(name).builder).parameters["image_size"].default


def run_onnx(path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def npgrad_eval(model: nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    with npgrad.no_grad():
        return model(npgrad.Tensor(x)).data


def check_export(model: nn.Module, x: np.ndarray, tmp_path, batches=(1, 7), atol=1e-4, **options) -> onnx.ModelProto:
    path = tmp_path / "model.onnx"
    proto = npgrad_onnx.export(model, x, path, **options)
    rng = np.random.default_rng(1)
    for n in batches:
        xb = rng.standard_normal((n, *x.shape[1:])).astype(x.dtype)
        expected = npgrad_eval(model, xb)
        got = run_onnx(path, xb)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=atol, rtol=1e-4)
    return proto


def with_running_stats(model: nn.Module, x_shape) -> nn.Module:
    """One training forward, so batch norms have non-trivial running statistics to export."""
    model.train()
    model(npgrad.Tensor(np.random.default_rng(2).standard_normal((4, *x_shape[1:])).astype(np.float32)))
    return model.eval()


@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_runs_in_onnxruntime_at_batch_1_and_7(name, tmp_path):
    size = default_size(name)
    npgrad.manual_seed(0)
    model = npgrad.models.create(name, in_channels=1, num_classes=10, image_size=size, **NARROW.get(name, {}))
    x = np.zeros((1, 1, size, size), np.float32)
    with_running_stats(model, x.shape)
    proto = check_export(model, x, tmp_path)
    initializers = {init.name for init in proto.graph.initializer}
    assert set(model.state_dict()) - {k for k in model.state_dict() if k.endswith("num_batches_tracked")} <= initializers
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert model.training is False


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NARROW))
def test_full_width_zoo_models(name, tmp_path):
    size = default_size(name)
    model = npgrad.models.create(name, in_channels=3, num_classes=10, image_size=size)
    check_export(model, np.zeros((1, 3, size, size), np.float32), tmp_path, batches=(1, 2))


class Ops(nn.Module):
    """One converter under test: ``fn(x, module)``, with the module holding any parameters."""

    def __init__(self, fn, **layers):
        super().__init__()
        self.fn = fn
        for name, layer in layers.items():
            setattr(self, name, layer)

    def forward(self, x):
        return self.fn(x, self)


OP_CASES = {
    "conv stride 2, padding 1": (lambda x, m: m.conv(x), dict(conv=nn.Conv2d(3, 4, 3, stride=2, padding=1)), (2, 3, 9, 7)),
    "conv same, even kernel (asymmetric pads)": (lambda x, m: m.conv(x), dict(conv=nn.Conv2d(3, 4, (2, 4), padding="same")),
                                                 (2, 3, 8, 9)),
    "conv dilation 2, groups 3, no bias": (lambda x, m: m.conv(x),
                                           dict(conv=nn.Conv2d(3, 6, 3, dilation=2, groups=3, bias=False)), (2, 3, 11, 10)),
    "linear on 3-D input": (lambda x, m: m.fc(x.reshape(x.shape[0], 3, -1)), dict(fc=nn.Linear(63, 5)), (2, 3, 7, 9)),
    "max pool 3/2 padding 1": (lambda x, m: F.max_pool2d(x, 3, 2, 1), {}, (2, 3, 9, 8)),
    "avg pool without the padding in the divisor": (lambda x, m: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), {},
                                                    (2, 3, 9, 8)),
    "avg pool with the padding in the divisor": (lambda x, m: F.avg_pool2d(x, 3, 2, 1), {}, (2, 3, 9, 8)),
    "max pool ceil mode, dilation 2": (lambda x, m: F.max_pool2d(x, 3, 2, 1, dilation=2, ceil_mode=True), {},
                                       (2, 3, 9, 8)),
    "max pool ceil mode dropping a window that would start in the padding": (
        lambda x, m: F.max_pool2d(x, 2, 2, 1, ceil_mode=True), {}, (2, 3, 7, 6)),
    "max pool layer, ceil mode, odd size": (lambda x, m: m.pool(x), dict(pool=nn.MaxPool2d(3, 2, ceil_mode=True)),
                                            (1, 2, 8, 8)),
    "avg pool ceil mode, padding in the divisor": (lambda x, m: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True), {}, (2, 3, 7, 6)),
    "avg pool ceil mode, no padding in the divisor": (
        lambda x, m: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), {}, (2, 3, 7, 6)),
    "avg pool divisor_override, ceil mode": (
        lambda x, m: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False, divisor_override=4), {},
        (2, 3, 7, 6)),
    "local response norm, AlexNet's": (lambda x, m: m.lrn(x), dict(lrn=nn.LocalResponseNorm(5)), (2, 7, 4, 3)),
    "local response norm, odd size, large alpha": (lambda x, m: F.local_response_norm(x, 3, 2.0, 0.75, 1.5), {},
                                                   (2, 5, 4, 3)),
    "local response norm, even size (as a convolution)": (lambda x, m: F.local_response_norm(x, 4, 2.0, 0.6, 1.5), {},
                                                          (2, 6, 4, 3)),
    "local response norm, 3-D input, size > C": (lambda x, m: F.local_response_norm(x.reshape(x.shape[0], 3, -1), 6, 1.0),
                                                 {}, (2, 3, 4, 3)),
    "adaptive avg pool, uneven bins": (lambda x, m: F.adaptive_avg_pool2d(x, (3, 4)), {}, (2, 3, 7, 9)),
    "global average pool": (lambda x, m: F.adaptive_avg_pool2d(x, 1), {}, (2, 3, 7, 9)),
    "layer norm": (lambda x, m: m.ln(x), dict(ln=nn.LayerNorm([7, 9])), (2, 3, 7, 9)),
    "group norm": (lambda x, m: m.gn(x), dict(gn=nn.GroupNorm(2, 4)), (2, 4, 5, 3)),
    "batch norm 1-d": (lambda x, m: m.bn(x.reshape(x.shape[0], -1)), dict(bn=nn.BatchNorm1d(12)), (3, 3, 2, 2)),
    "leaky relu, tanh, sigmoid": (lambda x, m: F.sigmoid(F.tanh(F.leaky_relu(x, 0.2))), {}, (2, 3, 4, 5)),
    "elu, silu, hardtanh, relu6": (lambda x, m: F.relu6(F.hardtanh(F.silu(F.elu(x, 0.5)), -0.4, 2.0) * 4.0), {},
                                   (2, 3, 4, 5)),
    "softplus, default and with beta and a low threshold": (
        lambda x, m: F.softplus(x) + F.softplus(x * 3.0, 2.0, 1.0), {}, (2, 3, 4, 5)),
    "softmax and log_softmax": (lambda x, m: F.softmax(x, dim=1) + F.log_softmax(x, dim=-1), {}, (2, 3, 4, 5)),
    "concat, permute, arithmetic with constants": (
        lambda x, m: (npgrad.cat([x * 2.0, x - 1.0, x / 3.0], dim=1).permute(0, 2, 3, 1)
                      + x.mean(dim=1, keepdim=True).permute(0, 2, 3, 1)),
        {}, (2, 3, 4, 5)),
    "parameters transformed in forward (folded to a constant)": (
        lambda x, m: x.reshape(x.shape[0], -1) @ m.fc.weight.permute(1, 0), dict(fc=nn.Linear(60, 4)), (2, 3, 4, 5)),
}


@pytest.mark.parametrize("case", OP_CASES)
def test_converter(case, tmp_path):
    fn, layers, shape = OP_CASES[case]
    model = Ops(fn, **layers)
    x = np.zeros(shape, np.float32)
    if "bn" in layers:
        with_running_stats(model, shape)
    check_export(model, x, tmp_path, batches=(1, shape[0] + 3))


def test_unsupported_operator_names_the_op_and_the_module(tmp_path):
    class Block(nn.Module):
        def forward(self, x):
            return x[:, :1]  # indexing has no converter

    model = nn.Sequential(nn.ReLU(), nn.Sequential(Block()))
    with pytest.raises(UnsupportedError, match=r"GetItem.*'1\.0'"):
        npgrad_onnx.export(model, np.zeros((1, 3), np.float32), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("pool", [lambda x: F.max_pool2d(x, (2, 3), 2, 1, ceil_mode=True),
                                  lambda x: F.avg_pool2d(x, (2, 3), 2, 1, ceil_mode=True)])
def test_ceil_mode_adding_a_window_on_one_axis_and_dropping_it_on_the_other_needs_opset_22(pool, tmp_path):
    model = Ops(lambda x, m: pool(x))  # 7 rows: ceil would start a window in the padding; 6 columns: one more window
    x = np.zeros((2, 3, 7, 6), np.float32)
    with pytest.raises(UnsupportedError, match=r"needs opset_version=22 or later: .* makes it \(5, 4\)"):
        npgrad_onnx.export(model, x, tmp_path / "m.onnx")
    assert pool(npgrad.Tensor(x)).shape[2:] == (4, 4)
    check_export(model, x, tmp_path, opset_version=22)


def test_max_pool_indices_do_not_export(tmp_path):
    model = Ops(lambda x, m: F.max_pool2d(x, 2, return_indices=True)[0])
    with pytest.raises(UnsupportedError, match="max_pool2d with return_indices=True is not supported"):
        npgrad_onnx.export(model, np.zeros((1, 1, 4, 4), np.float32), tmp_path / "m.onnx")


def test_reshape_of_the_batch_dimension_needs_a_fixed_batch(tmp_path):
    model = Ops(lambda x, m: x.reshape(-1))
    with pytest.raises(UnsupportedError, match="dynamic_batch=False"):
        npgrad_onnx.export(model, np.zeros((2, 3), np.float32), tmp_path / "m.onnx")
    proto = npgrad_onnx.export(model, np.zeros((2, 3), np.float32), tmp_path / "m.onnx", dynamic_batch=False)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 2
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(run_onnx(tmp_path / "m.onnx", x), x.reshape(-1))


def test_names_opset_metadata_and_training_mode_restored(tmp_path):
    model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5))
    model.train()
    proto = npgrad_onnx.export(model, np.zeros((1, 4), np.float32), tmp_path / "m.onnx", input_names=["pixels"],
                               output_names=["logits"], opset_version=20, metadata={"classes": '["a", "b", "c"]'})
    assert model.training  # restored
    assert [i.name for i in proto.graph.input] == ["pixels"] and [o.name for o in proto.graph.output] == ["logits"]
    assert proto.opset_import[0].version == 20
    assert {p.key: p.value for p in proto.metadata_props} == {"classes": '["a", "b", "c"]'}
    assert "Dropout" not in {n.op_type for n in proto.graph.node}  # evaluation mode: dropout is the identity
    loaded = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(loaded, full_check=True)
    with pytest.raises(ValueError, match="opset_version"):
        npgrad_onnx.export(model, np.zeros((1, 4), np.float32), tmp_path / "old.onnx", opset_version=11)


def test_default_opset_runs_in_onnxruntime(tmp_path):
    proto = check_export(nn.Sequential(nn.Linear(3, 2)), np.zeros((1, 3), np.float32), tmp_path)
    assert proto.opset_import[0].version == npgrad_onnx.DEFAULT_OPSET
