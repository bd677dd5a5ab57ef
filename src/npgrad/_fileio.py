"""Atomic file writes: the one home for "write to a temporary file, then rename".

A file written through `atomic_path` or `atomic_write` is either the complete new content or the
previous file: an exception, Ctrl-C or a crash mid-write leaves the old file intact and no temporary
file behind (temporaries of a process killed with SIGKILL are named ``.<name>.<random>.tmp`` next to
the target, so they can be recognised and cleaned up).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def temp_prefix(path: str | os.PathLike) -> str:
    """The name prefix of the temporary files written for ``path`` (``.<name>.``)."""
    return f".{os.path.basename(os.fspath(path))}."


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path next to ``path``; after the block succeeds, make it durable and rename it onto ``path``.

    The new file gets the mode ``path`` already has, or the one ``open`` would give it (not mkstemp's 0600).
    On any exception (KeyboardInterrupt included) the temporary file is removed and the target is untouched.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {os.fspath(path)!r}: the folder {os.fspath(folder)!r} does not exist")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=temp_prefix(path), suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", newline: str | None = None,
                 encoding: str | None = None, errors: str | None = None) -> Iterator[io.IOBase]:
    """Open a temporary file next to ``path`` for writing (``open``'s arguments); on success rename it onto ``path``."""
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    with atomic_path(path) as tmp, open(tmp, mode, newline=newline, encoding=encoding, errors=errors) as f:
        yield f


def _new_file_mode(path: Path) -> int:
    """The mode ``path`` has (if it exists) or that ``open`` would give it."""
    with contextlib.suppress(FileNotFoundError):
        return os.stat(path).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
