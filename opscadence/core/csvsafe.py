"""CSV the project writes is safe to open in a spreadsheet: no cell is taken for a formula.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or their
full-width forms, which some spreadsheets fold) may run as a formula when the file is opened
(``=HYPERLINK(…)``, ``=cmd|…``): CSV injection. As OWASP advises, such a text cell gets a
leading ``'``, which spreadsheets show as text. Plain numbers (``-12.5``, ``+86138…``) are left
as they are: they cannot be formulas and must stay readable. Only text is touched; numeric
columns are written unchanged.

Every CSV the project writes goes through :func:`safe_frame` (``opscadence detect``,
``attribution``, ``rfm``, the weekly RFM and unhappy-customer exports).
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def neutralise(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet could run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (and text column names) are neutralised."""
    out = frame.copy()
    for name in out.columns:
        if pd.api.types.is_object_dtype(out[name].dtype) or pd.api.types.is_string_dtype(out[name].dtype):
            out[name] = out[name].map(neutralise, na_action="ignore")
    out.columns = [neutralise(c) for c in out.columns]
    return out
