"""ONNX import: graphs from npgrad and from PyTorch's exporter run, differentiate and train in npgrad."""

from __future__ import annotations

import numpy as np
import pytest

import npgrad
from npgrad import nn
from npgrad.errors import DataError, MissingFileError, UnsupportedError
from npgrad.nn import functional as F
from npgrad.testing import naive

onnx = pytest.importorskip("onnx")
from npgrad import onnx as npgrad_onnx  # noqa: E402


def train_one_step(model: nn.Module, x: np.ndarray, num_classes: int) -> tuple[float, float]:
    """(loss before, loss after) one SGD step on a fixed batch; every parameter must receive a gradient."""
    model.train()
    optimizer = npgrad.optim.SGD(model.parameters(), lr=0.05)
    targets = np.arange(len(x)) % num_classes
    losses = []
    for _ in range(2):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(npgrad.Tensor(x)), targets)
        loss.backward()
        assert all(p.grad is not None and np.isfinite(p.grad).all() for p in model.parameters())
        optimizer.step()
        losses.append(float(loss.item()))
    return losses[0], losses[1]


def test_npgrad_export_loads_back_with_its_weights_and_trains(tmp_path):
    npgrad.manual_seed(0)
    model = npgrad.models.create("lenet_bn", in_channels=1, num_classes=10, image_size=28)
    model(npgrad.Tensor(np.random.default_rng(0).standard_normal((8, 1, 28, 28)).astype(np.float32)))  # running stats
    model.eval()
    npgrad_onnx.export(model, np.zeros((1, 1, 28, 28), np.float32), tmp_path / "lenet_bn.onnx")
    loaded = npgrad_onnx.load(tmp_path / "lenet_bn.onnx")
    assert loaded.training is False
    x = np.random.default_rng(1).standard_normal((5, 1, 28, 28)).astype(np.float32)
    with npgrad.no_grad():
        np.testing.assert_allclose(loaded(npgrad.Tensor(x)).data, model(npgrad.Tensor(x)).data, atol=1e-5)
    # Every weight of the original is there, under its state_dict key (dots replaced).
    assert {loaded.onnx_names[name] for name, _ in loaded.named_parameters()} == {n for n, _ in model.named_parameters()}
    assert sum(p.data.size for p in loaded.parameters()) == model.num_parameters()
    before, after = train_one_step(loaded, x, 10)
    assert after < before
    # Training mode updated the batch norms' running statistics, as nn.BatchNorm2d does.
    original = dict(model.named_buffers())["1.running_mean"].data
    assert not np.allclose(dict(loaded.named_buffers())["p_1_running_mean"].data, original)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter: no onnxscript needed
@pytest.mark.parametrize("name,options", [("lenet", {}), ("resnet18", {"stem": "small", "channels": (8, 16, 16, 16)})])
def test_pytorch_export_runs_and_trains_in_npgrad(name, options, tmp_path):
    torch = pytest.importorskip("torch")
    from npgrad.testing.torch_twins import twin

    torch.manual_seed(0)
    net = twin(name, 1, 10, 28, **options).eval()
    x = np.random.default_rng(2).standard_normal((3, 1, 28, 28)).astype(np.float32)
    torch.onnx.export(net, (torch.from_numpy(x),), str(tmp_path / "net.onnx"), dynamo=False, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    loaded = npgrad_onnx.load(tmp_path / "net.onnx")
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    with npgrad.no_grad():
        np.testing.assert_allclose(loaded(npgrad.Tensor(x)).data, expected, atol=1e-4, rtol=1e-4)
    before, after = train_one_step(loaded, x, 10)
    assert after < before


class Ops(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


ROUND_TRIPS = {
    "max pool ceil mode, dilation 2": lambda x: F.max_pool2d(x, 3, 2, 1, dilation=2, ceil_mode=True),
    "avg pool ceil mode, padding in the divisor": lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True),
    "avg pool ceil mode, no padding in the divisor": lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True,
                                                                            count_include_pad=False),
    "elu, softplus, silu, hardtanh": lambda x: F.hardtanh(F.silu(F.softplus(F.elu(x, 0.5))), -0.5, 1.5),
    "local response norm, odd size (ONNX's LRN)": lambda x: F.local_response_norm(x, 3, 2.0, 0.75, 1.5),
    "local response norm, even size (a convolution)": lambda x: F.local_response_norm(x, 2, 2.0, 0.75, 1.5),
}


@pytest.mark.parametrize("case", ROUND_TRIPS)
def test_npgrad_pooling_round_trips(case, tmp_path):
    model = Ops(ROUND_TRIPS[case])
    npgrad_onnx.export(model, np.zeros((1, 3, 9, 8), np.float32), tmp_path / "m.onnx")
    x = npgrad.Tensor(np.random.default_rng(3).standard_normal((2, 3, 9, 8)).astype(np.float32))
    np.testing.assert_allclose(npgrad_onnx.load(tmp_path / "m.onnx")(x).data, model(x).data, atol=1e-6)


@pytest.mark.parametrize("op_type, attributes", [
    ("MaxPool", dict(kernel_shape=[2, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)),  # drops a row window
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 1], dilations=[1, 2], ceil_mode=1)),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[2, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)),
])
def test_onnx_ceil_mode_pooling_runs_as_in_onnxruntime(op_type, attributes, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    h = onnx.helper
    graph = h.make_graph([h.make_node(op_type, ["x"], ["y"], **attributes)], "g",
                         [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3, 7, 6])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n", "c", "h", "w"])])
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 22)]), str(tmp_path / "g.onnx"))
    x = np.random.default_rng(4).standard_normal((2, 3, 7, 6)).astype(np.float32)
    expected = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = npgrad_onnx.load(tmp_path / "g.onnx")(npgrad.Tensor(x)).data
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_pytorch_export_of_ceil_mode_pooling_runs_in_npgrad(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(3, 2, ceil_mode=True),
                              torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True), torch.nn.Flatten()).eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 12, 11)).astype(np.float32)
    torch.onnx.export(net, (torch.from_numpy(x),), str(tmp_path / "net.onnx"), dynamo=False)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    with npgrad.no_grad():
        got = npgrad_onnx.load(tmp_path / "net.onnx")(npgrad.Tensor(x)).data
    assert got.shape == expected.shape == (2, 54)  # ceil mode: 10x9 -> 5x4 -> 3x3 (floor mode: 4x4 -> 2x2)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_onnx_lrn_of_even_size_uses_onnx_window(tmp_path):
    """ONNX's even-size window leans forward (c - 1 .. c + 2 for size 4), PyTorch's backward (c - 2 .. c + 1)."""
    h = onnx.helper
    graph = h.make_graph([h.make_node("LRN", ["x"], ["y"], size=4, alpha=2.0, beta=0.75, bias=1.5)], "g",
                         [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 6, 3, 2])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 6, 3, 2])])
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 18)]), str(tmp_path / "g.onnx"))
    x = np.random.default_rng(5).standard_normal((2, 6, 3, 2))
    got = npgrad_onnx.load(tmp_path / "g.onnx")(npgrad.Tensor(x)).data
    flipped = naive.local_response_norm_forward(x[:, ::-1], 4, 2.0, 0.75, 1.5)[:, ::-1]  # the mirrored window
    np.testing.assert_allclose(got, flipped, rtol=1e-12)
    assert not np.allclose(got, naive.local_response_norm_forward(x, 4, 2.0, 0.75, 1.5))


def test_average_pool_with_dilations_is_refused(tmp_path):
    h = onnx.helper
    node = h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[2, 2])
    graph = h.make_graph([node], "g", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1, 6, 6])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n", "c", "h", "w"])])
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 22)]), str(tmp_path / "g.onnx"))
    with pytest.raises(UnsupportedError, match=r"AveragePool with dilations \[2, 2\] is not supported"):
        npgrad_onnx.load(tmp_path / "g.onnx")(npgrad.Tensor(np.zeros((1, 1, 6, 6), np.float32)))


def test_unsupported_operators_are_listed_at_once(tmp_path):
    h = onnx.helper
    graph = h.make_graph(
        [h.make_node("Relu", ["x"], ["a"]), h.make_node("Einsum", ["a", "a"], ["b"], equation="ij,ij->ij"),
         h.make_node("TopK", ["b", "k"], ["c", "i"])],
        "g", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3])],
        [h.make_tensor_value_info("c", onnx.TensorProto.FLOAT, [2, 1])],
        initializer=[onnx.numpy_helper.from_array(np.array([1], np.int64), "k")])
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 18)]), str(tmp_path / "g.onnx"))
    with pytest.raises(UnsupportedError, match="Einsum, TopK"):
        npgrad_onnx.load(tmp_path / "g.onnx")


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(MissingFileError, match="no such file"):
        npgrad_onnx.load(tmp_path / "absent.onnx")
    (tmp_path / "text.onnx").write_text("not a protobuf")
    with pytest.raises(DataError, match="text.onnx is not a valid ONNX model"):
        npgrad_onnx.load(tmp_path / "text.onnx")


def test_import_npgrad_does_not_import_onnx():
    import subprocess
    import sys

    code = "import sys, npgrad; print('onnx' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
