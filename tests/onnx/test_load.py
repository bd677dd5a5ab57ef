"""ONNX import: graphs from npgrad and from PyTorch's exporter run, differentiate and train in npgrad."""

from __future__ import annotations

import numpy as np
import pytest

import npgrad
from npgrad import nn
from npgrad.errors import DataError, MissingFileError, UnsupportedError
from npgrad.nn import functional as F

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
