"""`Optimizer`: the base class of every optimizer (param groups, per-parameter state, state dicts).

An optimizer holds ``param_groups``, a list of dicts each with a ``'params'``
list of Tensors and that group's hyperparameters (``'lr'``, ...), and
``state``, a dict from parameter to its own dict of running arrays (momentum
buffers, moment estimates, step counts). A subclass states its defaults,
checks a group's hyperparameters in `_check_group`, creates a parameter's
state in `_init_state` and updates one parameter in `_update`; the base class
does the rest, like ``torch.optim.Optimizer``.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from npgrad.tensor import Tensor, enable_grad


class Optimizer:
    """Base class: updates parameters in place from their ``.grad`` arrays.

    Args:
        params: an iterable of Tensors, or of dicts ``{'params': [...], 'lr': ..., ...}``
            (param groups) whose keys override ``defaults`` for that group.
        defaults: the hyperparameters of a group that does not give its own.

    Attributes:
        param_groups: list of dicts, each with ``'params'`` (a list of Tensors)
            and every hyperparameter.
        state: ``{parameter: {name: value}}``, created at a parameter's first
            step that has a gradient.
        defaults: the constructor's hyperparameters.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], defaults: dict[str, Any]):
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of Tensors or of dicts, got a single Tensor; "
                "wrap it in a list"
            )
        self.defaults = dict(defaults)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (e.g. layers unfrozen during fine-tuning) with its own hyperparameters.

        Missing hyperparameters take the optimizer's defaults. A parameter may
        belong to one group only.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a param group must be a dict, got {type(param_group).__name__}")
        params = param_group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: params must be an ordered collection (a set has no fixed order)")
        params = list(params) if params is not None else []
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, but one of the params is a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor (one produced by an operation)")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter appears more than once in a param group")
        existing = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in existing for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        group = {**self.defaults, **param_group, "params": params}
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Raise ValueError if a hyperparameter of ``group`` is out of range (subclasses extend)."""
        if not group["lr"] >= 0.0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {group['lr']} (must be >= 0)")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: drop them (``grad = None``, the default) or fill them with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; parameters whose ``grad`` is None are skipped.

        Args:
            closure: optional function that re-evaluates the model and returns
                the loss (it should zero the grads and call ``backward()``); it
                runs with gradients enabled before the update.

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    self._init_state(state, p.data, group)
                self._update(p.data, p.grad, state, group)
        return loss

    def _init_state(self, state: dict[str, Any], param: np.ndarray, group: dict[str, Any]) -> None:
        """Fill the empty ``state`` of ``param`` before its first update (subclasses override)."""

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Update ``param`` in place from ``grad`` (never modified) and ``state``."""
        raise NotImplementedError

    # ------------------------------------------------------------ state dicts
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as plain data: ``{'state': {...}, 'param_groups': [...]}``.

        Parameters are replaced by their position (counting through the groups
        in order), as in PyTorch: ``state`` maps that index to the parameter's
        state (arrays and step counts), and each group lists its indices under
        ``'params'``. Unlike PyTorch, the arrays are copies, so the dict is a
        snapshot that later steps do not change. Save it with `npgrad.save`.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: copy.deepcopy(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and per-parameter state saved by `state_dict` (a deep copy is taken).

        The optimizer must have been built on the same parameters, in the same
        groups and order. Floating-point state arrays are cast to their
        parameter's dtype, as in PyTorch. Hyperparameters missing from a saved
        group keep the optimizer's values; every group is checked as the
        constructor checks it, and every parameter's state must hold what its
        first step would create (a partial Adam state is refused here, not at
        the next ``step()``). Raises ValueError saying what does not fit.
        """
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the state dict has {len(saved_groups)} parameter groups "
                f"but the optimizer has {len(self.param_groups)}"
            )
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: parameter group {i} has {len(saved['params'])} parameters in the "
                    f"state dict but {len(group['params'])} in the optimizer"
                )
        groups = []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            restored = {**group, **copy.deepcopy({k: v for k, v in saved.items() if k != "params"}), "params": group["params"]}
            try:
                self._check_group(restored)
            except TypeError as exc:
                raise ValueError(f"{name}.load_state_dict: parameter group {i}: {exc}") from None
            groups.append(restored)
        params = {
            int(saved_index): (p, restored)
            for saved, restored in zip(saved_groups, groups)
            for saved_index, p in zip(saved["params"], restored["params"])
        }
        state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for key, saved_state in state_dict["state"].items():
            if int(key) not in params:
                raise ValueError(f"{name}.load_state_dict: state for parameter {key}, which no param group lists")
            p, group = params[int(key)]
            state[p] = {k: _state_value(name, int(key), k, v, p) for k, v in saved_state.items()}
            self._check_state(int(key), state[p], p, group)
        self.state = state
        self.param_groups = groups

    def _check_state(self, index: int, state: dict[str, Any], param: Tensor, group: dict[str, Any]) -> None:
        """ValueError unless a loaded ``state`` has every entry `_init_state` creates, of the same kind."""
        if not state:
            return  # the parameter has not been stepped yet
        fresh: dict[str, Any] = {}
        self._init_state(fresh, param.data, group)
        for key, value in fresh.items():
            where = f"{type(self).__name__}.load_state_dict: state {key!r} of parameter {index}"
            if key not in state:
                raise ValueError(f"{where} is missing (the state has {', '.join(map(repr, state)) or 'no entries'})")
            loaded = state[key]
            if isinstance(value, np.ndarray) and not (isinstance(loaded, np.ndarray) and loaded.shape == value.shape):
                raise ValueError(f"{where} should be an array of shape {value.shape}, got {loaded!r:.60}")
            if isinstance(value, int) and not (isinstance(loaded, (int, np.integer)) and loaded >= 0):
                raise ValueError(f"{where} should be a non-negative integer, got {loaded!r:.60}")

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params")
        return "\n".join(lines) + "\n)"


def _state_value(optimizer: str, index: int, key: str, value: Any, param: Tensor) -> Any:
    """A copy of one saved state entry, checked against and cast to its parameter."""
    if isinstance(value, Tensor):
        value = value.data
    if not isinstance(value, np.ndarray):
        return copy.deepcopy(value)
    if value.ndim and value.shape != param.shape:
        raise ValueError(
            f"{optimizer}.load_state_dict: state {key!r} of parameter {index} has shape {value.shape} "
            f"but the parameter has shape {param.shape}"
        )
    dtype = param.dtype if np.issubdtype(value.dtype, np.floating) else value.dtype
    return np.array(value, dtype=dtype, copy=True)
