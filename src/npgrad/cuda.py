"""``npgrad.cuda``: what ``torch.cuda`` answers on a machine without a GPU (npgrad runs on the CPU only).

Code written for either (``device = "cuda" if torch.cuda.is_available() else "cpu"``,
``torch.cuda.manual_seed_all(0)``) then takes its CPU path unchanged.
"""

from __future__ import annotations


def is_available() -> bool:
    """False: npgrad has no GPU backend."""
    return False


def device_count() -> int:
    """0: no GPU is visible to npgrad."""
    return 0


def manual_seed(seed: int) -> None:
    """Does nothing (there is no GPU generator to seed), as ``torch.cuda.manual_seed`` without a GPU."""


manual_seed_all = manual_seed
