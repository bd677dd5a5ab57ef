"""``npgrad.accelerator``: what ``torch.accelerator`` answers on a machine without one (npgrad runs on the CPU only).

The PyTorch tutorials pick their device with it::

    device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"

which here takes its CPU branch.
"""

from __future__ import annotations

from npgrad._dtypes import device


def is_available() -> bool:
    """False: npgrad has no accelerator backend."""
    return False


def device_count() -> int:
    """0: no accelerator is visible to npgrad."""
    return 0


def current_accelerator(check_available: bool = False) -> device | None:
    """None: there is no accelerator (PyTorch's answer on a CPU-only build)."""
    return None
