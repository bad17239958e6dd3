"""Find the project's data directories (``sql/``, ``expectations/``) installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # opscadence/


def resource_dir(name: str) -> Path:
    # A wheel ships them inside the package; an editable install or a checkout has them
    # beside the package at the repository root.
    for candidate in (_PACKAGE / "_resources" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the {name}/ directory next to {_PACKAGE}")
