"""Training checkpoints: what one holds, and finding and loading one safely.

A checkpoint is one safetensors file written by `npgrad.serialization.save` (atomically), holding
a nested dict:

==============  =================================================================================
``format``      ``"npgrad-checkpoint"`` and ``format_version`` (1)
``model``       the model's ``state_dict()`` (parameters and buffers such as BatchNorm statistics)
``optimizer``   the optimizer's ``state_dict()`` (momentum / moment buffers, step counts, lr)
``scheduler``   the scheduler's ``state_dict()`` or None
``epoch``       epochs completed; ``step`` > 0 when saved mid-epoch by Ctrl-C, with that epoch's
                partial sums (``running``, ``extra_sums``, ``epoch_lr``, ``epoch_time``, ``train_time``)
``history``     the per-epoch records so far; ``best`` = [epoch, accuracy]; ``bad_epochs``
``rng``         ``npgrad.get_rng_state()`` (dropout and anything else drawing from the global RNG)
``loader``      the training DataLoader's ``state_dict()`` (its seed; the epoch is set by the trainer)
``config``      the run's config (JSON-able; the ``npgrad`` command stores what rebuilds the run)
``processes``   how many `npgrad.distributed` processes trained it (absent in older files: 1)
==============  =================================================================================

``npgrad eval``/``predict``/``info`` need nothing but this file: the config inside names the model,
its options, the classes and the preprocessing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from npgrad.errors import CheckpointError, MissingFileError

FORMAT = "npgrad-checkpoint"
FORMAT_VERSION = 1
CHECKPOINT_NAMES = ("best.safetensors", "last.safetensors")
REQUIRED_KEYS = ("model", "epoch", "config")


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Write a trainer ``state`` (see `Trainer.state_dict`) to ``path`` atomically."""
    from npgrad import __version__
    from npgrad.serialization import save

    save({"format": FORMAT, "format_version": FORMAT_VERSION, "npgrad_version": __version__, **state}, path)


def resolve_checkpoint(path: str | os.PathLike, prefer: str = "best") -> Path:
    """The checkpoint file for ``path``: the file itself, or in a run folder ``<prefer>.safetensors``
    (falling back to the other one). Raises `MissingFileError` when there is none."""
    path = Path(path)
    if path.is_dir():
        names = sorted(CHECKPOINT_NAMES, key=lambda n: not n.startswith(prefer))
        for name in names:
            if (path / name).is_file():
                return path / name
        raise MissingFileError(f"no checkpoint in folder {path} (expected {' or '.join(names)})")
    if not path.exists():
        raise MissingFileError(f"checkpoint not found: {path}")
    return path


def load_checkpoint(path: str | os.PathLike, prefer: str = "best") -> dict[str, Any]:
    """Load the checkpoint at ``path`` (a file or a run folder, see `resolve_checkpoint`).

    The returned dict has the keys described in the module docstring plus ``path`` (the file read).
    A missing, unreadable or foreign file raises `MissingFileError` or `CheckpointError` with one line saying which and why.
    """
    from npgrad.serialization import load

    file = resolve_checkpoint(path, prefer)
    try:
        state = load(file)
    except Exception as exc:  # any reader failure means the file is not a usable checkpoint
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"cannot read checkpoint {file}: {reason}") from None
    if not isinstance(state, dict) or not isinstance(state.get("format"), str) or state["format"] != FORMAT:
        raise CheckpointError(f"{file} is not an npgrad training checkpoint (it has no 'format: {FORMAT}' entry)")
    version = state.get("format_version", 0)
    if not _is_count(version):
        raise CheckpointError(f"checkpoint {file} is damaged: format_version {version!r:.40} is not a version number")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{file} was written by a newer npgrad (checkpoint format {version}); upgrade npgrad")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {file} is incomplete: missing {', '.join(missing)}")
    for key in ("model", "config"):
        if not isinstance(state[key], dict):
            raise CheckpointError(f"checkpoint {file} is damaged: its {key!r} entry is a {type(state[key]).__name__}, "
                                  "not a dict")
    step = state.get("step")
    for key, value in (("epoch", state["epoch"]), ("step", 0 if step is None else step)):
        if not _is_count(value):
            raise CheckpointError(f"checkpoint {file} is damaged: its {key!r} entry {state[key]!r:.40} is not a "
                                  "non-negative integer")
    state["path"] = str(file)
    return state


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def tensor_stats(obj: Any) -> tuple[int, int]:
    """(number of arrays, total bytes) in a nested structure of dicts, lists and arrays."""
    if isinstance(obj, np.ndarray):
        return 1, obj.nbytes
    items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()
    count = size = 0
    for item in items:
        c, s = tensor_stats(item)
        count, size = count + c, size + s
    return count, size
