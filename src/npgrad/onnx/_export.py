"""`export`: an npgrad model as an ONNX graph, built from what one forward pass actually ran.

The model runs once in evaluation mode on the example input inside `npgrad.function.trace`,
which records every operator call (`Function.apply`) with its arguments. Each call whose
inputs depend on the model's input becomes ONNX nodes through the converter registered for
its `Function` class (`CONVERTERS`); calls that depend only on parameters (a ``weight.t()``
in a user's module, say) are folded into constants. Parameters and buffers become
initializers named by their ``state_dict`` keys. So any user-defined `Module` built from the
supported operators exports without extra code; an operator without a converter raises
`UnsupportedError` naming it and the module that called it.

Evaluation semantics: batch norm with its running statistics (``BatchNormalization``), dropout
absent. With ``dynamic_batch`` the first dimension of the input and output is symbolic
('batch'); reshapes keep it as ONNX's 0 ("copy this dimension"), and a reshape that moves
the batch dimension raises, since the graph would then only be valid for the traced batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from npgrad import function as _function
from npgrad._fileio import atomic_path
from npgrad.errors import InvalidArgumentError, UnsupportedError
from npgrad.nn.module import Module
from npgrad.ops import activation, conv, elementwise, linear, norm, pool, reduce, shape
from npgrad.tensor import Tensor

DEFAULT_OPSET = 18  # ONNX 1.13+ (2022-12); onnxruntime runs it from 1.14 on
_MIN_OPSET = 18  # the converters emit ReduceMean with axes as an input (opset 18)


def require_onnx() -> Any:
    try:
        import onnx
    except ImportError as error:
        raise ImportError('npgrad.onnx needs the onnx package: pip install "npgrad[onnx]"') from error
    return onnx


class GraphBuilder:
    """The ONNX graph under construction: value names, nodes and initializers."""

    def __init__(self, onnx: Any, names: dict[int, str], input_tensor: Tensor, input_name: str, dynamic_batch: bool,
                 opset: int = DEFAULT_OPSET):
        self.onnx, self.helper = onnx, onnx.helper
        self.opset = opset
        self.nodes: list[Any] = []
        self.initializers: dict[str, Any] = {}
        self.names = names  # id(Tensor or ndarray) -> initializer name (the state_dict key)
        # id(Tensor) -> ONNX value name; the Tensors stay alive in the trace (and the caller) while these ids are used
        self.values: dict[int, str] = {id(input_tensor): input_name}
        self.dynamic_batch = dynamic_batch
        self.batch = input_tensor.shape[0]
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def depends_on_input(self, obj: Any) -> bool:
        return isinstance(obj, Tensor) and id(obj) in self.values

    def value(self, obj: Any, hint: str = "const") -> str:
        """The ONNX name of an operator argument: a traced value, a named initializer, or a new constant."""
        if isinstance(obj, Tensor) and id(obj) in self.values:
            return self.values[id(obj)]
        array = obj.data if isinstance(obj, Tensor) else np.asarray(obj)
        name = self.names.get(id(obj)) or self.names.get(id(array))
        return self.constant(array, name or self.fresh(hint))

    def constant(self, array: np.ndarray, name: str | None = None) -> str:
        name = name or self.fresh("const")
        if name not in self.initializers:
            self.initializers[name] = self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name)
        return name

    def ints(self, values: Sequence[int]) -> str:
        return self.constant(np.asarray(values, dtype=np.int64))

    def node(self, op_type: str, inputs: Sequence[str], **attributes: Any) -> str:
        output = self.fresh(op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [output], name=output, **attributes))
        return output

    def bind(self, tensor: Tensor, name: str) -> None:
        self.values[id(tensor)] = name

    def batch_shape(self, target: Sequence[int], op: str) -> list[int]:
        """A reshape target with the batch dimension kept symbolic (ONNX 0 = copy the input's dimension)."""
        target = list(target)
        if not self.dynamic_batch:
            return target
        if not target or target[0] != self.batch:
            raise UnsupportedError(
                f"onnx.export: {op} has shape {tuple(target)}, which does not keep the batch dimension "
                f"({self.batch}) first; export with dynamic_batch=False for a graph of this batch size only"
            )
        return [0, *target[1:]]


Converter = Callable[[GraphBuilder, _function.Call], str]
CONVERTERS: dict[type, Converter] = {}


def converter(*functions: type) -> Callable[[Converter], Converter]:
    """Register a converter: ``(builder, call) -> name of the ONNX value that is the call's result``."""
    def decorate(fn: Converter) -> Converter:
        for function in functions:
            CONVERTERS[function] = fn
        return fn

    return decorate


def _unary(op_type: str, **attributes: Any) -> Converter:
    return lambda b, call: b.node(op_type, [b.value(call.args[0])], **attributes)


for _function_class, _op_type in ((activation.ReLU, "Relu"), (activation.Sigmoid, "Sigmoid"), (activation.Tanh, "Tanh"),
                                  (elementwise.Neg, "Neg"), (elementwise.Exp, "Exp"), (elementwise.Log, "Log"),
                                  (elementwise.Sqrt, "Sqrt"), (elementwise.Abs, "Abs"), (activation.Dropout, "Identity")):
    CONVERTERS[_function_class] = _unary(_op_type)

for _function_class, _op_type in ((elementwise.Add, "Add"), (elementwise.Sub, "Sub"), (elementwise.Mul, "Mul"),
                                  (elementwise.Div, "Div"), (elementwise.Pow, "Pow"), (linear.MatMul, "MatMul")):
    CONVERTERS[_function_class] = (lambda op_type: lambda b, call: b.node(op_type, [b.value(a) for a in call.args]))(_op_type)


@converter(activation.LeakyReLU)
def _leaky_relu(b: GraphBuilder, call: _function.Call) -> str:
    return b.node("LeakyRelu", [b.value(call.args[0])], alpha=float(call.kwargs["negative_slope"]))


@converter(activation.ELU)
def _elu(b: GraphBuilder, call: _function.Call) -> str:
    return b.node("Elu", [b.value(call.args[0])], alpha=float(call.kwargs["alpha"]))


@converter(activation.SiLU)
def _silu(b: GraphBuilder, call: _function.Call) -> str:
    x = b.value(call.args[0])
    return b.node("Mul", [x, b.node("Sigmoid", [x])])


@converter(activation.Hardtanh)
def _hardtanh(b: GraphBuilder, call: _function.Call) -> str:
    x, k = call.args[0], call.kwargs
    bounds = [b.constant(np.asarray(k[name], dtype=x.dtype)) for name in ("min_val", "max_val")]
    return b.node("Clip", [b.value(x), *bounds])


@converter(activation.Softplus)
def _softplus(b: GraphBuilder, call: _function.Call) -> str:
    """ONNX's Softplus has no beta and no threshold: softplus(beta x) / beta, and PyTorch's linear part
    (x where beta x > threshold) as a Where unless it is within float32 rounding (threshold >= 17)."""
    x, k = call.args[0], call.kwargs
    beta, threshold = k["beta"], k["threshold"]
    scaled = b.node("Mul", [b.value(x), b.constant(np.asarray(beta, x.dtype))]) if beta != 1 else b.value(x)
    out = b.node("Softplus", [scaled])
    if beta != 1:
        out = b.node("Div", [out, b.constant(np.asarray(beta, x.dtype))])
    if threshold >= 17:  # log(1 + e^-t) / beta < 4e-8 / beta: the two sides agree to float32 rounding
        return out
    linear = b.node("Greater", [scaled, b.constant(np.asarray(threshold, x.dtype))])
    return b.node("Where", [linear, b.value(x), out])


@converter(activation.Softmax, activation.LogSoftmax)
def _softmax(b: GraphBuilder, call: _function.Call) -> str:
    op_type = "Softmax" if call.function is activation.Softmax else "LogSoftmax"
    return b.node(op_type, [b.value(call.args[0])], axis=int(call.kwargs["axis"]))


@converter(conv.Conv2d)
def _conv2d(b: GraphBuilder, call: _function.Call) -> str:
    x, weight, bias = call.args
    top, bottom, left, right = call.kwargs["padding"]
    inputs = [b.value(x), b.value(weight, "weight")] + ([] if bias is None else [b.value(bias, "bias")])
    return b.node("Conv", inputs, kernel_shape=list(weight.shape[2:]), strides=list(call.kwargs["stride"]),
                  pads=[top, left, bottom, right], dilations=list(call.kwargs["dilation"]), group=int(call.kwargs["groups"]))


@converter(linear.Linear)
def _linear(b: GraphBuilder, call: _function.Call) -> str:
    x, weight, bias = call.args
    if x.ndim == 2:  # y = x W^T + b: one Gemm
        inputs = [b.value(x), b.value(weight, "weight")] + ([] if bias is None else [b.value(bias, "bias")])
        return b.node("Gemm", inputs, transB=1)
    out = b.node("MatMul", [b.value(x), b.node("Transpose", [b.value(weight, "weight")], perm=[1, 0])])
    return out if bias is None else b.node("Add", [out, b.value(bias, "bias")])


def _pool_pads(padding: Sequence[int]) -> list[int]:
    ph, pw = padding
    return [ph, pw, ph, pw]


def _ceil_mode(b: GraphBuilder, call: _function.Call) -> int:
    """ONNX's ceil_mode flag: set only where it adds a last window (ONNX then keeps PyTorch's windows).

    Where PyTorch's rule drops the extra window (it would start in the right padding) the floor
    size is the answer, so the flag stays off; but ONNX's shape inference before opset 22 gets
    that rule wrong, so a pooling that adds a window along one axis and drops it along the
    other needs opset 22.
    """
    k, x = call.kwargs, call.args[0]
    floor = pool._pool_output_size(x.shape, k["kernel_size"], k["stride"], k["padding"], k.get("dilation", (1, 1)))
    out = tuple(call.result.shape[2:])
    if out == floor:
        return 0
    naive_ceil = [-(-(n + 2 * p - d * (kk - 1) - 1) // s) + 1
                  for n, kk, s, p, d in zip(x.shape[2:], k["kernel_size"], k["stride"], k["padding"], k.get("dilation", (1, 1)))]
    if b.opset < 22 and list(out) != naive_ceil:
        raise UnsupportedError(f"onnx.export: this ceil_mode pooling (output {out}) needs opset_version=22 or later: "
                               f"earlier ONNX shape inference makes it {tuple(naive_ceil)}")
    return 1


@converter(pool.MaxPool2d)
def _max_pool(b: GraphBuilder, call: _function.Call) -> str:
    k = call.kwargs
    if k.get("return_indices"):  # ONNX's Indices count over the whole tensor, not per (H, W) plane
        raise UnsupportedError("onnx.export: max_pool2d with return_indices=True is not supported")
    return b.node("MaxPool", [b.value(call.args[0])], kernel_shape=list(k["kernel_size"]), strides=list(k["stride"]),
                  pads=_pool_pads(k["padding"]), dilations=list(k.get("dilation", (1, 1))), ceil_mode=_ceil_mode(b, call))


@converter(pool.AvgPool2d)
def _avg_pool(b: GraphBuilder, call: _function.Call) -> str:
    """ONNX's divisors are PyTorch's, ceil mode included; a ``divisor_override`` rescales the counts-including-pad result."""
    x, k = call.args[0], call.kwargs
    override = k.get("divisor_override")
    if tuple(k["kernel_size"]) == tuple(x.shape[2:]) and tuple(k["padding"]) == (0, 0):
        out = b.node("GlobalAveragePool", [b.value(x)])
    else:
        out = b.node("AveragePool", [b.value(x)], kernel_shape=list(k["kernel_size"]), strides=list(k["stride"]),
                     pads=_pool_pads(k["padding"]), ceil_mode=_ceil_mode(b, call),
                     count_include_pad=int(bool(k["count_include_pad"]) or override is not None))
    if override is None:
        return out
    out_size = call.result.shape[2:]
    counts = pool._avg_divisor(x.shape, k["kernel_size"], k["stride"], k["padding"], out_size, True, None, np.float64)
    return b.node("Mul", [out, b.constant(np.asarray(counts / override, dtype=x.dtype))])


@converter(norm.LocalResponseNorm)
def _local_response_norm(b: GraphBuilder, call: _function.Call) -> str:
    """ONNX's LRN where its window is npgrad's (odd sizes; onnxruntime runs no even ones), else the definition:
    the squares' window sums as a (size, 1) convolution over the channels of (N, 1, C, L)."""
    x, k = call.args[0], call.kwargs
    size, alpha, beta, bias, before = k["size"], k["alpha"], k["beta"], k["k"], k["before"]
    if size % 2 and before == (size - 1) // 2:
        return b.node("LRN", [b.value(x)], size=size, alpha=alpha, beta=beta, bias=bias)
    squares = b.node("Mul", [b.value(x), b.value(x)])
    columns = b.node("Reshape", [squares, b.ints(b.batch_shape([x.shape[0], 1, x.shape[1], -1], "local_response_norm"))])
    weight = b.constant(np.full((1, 1, size, 1), alpha / size, dtype=x.dtype))
    sums = b.node("Conv", [columns, weight], kernel_shape=[size, 1], pads=[before, 0, size - 1 - before, 0])
    scale = b.node("Add", [b.node("Reshape", [sums, b.node("Shape", [b.value(x)])]), b.constant(np.asarray(bias, x.dtype))])
    return b.node("Div", [b.value(x), b.node("Pow", [scale, b.constant(np.asarray(beta, x.dtype))])])


@converter(pool.AdaptiveAvgPool2d)
def _adaptive_avg_pool(b: GraphBuilder, call: _function.Call) -> str:
    """Uneven bins: out = A_h @ x @ A_w^T with npgrad's own averaging matrices (exact)."""
    x = call.args[0]
    ho, wo = call.kwargs["output_size"]
    rows = pool._averaging_matrix(x.shape[2], ho, x.dtype)  # (Ho, H)
    cols = pool._averaging_matrix(x.shape[3], wo, x.dtype)  # (Wo, W)
    out = b.node("MatMul", [b.constant(rows), b.value(x)])  # (N, C, Ho, W)
    return b.node("MatMul", [out, b.constant(np.ascontiguousarray(cols.T))])  # (N, C, Ho, Wo)


@converter(shape.Reshape)
def _reshape(b: GraphBuilder, call: _function.Call) -> str:
    x = call.args[0]
    return b.node("Reshape", [b.value(x), b.ints(b.batch_shape(call.result.shape, "reshape"))])


@converter(shape.Permute)
def _permute(b: GraphBuilder, call: _function.Call) -> str:
    return b.node("Transpose", [b.value(call.args[0])], perm=list(call.kwargs["dims"]))


@converter(shape.Concatenate)
def _concat(b: GraphBuilder, call: _function.Call) -> str:
    return b.node("Concat", [b.value(a) for a in call.args], axis=int(call.kwargs["axis"]))


@converter(shape.Stack)
def _stack(b: GraphBuilder, call: _function.Call) -> str:
    axis = b.ints([call.kwargs["axis"]])
    return b.node("Concat", [b.node("Unsqueeze", [b.value(a), axis]) for a in call.args], axis=int(call.kwargs["axis"]))


@converter(reduce.Sum, reduce.Mean)
def _reduce(b: GraphBuilder, call: _function.Call) -> str:
    x, axes = call.args[0], call.kwargs["axes"]
    axes = list(range(x.ndim)) if axes is None else [int(a) for a in np.atleast_1d(axes)]
    op_type = "ReduceSum" if call.function is reduce.Sum else "ReduceMean"
    return b.node(op_type, [b.value(x), b.ints(axes)], keepdims=int(bool(call.kwargs["keepdim"])))


@converter(elementwise.Clip)
def _clip(b: GraphBuilder, call: _function.Call) -> str:
    x, dtype = call.args[0], call.args[0].dtype
    bounds = ["" if v is None else b.constant(np.asarray(v, dtype=dtype)) for v in (call.kwargs["low"], call.kwargs["high"])]
    return b.node("Clip", [b.value(x), *bounds])


@converter(norm.Normalize)
def _normalize(b: GraphBuilder, call: _function.Call) -> str:
    x, weight, bias = call.args
    k = call.kwargs
    view_shape, axes, affine_shape, eps = k["view_shape"], tuple(k["axes"]), tuple(k["affine_shape"]), float(k["eps"])
    channels_only = len(view_shape) == 3 and axes == (0, 2) and affine_shape == (view_shape[1], 1)
    if not k.get("training", True) and channels_only:  # batch norm in evaluation: the running statistics
        c = view_shape[1]
        scale = b.value(weight, "weight") if weight is not None else b.constant(np.ones(c, x.dtype))
        shift = b.value(bias, "bias") if bias is not None else b.constant(np.zeros(c, x.dtype))
        mean, var = b.value(k["running_mean"], "running_mean"), b.value(k["running_var"], "running_var")
        return b.node("BatchNormalization", [b.value(x), scale, shift, mean, var], epsilon=eps)
    if not k.get("training", True):
        raise UnsupportedError("onnx.export: normalisation with running statistics over other axes than batch norm's")
    trailing = tuple(view_shape) == tuple(x.shape) and axes == tuple(range(x.ndim - len(axes), x.ndim))
    if trailing and affine_shape == tuple(x.shape[-len(axes):]):  # layer norm
        ones = np.ones(affine_shape, x.dtype)
        scale = b.value(weight, "weight") if weight is not None else b.constant(ones)
        inputs = [b.value(x), scale] + ([] if bias is None else [b.value(bias, "bias")])
        return b.node("LayerNormalization", inputs, axis=int(axes[0]), epsilon=eps)
    # Group norm (and batch norm without running statistics): the definition, node by node.
    reshaped = tuple(view_shape) != tuple(x.shape)
    xv = b.node("Reshape", [b.value(x), b.ints(b.batch_shape(view_shape, "group_norm"))]) if reshaped else b.value(x)
    axes_input = b.ints(axes)
    centered = b.node("Sub", [xv, b.node("ReduceMean", [xv, axes_input], keepdims=1)])
    var = b.node("ReduceMean", [b.node("Mul", [centered, centered]), axes_input], keepdims=1)
    y = b.node("Div", [centered, b.node("Sqrt", [b.node("Add", [var, b.constant(np.asarray(eps, x.dtype))])])])
    aligned = b.ints((1,) * (len(view_shape) - len(affine_shape)) + affine_shape)
    if weight is not None:
        y = b.node("Mul", [y, b.node("Reshape", [b.value(weight, "weight"), aligned])])
    if bias is not None:
        y = b.node("Add", [y, b.node("Reshape", [b.value(bias, "bias"), aligned])])
    return b.node("Reshape", [y, b.node("Shape", [b.value(x)])]) if reshaped else y


# ------------------------------------------------------------------------ export
def _named_arrays(model: Module) -> dict[int, str]:
    """id of every parameter and buffer (the Tensor and its array) -> its state_dict key."""
    names: dict[int, str] = {}
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        names.setdefault(id(tensor), name)
        names.setdefault(id(tensor.data), name)
    return names


def _module_spans(model: Module, calls: list) -> tuple[list[tuple[str, int, int]], Callable[[], None]]:
    """Forward hooks that record which calls each submodule made: [(path, first call, end)]; and their remover."""
    spans: list[tuple[str, int, int]] = []
    starts: dict[int, list[int]] = {}
    handles = []
    for path, module in model.named_modules():
        def pre(module, args):
            starts.setdefault(id(module), []).append(len(calls))

        def post(module, args, output, path=path):
            spans.append((path or type(model).__name__, starts[id(module)].pop(), len(calls)))

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    return spans, lambda: [h.remove() for h in handles]


def _module_of(spans: list[tuple[str, int, int]], index: int) -> str:
    """The innermost module whose forward made call ``index`` (shortest span; the deepest on a tie)."""
    inside = [(end - start, -path.count("."), path) for path, start, end in spans if start <= index < end]
    return min(inside)[2] if inside else "?"


def export(
    model: Module,
    example_input: Any,
    path: str | os.PathLike,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_batch: bool = True,
    opset_version: int | None = None,
    metadata: dict[str, str] | None = None,
) -> Any:
    """Write ``model`` as an ONNX file at ``path`` (atomically); returns the ``onnx.ModelProto``.

    Shaped like ``torch.onnx.export``. Args:
        model: an npgrad `Module` taking one tensor; traced in evaluation mode (restored after).
        example_input: an array or Tensor of the input's shape and dtype, e.g. (1, C, H, W) float32.
        input_names, output_names: one name each (default 'input', 'output').
        dynamic_batch: the first dimension is symbolic ('batch'), so any batch size runs.
        opset_version: the ONNX opset (default `DEFAULT_OPSET`, the lowest accepted).
        metadata: strings stored as the model's ``metadata_props`` (npgrad's CLI stores the
            preprocessing and class names there).
    Raises `UnsupportedError` naming the first operator without a converter and its module.
    """
    onnx = require_onnx()
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    if opset < _MIN_OPSET:
        raise InvalidArgumentError(f"onnx.export: opset_version must be >= {_MIN_OPSET}, got {opset}")
    x = example_input if isinstance(example_input, Tensor) else Tensor(np.asarray(example_input))
    if x.ndim == 0:
        raise InvalidArgumentError("onnx.export: example_input must have a batch dimension, got a scalar")
    input_name = (input_names or ["input"])[0]
    output_name = (output_names or ["output"])[0]
    was_training = model.training
    model.eval()
    with _function.trace() as calls:
        spans, remove_hooks = _module_spans(model, calls)
        try:
            output = model(x)  # gradient recording stays on: no inference-only fusion (nn.fusion) in the trace
        finally:
            remove_hooks()
            model.train(was_training)
    if not isinstance(output, Tensor):
        raise UnsupportedError(f"onnx.export: the model must return one Tensor, got {type(output).__name__}")
    builder = GraphBuilder(onnx, _named_arrays(model), x, input_name, dynamic_batch, opset)
    for index, call in enumerate(calls):
        arguments = [*call.args, *call.kwargs.values()]
        if not any(builder.depends_on_input(a) for a in arguments):
            continue  # computed from parameters alone: becomes a constant where it is used
        convert = CONVERTERS.get(call.function)
        if convert is None:
            raise UnsupportedError(f"onnx.export: no ONNX converter for the operator {call.function.__name__} "
                                   f"(called in module {_module_of(spans, index)!r})")
        builder.bind(call.result, convert(builder, call))
    if not builder.depends_on_input(output):
        raise UnsupportedError("onnx.export: the model's output does not depend on its input")
    builder.nodes.append(onnx.helper.make_node("Identity", [builder.value(output)], [output_name], name=output_name))

    input_shape, output_shape = list(x.shape), list(output.shape)
    if dynamic_batch:
        builder.batch_shape(output_shape, "the output")  # the batch must lead the output too
        input_shape[0] = output_shape[0] = "batch"
    tensor_type = onnx.helper.np_dtype_to_tensor_dtype
    graph = onnx.helper.make_graph(
        builder.nodes, type(model).__name__,
        [onnx.helper.make_tensor_value_info(input_name, tensor_type(x.dtype), input_shape)],
        [onnx.helper.make_tensor_value_info(output_name, tensor_type(output.dtype), output_shape)],
        initializer=list(builder.initializers.values()),
    )
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)],
                                   producer_name="npgrad", producer_version=_version())
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(key), str(value)
    onnx.checker.check_model(proto, full_check=True)
    with atomic_path(path) as tmp:
        onnx.save_model(proto, str(tmp))
    return proto


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("npgrad")
    except metadata.PackageNotFoundError:
        return "unknown"

