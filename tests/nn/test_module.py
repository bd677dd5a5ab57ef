"""Module, Parameter, Sequential, ModuleList: registration, traversal, state dicts, hooks, repr; PyTorch parity."""

import copy
from collections import OrderedDict

import numpy as np
import pytest

import npgrad
from npgrad import nn
from npgrad.nn import functional as F


class Block(nn.Module):
    """A custom module: a conv, a norm, a scalar parameter, a buffer, a non-persistent buffer and a ModuleList."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.scale = nn.Parameter(np.full(1, 2.0, dtype=np.float32))
        self.register_buffer("offset", np.zeros(3, dtype=np.float32))
        self.register_buffer("cache", np.ones(2, dtype=np.float32), persistent=False)
        self.heads = nn.ModuleList([nn.Linear(3, 2), nn.Linear(2, 2, bias=False)])

    def forward(self, x):
        y = F.relu(self.bn(self.conv(x))).mean(axis=(2, 3)) * self.scale
        for head in self.heads:
            y = head(y)
        return y


def make_model():
    npgrad.manual_seed(0)
    return nn.Sequential(OrderedDict(stem=nn.Identity(), block=Block(), act=nn.Tanh(), out=nn.Linear(2, 4)))


# ---------------------------------------------------------------- Parameter
def test_parameter_is_a_leaf_tensor_that_requires_grad_and_shares_data():
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    p = nn.Parameter(data)
    assert isinstance(p, npgrad.Tensor) and p.requires_grad and p.is_leaf
    assert np.shares_memory(p.data, data) and p.data.base is data  # a view, not a copy
    assert not nn.Parameter(data, requires_grad=False).requires_grad
    assert nn.Parameter(npgrad.ones(2)).dtype == np.float32
    assert repr(p).startswith("Parameter containing:\ntensor([[0., 1., 2.],")
    assert "requires_grad=True" in repr(p)
    data[0, 0] = 7
    assert p.data[0, 0] == 7


def test_parameter_data_has_pytorchs_in_place_methods():
    """d2l initialises through ``.data``: ``net[0].weight.data.normal_(0, 0.01)``, ``bias.data.fill_(0)``."""
    net = nn.Sequential(nn.Linear(300, 200))
    npgrad.manual_seed(0)
    assert net[0].weight.data.normal_(0, 0.01) is net[0].weight.data
    assert abs(float(np.std(net[0].weight.data)) - 0.01) < 0.001
    net[0].bias.data.fill_(0.5)
    np.testing.assert_array_equal(net[0].bias.detach().numpy(), np.full(200, 0.5, np.float32))
    net[0].bias.data.uniform_(-1, 1).clamp_(0, None).mul_(2).add_(1).sub_(1, alpha=0.5).div_(2)
    assert np.all(net[0].bias.data >= 0.25) and np.all(net[0].bias.data <= 1.25)
    net[0].bias.data.zero_().copy_(np.arange(200))
    assert net[0].bias.data[7] == 7
    net[0].weight.data = np.ones((200, 300), np.float32)  # an assigned array gets the methods too
    net[0].weight.data.zero_()
    assert not net[0].weight.data.any()
    # the methods stay with the parameter: arithmetic and reductions give plain ndarrays
    assert type(net[0].weight.data * 2) is np.ndarray and type(np.dot(np.ones(200, np.float32), net[0].weight.data)) is np.ndarray
    assert type(net(npgrad.ones(2, 300)).data) is np.ndarray


def test_parameter_grad_is_an_assignable_ndarray():
    lin = nn.Linear(3, 2)
    (lin(npgrad.ones(4, 3)) ** 2).sum().backward()
    assert isinstance(lin.weight.grad, np.ndarray) and lin.weight.grad.shape == (2, 3)
    lin.weight.grad = np.full((2, 3), 7.0, dtype=np.float32)
    assert lin.weight.grad[0, 0] == 7
    lin.weight.grad *= 0.5
    assert lin.weight.grad[1, 2] == 3.5


def test_operations_on_parameters_give_plain_tensors():
    p = nn.Parameter(np.ones(2, dtype=np.float32))
    assert type(p * 2) is npgrad.Tensor


# ------------------------------------------------------------- registration
def test_named_parameters_order_and_names():
    model = make_model()
    assert [name for name, _ in model.named_parameters()] == [
        "block.scale", "block.conv.weight", "block.conv.bias", "block.bn.weight", "block.bn.bias",
        "block.heads.0.weight", "block.heads.0.bias", "block.heads.1.weight", "out.weight", "out.bias",
    ]
    assert [p.shape for p in model.parameters()][:3] == [(1,), (3, 2, 3, 3), (3,)]
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert [n for n, _ in model.block.named_parameters(prefix="b", recurse=False)] == ["b.scale"]
    assert model.block.heads[1].bias is None  # a registered empty slot, not in parameters()


def test_buffers_are_tensors_without_grad():
    model = make_model()
    assert [n for n, _ in model.named_buffers()] == [
        "block.offset", "block.cache", "block.bn.running_mean", "block.bn.running_var", "block.bn.num_batches_tracked",
    ]
    assert all(isinstance(b, npgrad.Tensor) and not b.requires_grad for b in model.buffers())
    assert model.block.bn.num_batches_tracked.dtype == np.int64 and model.block.bn.num_batches_tracked.shape == ()
    model.block.offset = np.ones(3, dtype=np.float32)  # assigning to a buffer name keeps it a buffer
    assert isinstance(model.block.offset, npgrad.Tensor) and "block.offset" in model.state_dict()
    assert nn.Module().register_buffer("x", [1.0, 2.0]) is None


def test_shared_parameters_and_modules_are_listed_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(model.parameters())) == 2
    assert model.num_parameters() == 6
    assert [n for n, _ in model.named_modules()] == ["", "0", "1"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # both paths, as in PyTorch


def test_attribute_assignment_rules():
    m = nn.Module()
    m.weight = nn.Parameter(np.ones(2, dtype=np.float32))
    m.sub = nn.Linear(1, 1)
    m.plain = np.ones(3)
    assert list(m._parameters) == ["weight"] and list(m._modules) == ["sub"] and "plain" in m.__dict__
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'weight'"):
        m.weight = npgrad.ones(2)
    with pytest.raises(TypeError, match="int is not a Module subclass"):
        m.sub = 3
    m.weight = None
    assert m.weight is None and list(m.parameters()) == list(m.sub.parameters())
    m.sub = nn.Parameter(np.zeros(1, dtype=np.float32))  # a name moves between registries
    assert "sub" not in m._modules and m.sub.shape == (1,)
    del m.sub
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'sub'"):
        _ = m.sub
    with pytest.raises(KeyError, match="attribute 'plain' already exists"):
        m.register_buffer("plain", np.zeros(1))
    with pytest.raises(KeyError, match='without "."'):
        m.add_module("a.b", nn.ReLU())
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("x", 3)


def test_assigning_before_module_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.lin = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\) first"):
        Broken()


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match='Module \\[ModuleList\\] is missing the required "forward"'):
        nn.ModuleList([nn.ReLU()])(npgrad.ones(1))


def test_children_and_modules():
    model = make_model()
    assert [n for n, _ in model.named_children()] == ["stem", "block", "act", "out"]
    assert list(model.children())[1] is model.block
    names = [n for n, _ in model.named_modules()]
    assert names == ["", "stem", "block", "block.conv", "block.bn", "block.heads", "block.heads.0", "block.heads.1", "act", "out"]
    assert len(list(model.modules())) == len(names)


# -------------------------------------------------------------------- state
def test_train_eval_recurse_and_return_self():
    model = make_model()
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.block.train()
    assert model.block.heads[0].training and not model.training and not model.out.training
    with pytest.raises(ValueError, match="mode must be a bool"):
        model.train("no")


def test_zero_grad_num_parameters_and_requires_grad():
    model = make_model()
    model(npgrad.randn(2, 2, 4, 4)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    total = 1 + 3 * 2 * 9 + 3 + 3 + 3 + 3 * 2 + 2 + 2 * 2 + 2 * 4 + 4
    assert model.num_parameters() == model.num_parameters(only_trainable=False) == total
    model.block.heads.requires_grad_(False)
    assert model.num_parameters() == total - 12
    assert model.num_parameters(only_trainable=False) == total


def test_apply_visits_children_before_parents():
    model = make_model()
    visited = []
    assert model.apply(lambda m: visited.append(type(m).__name__)) is model
    assert visited == [
        "Identity", "Conv2d", "BatchNorm2d", "Linear", "Linear", "ModuleList", "Block", "Tanh", "Linear", "Sequential"
    ]


def test_to_double_and_float_convert_in_place():
    model = make_model()
    weight = model.out.weight
    model(npgrad.randn(2, 2, 4, 4)).sum().backward()
    assert model.double() is model
    assert model.out.weight is weight and weight.dtype == np.float64 and weight.grad.dtype == np.float64
    assert model.block.bn.running_var.dtype == np.float64
    assert model.block.bn.num_batches_tracked.dtype == np.int64
    assert model(npgrad.Tensor(np.zeros((1, 2, 4, 4)))).dtype == np.float64
    assert model.float().out.weight.dtype == np.float32
    assert model.to("cpu") is model
    with pytest.raises(TypeError, match="only floating-point dtypes"):
        model.to(np.int32)


def test_deepcopy_gives_an_independent_model():
    model = make_model()
    clone = copy.deepcopy(model)
    clone.out.weight.data += 1
    assert not np.allclose(clone.out.weight.data, model.out.weight.data)
    assert [n for n, _ in clone.named_parameters()] == [n for n, _ in model.named_parameters()]


# --------------------------------------------------------------- state dicts
def test_state_dict_keys_values_and_copies():
    model = make_model()
    state = model.state_dict()
    assert list(state) == [
        "block.scale", "block.offset", "block.conv.weight", "block.conv.bias", "block.bn.weight", "block.bn.bias",
        "block.bn.running_mean", "block.bn.running_var", "block.bn.num_batches_tracked", "block.heads.0.weight",
        "block.heads.0.bias", "block.heads.1.weight", "out.weight", "out.bias",
    ]  # no non-persistent "block.cache", no None bias
    assert all(isinstance(v, np.ndarray) for v in state.values())
    assert state["block.bn.num_batches_tracked"].dtype == np.int64
    saved = state["out.weight"].copy()
    model.out.weight.data += 1
    np.testing.assert_array_equal(state["out.weight"], saved)
    assert model.state_dict(keep_vars=True)["out.weight"] is model.out.weight
    assert list(model.block.state_dict(prefix="b"))[0] == "b.scale"


def test_load_state_dict_round_trip_reproduces_outputs():
    model = make_model()
    model(npgrad.randn(4, 2, 4, 4))  # move the batch-norm statistics away from their initial values
    state = model.state_dict()
    npgrad.manual_seed(1)
    other = nn.Sequential(OrderedDict(stem=nn.Identity(), block=Block(), act=nn.Tanh(), out=nn.Linear(2, 4)))
    weight = other.out.weight
    result = other.load_state_dict(state)
    assert result == ([], []) and result.missing_keys == []
    assert other.out.weight is weight  # copied into the existing arrays
    x = npgrad.randn(3, 2, 4, 4)
    np.testing.assert_array_equal(model.eval()(x).data, other.eval()(x).data)
    assert other.block.bn.num_batches_tracked.item() == 1


def test_load_state_dict_casts_to_the_models_dtype():
    lin = nn.Linear(2, 2)
    lin.load_state_dict({"weight": np.ones((2, 2)), "bias": npgrad.Tensor(np.zeros(2))})
    assert lin.weight.dtype == np.float32 and lin.weight.data.sum() == 4


def test_load_state_dict_reports_every_problem_at_once_and_copies_nothing():
    model = make_model()
    state = model.state_dict()
    before = model.state_dict()
    del state["out.bias"], state["block.bn.running_var"]
    state["extra.weight"] = np.zeros(1)
    state["out.weight"] = np.zeros((5, 2))
    state["block.scale"] = np.full(1, 9.0)
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert message.startswith("Error(s) in loading state_dict for Sequential:")
    assert 'Missing key(s) in state_dict: "block.bn.running_var", "out.bias".' in message
    assert 'Unexpected key(s) in state_dict: "extra.weight".' in message
    assert "size mismatch for out.weight: copying a value of shape (5, 2) from the state dict, " \
           "the shape in the current model is (4, 2)." in message
    np.testing.assert_array_equal(model.block.scale.data, before["block.scale"])  # nothing was loaded


def test_load_state_dict_non_strict_returns_the_incompatible_keys():
    model = make_model()
    state = {k: np.full_like(v, 3) for k, v in model.state_dict().items() if not k.startswith("out.")}
    state["extra"] = np.zeros(1)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert missing == ["out.weight", "out.bias"] and unexpected == ["extra"]
    assert (model.block.conv.weight.data == 3).all()
    with pytest.raises(RuntimeError, match="size mismatch for block.scale"):
        model.load_state_dict({"block.scale": np.zeros(2)}, strict=False)


# -------------------------------------------------------------------- hooks
def test_forward_hooks_see_inputs_and_outputs_and_can_be_removed():
    lin = nn.Linear(2, 3)
    seen = []
    handle = lin.register_forward_hook(lambda m, args, out: seen.append((m, args[0].shape, out.shape)))
    lin(npgrad.ones(4, 2))
    assert seen == [(lin, (4, 2), (4, 3))]
    handle.remove()
    lin(npgrad.ones(1, 2))
    assert len(seen) == 1
    with lin.register_forward_hook(lambda m, args, out: out * 0):
        assert not lin(npgrad.ones(1, 2)).data.any()
    assert lin(npgrad.ones(1, 2)).data.any()
    with lin.register_forward_pre_hook(lambda m, args: npgrad.zeros(1, 2)):
        np.testing.assert_array_equal(lin(npgrad.ones(1, 2)).data, lin.bias.data[None])


# --------------------------------------------------------------- containers
def test_sequential_indexing_slicing_and_editing():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and list(seq) == [a, b, c]
    assert seq[0] is a and seq[-1] is c
    part = seq[1:]
    assert isinstance(part, nn.Sequential) and list(part._modules) == ["1", "2"] and part[0] is b
    x = npgrad.randn(4, 2)
    np.testing.assert_array_equal(seq(x).data, c(b(a(x))).data)
    with pytest.raises(IndexError, match="index 3 is out of range for Sequential of length 3"):
        seq[3]
    with pytest.raises(TypeError, match="indices must be integers or slices"):
        seq["0"]
    d = nn.Sigmoid()
    assert seq.append(d) is seq and seq[3] is d
    seq[1] = nn.Tanh()
    assert isinstance(seq[1], nn.Tanh)
    del seq[0]
    assert list(seq._modules) == ["0", "1", "2"] and isinstance(seq[0], nn.Tanh)
    named = nn.Sequential(OrderedDict(fc=nn.Linear(2, 2), act=nn.ReLU()))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"] and named.fc is named[0]


def test_module_list_registers_and_indexes():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and layers.num_parameters() == 18
    assert layers.append(nn.ReLU()) is layers and isinstance(layers[-1], nn.ReLU)
    layers.extend([nn.Tanh(), nn.Sigmoid()])
    assert [type(m).__name__ for m in layers][3:] == ["ReLU", "Tanh", "Sigmoid"]
    tail = layers[-2:]
    assert isinstance(tail, nn.ModuleList) and list(tail._modules) == ["0", "1"]
    del layers[1]
    assert list(layers._modules) == [str(i) for i in range(5)]
    assert list(layers.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert repr(nn.ModuleList()) == "ModuleList()"


# --------------------------------------------------------------------- repr
EXPECTED_REPR = """Sequential(
  (stem): Identity()
  (block): Block(
    (conv): Conv2d(2, 3, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    (bn): BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    (heads): ModuleList(
      (0): Linear(in_features=3, out_features=2, bias=True)
      (1): Linear(in_features=2, out_features=2, bias=False)
    )
  )
  (act): Tanh()
  (out): Linear(in_features=2, out_features=4, bias=True)
)"""


def test_repr_of_a_nested_model():
    assert repr(make_model()) == EXPECTED_REPR
    assert repr(nn.Module()) == "Module()"


def _repr_pairs(torch_nn):
    """The same layers built with npgrad and with torch (constructor calls that mean the same in both)."""
    layers = [
        ("Conv2d", (1, 6, 5), dict(padding=2)),
        ("Conv2d", (4, 8, (3, 1)), dict(stride=2, dilation=(2, 1), groups=2, bias=False)),
        ("Conv2d", (3, 3, 1), {}), ("Conv2d", (2, 2, 3), dict(padding="same")), ("Conv2d", (2, 2, 3), dict(padding="valid")),
        ("ReLU", (), {}), ("Sigmoid", (), {}), ("Tanh", (), {}), ("Identity", (), {}),
        ("LeakyReLU", (0.2,), {}), ("Softmax", (), dict(dim=1)), ("LogSoftmax", (), dict(dim=-1)),
        ("MaxPool2d", (2,), {}), ("MaxPool2d", ((3, 2), 1, 1), {}),
        ("AvgPool2d", (2,), {}), ("AvgPool2d", (3, 2, 1), {}),
        ("AdaptiveAvgPool2d", ((1, 1),), {}), ("AdaptiveAvgPool2d", (5,), {}),
        ("BatchNorm2d", (16,), {}), ("BatchNorm1d", (10,), dict(eps=1e-3, momentum=None, affine=False)),
        ("BatchNorm1d", (4,), dict(track_running_stats=False)), ("BatchNorm2d", (3,), dict(bias=False)),
        ("LayerNorm", (10,), {}), ("LayerNorm", ((3, 4),), dict(elementwise_affine=False)),
        ("GroupNorm", (2, 4), {}), ("GroupNorm", (2, 4), dict(bias=False)), ("LayerNorm", (5,), dict(bias=False)),
        ("GroupNorm", (1, 3), dict(eps=1e-6, affine=False)),
        ("Dropout", (), {}), ("Dropout", (0.25,), {}), ("Flatten", (), {}), ("Flatten", (0, 2), {}),
        ("Linear", (400, 120), {}), ("Linear", (3, 1), dict(bias=False)),
        ("CrossEntropyLoss", (), dict(label_smoothing=0.1)), ("MSELoss", (), {}), ("BCEWithLogitsLoss", (), {}),
        ("BCELoss", (), {}), ("MultiMarginLoss", (), dict(margin=2.0)),
    ]
    ours = nn.Sequential(*[getattr(nn, name)(*args, **kwargs) for name, args, kwargs in layers])
    theirs = torch_nn.Sequential(*[getattr(torch_nn, name)(*args, **kwargs) for name, args, kwargs in layers])
    return ours, theirs


def test_repr_matches_torch_layer_by_layer():
    torch = pytest.importorskip("torch")
    ours, theirs = _repr_pairs(torch.nn)
    for a, b in zip(ours, theirs):
        assert repr(a) == repr(b)
    assert repr(ours) == repr(theirs)


def test_repr_of_nested_containers_matches_torch():
    torch = pytest.importorskip("torch")

    def build(lib):
        inner = lib.ModuleList([lib.Linear(4, 4), lib.Linear(4, 4), lib.Linear(4, 4), lib.ReLU(), lib.Linear(4, 4)])
        return lib.Sequential(
            lib.Sequential(lib.Conv2d(3, 4, 3), lib.ReLU()), inner,
            lib.Sequential(OrderedDict(fc=lib.Linear(4, 2), drop=lib.Dropout(0.1))),
        )

    assert repr(build(nn)) == repr(build(torch.nn))


# ------------------------------------------------------------ torch parity
def _convnet(lib):
    return lib.Sequential(
        lib.Conv2d(2, 4, 3, padding=1), lib.BatchNorm2d(4), lib.ReLU(), lib.MaxPool2d(2),
        lib.Conv2d(4, 6, 3, groups=2, stride=1, padding=(1, 0)), lib.GroupNorm(3, 6), lib.LeakyReLU(0.1),
        lib.AvgPool2d(2, padding=1), lib.AdaptiveAvgPool2d((2, 1)), lib.Flatten(),
        lib.Linear(12, 8), lib.LayerNorm(8), lib.BatchNorm1d(8, momentum=None), lib.Tanh(), lib.Dropout(0.5),
        lib.Linear(8, 3), lib.LogSoftmax(dim=1),
    )


def test_state_dict_keys_and_shapes_equal_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = _convnet(nn), _convnet(torch.nn)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()
    ]
    assert [(k, v.dtype) for k, v in ours.state_dict().items() if "num_batches" in k] == [
        ("1.num_batches_tracked", np.int64), ("12.num_batches_tracked", np.int64)
    ]


def test_torch_weights_give_identical_outputs_and_statistics():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = _convnet(torch.nn)
    with torch.no_grad():  # non-trivial affine parameters
        for p in theirs.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ours = _convnet(nn)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 2, 8, 6)).astype(np.float32)

    theirs[14].p = ours[14].p = 0.0  # deterministic training-mode forward
    for _ in range(2):  # training mode: batch statistics, running-statistics updates
        out, expected = ours(npgrad.Tensor(x)).data, theirs(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-5, atol=1e-6, err_msg=key)
    ours.eval(), theirs.eval()
    np.testing.assert_allclose(ours(npgrad.Tensor(x)).data, theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})  # and back


def test_register_buffer_keeps_a_tensor_as_given():
    m = nn.Module()
    mask = npgrad.ones(2, 3)
    m.register_buffer("mask", mask)  # PyTorch code registers Tensors: torch.ones(...), torch.tril(...)
    assert m.mask is mask and m.state_dict()["mask"] is not None
    np.testing.assert_array_equal(m.state_dict()["mask"], np.ones((2, 3)))
