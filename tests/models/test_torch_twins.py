"""Every model against its PyTorch twin: the same architecture written in plain torch (d2l style).

The twins (`npgrad.testing.torch_twins`) size their first fully-connected layer with
``nn.LazyLinear`` and a dummy forward pass, so flattened sizes are checked by torch
itself, not by npgrad's size arithmetic. The tests compare ``state_dict`` keys and
shapes, parameter counts and, after copying npgrad's weights into the twin, the
eval-mode outputs. The parameter counts written in test_models.py were printed by these twins.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import npgrad  # noqa: E402
import npgrad.models as models  # noqa: E402
from npgrad.testing.torch_twins import copy_weights, twin  # noqa: E402

# The default architectures.
DEFAULTS = ["logistic_regression", "mlp", "three_layer_convnet", "lenet", "lenet_bn", "alexnet", "vgg11", "nin",
            "googlenet", "resnet18"]
IMAGENET = {  # the paper-sized stems, at the size d2l uses: (size, options)
    "alexnet": (224, {}),
    "nin": (224, {}),
    "googlenet": (96, {}),
    "resnet18": (96, {}),
    "vgg11": (224, {"hidden_dim": 16}),  # 16-wide FC: drawing 103M weights is slow
}
# Small variants for the output comparison: (name, options), the same options for npgrad and the twin.
SMALL = [
    ("logistic_regression", {}),
    ("mlp", {"hidden_dims": (16, 8), "normalization": "batchnorm"}),
    ("mlp", {"hidden_dims": (16,), "normalization": "layernorm"}),
    ("three_layer_convnet", {"num_filters": 4, "hidden_dim": 8}),
    ("lenet", {}),
    ("lenet_bn", {}),
    ("alexnet", {"width_ratio": 16, "hidden_dim": 32}),
    ("vgg", {"width_ratio": 16, "hidden_dim": 32}),
    ("nin", {"width_ratio": 16}),
    ("googlenet", {"width_ratio": 16}),
    ("resnet", {"channels": (4, 8), "blocks_per_stage": (1, 2)}),
]
INPUTS = [(1, 28), (3, 32)]


def _shapes(state: dict) -> dict[str, tuple[int, ...]]:
    return {key: tuple(np.shape(value)) for key, value in state.items()}


@pytest.mark.parametrize(("c", "s"), INPUTS)
@pytest.mark.parametrize("name", DEFAULTS)
def test_state_dict_matches_torch_twin(name, c, s):
    ours = models.create(name, in_channels=c, num_classes=10, image_size=s)
    theirs = twin(name, c, 10, s)
    assert _shapes(ours.state_dict()) == _shapes(theirs.state_dict())


@pytest.mark.parametrize("name", list(IMAGENET))
def test_imagenet_stem_matches_torch_twin(name):
    s, options = IMAGENET[name]
    ours = models.create(name, in_channels=3, num_classes=10, image_size=s, **options)
    theirs = twin(name, 3, 10, s, **options)
    assert _shapes(ours.state_dict()) == _shapes(theirs.state_dict())


@pytest.mark.parametrize(("c", "s"), INPUTS)
@pytest.mark.parametrize(("name", "options"), SMALL, ids=[f"{x[0]}-{i}" for i, x in enumerate(SMALL)])
def test_outputs_match_torch_twin(name, options, c, s):
    npgrad.manual_seed(0)
    ours = models.create(name, in_channels=c, num_classes=10, image_size=s, **options).eval()
    theirs = copy_weights(ours, twin(name, c, 10, s, **options).double()).eval()
    x = np.random.default_rng(1).standard_normal((2, c, s, s))
    with npgrad.no_grad():
        out = ours(npgrad.Tensor(x.astype(np.float32))).data
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-4)
