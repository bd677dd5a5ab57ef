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


class Generator:
    """A generator of its own (``torch.Generator``), for ``generator=`` of `random_split`, the samplers and the loader.

    Draws through it neither depend on nor move the global generator::

        train, val = random_split(data, [0.8, 0.2], generator=npgrad.Generator().manual_seed(42))

    Like PyTorch's, a new one is seeded 67280421310721 until `manual_seed`. Its numbers differ
    from PyTorch's for the same seed (NumPy's PCG64 stream). Only ``device='cpu'`` exists.
    """

    default_seed = 67280421310721

    def __init__(self, device: Any = "cpu") -> None:
        if str(device) != "cpu":
            raise ValueError(f"Generator: only the CPU holds data in npgrad, got device={device!r}")
        self.manual_seed(self.default_seed)

    def manual_seed(self, seed: int) -> Generator:
        """Reseed; returns the generator itself, so ``Generator().manual_seed(42)`` reads as in PyTorch."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"Generator.manual_seed: seed must be an int, got {seed!r}")
        self._seed = int(seed)
        self.numpy = np.random.default_rng(self._seed)
        return self

    def initial_seed(self) -> int:
        """The seed it was last seeded with."""
        return self._seed


def generator_of(gen: Generator | None) -> np.random.Generator:
    """The NumPy generator behind ``gen``, or the global one when ``gen`` is None."""
    if gen is None:
        return _generator
    if not isinstance(gen, Generator):
        raise TypeError(f"generator must be an npgrad.Generator or None, got {type(gen).__name__}")
    return gen.numpy
