"""`load`: an ONNX file as an npgrad `Module` that runs, differentiates and trains like any other.

The graph's float initializers become `Parameter`s (names: the initializer's, with '.' and
other characters a parameter name cannot hold replaced by '_'; `OnnxModule.onnx_names` maps
back), integer ones stay constant arrays (shapes, axes). ``forward`` walks the nodes in order,
each through the npgrad operator of the same meaning, so gradients reach every parameter.

Batch norm: ``BatchNormalization`` nodes use their running statistics in evaluation mode and
the batch's statistics in training mode, updating the running statistics with PyTorch's
momentum = 1 - ONNX's ``momentum`` attribute (default 0.9, i.e. 0.1), like `nn.BatchNorm2d`.
The model starts in evaluation mode, as an exported model is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from npgrad.errors import DataError, MissingFileError, UnsupportedError
from npgrad.nn import functional as F
from npgrad.nn.module import Module, Parameter
from npgrad.ops import conv, norm
from npgrad.tensor import Tensor

Values = dict[str, Any]  # ONNX value name -> Tensor (data) or ndarray (shapes, axes)
Executor = Callable[["OnnxModule", Any, list[Any], dict[str, Any]], Any]
EXECUTORS: dict[str, Executor] = {}


def executor(*op_types: str) -> Callable[[Executor], Executor]:
    def decorate(fn: Executor) -> Executor:
        for op_type in op_types:
            EXECUTORS[op_type] = fn
        return fn

    return decorate


def _ints(value: Any) -> list[int]:
    array = value.data if isinstance(value, Tensor) else np.asarray(value)
    return [int(v) for v in np.atleast_1d(array)]


def _pair(values: list[int] | None, default: int) -> tuple[int, int]:
    return (default, default) if values is None else (int(values[0]), int(values[1]))


def _symmetric_pads(op: str, pads: list[int] | None) -> tuple[int, int]:
    if pads is None:
        return (0, 0)
    top, left, bottom, right = pads
    if (top, left) != (bottom, right):
        raise UnsupportedError(f"onnx.load: {op} with asymmetric pads {pads} is not supported")
    return (top, left)


def _check_auto_pad(op: str, attributes: dict[str, Any]) -> None:
    auto_pad = attributes.get("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID"):
        raise UnsupportedError(f"onnx.load: {op} with auto_pad={auto_pad} is not supported (use explicit pads)")


for _op_type, _fn in (("Relu", F.relu), ("Sigmoid", F.sigmoid), ("Tanh", F.tanh), ("Neg", lambda x: -x),
                      ("Exp", lambda x: x.exp()), ("Log", lambda x: x.log()), ("Sqrt", lambda x: x.sqrt()),
                      ("Abs", lambda x: x.abs()), ("Identity", lambda x: x), ("Dropout", lambda x: x)):
    EXECUTORS[_op_type] = (lambda fn: lambda m, node, inputs, a: fn(inputs[0]))(_fn)

for _op_type, _fn in (("Add", lambda a, b: a + b), ("Sub", lambda a, b: a - b), ("Mul", lambda a, b: a * b),
                      ("Div", lambda a, b: a / b), ("Pow", lambda a, b: a ** b), ("MatMul", lambda a, b: a @ b)):
    EXECUTORS[_op_type] = (lambda fn: lambda m, node, inputs, a: fn(*inputs))(_fn)


@executor("LeakyRelu")
def _leaky_relu(m, node, inputs, a):
    return F.leaky_relu(inputs[0], a.get("alpha", 0.01))


@executor("Elu")
def _elu(m, node, inputs, a):
    return F.elu(inputs[0], a.get("alpha", 1.0))


@executor("Softplus")
def _softplus(m, node, inputs, a):
    return F.softplus(inputs[0])  # log(1 + e^x); PyTorch's linear part beyond 20 agrees to 2e-9


@executor("Softmax", "LogSoftmax")
def _softmax(m, node, inputs, a):
    fn = F.softmax if node.op_type == "Softmax" else F.log_softmax
    return fn(inputs[0], dim=a.get("axis", -1))


@executor("Conv")
def _conv(m, node, inputs, a):
    _check_auto_pad("Conv", a)
    x, weight = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    top, left, bottom, right = a.get("pads", [0, 0, 0, 0])
    return conv.Conv2d.apply(x, weight, bias, stride=_pair(a.get("strides"), 1), padding=(top, bottom, left, right),
                             dilation=_pair(a.get("dilations"), 1), groups=int(a.get("group", 1)))


@executor("Gemm")
def _gemm(m, node, inputs, a):
    x, w = inputs[0], inputs[1]
    x = x.permute(1, 0) if a.get("transA", 0) else x
    w = w.permute(1, 0) if a.get("transB", 0) else w
    out = x @ w
    if a.get("alpha", 1.0) != 1.0:
        out = out * float(a["alpha"])
    if len(inputs) > 2 and inputs[2] is not None:
        c = inputs[2] if a.get("beta", 1.0) == 1.0 else inputs[2] * float(a["beta"])
        out = out + c
    return out


@executor("BatchNormalization")
def _batch_norm(m, node, inputs, a):
    x, scale, bias, mean, var = inputs
    momentum = 1.0 - float(a.get("momentum", 0.9))
    return F.batch_norm(x, mean, var, scale, bias, training=m.training, momentum=momentum, eps=float(a.get("epsilon", 1e-5)))


@executor("LayerNormalization")
def _layer_norm(m, node, inputs, a):
    x = inputs[0]
    axis = int(a.get("axis", -1)) % x.ndim
    bias = inputs[2] if len(inputs) > 2 else None
    return F.layer_norm(x, x.shape[axis:], inputs[1], bias, eps=float(a.get("epsilon", 1e-5)))


@executor("LRN")
def _lrn(m, node, inputs, a):
    """ONNX's window runs from c - (size - 1) // 2 (PyTorch's from c - size // 2: the same for odd sizes)."""
    size = int(a["size"])
    return norm.LocalResponseNorm.apply(inputs[0], size=size, alpha=float(a.get("alpha", 1e-4)),
                                        beta=float(a.get("beta", 0.75)), k=float(a.get("bias", 1.0)),
                                        before=(size - 1) // 2)


@executor("MaxPool", "AveragePool")
def _pool(m, node, inputs, a):
    """ONNX's pooling output sizes and divisors are PyTorch's, ``ceil_mode`` included."""
    _check_auto_pad(node.op_type, a)
    kernel = _pair(a["kernel_shape"], 1)
    stride = _pair(a.get("strides"), 1)
    padding = _symmetric_pads(node.op_type, a.get("pads"))
    dilation = _pair(a.get("dilations"), 1)
    ceil_mode = bool(a.get("ceil_mode", 0))
    if node.op_type == "MaxPool":
        return F.max_pool2d(inputs[0], kernel, stride, padding, dilation, ceil_mode)
    if dilation != (1, 1):
        raise UnsupportedError(f"onnx.load: AveragePool with dilations {list(dilation)} is not supported")
    return F.avg_pool2d(inputs[0], kernel, stride, padding, ceil_mode, count_include_pad=bool(a.get("count_include_pad", 0)))


@executor("GlobalAveragePool")
def _global_average_pool(m, node, inputs, a):
    return F.adaptive_avg_pool2d(inputs[0], 1)


@executor("Flatten")
def _flatten(m, node, inputs, a):
    x = inputs[0]
    axis = int(a.get("axis", 1)) % max(x.ndim, 1)
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


@executor("Reshape")
def _reshape(m, node, inputs, a):
    x, target = inputs[0], _ints(inputs[1])
    if not a.get("allowzero", 0):
        target = [x.shape[i] if d == 0 else d for i, d in enumerate(target)]
    return x.reshape(*target) if isinstance(x, Tensor) else np.reshape(x, target)


@executor("Transpose")
def _transpose(m, node, inputs, a):
    x = inputs[0]
    return x.permute(*a.get("perm", list(range(x.ndim))[::-1]))


@executor("Concat")
def _concat(m, node, inputs, a):
    from npgrad import cat

    return cat(inputs, dim=int(a["axis"]))


@executor("Unsqueeze", "Squeeze")
def _unsqueeze(m, node, inputs, a):
    x = inputs[0]
    axes = _ints(inputs[1]) if len(inputs) > 1 else list(a.get("axes", []))
    if node.op_type == "Unsqueeze":
        shape = list(x.shape)
        for axis in sorted(ax % (x.ndim + len(axes)) for ax in axes):
            shape.insert(axis, 1)
    else:
        drop = {ax % x.ndim for ax in axes} if axes else {i for i, s in enumerate(x.shape) if s == 1}
        shape = [s for i, s in enumerate(x.shape) if i not in drop]
    return x.reshape(*shape) if isinstance(x, Tensor) else np.reshape(x, shape)


@executor("Shape")
def _shape(m, node, inputs, a):
    return np.asarray(inputs[0].shape, dtype=np.int64)


@executor("ReduceMean", "ReduceSum")
def _reduce(m, node, inputs, a):
    x = inputs[0]
    axes = _ints(inputs[1]) if len(inputs) > 1 and inputs[1] is not None else a.get("axes")
    keepdim = bool(a.get("keepdims", 1))
    dim = tuple(axes) if axes else None
    return x.mean(dim=dim, keepdim=keepdim) if node.op_type == "ReduceMean" else x.sum(dim=dim, keepdim=keepdim)


@executor("Clip")
def _clip(m, node, inputs, a):
    # the bounds are scalars; as float initializers they arrive as Parameters (1-element arrays)
    low = None if len(inputs) < 2 or inputs[1] is None else float(np.asarray(_data(inputs[1])).item())
    high = None if len(inputs) < 3 or inputs[2] is None else float(np.asarray(_data(inputs[2])).item())
    from npgrad import clamp

    return clamp(inputs[0], low, high)


@executor("Constant")
def _constant(m, node, inputs, a):
    return np.asarray(a["value"])


def _data(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def _parameter_name(name: str, taken: set[str]) -> str:
    base = re.sub(r"\W", "_", name) or "param"
    if base[0].isdigit():
        base = "p_" + base
    candidate, i = base, 1
    while candidate in taken:
        i += 1
        candidate = f"{base}_{i}"
    taken.add(candidate)
    return candidate


class OnnxModule(Module):
    """An ONNX graph run by npgrad operators (see the module docstring). ``forward(x)`` takes the graph's one input."""

    def __init__(self, onnx_model: Any):
        super().__init__()
        from onnx import numpy_helper

        graph = onnx_model.graph
        initializer_names = {init.name for init in graph.initializer}
        inputs = [i.name for i in graph.input if i.name not in initializer_names]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise UnsupportedError(f"onnx.load: only graphs with one input and one output are supported, got inputs "
                                   f"{inputs} and {len(graph.output)} output(s)")
        self._input, self._output = inputs[0], graph.output[0].name
        # (op_type, node, input names, output name, attributes), attributes decoded once
        object.__setattr__(self, "_steps", [(n.op_type, n, list(n.input), n.output[0],
                                             {attr.name: _attribute(attr) for attr in n.attribute}) for n in graph.node])
        object.__setattr__(self, "_constants", {})
        self.onnx_names: dict[str, str] = {}  # npgrad parameter/buffer name -> ONNX initializer name
        taken: set[str] = set()
        running_stats = {node.input[i] for node in graph.node if node.op_type == "BatchNormalization" for i in (3, 4)
                         if len(node.input) > i}
        for init in graph.initializer:
            array = numpy_helper.to_array(init)
            if not np.issubdtype(array.dtype, np.floating):
                self._constants[init.name] = array
                continue
            name = _parameter_name(init.name, taken)
            self.onnx_names[name] = init.name
            if init.name in running_stats:
                self.register_buffer(name, np.array(array, dtype=array.dtype))
            else:
                setattr(self, name, Parameter(np.array(array)))
        self._by_onnx_name = {onnx_name: name for name, onnx_name in self.onnx_names.items()}
        self.eval()

    def _value(self, values: Values, name: str) -> Any:
        if name == "":
            return None
        if name in values:
            return values[name]
        if name in self._by_onnx_name:
            return getattr(self, self._by_onnx_name[name])
        return self._constants[name]

    def forward(self, input: Any) -> Tensor:
        values: Values = {self._input: input if isinstance(input, Tensor) else Tensor(np.asarray(input))}
        for op_type, node, input_names, output_name, attributes in self._steps:
            inputs = [self._value(values, name) for name in input_names]
            values[output_name] = EXECUTORS[op_type](self, node, inputs, attributes)
        return values[self._output]


def _attribute(attr: Any) -> Any:
    from onnx import AttributeProto, helper, numpy_helper

    value = helper.get_attribute_value(attr)
    if attr.type == AttributeProto.TENSOR:
        return numpy_helper.to_array(value)
    if attr.type == AttributeProto.STRING:
        return value.decode()
    if attr.type in (AttributeProto.INTS, AttributeProto.FLOATS):
        return list(value)
    return value


def load(path: str | os.PathLike) -> OnnxModule:
    """The ONNX model at ``path`` as an npgrad `OnnxModule` (in evaluation mode, ready to run or train).

    Raises `UnsupportedError` listing every operator of the graph npgrad cannot run (all at once),
    `MissingFileError` for a missing file and `DataError` for a file that is not a valid ONNX model.
    """
    from npgrad.onnx._export import require_onnx

    onnx = require_onnx()
    if not os.path.isfile(path):
        raise MissingFileError(f"onnx.load: no such file: {path}")
    try:
        model = onnx.load(os.fspath(path))
        onnx.checker.check_model(model)
    except Exception as error:  # protobuf DecodeError, onnx ValidationError: the file is not a usable model
        raise DataError(f"onnx.load: {path} is not a valid ONNX model ({type(error).__name__}: {error})") from error
    domains = {opset.domain for opset in model.opset_import}
    unsupported = sorted({node.op_type for node in model.graph.node if node.op_type not in EXECUTORS}
                         | {f"{d} domain" for d in domains if d not in ("", "ai.onnx")})
    if unsupported:
        raise UnsupportedError(f"onnx.load: {path} uses operators npgrad cannot run: {', '.join(unsupported)}")
    return OnnxModule(model)
