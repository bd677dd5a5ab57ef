"""Keep freed memory for reuse: glibc malloc tuning applied when npgrad is imported.

Every training step allocates the same large temporaries (im2col matrices, activations,
gradients: megabytes each) and frees them a moment later. By default glibc's malloc
hands large freed blocks back to the operating system (``munmap``, or trimming the heap
top), so the next step touches fresh pages and pays a page fault per 4 KiB, zero-filled
by the kernel. On the 2-core development machine that was a third of LeNet's training
step (benchmarks/RESULTS.md). Raising ``M_MMAP_THRESHOLD`` to its maximum (32 MiB) and
``M_TRIM_THRESHOLD`` out of reach keeps freed blocks in the heap for the next step.

The cost: memory freed by the process is kept until it exits (peak RSS is unchanged;
RSS no longer drops after a peak). It is process-wide, so it is opt-out: set the
environment variable ``NPGRAD_KEEP_FREED_MEMORY=0`` before importing npgrad. Only glibc
(Linux) has ``mallopt``; elsewhere nothing changes.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's largest accepted value on 64-bit
_TRIM_THRESHOLD = 2**31 - 1  # the largest int: never trim


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks up to 32 MiB for reuse; True if it accepted."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


def apply_default() -> bool:
    """`keep_freed_memory` unless ``NPGRAD_KEEP_FREED_MEMORY=0``; called once by ``import npgrad``."""
    if os.environ.get("NPGRAD_KEEP_FREED_MEMORY", "1").strip() == "0":
        return False
    return keep_freed_memory()
