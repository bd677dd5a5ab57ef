"""Registries of optimizers and learning-rate schedules, by name (what ``npgrad train`` offers).

One `register_optimizer` call adds an optimizer ``--optimizer NAME`` accepts; its defaults say
which of ``--lr``/``--momentum``/``--weight-decay`` apply. One `register_scheduler` call adds a
schedule ``--scheduler NAME`` accepts. The command's choices and help text come from here::

    register_optimizer("lion", Lion, lr=1e-4, weight_decay=0.0)
    register_scheduler("halving", StepLR, lambda plan: {"step_size": 1, "gamma": 0.5}, interval="epoch",
                       help="lr x0.5 every epoch")
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from npgrad.errors import InvalidArgumentError
from npgrad.optim import lr_scheduler as S
from npgrad.optim.adagrad import Adagrad
from npgrad.optim.adam import Adam, AdamW
from npgrad.optim.optimizer import Optimizer
from npgrad.optim.rmsprop import RMSprop
from npgrad.optim.sgd import SGD


@dataclass(frozen=True)
class OptimizerEntry:
    """A registered optimizer: its class and default hyper-parameters (the keys are the settable ones)."""

    name: str
    cls: type[Optimizer]
    defaults: dict[str, float]

    def build(self, params: Any, **settings: float) -> Optimizer:
        """``cls(params, **defaults)`` with ``settings`` overriding the defaults."""
        unknown = [k for k in settings if k not in self.defaults]
        if unknown:
            raise InvalidArgumentError(f"{unknown[0]} does not apply to the {self.name} optimizer")
        return self.cls(params, **{**self.defaults, **settings})


@dataclass(frozen=True)
class SchedulePlan:
    """What a schedule's arguments may depend on: the run's length and peak learning rate."""

    epochs: int
    steps_per_epoch: int
    lr: float

    @property
    def total_steps(self) -> int:
        return max(1, self.epochs * self.steps_per_epoch)


@dataclass(frozen=True)
class SchedulerEntry:
    """A registered schedule.

    Attributes:
        cls: the `lr_scheduler` class, or None for a constant learning rate.
        arguments: ``arguments(plan) -> kwargs`` for ``cls`` (user arguments override them).
        interval: ``'epoch'`` or ``'step'``: how often the `Trainer` steps it.
        help: one line for ``npgrad train --help``.
        planned: its shape depends on the number of epochs planned (resuming longer does not stretch it).
        extendable: False when a run cannot be trained beyond its planned epochs (one-cycle).
    """

    name: str
    cls: type[S.LRScheduler] | None
    arguments: Callable[[SchedulePlan], dict[str, Any]]
    interval: str
    help: str
    planned: bool = False
    extendable: bool = True

    def build(self, optimizer: Optimizer, plan: SchedulePlan, **args: Any) -> S.LRScheduler | None:
        """The scheduler for ``optimizer`` (None for a constant rate), ``args`` overriding the planned arguments."""
        if self.cls is None:
            if args:
                raise InvalidArgumentError(f"the {self.name} schedule takes no arguments, got {', '.join(args)}")
            return None
        accepted = [name for name in inspect.signature(self.cls).parameters if name not in ("optimizer", "last_epoch")]
        unknown = [name for name in args if name not in accepted]
        if unknown:
            raise InvalidArgumentError(f"unknown argument '{unknown[0]}' of the {self.name} schedule "
                                       f"({self.cls.__name__}); it takes {', '.join(accepted)}")
        return self.cls(optimizer, **{**self.arguments(plan), **args})


OPTIMIZERS: dict[str, OptimizerEntry] = {}
SCHEDULERS: dict[str, SchedulerEntry] = {}


def _register(table: dict[str, Any], entry: Any) -> Any:
    if entry.name in table:
        raise InvalidArgumentError(f"register: '{entry.name}' is already registered")
    table[entry.name] = entry
    return entry


def register_optimizer(name: str, cls: type[Optimizer], **defaults: float) -> OptimizerEntry:
    """Record optimizer ``cls`` under ``name`` with its default hyper-parameters (``lr`` required)."""
    if "lr" not in defaults:
        raise InvalidArgumentError(f"register_optimizer: {name} needs a default lr")
    return _register(OPTIMIZERS, OptimizerEntry(name, cls, dict(defaults)))


def register_scheduler(name: str, cls: type[S.LRScheduler] | None, arguments: Callable[[SchedulePlan], dict[str, Any]],
                       *, interval: str, help: str, planned: bool = False, extendable: bool = True) -> SchedulerEntry:
    """Record a schedule under ``name`` (see `SchedulerEntry` for the fields)."""
    if interval not in ("epoch", "step"):
        raise InvalidArgumentError(f"register_scheduler: interval must be 'epoch' or 'step', got {interval!r}")
    return _register(SCHEDULERS, SchedulerEntry(name, cls, arguments, interval, help, planned, extendable))


def get_optimizer(name: str) -> OptimizerEntry:
    try:
        return OPTIMIZERS[name]
    except KeyError:
        raise InvalidArgumentError(f"unknown optimizer '{name}'; available: {', '.join(OPTIMIZERS)}") from None


def get_scheduler(name: str) -> SchedulerEntry:
    try:
        return SCHEDULERS[name]
    except KeyError:
        raise InvalidArgumentError(f"unknown scheduler '{name}'; available: {', '.join(SCHEDULERS)}") from None


register_optimizer("sgd", SGD, lr=0.1, momentum=0.9, weight_decay=5e-4)
register_optimizer("adam", Adam, lr=1e-3, weight_decay=0.0)
register_optimizer("adamw", AdamW, lr=1e-3, weight_decay=1e-2)
register_optimizer("rmsprop", RMSprop, lr=1e-3, momentum=0.0, weight_decay=0.0)
register_optimizer("adagrad", Adagrad, lr=1e-2, weight_decay=0.0)

register_scheduler("none", None, lambda p: {}, interval="epoch", help="constant lr")
register_scheduler("cosine", S.CosineAnnealingLR, lambda p: {"T_max": p.total_steps}, interval="step", planned=True,
                   help="cosine decay from lr to 0 over the run, every step")
register_scheduler("step", S.StepLR, lambda p: {"step_size": max(1, p.epochs // 3), "gamma": 0.1}, interval="epoch",
                   planned=True, help="lr x0.1 every third of the epochs")
register_scheduler("multistep", S.MultiStepLR,
                   lambda p: {"milestones": sorted({max(1, p.epochs // 2), max(1, 3 * p.epochs // 4)}), "gamma": 0.1},
                   interval="epoch", planned=True, help="lr x0.1 at 50% and 75% of the epochs")
register_scheduler("exponential", S.ExponentialLR, lambda p: {"gamma": 0.9}, interval="epoch", help="lr x0.9 every epoch")
register_scheduler("onecycle", S.OneCycleLR,  # the lr only: every optimizer (Adagrad too) keeps its own momentum
                   lambda p: {"max_lr": p.lr, "total_steps": p.total_steps, "cycle_momentum": False}, interval="step",
                   extendable=False, help="one cycle: warm up to lr over 30% of the steps, then anneal")
register_scheduler("warmup", S.LinearLR, lambda p: {"start_factor": 0.1, "end_factor": 1.0, "total_iters": p.steps_per_epoch},
                   interval="step", help="linear warm-up from lr/10 during the first epoch, then constant")
register_scheduler("inverse-time", S.InverseTimeLR, lambda p: {"decay_rate": 1.0}, interval="epoch", help="lr / (1 + epoch)")
