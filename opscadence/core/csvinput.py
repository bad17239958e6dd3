"""Reading a user's CSV file into typed columns, with one clear line on bad input.

Every ad hoc command (``detect``, ``attribution``, ``rfm``, ``abtest``) reads its file through
:func:`read_csv_table`. Bad input raises :class:`CsvInputError` (a ``UserError``, exit code 2)
whose message names the file, the line (the header is line 1) and the column. Checks are
vectorised, so a file of a million rows is read in seconds, and the first bad cell is the one named.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from opscadence.core.errors import UserError

Kind = Literal["text", "number", "integer", "date", "datetime"]

_KIND_WORDS = {
    "number": "a number",
    "integer": "a whole number",
    "date": "a date (YYYY-MM-DD)",
    "datetime": "a date or date-time (YYYY-MM-DD[ HH:MM[:SS]])",
}


class CsvInputError(UserError):
    """A user's CSV file cannot be used; the message names file, line and column."""


@dataclass(frozen=True)
class Column:
    """One expected column: its name, kind, and the rules a cell must meet."""

    name: str
    kind: Kind = "text"
    required: bool = True
    allow_empty: bool = False  # an empty cell is kept as missing (NaN / None) instead of an error
    minimum: float | None = None  # numbers: the smallest allowed value (inclusive)


def read_text(path: Path) -> str:
    """The file decoded as UTF-8 (BOM or not), else GB18030; binary or undecodable bytes name their line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CsvInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data[:nul].count(b"\n") + 1
        raise CsvInputError(f"{path} line {line}: not a text CSV (a NUL byte at offset {nul}: binary data)")
    error: UnicodeDecodeError | None = None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            error = exc
    assert error is not None
    line = data[:error.start].count(b"\n") + 1
    raise CsvInputError(f"{path} line {line}: neither UTF-8 nor GB18030 text "
                        f"(byte 0x{data[error.start]:02x} at offset {error.start})")


def _first_bad(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def _bad(path: Path, index: int, column: str, cell: str, expected: str) -> CsvInputError:
    # Line numbers count the header as line 1, as an editor and `sed -n` do.
    return CsvInputError(f"{path} line {index + 2}, column {column}: {cell!r} is not {expected}")


def _typed(path: Path, raw: pd.Series, col: Column) -> pd.Series:
    text = raw.str.strip()
    empty = (text == "").to_numpy()
    if not col.allow_empty:
        at = _first_bad(empty)
        if at is not None:
            raise CsvInputError(f"{path} line {at + 2}, column {col.name}: empty")
    if col.kind == "text":
        return text.where(~empty, None)
    if col.kind in ("number", "integer"):
        values = pd.to_numeric(text.where(~empty, None), errors="coerce")
        at = _first_bad(values.isna().to_numpy() & ~empty)
        if at is None:
            finite = np.isfinite(values.to_numpy(dtype=float))
            at = _first_bad(~finite & ~empty)
        if at is not None:
            raise _bad(path, at, col.name, raw.iloc[at], _KIND_WORDS[col.kind])
        if col.kind == "integer":
            at = _first_bad(((values % 1) != 0).to_numpy() & ~empty)
            if at is not None:
                raise _bad(path, at, col.name, raw.iloc[at], _KIND_WORDS["integer"])
        if col.minimum is not None:
            at = _first_bad((values < col.minimum).to_numpy() & ~empty)
            if at is not None:
                raise CsvInputError(f"{path} line {at + 2}, column {col.name}: {raw.iloc[at]!r} "
                                    f"is below {col.minimum:g}")
        return values.astype("Int64") if col.kind == "integer" and empty.any() else (
            values.astype("int64") if col.kind == "integer" else values.astype(float))
    fmt = "%Y-%m-%d" if col.kind == "date" else "ISO8601"
    parsed = pd.to_datetime(text.where(~empty, None), format=fmt, errors="coerce")
    at = _first_bad(parsed.isna().to_numpy() & ~empty)
    if at is not None:
        raise _bad(path, at, col.name, raw.iloc[at], _KIND_WORDS[col.kind])
    return parsed.dt.date if col.kind == "date" else parsed


def read_csv_table(path: str | Path, columns: list[Column], *, what: str = "") -> pd.DataFrame:
    """The file's expected columns, typed; extra columns are dropped.

    ``what`` names the expected header in the messages (for example ``"path,total_conversions"``);
    by default it is the required columns joined by commas.
    """
    path = Path(path)
    header = what or ",".join(c.name for c in columns if c.required)
    text = read_text(path)
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=False)
    except pd.errors.EmptyDataError:
        raise CsvInputError(f"{path}: empty file (need a header {header})") from None
    except pd.errors.ParserError as exc:
        reason = " ".join(str(exc).split()).removeprefix("Error tokenizing data. C error: ")
        raise CsvInputError(f"{path}: cannot read as CSV: {reason}") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c.name for c in columns if c.required and c.name not in raw.columns]
    if missing:
        raise CsvInputError(f"{path}: missing column(s) {', '.join(missing)} (need {header})")
    if raw.empty:
        raise CsvInputError(f"{path}: no data rows after the header")
    out = pd.DataFrame(index=raw.index)
    for col in columns:
        if col.name in raw.columns:
            out[col.name] = _typed(path, raw[col.name], col)
    return out.reset_index(drop=True)


def duplicated_key(path: str | Path, frame: pd.DataFrame, key: list[str]) -> None:
    """Raise naming the first line whose ``key`` columns repeat an earlier line."""
    repeated = frame.duplicated(key, keep="first").to_numpy()
    at = _first_bad(repeated)
    if at is not None:
        row = frame.iloc[at]
        same = (frame[key] == row[key]).all(axis=1).to_numpy()
        first = _first_bad(same)
        values = ", ".join(str(row[k]) for k in key)
        raise CsvInputError(f"{path} line {at + 2}: duplicate ({', '.join(key)}) {values} (first on line {first + 2})")
