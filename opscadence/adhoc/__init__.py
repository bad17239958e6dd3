"""Ad hoc analyses of a user's own files: one module per command, no warehouse needed.

Each module defines ``register(sub)``, which adds its subcommand to the ``opscadence`` parser and
sets ``func`` to a function taking the parsed arguments and returning the exit code. Bad input
raises ``opscadence.core.csvinput.CsvInputError`` (one line naming file, line and column; exit 2).
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from opscadence.core.errors import UserError

# The commands, in the order ``opscadence --help`` lists them.
COMMANDS: tuple[str, ...] = ("abtest", "attribution", "rfm")


def register_all(sub: argparse._SubParsersAction) -> None:
    for name in COMMANDS:
        importlib.import_module(f"opscadence.adhoc.{name}").register(sub)


def output_path(value: Path | None) -> Path | None:
    """``--out``: its folder must exist, so an analysis is not lost at the last step."""
    if value is not None and not value.parent.is_dir():
        raise UserError(f"--out {value}: the folder {value.parent} does not exist")
    return value
