"""`npgrad.cli.load_for_inference`, the public way to use a trained model, and the README's PyTorch path."""

import numpy as np
import pytest

from npgrad import Tensor
from npgrad.cli import load_for_inference, main
from npgrad.data import datasets
from npgrad.train import probabilities


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    assert main(["train", "--out", str(out), "--epochs", "1", "--limit-batches", "3", "--no-progress"]) == 0
    (folder,) = out.iterdir()
    return folder


def _images(n=6):
    x, _ = datasets.fashion_mnist_small(train=False).get_batch(np.arange(n))
    return x  # uint8 (n, 1, 28, 28), as a user has them


def test_load_for_inference_applies_the_run_s_normalisation(run):
    setup = load_for_inference(run)
    assert setup.classes[0] == "T-shirt/top" and len(setup.classes) == 10
    x = setup.preprocess(_images())
    mean, std = setup.config.data_spec.mean[0], setup.config.data_spec.std[0]
    np.testing.assert_allclose(x, (_images() / np.float32(255) - mean) / std, rtol=1e-5, atol=1e-6)
    proba = setup.predict_proba(_images(), batch_size=4)
    np.testing.assert_allclose(proba, probabilities(setup.model(Tensor(x)).data), rtol=1e-5, atol=1e-6)


def test_the_readme_pytorch_path_works_as_written(run):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    from npgrad.testing.torch_twins import twin

    # --- as in README.md, "Using a trained model" ---
    setup = load_for_inference(run)
    weights = {k.removeprefix("model."): v for k, v in load_file(f"{run}/best.safetensors").items()
               if k.startswith("model.")}
    net = twin("lenet_bn", 1, 10, 28)
    net.load_state_dict(weights)
    net.eval()
    logits = net(torch.from_numpy(setup.preprocess(_images())))
    # ---
    np.testing.assert_allclose(logits.detach().numpy(), setup.model(Tensor(setup.preprocess(_images()))).data,
                               rtol=1e-4, atol=1e-4)
