"""Learning-rate schedules with PyTorch's API (``torch.optim.lr_scheduler``).

A scheduler sets ``group['lr']`` of each of its optimizer's param groups as a
function of the epoch counter ``last_epoch`` and of the group's initial
learning rate. Use::

    scheduler = StepLR(optimizer, step_size=30)   # sets the lr for epoch 0
    for epoch in range(epochs):
        train_one_epoch(...)                      # optimizer.step() inside
        scheduler.step()                          # advance to the next epoch

(`OneCycleLR` is stepped after every batch instead.) Every schedule here is
evaluated in closed form from ``last_epoch``, so its value never drifts and
its state is a few numbers. Unlike PyTorch's chainable schedulers, two
schedulers on the same optimizer do not compose: each sets the lr outright.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from npgrad.optim.optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses implement `get_lr` from ``self.base_lrs`` and ``self.last_epoch``.

    Constructing a scheduler stores each group's current lr as
    ``group['initial_lr']`` (unless already there) and sets the lr of epoch 0
    (``last_epoch`` becomes 0). With ``last_epoch=k`` it resumes instead: the
    groups must already hold ``'initial_lr'`` and the lr of epoch ``k + 1`` is
    set, as in PyTorch.

    Attributes:
        optimizer: the optimizer whose param groups are scheduled.
        base_lrs: each group's ``initial_lr``.
        last_epoch: the index of the current epoch (of the current step for
            per-batch schedules).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(
                    f"{type(self).__name__}: param 'initial_lr' is not specified in param_groups[{i}] "
                    f"when resuming at last_epoch={last_epoch}"
                )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def get_lr(self) -> list[float]:
        """The learning rate of each param group at epoch ``self.last_epoch``."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance ``last_epoch`` by one and set each group's lr for it."""
        self.last_epoch += 1
        self._last_lr = [float(lr) for lr in self.get_lr()]
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last `step` (or by the constructor)."""
        return list(self._last_lr)

    _unsaved: tuple[str, ...] = ("optimizer",)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer (plain numbers, lists and strings: `npgrad.save` stores it)."""
        return {k: _copy(v) for k, v in self.__dict__.items() if k not in self._unsaved}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the attributes saved by `state_dict` (the optimizer's lr comes from its own state dict).

        Unlike PyTorch (which updates the attributes with whatever it is given), the state is checked
        first, so a damaged one fails here and not at the next `step`: ValueError unless it has exactly
        this scheduler's entries, each of the kind this scheduler holds (an integer for an integer, a
        finite number for a number, a string, a list of that; ``base_lrs`` and ``_last_lr`` one value
        per param group), with ``last_epoch`` >= -1.
        """
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise ValueError(f"{name}: expected a dict, got {type(state_dict).__name__}")
        expected = set(self.state_dict())
        missing, extra = sorted(expected - set(state_dict)), sorted(set(state_dict) - expected - set(self._unsaved))
        if missing or extra:
            raise ValueError(f"{name}: the state does not fit this scheduler: missing {missing}, unexpected {extra}")
        for key in sorted(expected):
            _check_like(f"{name}: {key!r}", getattr(self, key), state_dict[key])
        groups = len(self.optimizer.param_groups)
        for key in ("base_lrs", "_last_lr"):
            if len(state_dict[key]) != groups:
                raise ValueError(f"{name}: {key!r} has {len(state_dict[key])} values for {groups} param group(s)")
        if state_dict["last_epoch"] < -1:
            raise ValueError(f"{name}: 'last_epoch' must be >= -1, got {state_dict['last_epoch']}")
        self.__dict__.update({k: _copy(v) for k, v in state_dict.items() if k not in self._unsaved})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self._last_lr})"


def _check_like(where: str, current: Any, value: Any) -> None:
    """Raise ValueError unless ``value`` is of the kind of ``current`` (recursively for lists and tuples)."""
    def is_int(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if isinstance(current, bool):
        ok = isinstance(value, bool)
    elif is_int(current):
        ok = is_int(value)
    elif isinstance(current, (float, np.floating)):
        ok = (is_int(value) or isinstance(value, (float, np.floating))) and math.isfinite(value)
    elif isinstance(current, str):
        ok = isinstance(value, str)
    elif isinstance(current, (list, tuple)):  # a saved tuple comes back from a checkpoint as a list
        ok = isinstance(value, (list, tuple))
        if ok and current:
            for i, item in enumerate(value):
                _check_like(f"{where}[{i}]", current[min(i, len(current) - 1)], item)
    else:
        ok = current is None and value is None
    if not ok:
        raise ValueError(f"{where} must be like {current!r:.40}, got {value!r:.60}")


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def _per_group(scheduler: str, name: str, value: Any, optimizer: Optimizer) -> list[Any]:
    """One value per param group: a list/tuple of that length, or one value repeated."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{scheduler}: expected {n} values of {name} (one per param group), got {len(value)}")
        return list(value)
    return [value] * n


class StepLR(LRScheduler):
    """``lr = initial_lr * gamma ** (epoch // step_size)``: decay by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        if int(step_size) != step_size or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive int, got {step_size!r}")
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """``lr = initial_lr * gamma ** (number of milestones <= epoch)``: decay by ``gamma`` at each milestone.

    A milestone listed twice decays twice, as in PyTorch.
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1, last_epoch: int = -1):
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        passed = bisect.bisect_right(self.milestones, self.last_epoch)
        return [base_lr * self.gamma**passed for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """``lr = initial_lr * gamma ** epoch``."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


class InverseTimeLR(LRScheduler):
    """``lr = initial_lr / (1 + decay_rate * epoch)``: inverse-time ("hyperbolic") decay.

    Not in PyTorch; it equals ``LambdaLR(optimizer, lambda e: 1 / (1 + decay_rate * e))``
    but, holding a number instead of a function, its state dict is complete.
    """

    def __init__(self, optimizer: Optimizer, decay_rate: float, last_epoch: int = -1):
        if not decay_rate >= 0:
            raise ValueError(f"InverseTimeLR: decay_rate must be >= 0, got {decay_rate}")
        self.decay_rate = decay_rate
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr / (1 + self.decay_rate * self.last_epoch) for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``.

    Goes from ``initial_lr`` at epoch 0 to ``eta_min`` at epoch ``T_max``
    (and, past it, back up along the same cosine, like PyTorch's). This is the
    closed form of SGDR without restarts, which PyTorch also documents; its
    recursive implementation matches it up to rounding.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):  # noqa: N803
        if not T_max > 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base_lr - self.eta_min) * cosine for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    """Linear warm-up (or decay) of the lr factor from ``start_factor`` to ``end_factor`` over ``total_iters`` epochs.

    ``lr = initial_lr * (start_factor + (end_factor - start_factor) * min(epoch, total_iters) / total_iters)``,
    then constant.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ):
        if not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor}")
        if int(total_iters) != total_iters or total_iters < 1:
            raise ValueError(f"LinearLR: total_iters must be a positive int, got {total_iters!r}")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, int(total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        progress = min(self.last_epoch, self.total_iters) / self.total_iters
        factor = self.start_factor + (self.end_factor - self.start_factor) * progress
        return [base_lr * factor for base_lr in self.base_lrs]


class LambdaLR(LRScheduler):
    """``lr = initial_lr * lr_lambda(epoch)``, with one function per param group or one for all.

    Like PyTorch, `state_dict` omits the functions (they cannot be stored): after
    `load_state_dict` the scheduler keeps the functions it was built with.
    """

    _unsaved = ("optimizer", "lr_lambdas")

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
        last_epoch: int = -1,
    ):
        self.lr_lambdas = _per_group("LambdaLR", "lr_lambda", lr_lambda, optimizer)
        if not all(callable(f) for f in self.lr_lambdas):
            raise TypeError("LambdaLR: lr_lambda must be a function of the epoch or a list of such functions")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * f(self.last_epoch) for f, base_lr in zip(self.lr_lambdas, self.base_lrs)]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, 2018): warm up to ``max_lr``, then anneal far below the start; step per batch.

    The lr starts at ``max_lr / div_factor``, rises to ``max_lr`` over the first
    ``pct_start`` of ``total_steps``, then falls to ``initial_lr /
    final_div_factor`` at the last step. With ``three_phase=True`` it first
    returns symmetrically to the initial lr, then falls to the minimum. Each
    phase interpolates by half a cosine (``anneal_strategy='cos'``) or linearly
    (``'linear'``). Stepping more than ``total_steps`` times raises ValueError.

    With ``cycle_momentum=True`` (the default, as in PyTorch) the momentum moves
    the other way: from ``max_momentum`` down to ``base_momentum`` while the lr
    rises, and back up while it falls (held at ``max_momentum`` in the third
    phase). It is the group's ``'momentum'`` (SGD, RMSprop) or ``betas[0]``
    (Adam, AdamW); an SGD built with ``momentum=0`` gets momentum too, as in
    PyTorch. Optimizers with neither (Adagrad) need ``cycle_momentum=False``.

    The constructor overwrites each group's ``'initial_lr'``, and adds
    ``'max_lr'`` and ``'min_lr'`` (and ``'max_momentum'``, ``'base_momentum'``
    when cycling momentum).

    Args:
        optimizer: the optimizer.
        max_lr: peak learning rate, one for all groups or one per group.
        total_steps: number of steps in the cycle; or give ``epochs`` and
            ``steps_per_epoch`` instead (``total_steps = epochs * steps_per_epoch``).
        pct_start: fraction of the cycle spent increasing the lr.
        anneal_strategy: ``'cos'`` or ``'linear'``.
        cycle_momentum: cycle the momentum inversely to the lr.
        base_momentum: the lowest momentum (at the peak lr), one or one per group.
        max_momentum: the highest momentum (at the start and the end), one or one per group.
        div_factor: ``initial_lr = max_lr / div_factor``.
        final_div_factor: ``min_lr = initial_lr / final_div_factor``.
        three_phase: add the symmetric return to the initial lr before the final fall.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.85,
        max_momentum: float | Sequence[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch")
            if epochs <= 0 or steps_per_epoch <= 0:
                raise ValueError(f"OneCycleLR: epochs and steps_per_epoch must be positive, got {epochs} and {steps_per_epoch}")
            total_steps = epochs * steps_per_epoch
        if int(total_steps) != total_steps or total_steps <= 0:
            raise ValueError(f"OneCycleLR: total_steps must be a positive int, got {total_steps!r}")
        if not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: pct_start must be in [0, 1], got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.total_steps, self.anneal_strategy = int(total_steps), anneal_strategy
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"OneCycleLR: {type(optimizer).__name__} has no momentum or betas to cycle; "
                                 "pass cycle_momentum=False")
            self.use_beta1 = "betas" in optimizer.defaults
        # (last step of the phase, the group keys of its start and end lr, of its start and end momentum)
        up = float(pct_start * self.total_steps) - 1
        if three_phase:
            self._phases = [
                (up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                (self.total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        else:
            self._phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        if last_epoch == -1:
            for group, peak in zip(optimizer.param_groups, _per_group("OneCycleLR", "max_lr", max_lr, optimizer)):
                group["initial_lr"] = peak / div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div_factor
            if self.cycle_momentum:
                highs = _per_group("OneCycleLR", "max_momentum", max_momentum, optimizer)
                lows = _per_group("OneCycleLR", "base_momentum", base_momentum, optimizer)
                for group, high, low in zip(optimizer.param_groups, highs, lows):
                    group["max_momentum"], group["base_momentum"] = high, low
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _position(self) -> tuple[tuple[Any, ...], float]:
        """The phase of step ``last_epoch`` and how far into it (0 to 1)."""
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step} times; the schedule has total_steps={self.total_steps}")
        start_step = 0.0
        for phase in self._phases[:-1]:
            if step <= phase[0]:
                return phase, (step - start_step) / (phase[0] - start_step)
            start_step = phase[0]
        last = self._phases[-1]
        return last, (step - start_step) / (last[0] - start_step)

    def get_lr(self) -> list[float]:
        (_, start, end, _, _), pct = self._position()
        return [self._anneal(group[start], group[end], pct) for group in self.optimizer.param_groups]

    def step(self) -> None:
        """Advance one step: set each group's lr and, when cycling, its momentum."""
        super().step()
        if not self.cycle_momentum:
            return
        (_, _, _, start, end), pct = self._position()
        for group in self.optimizer.param_groups:
            momentum = self._anneal(group[start], group[end], pct)
            if self.use_beta1:
                group["betas"] = (momentum, *group["betas"][1:])
            else:
                group["momentum"] = momentum
