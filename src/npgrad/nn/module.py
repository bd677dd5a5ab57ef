"""`Module`, `Parameter` and the containers `Sequential` and `ModuleList`, with PyTorch's API.

A `Module` owns three ordered registries, filled by plain attribute assignment:

    self.weight = Parameter(...)       -> _parameters  (trainable Tensors)
    self.conv1 = Conv2d(...)           -> _modules     (sub-modules)
    self.register_buffer("running_mean", np.zeros(c))  -> _buffers (state without gradient)

Everything else (`parameters()`, `state_dict()`, `train()`, `zero_grad()`, ...)
walks that tree. Names are PyTorch's: a parameter's qualified name is the path of
attribute names from the root (``features.3.weight``), so ``state_dict`` keys of an
npgrad model equal those of the same architecture written in PyTorch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from npgrad._dtypes import check_device
from npgrad.tensor import InPlaceArray, RemovableHandle, Tensor, _to_args


_DATA_SLOT = Tensor.data  # the slot Parameter's `data` property stores into


class Parameter(Tensor):
    """A Tensor that is a trainable parameter of a `Module`: it requires grad by default.

    Assigning a Parameter to a Module attribute registers it. ``data`` is shared with the
    given array, not copied: an `InPlaceArray` (an ndarray that also has ``normal_``,
    ``fill_``, ``zero_``, ``copy_``, ... so PyTorch's ``layer.weight.data.normal_(0, 0.01)``
    works; assigning ``data`` keeps that). ``grad`` is ``None`` or an ndarray of ``data``'s
    shape that users may read and assign (optimizers read it).
    """

    __slots__ = ()

    @property
    def data(self) -> InPlaceArray:
        return _DATA_SLOT.__get__(self, Parameter)

    @data.setter
    def data(self, value: np.ndarray) -> None:
        _DATA_SLOT.__set__(self, np.asarray(value).view(InPlaceArray))

    def __init__(self, data: Any = None, requires_grad: bool = True):
        if data is None:
            data = np.empty(0, dtype=np.float32)
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    """What `Module.load_state_dict` returns: the keys the model had but the state dict lacked, and the reverse."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _addindent(text: str, spaces: int) -> str:
    """Indent every line but the first (PyTorch's helper for nested reprs)."""
    first, *rest = text.split("\n")
    return "\n".join([first] + [" " * spaces + line if line.strip() else "" for line in rest])


def _as_array(value: Any) -> np.ndarray:
    """A state-dict value (ndarray, npgrad Tensor, or anything ``np.asarray`` takes, e.g. a CPU torch tensor)."""
    return np.asarray(value.data if isinstance(value, Tensor) else value)


class Module:
    """Base class of every layer and model.

    Subclasses call ``super().__init__()`` first, assign their parameters,
    buffers and sub-modules as attributes, and define ``forward``; calling the
    module runs ``forward`` (and any hooks). ``training`` is True after
    construction; `train` and `eval` set it on the whole tree (dropout and batch
    norm read it).
    """

    training: bool

    def __init__(self) -> None:
        # object.__setattr__: our __setattr__ needs these registries to exist.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_forward_pre_hooks", {})
        object.__setattr__(self, "_forward_hooks", {})

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    # ------------------------------------------------------------ registration
    def _registry(self, name: str) -> dict[str, Any]:
        registry = self.__dict__.get(name)
        if registry is None:
            raise AttributeError(f"cannot assign parameters, buffers or modules before {type(self).__name__}.__init__() "
                                 "has called Module.__init__() (call super().__init__() first)")
        return registry

    def _check_new_name(self, kind: str, name: str, registry: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name must be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f'{kind} name must be a non-empty string without ".", got {name!r}')
        if hasattr(self, name) and name not in self._registry(registry):
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or None: the slot exists but holds nothing, e.g. a disabled bias) as ``name``."""
        self._check_new_name("parameter", name, "_parameters")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter '{name}' (a Parameter or None is expected)")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | np.ndarray | None, persistent: bool = True) -> None:
        """Register state that is not trained, such as batch norm's running statistics.

        Args:
            name: attribute name of the buffer.
            tensor: a Tensor, or array-like data (wrapped in a Tensor; an ndarray is not copied), or None.
            persistent: whether ``state_dict`` includes it.
        """
        self._check_new_name("buffer", name, "_buffers")
        self._buffers[name] = tensor if tensor is None or isinstance(tensor, Tensor) else Tensor(tensor)
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` as the sub-module ``name`` (what attribute assignment does)."""
        self._check_new_name("module", name, "_modules")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params, buffers, modules = d.get("_parameters"), d.get("_buffers"), d.get("_modules")
        if isinstance(value, (Parameter, Module)):
            registry = self._registry("_parameters" if isinstance(value, Parameter) else "_modules")
            for store in (d, params, buffers, modules):  # the name moves to its registry (keeping its place there)
                if store is not registry:
                    store.pop(name, None)
            self._non_persistent_buffers.discard(name)
            (self.register_parameter if isinstance(value, Parameter) else self.add_module)(name, value)
        elif params is not None and name in params:
            self.register_parameter(name, value)
        elif modules is not None and name in modules:
            self.add_module(name, value)
        elif buffers is not None and name in buffers:
            buffers[name] = None if value is None or isinstance(value, Tensor) else Tensor(value)
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails. Read the registries through __dict__ so that
        # a half-built instance (copy, pickle) raises AttributeError instead of recursing.
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            members = d.get(registry)
            if members is not None and name in members:
                return members[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in ("_parameters", "_buffers", "_modules"):
            members = self.__dict__.get(registry)
            if members is not None and name in members:
                del members[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    # ----------------------------------------------------------------- walking
    def named_modules(self, memo: set[int] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(qualified name, module) for this module ("" or ``prefix``) and all below it, depth first, pre-order.

        A module reachable by several paths is yielded once (at its first path)
        unless ``remove_duplicate`` is False.
        """
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, _join(prefix, name), remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """This module and every module below it, each once, depth first."""
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for the direct sub-modules, in registration order (each module once)."""
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, member in getattr(module, registry).items():
                if member is None or (remove_duplicate and id(member) in seen):
                    continue
                seen.add(id(member))
                yield _join(module_prefix, name), member

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(qualified name, Parameter), module by module in pre-order; a shared Parameter appears once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def num_parameters(self, only_trainable: bool = True) -> int:
        """The number of parameter values (each shared Parameter counted once); by default only those requiring grad."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not only_trainable)

    # -------------------------------------------------------------------- state
    def train(self, mode: bool = True) -> Module:
        """Set ``training`` to ``mode`` on this module and every module below it; returns self."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode must be a bool, got {mode!r}")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        """``train(False)``: dropout becomes the identity and batch norm uses its running statistics."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter (False freezes the module); returns self."""
        for param in self.parameters():
            param.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to None (the default, as in PyTorch) or to zeros in place."""
        for param in self.parameters():
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad[...] = 0

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every sub-module (children first, recursively) and then on self; returns self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Convert the floating-point parameters and buffers (and their gradients) to a dtype in place; returns self.

        PyTorch's forms: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(tensor)``, keywords
        ``dtype=``/``device=``. The Parameter objects stay the same (an optimizer holding them keeps
        working); integer buffers such as ``num_batches_tracked`` are left alone. The only device is
        the CPU: ``to("cpu")`` does nothing, another device raises.
        """
        dtype, _ = _to_args("Module.to", args, kwargs)
        if dtype is None:
            return self
        if not np.issubdtype(dtype, np.floating):
            raise TypeError(f"Module.to: only floating-point dtypes are supported, got {dtype}")
        for tensor in [*self.parameters(), *self.buffers()]:
            if np.issubdtype(tensor.dtype, np.floating):
                tensor.data = tensor.data.astype(dtype, copy=False)
                if tensor.grad is not None:
                    tensor.grad = tensor.grad.astype(dtype, copy=False)
        return self

    def cpu(self) -> Module:
        """``self``: npgrad modules always live on the CPU."""
        return self

    def cuda(self, device: Any = None) -> Module:
        """Raises: npgrad has no GPU (test ``npgrad.cuda.is_available()``, which is False)."""
        check_device("cuda" if device is None else device, "Module.cuda")
        return self

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    def state_dict(self, *, prefix: str = "", keep_vars: bool = False) -> OrderedDict[str, Any]:
        """Parameters and persistent buffers by qualified name, in PyTorch's order and with PyTorch's keys.

        Module by module in pre-order: its parameters, then its buffers (e.g.
        ``1.weight, 1.bias, 1.running_mean, 1.running_var, 1.num_batches_tracked``).
        Values are copies of the arrays (later training does not change a saved
        state dict), or the Tensors themselves with ``keep_vars=True``. A module
        reachable by two paths appears under both, as in PyTorch.
        """
        state: OrderedDict[str, Any] = OrderedDict()
        for module_prefix, module in self.named_modules(prefix=prefix, remove_duplicate=False):
            members = list(module._parameters.items()) + [
                (name, b) for name, b in module._buffers.items() if name not in module._non_persistent_buffers
            ]
            for name, tensor in members:
                if tensor is not None:
                    state[_join(module_prefix, name)] = tensor if keep_vars else tensor.data.copy()
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's parameters and buffers, in place.

        Values may be ndarrays, Tensors or anything ``np.asarray`` accepts (such as
        CPU torch tensors); they are cast to the dtype of the array they go into.
        Shape mismatches are always an error; missing and unexpected keys are one
        when ``strict``. All problems are reported together in one RuntimeError.
        Difference from PyTorch: when it raises, nothing has been copied.

        Returns:
            ``IncompatibleKeys(missing_keys, unexpected_keys)``.
        """
        own = self.state_dict(keep_vars=True)
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        values = {key: _as_array(state_dict[key]) for key in own if key in state_dict}
        errors = [
            f"size mismatch for {key}: copying a value of shape {value.shape} from the state dict, "
            f"the shape in the current model is {own[key].shape}."
            for key, value in values.items() if value.shape != own[key].shape
        ]
        if strict and unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
        if strict and missing:
            errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        for key, value in values.items():
            own[key].data[...] = value
        return IncompatibleKeys(missing, unexpected)

    # -------------------------------------------------------------------- hooks
    def register_forward_pre_hook(self, hook: Callable[[Module, tuple], Any]) -> RemovableHandle:
        """Call ``hook(module, args)`` before every forward; a non-None result replaces the positional args."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook: Callable[[Module, tuple, Any], Any]) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every forward; a non-None result replaces the output.

        Returns a handle whose ``remove()`` unregisters the hook (also usable as a context manager).
        """
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # --------------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (its constructor arguments); override per layer."""
        return ""

    def __repr__(self) -> str:
        """The module tree in exactly PyTorch's format."""
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _addindent(repr(module), 2) for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if len(extra_lines) == 1 and not child_lines:
            body = extra_lines[0]
        elif lines:
            body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{type(self).__name__}({body})"


class _ModuleSequence(Module):
    """Positional access to the registered sub-modules, shared by `Sequential` and `ModuleList`.

    ``len``, iteration, indexing with negative indices and slices (``_from_items``
    builds the slice), item assignment, deletion (the remaining modules are renamed
    "0", "1", ... as PyTorch does) and `append`.
    """

    def _from_items(self, items: list[tuple[str, Module]]) -> Module:
        raise NotImplementedError

    def _key_at(self, index: int) -> str:
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"{type(self).__name__} indices must be integers or slices, not {type(index).__name__}")
        keys = list(self._modules)
        if not -len(keys) <= index < len(keys):
            raise IndexError(f"index {index} is out of range for {type(self).__name__} of length {len(keys)}")
        return keys[index]

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return self._from_items(list(self._modules.items())[index])
        return self._modules[self._key_at(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        setattr(self, self._key_at(index), module)

    def __delitem__(self, index: int | slice) -> None:
        keys = list(self._modules)[index] if isinstance(index, slice) else [self._key_at(index)]
        for key in keys:
            del self._modules[key]
        object.__setattr__(self, "_modules", {str(i): m for i, m in enumerate(self._modules.values())})

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> _ModuleSequence:
        """Add ``module`` at the end, named by its position; returns self."""
        self.add_module(str(len(self)), module)
        return self


class Sequential(_ModuleSequence):
    """Modules applied one after another: ``forward(x)`` is ``m_n(...m_1(x))``.

    ``Sequential(m1, m2, ...)`` names them "0", "1", ...; ``Sequential(OrderedDict(name=m, ...))``
    (or any mapping) keeps the given names. Supports ``len``, iteration, indexing
    (negative indices; a slice is a Sequential that keeps the original names, as in
    PyTorch), item assignment and deletion, and `append`.
    """

    def __init__(self, *args: Module | Mapping[str, Module]):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], Mapping):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def _from_items(self, items: list[tuple[str, Module]]) -> Sequential:
        return Sequential(OrderedDict(items))

    def forward(self, input: Any) -> Any:
        """Each module in turn, with `nn.fusion`'s exact rewrites: a ReLU before max pooling runs after it, and
        under ``no_grad()`` in evaluation a layer's batch norm is folded into the layer."""
        from npgrad.nn.fusion import run_sequence  # nn.fusion builds on the layers, which build on this module

        return run_sequence(self, input)


class ModuleList(_ModuleSequence):
    """A list of sub-modules, registered (so their parameters are found) as "0", "1", ...

    It has no ``forward``: the owner decides how to call its items. Supports
    ``len``, iteration, indexing (negative indices; a slice is a new, renumbered
    ModuleList), item assignment and deletion, `append` and `extend`.
    """

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _from_items(self, items: list[tuple[str, Module]]) -> ModuleList:
        return ModuleList(module for _, module in items)

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append each of ``modules``; returns self."""
        for module in modules:
            self.append(module)
        return self

    def __repr__(self) -> str:
        """PyTorch's ModuleList repr: a run of identical items is shown once, as ``(0-2): 3 x Linear(...)``."""
        blocks: list[list[Any]] = []  # [first index, last index, repr]
        for i, module in enumerate(self):
            text = repr(module)
            if blocks and blocks[-1][2] == text:
                blocks[-1][1] = i
            else:
                blocks.append([i, i, text])
        if not blocks:
            return f"{type(self).__name__}()"
        lines = [
            _addindent(f"({first}): {text}" if first == last else f"({first}-{last}): {last - first + 1} x {text}", 2)
            for first, last, text in blocks
        ]
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"
