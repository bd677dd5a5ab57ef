"""The global random generator behind `randn`, `rand`, dropout and weight initialisation.

`manual_seed(s)` makes everything that draws from it reproducible; `get_rng_state`
and `set_rng_state` capture and restore it (checkpoints use them for exact resume).
The state is a plain dict of ints and strings, so it can be stored as JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_generator = np.random.default_rng()


def generator() -> np.random.Generator:
    """The global ``numpy.random.Generator``."""
    return _generator


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator (like ``torch.manual_seed``) and return it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def get_rng_state() -> dict[str, Any]:
    """A JSON-serialisable snapshot of the global generator's state."""
    return _generator.bit_generator.state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state returned by `get_rng_state`."""
    _generator.bit_generator.state = state
