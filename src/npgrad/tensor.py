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

from npgrad._dtypes import CPU, as_dtype, check_device, is_device_arg
from npgrad._utils import _UNSET

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


class set_grad_enabled(_GradMode):  # noqa: N801 - PyTorch's name
    """``set_grad_enabled(False)`` switches recording off at once; as a context manager, until its block ends."""

    def __init__(self, mode: bool):
        global _grad_enabled
        super().__init__(bool(mode))
        self.previous = _grad_enabled
        _grad_enabled = self.enabled

    def __enter__(self) -> None:
        pass


class InPlaceArray(np.ndarray):
    """A NumPy array that also has PyTorch's in-place Tensor methods, for ``Tensor.grad`` and ``Parameter.data``.

    ``zero_``, ``fill_``, ``copy_``, ``normal_``, ``uniform_``, ``add_``, ``sub_``, ``mul_``,
    ``div_`` and ``clamp_`` work as the `Tensor` methods of those names and return the array,
    so course code such as ``p.grad.zero_()`` or ``net[0].weight.data.normal_(0, 0.01)`` runs
    unchanged. Everything else is plain NumPy: arithmetic and reductions return plain
    ndarrays (``__array_wrap__`` and a low ``__array_priority__``), views and copies keep
    the methods.
    """

    __array_priority__ = -1e6  # np.dot and mixed operations return the other operand's type

    def __array_wrap__(self, array: np.ndarray, context: Any = None, return_scalar: bool = False) -> Any:
        if array is self:  # an in-place ufunc (out=self)
            return self
        array = array.view(np.ndarray)
        return array[()] if return_scalar else array

    def numpy(self) -> np.ndarray:
        """The same memory as a plain ndarray."""
        return self.view(np.ndarray)

    def clone(self) -> InPlaceArray:
        return self.copy()

    def norm(self, *args: Any, **kwargs: Any) -> Tensor:
        """As `Tensor.norm` (``p.grad.norm()`` in gradient-clipping code); a Tensor."""
        return Tensor(self.view(np.ndarray)).norm(*args, **kwargs)

    # In-place arithmetic takes Tensors too: d2l clips with ``p.grad[:] *= theta / norm``.
    def __iadd__(self, other: Any) -> InPlaceArray:
        return super().__iadd__(_values(other))

    def __isub__(self, other: Any) -> InPlaceArray:
        return super().__isub__(_values(other))

    def __imul__(self, other: Any) -> InPlaceArray:
        return super().__imul__(_values(other))

    def __itruediv__(self, other: Any) -> InPlaceArray:
        return super().__itruediv__(_values(other))


def _values(value: Any) -> Any:
    """A Tensor's array, anything else as it is."""
    return value.data if isinstance(value, Tensor) else value


_LEGACY_TYPE_NAMES = {  # Tensor.type(): PyTorch's names of the CPU tensor types
    "float32": "torch.FloatTensor", "float64": "torch.DoubleTensor", "float16": "torch.HalfTensor",
    "int64": "torch.LongTensor", "int32": "torch.IntTensor", "int16": "torch.ShortTensor",
    "int8": "torch.CharTensor", "uint8": "torch.ByteTensor", "bool": "torch.BoolTensor",
}


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):
        return np.asarray(data, dtype=dtype)
    array = np.asarray(data, dtype=dtype)
    if dtype is None and array.dtype == np.float64:
        array = array.astype(np.float32)
    return array


class RemovableHandle:
    """Returned by the ``register_*_hook`` methods (of `Module`, of `Tensor`); ``remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: dict[int, Callable[..., Any]]):
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


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

    __slots__ = ("data", "_grad", "_requires_grad", "_node", "_retains_grad", "_grad_hooks", "__weakref__")
    __array_ufunc__ = None  # make `ndarray + Tensor` call Tensor.__radd__
    __hash__ = object.__hash__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None):
        self.data: np.ndarray = _to_array(data, dtype)
        self._grad: np.ndarray | None = None
        self._node: tuple | None = None
        self._retains_grad = False
        self._grad_hooks: dict[int, Callable[[Tensor], None]] | None = None
        self._requires_grad = False
        self.requires_grad = requires_grad

    # ----------------------------------------------------------- attributes
    @property
    def grad(self) -> InPlaceArray | None:
        """The gradient `backward` accumulated (an `InPlaceArray`: an ndarray with PyTorch's in-place methods), or None."""
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        """``None``, an array, or a Tensor (its array is stored, as PyTorch stores the tensor); of ``data``'s shape.

        The array is kept (an `InPlaceArray` view of it, so memory is shared, e.g. with a DDP bucket).
        """
        if value is not None:
            value = value.data if isinstance(value, Tensor) else np.asarray(value)
            if value.shape != self.data.shape:
                raise ValueError(f"assigned grad has shape {value.shape}, but the tensor has shape {self.data.shape}")
            value = value.view(InPlaceArray)
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
        """A copy converted to ``dtype``; differentiable between floating dtypes (an integer or bool result has no gradient)."""
        from npgrad.ops.elementwise import Cast

        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            return Tensor(self.data.astype(dtype))
        return Cast.apply(self, dtype=dtype)

    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    def half(self) -> Tensor:
        return self.to(np.float16)

    def long(self) -> Tensor:
        return self.to(np.int64)

    def int(self) -> Tensor:
        return self.to(np.int32)

    def bool(self) -> Tensor:
        return self.to(np.bool_)

    def type(self, dtype: Any = None) -> Any:
        """This tensor converted to ``dtype`` (itself when it already has it), like ``to(dtype)``.

        Without a dtype, PyTorch's legacy type name as a string (``"torch.FloatTensor"``, ...),
        so code comparing against those strings keeps working.
        """
        if dtype is None:
            return _LEGACY_TYPE_NAMES.get(self.dtype.name, f"torch.{self.dtype.name}")
        return self.to(as_dtype(dtype, "Tensor.type"))

    def is_floating_point(self) -> bool:
        return bool(np.issubdtype(self.dtype, np.floating))

    def element_size(self) -> int:
        """Bytes per element."""
        return self.dtype.itemsize

    def contiguous(self) -> Tensor:
        """``self`` when its array is C-contiguous, else a contiguous copy that stays in the graph (PyTorch's rule)."""
        return self if self.data.flags.c_contiguous else self.clone()

    def new_tensor(self, data: Any) -> Tensor:
        """A new tensor of this one's dtype from ``data`` (a copy, not in any graph)."""
        return Tensor(np.array(_values(data), dtype=self.dtype))

    def new_zeros(self, *size: Any) -> Tensor:
        return Tensor(np.zeros(_shape_arg(size), self.dtype))

    def new_ones(self, *size: Any) -> Tensor:
        return Tensor(np.ones(_shape_arg(size), self.dtype))

    def new_full(self, size: Any, fill_value: Any) -> Tensor:
        return Tensor(np.full(_shape_arg((size,)), fill_value, self.dtype))

    def new_empty(self, *size: Any) -> Tensor:
        return Tensor(np.empty(_shape_arg(size), self.dtype))

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """PyTorch's ``to``: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``, ``to(..., copy=True)``.

        Returns ``self`` when nothing changes (as PyTorch does), else a converted copy that
        is differentiable between floating dtypes. The only device is the CPU: ``to("cpu")``
        is accepted, any other device raises.
        """
        dtype, copy = _to_args("Tensor.to", args, kwargs)
        out = self if dtype is None or dtype == self.dtype else self.astype(dtype)
        return out.clone() if copy and out is self else out

    def cpu(self) -> Tensor:
        """``self``: npgrad tensors always live on the CPU."""
        return self

    def cuda(self, device: Any = None, non_blocking: bool = False) -> Tensor:
        """Raises: npgrad has no GPU (test ``npgrad.cuda.is_available()``, which is False)."""
        check_device("cuda" if device is None else device, "Tensor.cuda")
        return self

    @property
    def device(self) -> Any:
        """``npgrad.device("cpu")``, the only device."""
        return CPU

    @property
    def is_cuda(self) -> bool:
        return False

    def clone(self) -> Tensor:
        """A copy of the values that stays in the graph (the gradient flows back to ``self``)."""
        from npgrad.ops.elementwise import Cast

        return Cast.apply(self, dtype=self.dtype)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep ``grad`` for this non-leaf tensor during ``backward()``."""
        self._retains_grad = True

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> RemovableHandle:
        """Call ``hook(self)`` during ``backward()`` as soon as this leaf's ``grad`` is complete.

        PyTorch's hook of the same name: the gradient is final for this backward (every path to
        this leaf has been summed into it) while the rest of the graph is still being differentiated;
        data-parallel training starts reducing finished gradients there. Leaves only.
        """
        if not self.is_leaf:
            raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors (parameters, inputs) take this hook")
        if self._grad_hooks is None:
            self._grad_hooks = {}
        handle = RemovableHandle(self._grad_hooks)
        self._grad_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------ in-place updates
    # PyTorch's rule: a tensor that requires grad is changed in place only where nothing is
    # recorded (``with no_grad():``), as in the optimizer step ``w -= lr * w.grad``. npgrad records
    # no in-place operation at all (PyTorch records them on non-leaf tensors).
    def _check_inplace(self, op: str) -> None:
        if _grad_enabled and self._requires_grad:
            raise RuntimeError(
                f"{op}: a tensor that requires grad cannot be changed in place while gradients are recorded; "
                "do it inside `with npgrad.no_grad():` (npgrad records no in-place operation)"
            )

    def _inplace(self, op: str, ufunc: Any, other: Any) -> Tensor:
        self._check_inplace(op)
        try:
            ufunc(self.data, _values(other), out=self.data)
        except (TypeError, ValueError) as error:
            kind = TypeError if isinstance(error, TypeError) else ValueError
            raise kind(f"{op}: cannot update a tensor of shape {self.shape} and dtype {self.dtype} in place: {error}") from None
        return self

    def _inplace_operator(self, symbol: str, ufunc: Any, other: Any, out_of_place: Callable[[Tensor, Any], Tensor]) -> Tensor:
        """``x += y`` and friends: in place when nothing is recorded, else (non-leaf ``x``) a new tensor bound to ``x``."""
        if _grad_enabled and (self._requires_grad or (isinstance(other, Tensor) and other._requires_grad)):
            if self.is_leaf and self._requires_grad:
                self._check_inplace(f"x {symbol} y")
            return out_of_place(self, other)
        return self._inplace(f"x {symbol} y", ufunc, other)

    def __iadd__(self, other: Any) -> Tensor:
        return self._inplace_operator("+=", np.add, other, Tensor.__add__)

    def __isub__(self, other: Any) -> Tensor:
        return self._inplace_operator("-=", np.subtract, other, Tensor.__sub__)

    def __imul__(self, other: Any) -> Tensor:
        return self._inplace_operator("*=", np.multiply, other, Tensor.__mul__)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._inplace_operator("/=", np.true_divide, other, Tensor.__truediv__)

    def add_(self, other: Any, *, alpha: float = 1) -> Tensor:
        """``self += alpha * other`` in place."""
        return self._inplace("add_", np.add, _scaled(other, alpha))

    def sub_(self, other: Any, *, alpha: float = 1) -> Tensor:
        """``self -= alpha * other`` in place."""
        return self._inplace("sub_", np.subtract, _scaled(other, alpha))

    def mul_(self, other: Any) -> Tensor:
        return self._inplace("mul_", np.multiply, other)

    def div_(self, other: Any) -> Tensor:
        return self._inplace("div_", np.true_divide, other)

    def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:
        self._check_inplace("clamp_")
        np.clip(self.data, min, max, out=self.data)
        return self

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        self._check_inplace("fill_")
        self.data[...] = _values(value)
        return self

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src``'s values (broadcast to this shape, cast to this dtype) into this tensor."""
        self._check_inplace("copy_")
        src = np.asarray(_values(src))
        try:
            np.copyto(self.data, np.broadcast_to(src, self.shape), casting="unsafe")
        except ValueError:
            raise ValueError(f"copy_: a source of shape {src.shape} does not broadcast to shape {self.shape}") from None
        return self

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        """Fill with N(mean, std²) samples from the global generator (as ``nn.init.normal_``)."""
        from npgrad.nn import init

        self._check_inplace("normal_")
        return init.normal_(self, mean, std)

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        """Fill with U(a, b) samples from the global generator (as ``nn.init.uniform_``)."""
        from npgrad.nn import init

        self._check_inplace("uniform_")
        return init.uniform_(self, a, b)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_inplace("x[index] = value")
        self.data[_shape.index_arrays(index)] = _values(value)

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
    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        Args:
            gradient: the gradient of some scalar with respect to ``self`` (same
                shape). May be omitted only when ``self`` has one element.
            retain_graph: keep the saved arrays so ``backward`` can run again
                through the same graph. By default they are freed as soon as
                each node has been used.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no graph to differentiate")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: a gradient can be created implicitly only for one-element outputs; "
                    f"this tensor has shape {self.shape}, so pass gradient= of that shape"
                )
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(_values(gradient), dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward: gradient has shape {grad.shape} but the tensor has shape {self.shape}")

        grads: dict[int, np.ndarray] = {id(self): grad}
        for node in reversed(_topological_order(self)):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._node is None or node._retains_grad:
                _accumulate(node, g)
            if node._node is None:
                for hook in list((node._grad_hooks or {}).values()):
                    hook(node)
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

    def __floordiv__(self, other: Any) -> Tensor:
        """``floor(self / other)`` (PyTorch's ``floor_divide``); no gradient, as in PyTorch."""
        return self._no_grad_binary("//", np.floor_divide, other, reflected=False)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return self._no_grad_binary("//", np.floor_divide, other, reflected=True)

    def __mod__(self, other: Any) -> Tensor:
        """The remainder with the sign of the divisor (PyTorch's ``remainder``, Python's ``%``); no gradient here."""
        return self._no_grad_binary("%", np.mod, other, reflected=False)

    def __rmod__(self, other: Any) -> Tensor:
        return self._no_grad_binary("%", np.mod, other, reflected=True)

    def _no_grad_binary(self, symbol: str, ufunc: Any, other: Any, reflected: bool) -> Tensor:
        if is_grad_enabled() and (self.requires_grad or getattr(other, "requires_grad", False)):
            raise RuntimeError(f"'{symbol}' has no gradient in npgrad; apply it to .detach()ed tensors or under no_grad()")
        a, b = self.data, _values(_operand(other, self))
        return Tensor(ufunc(b, a) if reflected else ufunc(a, b))

    def __neg__(self) -> Tensor:
        return _ew.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def _compare(self, other: Any, op: Callable[[Any, Any], np.ndarray]) -> Tensor:
        other = _values(other)
        return Tensor(op(self.data, other))

    def eq(self, other: Any) -> Tensor:
        return self._compare(other, np.equal)

    def ne(self, other: Any) -> Tensor:
        return self._compare(other, np.not_equal)

    def lt(self, other: Any) -> Tensor:
        return self._compare(other, np.less)

    def le(self, other: Any) -> Tensor:
        return self._compare(other, np.less_equal)

    def gt(self, other: Any) -> Tensor:
        return self._compare(other, np.greater)

    def ge(self, other: Any) -> Tensor:
        return self._compare(other, np.greater_equal)

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

    def max(self, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Any:
        """The maximum; with an int ``dim`` the pair ``(values, indices)``, as in PyTorch (see `npgrad.max`)."""
        return _reduce.max(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def min(self, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Any:
        """The minimum; with an int ``dim`` the pair ``(values, indices)``, as in PyTorch (see `npgrad.min`)."""
        return _reduce.min(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def amax(self, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
        return _reduce.amax(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def amin(self, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
        return _reduce.amin(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def argmax(self, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
        """Indices of the maxima (int64, no gradient)."""
        return _reduce.argmax(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def argmin(self, dim: Any = _UNSET, keepdim: Any = _UNSET, *, axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
        """Indices of the minima (int64, no gradient)."""
        return _reduce.argmin(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def var(self, dim: Any = _UNSET, unbiased: Any = _UNSET, keepdim: Any = _UNSET, *, correction: Any = _UNSET,
            axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
        return _reduce.var(self, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims)

    def std(self, dim: Any = _UNSET, unbiased: Any = _UNSET, keepdim: Any = _UNSET, *, correction: Any = _UNSET,
            axis: Any = _UNSET, keepdims: Any = _UNSET) -> Tensor:
        return _reduce.std(self, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Tensor:
        """The 2-norm over ``dim`` (see `npgrad.norm`)."""
        return _reduce.norm(self, p, dim, keepdim)

    def all(self) -> Tensor:
        return Tensor(np.all(self.data))

    def any(self) -> Tensor:
        return Tensor(np.any(self.data))

    def add(self, other: Any) -> Tensor:
        return self + other

    def sub(self, other: Any) -> Tensor:
        return self - other

    def mul(self, other: Any) -> Tensor:
        return self * other

    def div(self, other: Any) -> Tensor:
        return self / other

    def pow(self, exponent: Any) -> Tensor:
        return self**exponent

    def neg(self) -> Tensor:
        return -self

    def matmul(self, other: Any) -> Tensor:
        return self @ other

    def mm(self, other: Tensor) -> Tensor:
        return _linear.mm(self, other)

    def bmm(self, other: Tensor) -> Tensor:
        return _linear.bmm(self, other)

    def t(self) -> Tensor:
        """The transpose of a matrix; tensors of fewer than 2 dimensions come back as they are (PyTorch's ``t``)."""
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor of at most 2 dimensions, got shape {self.shape}; use transpose(dim0, dim1)")
        return self if self.ndim < 2 else _shape.transpose(self, 0, 1)

    def expand(self, *sizes: Any) -> Tensor:
        return _shape.expand(self, *sizes)

    def expand_as(self, other: Tensor) -> Tensor:
        return _shape.expand(self, *other.shape)

    def view_as(self, other: Tensor) -> Tensor:
        return _shape.reshape(self, *other.shape)

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

    def gather(self, dim: int, index: Any) -> Tensor:
        return _shape.gather(self, dim, index)

    def repeat(self, *sizes: Any) -> Tensor:
        return _shape.repeat(self, *sizes)

    def split(self, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return _shape.split(self, split_size, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return _shape.chunk(self, chunks, dim)

    @property
    def mT(self) -> Tensor:  # noqa: N802 - PyTorch's name
        """The last two dimensions swapped."""
        return _shape.transpose(self, -2, -1)

    def cumsum(self, dim: int) -> Tensor:
        return _reduce.cumsum(self, dim)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
        return _reduce.sort(self, dim, descending, stable)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
        return _reduce.argsort(self, dim, descending, stable)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
        return _reduce.topk(self, k, dim, largest, sorted)

    def sign(self) -> Tensor:
        return _ew.sign(self)

    def round(self, decimals: int = 0) -> Tensor:
        return _ew.round(self, decimals)

    def floor(self) -> Tensor:
        return _ew.floor(self)

    def ceil(self) -> Tensor:
        return _ew.ceil(self)

    def trunc(self) -> Tensor:
        return _ew.trunc(self)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        return _ew.masked_fill(self, mask, value)

    def dot(self, other: Tensor) -> Tensor:
        return _linear.dot(self, other)

    def nonzero(self, as_tuple: bool = False) -> Any:
        """The indices of the non-zero elements: an (n, ndim) int64 tensor, or one index tensor per dimension."""
        if as_tuple:
            return tuple(Tensor(i) for i in np.nonzero(self.data))
        return Tensor(np.argwhere(self.data))

    def unique(self, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,
               dim: int | None = None) -> Any:
        """The distinct values (sorted), with PyTorch's optional inverse indices and counts."""
        values, inverse, counts = np.unique(self.data, return_inverse=True, return_counts=True, axis=dim)
        extra = ([Tensor(inverse.reshape(self.shape) if dim is None else inverse)] if return_inverse else []) + (
            [Tensor(counts)] if return_counts else [])
        return (Tensor(values), *extra) if extra else Tensor(values)

    def allclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
        return _ew.allclose(self, other, rtol, atol, equal_nan)

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


def _in_place_method(name: str) -> Callable[..., InPlaceArray]:
    """``InPlaceArray.<name>``: run ``Tensor.<name>`` on a Tensor sharing the array's memory."""
    tensor_method = getattr(Tensor, name)

    def method(self: InPlaceArray, *args: Any, **kwargs: Any) -> InPlaceArray:
        tensor_method(Tensor(self.view(np.ndarray)), *args, **kwargs)
        return self

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"In place, as `Tensor.{name}`; returns this array."
    return method


for _name in ("zero_", "fill_", "copy_", "normal_", "uniform_", "add_", "sub_", "mul_", "div_", "clamp_"):
    setattr(InPlaceArray, _name, _in_place_method(_name))
del _name


def _operand(value: Any, like: Tensor) -> Any:
    """The other side of a binary operator: Tensors as they are, anything else an array.

    A Python scalar takes ``like``'s floating dtype, so ``x * 2.0`` stays float32.
    """
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (bool, int, float)) and np.issubdtype(like.dtype, np.floating):
        return np.asarray(value, dtype=like.dtype)
    return np.asarray(value)


def _scaled(other: Any, alpha: float) -> Any:
    value = _values(other)
    return value if alpha == 1 else np.multiply(value, alpha)


def _to_args(where: str, args: tuple, kwargs: dict[str, Any]) -> tuple[np.dtype | None, bool]:
    """Read PyTorch's ``to(...)`` arguments: the dtype asked for (None: keep) and ``copy``; refuse non-CPU devices.

    Forms: ``(dtype)``, ``(device)``, ``(device, dtype)``, ``(tensor)`` (its dtype), each followed by
    optional ``non_blocking`` and ``copy``, and the keywords ``dtype``, ``device``, ``non_blocking``,
    ``copy``, ``memory_format`` (ignored: NumPy arrays have no memory formats to choose).
    """
    unknown = sorted(set(kwargs) - {"dtype", "device", "non_blocking", "copy", "memory_format"})
    if unknown:
        raise TypeError(f"{where}: unexpected keyword argument {unknown[0]!r}")
    dtype, device = kwargs.get("dtype"), kwargs.get("device")
    rest = list(args)
    if rest and isinstance(rest[0], Tensor):
        dtype = rest.pop(0).dtype
    elif rest and is_device_arg(rest[0]):
        device = rest.pop(0)
    if rest and not isinstance(rest[0], bool):
        dtype = rest.pop(0)
    if len(rest) > 2 or not all(isinstance(flag, bool) for flag in rest):
        raise TypeError(f"{where}: expected (dtype), (device), (device, dtype) or (tensor), "
                        f"then non_blocking and copy flags; got {args!r}")
    check_device(device, where)
    copy = kwargs.get("copy", rest[1] if len(rest) == 2 else False)
    return (None if dtype is None else as_dtype(dtype, where)), bool(copy)


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
            # Pushed last input first, so the first input (the activation flowing through, by
            # convention) is explored first: then a layer's weights come right after it in the
            # reversed order, and their gradients are complete as early as possible in backward.
            for parent in reversed(tensor._node[2]):
                if parent is not None and parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def _accumulate(tensor: Tensor, grad: np.ndarray) -> None:
    if tensor._grad is None:
        tensor._grad = np.array(grad, dtype=tensor.dtype, copy=True).view(InPlaceArray)
    else:
        tensor._grad += grad


# --------------------------------------------------------------- factories
def _shape_arg(shape: Sequence[Any]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(int(s) for s in shape[0])
    return tuple(int(s) for s in shape)


def _factory(make: Callable[..., np.ndarray]) -> Callable[..., Tensor]:
    """A PyTorch creation function ``f(*size, dtype=None, device=None, requires_grad=False)`` from ``make(shape, dtype)``.

    The size may also be given as the keyword ``size=`` (``rand(size=(2, 3))``).
    """

    @functools.wraps(make)
    def factory(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, **kwargs: Any) -> Tensor:
        if kwargs:
            if set(kwargs) != {"size"} or size:
                raise TypeError(f"{make.__name__}: give the size once, positionally or as size=; got {size} and {kwargs}")
            size = (kwargs["size"],)
        check_device(device, make.__name__)
        dtype = np.dtype(np.float32) if dtype is None else as_dtype(dtype, make.__name__)
        return Tensor(make(_shape_arg(size), dtype), requires_grad=requires_grad)

    return factory


def _like(make: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``f_like(input, ...)``: ``make(*input.shape, ...)`` with ``input``'s dtype unless ``dtype`` is given."""

    def like(input: Tensor, *args: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        return make(input.shape, *args, dtype=input.dtype if dtype is None else dtype, device=device,
                    requires_grad=requires_grad)

    like.__name__ = like.__qualname__ = f"{make.__name__}_like"
    like.__doc__ = f"``{make.__name__}`` of ``input``'s shape, with its dtype unless ``dtype`` is given."
    return like


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new Tensor from array-like ``data`` (copied, like ``torch.tensor``)."""
    check_device(device, "tensor")
    dtype = None if dtype is None else as_dtype(dtype, "tensor")
    return Tensor(np.array(_to_array(data, dtype), copy=True), requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A Tensor sharing ``array``'s memory and dtype (changes to one show in the other)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


@_factory
def zeros(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``zeros(*size, dtype=float32, device=None, requires_grad=False)``: a tensor of zeros."""
    return np.zeros(shape, dtype)


@_factory
def ones(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``ones(*size, ...)``: a tensor of ones."""
    return np.ones(shape, dtype)


@_factory
def empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``empty(*size, ...)``: a new tensor; npgrad fills it with zeros (PyTorch leaves it uninitialised)."""
    return np.zeros(shape, dtype)


@_factory
def randn(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``randn(*size, ...)``: standard normal samples from the global generator (see `manual_seed`)."""
    from npgrad.random import generator

    return generator().standard_normal(shape, dtype=np.float64).astype(dtype, copy=False)


@_factory
def rand(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``rand(*size, ...)``: uniform samples in [0, 1) from the global generator."""
    from npgrad.random import generator

    return generator().random(shape, dtype=np.float64).astype(dtype, copy=False)


def full(size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``; the dtype follows the value (float32, int64 or bool) unless given."""
    check_device(device, "full")
    dtype = _to_array(fill_value).dtype if dtype is None else as_dtype(dtype, "full")
    return Tensor(np.full(_shape_arg((size,)), fill_value, dtype), requires_grad=requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, *, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 for integer arguments, else float32."""
    check_device(device, "arange")
    if end is None:
        start, end = 0, start
    if dtype is None:
        integral = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if integral else np.float32
    return Tensor(np.arange(start, end, step, dtype=as_dtype(dtype, "arange")), requires_grad=requires_grad)


def linspace(start: float, end: float, steps: int, *, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive (float32 unless ``dtype``)."""
    check_device(device, "linspace")
    dtype = np.float32 if dtype is None else as_dtype(dtype, "linspace")
    return Tensor(np.linspace(start, end, int(steps)).astype(dtype), requires_grad=requires_grad)


def eye(n: int, m: int | None = None, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """The ``n × m`` identity matrix (``m = n`` by default)."""
    check_device(device, "eye")
    dtype = np.float32 if dtype is None else as_dtype(dtype, "eye")
    return Tensor(np.eye(int(n), None if m is None else int(m), dtype=dtype), requires_grad=requires_grad)


def randint(*args: Any, size: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """``randint(high, size)`` or ``randint(low, high, size)``: integers in [low, high) (int64 unless ``dtype``)."""
    from npgrad.random import generator

    check_device(device, "randint")
    if size is None:
        if not args:
            raise TypeError("randint: expected (high, size) or (low, high, size)")
        *args, size = args
    if len(args) not in (1, 2):
        raise TypeError(f"randint: expected (high, size) or (low, high, size), got {len(args) + 1} arguments")
    low, high = (0, args[0]) if len(args) == 1 else args
    dtype = np.int64 if dtype is None else as_dtype(dtype, "randint")
    return Tensor(generator().integers(low, high, _shape_arg((size,))).astype(dtype), requires_grad=requires_grad)


def normal(mean: Any = 0.0, std: Any = 1.0, size: Any = None, *, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Samples of N(mean, std²): of shape ``size`` for number arguments, else of the broadcast shape of the tensors.

    The dtype is that of a tensor argument, float32 for numbers, unless ``dtype`` is given.
    """
    from npgrad.random import generator

    check_device(device, "normal")
    mean_array, std_array = _to_array(mean), _to_array(std)
    shape = np.broadcast_shapes(mean_array.shape, std_array.shape) if size is None else _shape_arg((size,))
    if dtype is None:
        dtype = np.result_type(mean_array, std_array) if mean_array.ndim or std_array.ndim else np.float32
    samples = generator().normal(mean_array, std_array, shape)
    return Tensor(samples.astype(as_dtype(dtype, "normal")), requires_grad=requires_grad)


zeros_like = _like(zeros)
ones_like = _like(ones)
empty_like = _like(empty)
rand_like = _like(rand)
randn_like = _like(randn)
full_like = _like(full)


# The operator modules import this one, so they are bound at the end.
from npgrad.ops import elementwise as _ew  # noqa: E402
from npgrad.ops import linear as _linear  # noqa: E402
from npgrad.ops import reduce as _reduce  # noqa: E402
from npgrad.ops import shape as _shape  # noqa: E402
