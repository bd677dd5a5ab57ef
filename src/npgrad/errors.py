"""The errors npgrad raises for input a user can get wrong: one family, standard bases.

Every class derives from `NpgradError` *and* from the standard exception a caller would catch
anyway (`ValueError`, `FileNotFoundError`, `TypeError`, `NotImplementedError`), so library users
keep catching what they know while the command line can tell "the user's input is wrong" (print one
line, exit 2) from "npgrad has a bug" (keep the traceback) by type, never by message text.
"""

from __future__ import annotations


class NpgradError(Exception):
    """Base of every error caused by the user's input (options, files, checkpoints), not by a bug."""


class InvalidArgumentError(NpgradError, ValueError):
    """An argument or option has a value npgrad cannot use; the message names it and what was expected."""


class InvalidTypeError(NpgradError, TypeError):
    """An argument has the wrong type or dtype; the message names it and what was expected."""


class DataError(NpgradError, ValueError):
    """A data file or folder is corrupt, malformed, too large or inconsistent; the message names the file."""


class CheckpointError(NpgradError, ValueError):
    """A checkpoint, run folder or model file cannot be used; the message names the file and the problem."""


class MissingFileError(NpgradError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class WriteError(NpgradError, OSError):
    """A file cannot be written (disk full, read-only folder, no permission); names the file and the system's reason."""

    def __str__(self) -> str:
        if self.filename is not None and self.strerror:
            return f"cannot write {self.filename}: {self.strerror}"
        return super().__str__()


class UnsupportedError(NpgradError, NotImplementedError):
    """A valid request npgrad does not support (an ONNX op without a converter, say); the message says which."""


__all__ = [
    "CheckpointError", "DataError", "InvalidArgumentError", "InvalidTypeError", "MissingFileError",
    "NpgradError", "UnsupportedError", "WriteError",
]
