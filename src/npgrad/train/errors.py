"""Errors a user can cause (a bad option, a missing folder, a corrupt checkpoint).

The command line prints a `UsageError` as one line, ``npgrad: error: <message>``, and exits
with status 2 — no traceback, since nothing is wrong with the program. Any other exception
is a bug and keeps its traceback.
"""


class UsageError(Exception):
    """A mistake in what the user asked for; the message says what and how to fix it, on one line."""
