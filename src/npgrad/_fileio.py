"""Atomic file writes: the one home for "write to a temporary file, then rename".

A file written through `atomic_path` or `atomic_write` is either the complete new content or the
previous file: an exception, Ctrl-C or a crash mid-write leaves the old file intact and no temporary
file behind. A process killed with SIGKILL cannot clean up: its temporaries are named
``.<name>.<pid>.<random>.tmp`` next to the target, and the next write of the same target removes
those whose process is gone. A failed write (disk full, read-only folder) raises `WriteError`.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from npgrad.errors import WriteError


def temp_prefix(path: str | os.PathLike) -> str:
    """The name prefix of the temporary files written for ``path`` (``.<name>.``)."""
    return f".{os.path.basename(os.fspath(path))}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporaries of ``path`` left by processes that no longer run (killed mid-write); return them."""
    path = Path(path)
    prefix = temp_prefix(path)
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent if str(path.parent) else "."):
            pid = entry.name[len(prefix):].split(".", 1)[0] if entry.name.startswith(prefix) else ""
            if entry.name.endswith(".tmp") and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path next to ``path``; after the block succeeds, make it durable and rename it onto ``path``.

    The new file gets the mode ``path`` already has, or the one ``open`` would give it (not mkstemp's 0600).
    On any exception (KeyboardInterrupt included) the temporary file is removed and the target is untouched;
    an `OSError` (disk full, read-only folder, no permission) is raised as `WriteError` naming ``path``.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {os.fspath(path)!r}: the folder {os.fspath(folder)!r} does not exist")
    remove_stale_temporaries(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{temp_prefix(path)}{os.getpid()}.", suffix=".tmp")
        os.close(fd)
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise WriteError(exc.errno, exc.strerror or str(exc), os.fspath(path)) from exc
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


def hold_lock(path: str | os.PathLike) -> IO[bytes] | None:
    """Take an exclusive lock on ``path`` (created if missing, this process's id written in it) and return its file.

    The lock lasts until the file is closed or the process ends, however it ends: the kernel releases a
    ``flock`` after a kill -9 too, so no stale lock is ever left. Raises `BlockingIOError` while another process
    holds it (its ``filename`` is ``path``, the holder's id in `read_lock_holder`). Returns None where
    ``fcntl.flock`` does not exist (Windows): nothing is locked there.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    f = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o644), "r+b")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException as exc:
        f.close()
        if isinstance(exc, BlockingIOError):
            exc.filename = os.fspath(path)
        raise
    f.truncate()
    f.write(f"{os.getpid()}\n".encode())
    f.flush()
    return f


def read_lock_holder(path: str | os.PathLike) -> int | None:
    """The process id a `hold_lock` holder wrote in ``path``, or None when it cannot be read."""
    with contextlib.suppress(OSError, ValueError):
        return int(Path(path).read_text().strip())
    return None
