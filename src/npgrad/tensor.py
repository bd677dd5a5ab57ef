"""`Tensor`: a NumPy array with reverse-mode automatic differentiation.

A Tensor wraps ``data`` (a ``numpy.ndarray``) and, when it requires grad, the
node that produced it: the `Function` class, its saved context and the input
Tensors. ``backward()`` walks those nodes in reverse topological order (built
iteratively, so a chain of any length is fine) and accumulates gradients into
the ``grad`` arrays of the leaves.

Dtypes follow PyTorch: Python numbers and lists become float32 (or int64 / bool
for integer / boolean data), NumPy arrays keep their dtype (pass float64 arrays
for gradient checks), and a Python scalar combined with a Tensor takes the
Tensor's dtype.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from npgrad._utils import _UNSET, resolve_dim, resolve_keepdim

_grad_enabled = True


def is_grad_enabled() -> bool:
    """True unless inside a `no_grad` block."""
    return _grad_enabled


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self) -> None:
        global _grad_enabled
        self.previous = _grad_enabled
        _grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        global _grad_enabled
        _grad_enabled = self.previous


def no_grad() -> _GradMode:
    """Context manager (or decorator) in which operations are not recorded for autograd."""
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Context manager (or decorator) that turns recording back on inside `no_grad`."""
    return _GradMode(True)


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):
        return np.asarray(data, dtype=dtype)
    array = np.asarray(data, dtype=dtype)
    if dtype is None and array.dtype == np.float64:
        array = array.astype(np.float32)
    return array


class Tensor:
    """An n-dimensional array that records operations for automatic differentiation.

    Args:
        data: array-like. NumPy arrays keep their dtype (no copy when possible);
            Python floats and lists of floats become float32.
        requires_grad: record operations on this tensor so that ``backward()``
            fills its ``grad``. Only floating-point tensors can require grad.
        dtype: optional NumPy dtype to convert ``data`` to.

    Attributes:
        data: the values, a ``numpy.ndarray``.
        grad: ``None`` or a ``numpy.ndarray`` of ``data``'s shape and dtype,
            accumulated by ``backward()``; users may read and assign it (an array, or a
            Tensor whose array is stored; another shape raises ValueError at assignment).
    """

    __slots__ = ("data", "_grad", "_requires_grad", "_node", "_retains_grad", "__weakref__")
    __array_ufunc__ = None  # make `ndarray + Tensor` call Tensor.__radd__
    __hash__ = object.__hash__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None):
        self.data: np.ndarray = _to_array(data, dtype)
        self._grad: np.ndarray | None = None
        self._node: tuple | None = None
        self._retains_grad = False
        self._requires_grad = False
        self.requires_grad = requires_grad

    # ----------------------------------------------------------- attributes
    @property
    def grad(self) -> np.ndarray | None:
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        """``None``, an array, or a Tensor (its array is stored, as PyTorch stores the tensor); of ``data``'s shape."""
        if value is not None:
            value = value.data if isinstance(value, Tensor) else np.asarray(value)
            if value.shape != self.data.shape:
                raise ValueError(f"assigned grad has shape {value.shape}, but the tensor has shape {self.data.shape}")
        self._grad = value

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and not np.issubdtype(self.data.dtype, np.floating):
            raise TypeError(f"only floating-point tensors can require grad, got dtype {self.data.dtype}")
        self._requires_grad = bool(value)

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded operation (inputs, parameters)."""
        return self._node is None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def dim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None) -> Any:
        """The shape, or its length along ``dim`` (PyTorch's ``size``)."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def item(self) -> Any:
        """The single value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, got shape {self.shape}")
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def tolist(self) -> Any:
        return self.data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def detach(self) -> Tensor:
        """A tensor sharing ``data`` but cut off from the graph."""
        return Tensor(self.data)

    def astype(self, dtype: Any) -> Tensor:
        """A copy converted to ``dtype``; differentiable between floating dtypes."""
        from npgrad.ops.elementwise import Cast

        return Cast.apply(self, dtype=np.dtype(dtype))

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep ``grad`` for this non-leaf tensor during ``backward()``."""
        self._retains_grad = True

    def zero_(self) -> Tensor:
        self.data[...] = 0
        return self

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extras = []
        if self.data.dtype != np.float32 and not np.issubdtype(self.data.dtype, np.integer):
            extras.append(f"dtype={self.data.dtype}")
        if self._node is not None:
            extras.append(f"grad_fn={self._node[0].__name__}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # ------------------------------------------------------------- autograd
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        Args:
            grad: the gradient of some scalar with respect to ``self`` (same
                shape). May be omitted only when ``self`` has one element.
            retain_graph: keep the saved arrays so ``backward`` can run again
                through the same graph. By default they are freed as soon as
                each node has been used.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no graph to differentiate")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: a gradient can be created implicitly only for one-element outputs; "
                    f"this tensor has shape {self.shape}, so pass grad= of that shape"
                )
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward: grad has shape {grad.shape} but the tensor has shape {self.shape}")

        grads: dict[int, np.ndarray] = {id(self): grad}
        for node in reversed(_topological_order(self)):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._node is None or node._retains_grad:
                _accumulate(node, g)
            if node._node is None:
                continue
            fn, ctx, parents = node._node
            if ctx.saved is None:
                raise RuntimeError(
                    f"backward: trying to go through {fn.__name__} a second time, but its saved arrays "
                    "were freed; pass retain_graph=True to the first backward()"
                )
            input_grads = fn.backward(ctx, g)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            if len(input_grads) != len(parents):
                raise RuntimeError(
                    f"{fn.__name__}.backward returned {len(input_grads)} gradients for {len(parents)} inputs"
                )
            for parent, parent_grad in zip(parents, input_grads):
                if parent is None or not parent.requires_grad or parent_grad is None:
                    continue
                if parent_grad.shape != parent.shape:
                    raise RuntimeError(
                        f"{fn.__name__}.backward returned a gradient of shape {parent_grad.shape} "
                        f"for an input of shape {parent.shape}"
                    )
                key = id(parent)
                grads[key] = grads[key] + parent_grad if key in grads else parent_grad
            if not retain_graph:
                ctx.saved = None
                ctx.__dict__.clear()

    # ------------------------------------------------------------ operators
    def __add__(self, other: Any) -> Tensor:
        return _ew.Add.apply(self, _operand(other, self))

    def __radd__(self, other: Any) -> Tensor:
        return _ew.Add.apply(_operand(other, self), self)

    def __sub__(self, other: Any) -> Tensor:
        return _ew.Sub.apply(self, _operand(other, self))

    def __rsub__(self, other: Any) -> Tensor:
        return _ew.Sub.apply(_operand(other, self), self)

    def __mul__(self, other: Any) -> Tensor:
        return _ew.Mul.apply(self, _operand(other, self))

    def __rmul__(self, other: Any) -> Tensor:
        return _ew.Mul.apply(_operand(other, self), self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ew.Div.apply(self, _operand(other, self))

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ew.Div.apply(_operand(other, self), self)

    def __pow__(self, other: Any) -> Tensor:
        return _ew.Pow.apply(self, _operand(other, self))

    def __rpow__(self, other: Any) -> Tensor:
        return _ew.Pow.apply(_operand(other, self), self)

    def __matmul__(self, other: Any) -> Tensor:
        return _linear.MatMul.apply(self, _operand(other, self))

    def __rmatmul__(self, other: Any) -> Tensor:
        return _linear.MatMul.apply(_operand(other, self), self)

    def __neg__(self) -> Tensor:
        return _ew.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def _compare(self, other: Any, op: Callable[[Any, Any], np.ndarray]) -> Tensor:
        other = other.data if isinstance(other, Tensor) else other
        return Tensor(op(self.data, other))

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(other, np.less)

    def __le__(self, other: Any) -> Tensor:
        return self._compare(other, np.less_equal)

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(other, np.greater)

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(other, np.greater_equal)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, np.equal)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, np.not_equal)

    def __getitem__(self, index: Any) -> Tensor:
        return _shape.getitem(self, index)

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.data.size} elements is ambiguous")
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    # --------------------------------------------------------------- methods
    def exp(self) -> Tensor:
        return _ew.Exp.apply(self)

    def log(self) -> Tensor:
        return _ew.Log.apply(self)

    def sqrt(self) -> Tensor:
        return _ew.Sqrt.apply(self)

    def abs(self) -> Tensor:
        return _ew.Abs.apply(self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Clamp values to [min, max]; the gradient flows where min <= x <= max."""
        return _ew.clip(self, min, max)

    clamp = clip

    def sum(self, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
        return _reduce.sum(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def mean(self, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
        return _reduce.mean(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def max(self, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
        return _reduce.max(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def min(self, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
        return _reduce.min(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def argmax(self, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
        """Indices of the maxima (int64, no gradient)."""
        d = resolve_dim("argmax", dim, axis)
        return Tensor(np.argmax(self.data, axis=d, keepdims=resolve_keepdim("argmax", keepdim, keepdims)))

    def reshape(self, *shape: Any) -> Tensor:
        return _shape.reshape(self, *shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return _shape.flatten(self, start_dim, end_dim)

    def permute(self, *dims: Any) -> Tensor:
        return _shape.permute(self, *dims)

    def transpose(self, dim0: int = _UNSET, dim1: int = _UNSET) -> Tensor:
        """Swap two dimensions; with no arguments reverse them all (NumPy habit)."""
        if dim0 is _UNSET and dim1 is _UNSET:
            return _shape.permute(self, *reversed(range(self.ndim)))
        return _shape.transpose(self, dim0, dim1)

    @property
    def T(self) -> Tensor:
        """All dimensions reversed (the matrix transpose for 2-D tensors)."""
        return _shape.permute(self, *reversed(range(self.ndim)))

    def unsqueeze(self, dim: int) -> Tensor:
        return _shape.unsqueeze(self, dim)

    def squeeze(self, dim: int | None = None) -> Tensor:
        return _shape.squeeze(self, dim)

    def relu(self) -> Tensor:
        from npgrad.nn import functional as F

        return F.relu(self)

    def sigmoid(self) -> Tensor:
        from npgrad.nn import functional as F

        return F.sigmoid(self)

    def tanh(self) -> Tensor:
        from npgrad.nn import functional as F

        return F.tanh(self)

    def softmax(self, dim: Any = _UNSET, *, axis: Any = _UNSET) -> Tensor:
        from npgrad.nn import functional as F

        return F.softmax(self, dim, axis=axis)

    def log_softmax(self, dim: Any = _UNSET, *, axis: Any = _UNSET) -> Tensor:
        from npgrad.nn import functional as F

        return F.log_softmax(self, dim, axis=axis)


def _operand(value: Any, like: Tensor) -> Any:
    """The other side of a binary operator: Tensors as they are, anything else an array.

    A Python scalar takes ``like``'s floating dtype, so ``x * 2.0`` stays float32.
    """
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (bool, int, float)) and np.issubdtype(like.dtype, np.floating):
        return np.asarray(value, dtype=like.dtype)
    return np.asarray(value)


def _topological_order(root: Tensor) -> list[Tensor]:
    """Tensors reachable from ``root`` that require grad, inputs before outputs (iterative DFS)."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        tensor, children_done = stack.pop()
        if children_done:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        if tensor._node is not None:
            for parent in tensor._node[2]:
                if parent is not None and parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def _accumulate(tensor: Tensor, grad: np.ndarray) -> None:
    if tensor._grad is None:
        tensor._grad = np.array(grad, dtype=tensor.dtype, copy=True)
    else:
        tensor._grad += grad


# --------------------------------------------------------------- factories
def _shape_arg(shape: Sequence[Any]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(int(s) for s in shape[0])
    return tuple(int(s) for s in shape)


def _factory(make: Callable[..., np.ndarray]) -> Callable[..., Tensor]:
    @functools.wraps(make)
    def factory(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
        return Tensor(make(_shape_arg(shape), np.dtype(dtype)), requires_grad=requires_grad)

    return factory


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new Tensor from array-like ``data`` (copied, like ``torch.tensor``)."""
    return Tensor(np.array(_to_array(data, dtype), copy=True), requires_grad=requires_grad)


@_factory
def zeros(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``zeros(*shape, dtype=float32, requires_grad=False)``: a tensor of zeros."""
    return np.zeros(shape, dtype)


@_factory
def ones(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``ones(*shape, dtype=float32, requires_grad=False)``: a tensor of ones."""
    return np.ones(shape, dtype)


@_factory
def randn(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``randn(*shape, ...)``: standard normal samples from the global generator (see `manual_seed`)."""
    from npgrad.random import generator

    return generator().standard_normal(shape, dtype=np.float64).astype(dtype, copy=False)


@_factory
def rand(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``rand(*shape, ...)``: uniform samples in [0, 1) from the global generator."""
    from npgrad.random import generator

    return generator().random(shape, dtype=np.float64).astype(dtype, copy=False)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 for integer arguments."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        integral = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if integral else np.float32
    return Tensor(np.arange(start, end, step, dtype=dtype))


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros_like(t.data), requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones_like(t.data), requires_grad=requires_grad)


# The operator modules import this one, so they are bound at the end.
from npgrad.ops import elementwise as _ew  # noqa: E402
from npgrad.ops import linear as _linear  # noqa: E402
from npgrad.ops import reduce as _reduce  # noqa: E402
from npgrad.ops import shape as _shape  # noqa: E402
