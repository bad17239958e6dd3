"""Expected failures the CLI turns into one line on standard error and an exit code.

Raise ``UserError`` (or a subclass) for anything a user can fix: a bad date or range, an
unreachable database, an unreadable file. The message is the whole line the user sees, so it
names the file, key, row or column involved. Tracebacks are shown only with ``--debug``.
"""

from __future__ import annotations


# Exit codes of the ``opscadence`` command.
EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and found a failure (failed validation days in a backfill)
EXIT_USAGE = 2  # bad input: arguments, config, files, unreachable database
EXIT_DELIVERY = 3  # the work was done but at least one message could not be delivered


class UserError(Exception):
    """A failure the user can fix; ``str(exc)`` is the one line shown."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
