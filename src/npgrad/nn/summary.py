"""`summary`: the layer-by-layer shape walk of a model, with parameter counts and memory."""

from __future__ import annotations

from typing import Any

import numpy as np

from npgrad.nn.module import Module
from npgrad.tensor import Tensor, no_grad


class ModelSummary(str):
    """The text of the summary table (print it); its repr is the table too, so it shows as such in a REPL.

    Attributes:
        total_params, trainable_params: parameter counts (shared parameters once).
        param_bytes, buffer_bytes: memory of the parameters and of the buffers.
        input_shape, output_shape: the shapes of the dummy batch and of the model's output.
    """

    total_params: int
    trainable_params: int
    param_bytes: int
    buffer_bytes: int
    input_shape: tuple[int, ...]
    output_shape: Any

    def __repr__(self) -> str:
        return str(self)


def _shape_text(output: Any) -> str:
    if isinstance(output, Tensor):
        return str(tuple(output.shape))
    if isinstance(output, (tuple, list)):
        return ", ".join(_shape_text(item) for item in output)
    return type(output).__name__


def _output_bytes(output: Any) -> int:
    if isinstance(output, Tensor):
        return output.data.nbytes
    if isinstance(output, (tuple, list)):
        return sum(_output_bytes(item) for item in output)
    return 0


def _format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"


def summary(model: Module, input_shape: int | tuple[int, ...], dtype: Any = np.float32, batch_size: int = 1) -> ModelSummary:
    """Run ``model`` on a batch of zeros and tabulate every sub-module's output shape and parameters.

    The forward pass runs under `no_grad` with the whole model in eval mode (so
    batch norm neither needs more than one sample nor updates its running
    statistics); each module's ``training`` flag is restored afterwards. Rows
    come in call order, indented by depth; a module called twice has two rows.
    "Param #" counts a module's own parameters, not those of its sub-modules
    ("--" for a container that has none), so the column adds up to the total.

    Args:
        model: the model.
        input_shape: the shape of one sample, e.g. (1, 28, 28) for MNIST or 784 for
            flat features; the input is zeros of shape ``(batch_size, *input_shape)``.
        dtype: dtype of the input (float32 by default).
        batch_size: N of the dummy batch.

    Returns:
        A `ModelSummary`: the table as a str (``print(summary(model, (1, 28, 28)))``)
        with total / trainable parameter counts, the memory of the parameters and
        buffers and of the leaf layers' outputs (for this batch size).
    """
    shape = (batch_size, *(int(s) for s in np.atleast_1d(input_shape)))
    names = {id(module): name for name, module in model.named_modules()}
    rows: list[dict[str, Any]] = []
    open_rows: list[int] = []

    def before(module: Module, args: tuple) -> None:
        open_rows.append(len(rows))
        rows.append({"module": module, "name": names[id(module)], "input": args, "output": None})

    def after(module: Module, args: tuple, output: Any) -> None:
        rows[open_rows.pop()]["output"] = output

    training = [(module, module.training) for module in model.modules()]
    handles = []
    for module in model.modules():
        if module is not model:
            handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    model.eval()
    try:
        with no_grad():
            output = model(Tensor(np.zeros(shape, dtype=dtype)))
    except Exception as exc:
        if open_rows and hasattr(exc, "add_note"):  # Python 3.11+
            row = rows[open_rows[-1]]
            exc.add_note(f"summary: raised in layer '{row['name']}' ({type(row['module']).__name__}) "
                         f"on input of shape {_shape_text(row['input'])}")
        raise
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in training:
            module.training = flag

    table = [("Layer", "Type", "Output shape", "Param #"), ("input", "", str(shape), "")]
    activation_bytes = 0
    for row in rows:
        module = row["module"]
        own = sum(p.numel() for p in module.parameters(recurse=False))
        has_children = next(module.children(), None) is not None
        if not has_children:
            activation_bytes += _output_bytes(row["output"])
        indent = "  " * row["name"].count(".")
        table.append((indent + row["name"], type(module).__name__, _shape_text(row["output"]),
                      "--" if has_children and own == 0 else f"{own:,}"))
    table.append(("output", "", _shape_text(output), ""))
    widths = [max(len(line[i]) for line in table) for i in range(4)]

    def format_line(line: tuple[str, ...]) -> str:
        return "  ".join([line[0].ljust(widths[0]), line[1].ljust(widths[1]), line[2].ljust(widths[2]),
                          line[3].rjust(widths[3])]).rstrip()

    rule = "=" * (sum(widths) + 6)
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    param_bytes = sum(p.data.nbytes for p in params)
    buffer_bytes = sum(b.data.nbytes for b in model.buffers())
    lines = [
        f"{type(model).__name__} summary",
        rule, format_line(table[0]), rule, *map(format_line, table[1:]), rule,
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        f"Parameter memory: {_format_bytes(param_bytes)}",
        f"Buffer memory: {_format_bytes(buffer_bytes)}",
        f"Leaf-layer output memory (batch {batch_size}): {_format_bytes(activation_bytes)}",
    ]
    result = ModelSummary("\n".join(lines))
    result.total_params = total
    result.trainable_params = trainable
    result.param_bytes = param_bytes
    result.buffer_bytes = buffer_bytes
    result.input_shape = shape
    result.output_shape = output.shape if isinstance(output, Tensor) else None
    return result
