"""The model registry: names → builders, used by `create` and the ``npgrad models`` command.

A builder is any callable returning an ``nn.Module`` that accepts the three
keywords every model understands — ``in_channels``, ``num_classes`` and
``image_size`` — plus its own options. Register one with ``@register(name,
*aliases)``; its description is the first line of its docstring::

    @register("tiny")
    def tiny(in_channels=1, num_classes=10, image_size=28, width=8):
        \"\"\"A one-conv network, for smoke tests.\"\"\"
        ...

    model = create("tiny", in_channels=3, num_classes=10, image_size=32, width=4)

Registering only records the callable: nothing is built until `create` runs.
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from npgrad.errors import InvalidArgumentError
from npgrad.models._common import init_weights
from npgrad.nn import Module

_STANDARD_KEYWORDS = ("in_channels", "num_classes", "image_size")


@dataclass(frozen=True)
class ModelEntry:
    """One registered name: its builder, one-line description and the builder's own options."""

    name: str
    builder: Callable[..., Module]
    description: str
    options: tuple[str, ...]
    # The optimizer `npgrad train` uses for this model unless told otherwise: {"name": ..., hyper-parameters}
    # (the optimizer's registered defaults fill the rest); empty: the command's default optimizer as registered.
    optimizer: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, ModelEntry] = {}


def _signature_options(builder: Callable[..., Module]) -> tuple[str, ...]:
    params = inspect.signature(builder).parameters
    missing = [k for k in _STANDARD_KEYWORDS if k not in params]
    if missing:
        raise TypeError(f"register: builder {builder.__qualname__} must accept the keywords {', '.join(missing)}")
    return tuple(p for p in params if p not in _STANDARD_KEYWORDS and params[p].kind is not inspect.Parameter.VAR_KEYWORD)


def register(name: str, *aliases: str, optimizer: dict[str, Any] | None = None
             ) -> Callable[[Callable[..., Module]], Callable[..., Module]]:
    """Decorator recording ``builder`` under ``name`` (and each alias); returns the builder unchanged.

    ``optimizer``: the settings that train this model well, e.g. ``{"name": "sgd", "lr": 0.01}``;
    ``npgrad train`` uses them unless the user picks another optimizer or gives the values.
    """

    def decorator(builder: Callable[..., Module]) -> Callable[..., Module]:
        options = _signature_options(builder)
        description = (inspect.getdoc(builder) or "").strip().splitlines()
        for key in (name, *aliases):
            if key in _REGISTRY:
                raise InvalidArgumentError(f"register: a model named '{key}' is already registered")
            _REGISTRY[key] = ModelEntry(key, builder, description[0] if description else "", options, dict(optimizer or {}))
        return builder

    return decorator


def get(name: str) -> ModelEntry:
    """The registry entry for ``name``; ValueError listing the available names if there is none."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InvalidArgumentError(f"unknown model '{name}'; available: {', '.join(list())}") from None


def list() -> builtins.list[str]:  # shadows the builtin on purpose, like torch.hub.list
    """The registered model names (aliases included), sorted."""
    return sorted(_REGISTRY)


def describe(name: str) -> str:
    """The one-line description of model ``name`` (the first line of its builder's docstring)."""
    return get(name).description


def create(
    name: str,
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int | tuple[int, int] = 28,
    init: str | None = None,
    **kwargs: Any,
) -> Module:
    """Build registered model ``name`` for ``in_channels``×``image_size``² inputs and ``num_classes`` classes.

    Args:
        name: a name from `list()`.
        in_channels, num_classes, image_size: the input and output description every
            model accepts (models ignore what they do not need). ``image_size`` is an
            int (square images) or an ``(H, W)`` pair.
        init: optional weight initialisation applied after building, one of the
            schemes of `init_weights` (e.g. ``'xavier'``); None keeps each layer's
            PyTorch default initialisation (or the model's own ``weight_scale``).
        **kwargs: the model's own options (see its builder's docstring).

    The returned module has an attribute ``num_outputs``: the size of its last
    dimension of output. A model with ``num_outputs == 1`` is a binary classifier
    returning one logit per sample (train it with ``BCEWithLogitsLoss``).

    Raises:
        ValueError: for an unknown name, an option the model does not have, or an
            image size the model cannot handle.
    """
    entry = get(name)
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(entry.builder).parameters.values()):
        unknown = [k for k in kwargs if k not in entry.options]
        if unknown:
            accepted = ", ".join(entry.options) if entry.options else "none besides in_channels, num_classes, image_size"
            raise InvalidArgumentError(f"model '{name}' got unknown option(s) {', '.join(unknown)}; its options are: {accepted}")
    model = entry.builder(in_channels=in_channels, num_classes=num_classes, image_size=image_size, **kwargs)
    if init is not None:
        init_weights(model, init)
    return model
