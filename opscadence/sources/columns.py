"""Typing raw columns the same way for every source.

Every source returns one :class:`pandas.DataFrame` per raw table (the keys of
:data:`opscadence.warehouse.RAW_TABLES`) with typed columns:

* ``DateTime`` columns → ``datetime64`` (naive, shop-local),
* ``Numeric``/``Float`` columns → ``float64``,
* ``Integer``/``BigInteger`` columns → nullable ``Int64``,
* ``ds`` → :class:`datetime.date` objects,
* everything else → text, exactly as read.

Validation (:mod:`opscadence.quality`) runs on these frames before anything is
written; :func:`load_partition` lands a batch that passed.
"""


from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa

from opscadence.warehouse import RAW_TABLES

_VALUE_PREVIEW = 40  # characters of an unconvertible value quoted in an error message


def column_kind(column: sa.Column) -> str:
    """``datetime``, ``date``, ``integer``, ``number`` or ``text`` for a warehouse column."""
    ctype = column.type
    if isinstance(ctype, sa.DateTime):
        return "datetime"
    if isinstance(ctype, sa.Date):
        return "date"
    if isinstance(ctype, sa.Integer):  # BigInteger and SmallInteger are subclasses
        return "integer"
    if isinstance(ctype, (sa.Numeric, sa.Float)):  # Float is a Numeric subclass; listed for clarity
        return "number"
    return "text"


_WHAT = {
    "datetime": "is not a timestamp",
    "date": "is not a date (YYYY-MM-DD)",
    "integer": "is not an integer",
    "number": "is not a number",
}

# (index label, column, raw value, problem) -> exception to raise
ErrorFactory = Callable[[Any, str, Any, str], Exception]


def preview_value(value: Any) -> str:
    text = str(value)
    if len(text) > _VALUE_PREVIEW:
        text = text[:_VALUE_PREVIEW] + "…"
    return repr(text)


def _first_bad(raw: pd.Series, bad: pd.Series, column: str, problem: str, error: ErrorFactory) -> Exception:
    label = bad[bad].index[0]
    return error(label, column, raw.loc[label], problem)


def _as_text(series: pd.Series) -> pd.Series:
    """Values as stripped strings (``None``/NaN stay missing)."""
    if pd.api.types.is_string_dtype(series.dtype) and not pd.api.types.is_object_dtype(series.dtype):
        return series.str.strip()
    return series.map(lambda v: v.strip() if isinstance(v, str) else v)


def _convert_number(series: pd.Series, column: str, kind: str, error: ErrorFactory) -> pd.Series:
    if pd.api.types.is_bool_dtype(series.dtype):
        series = series.astype("float64")
    raw = series if pd.api.types.is_numeric_dtype(series.dtype) else _as_text(series)
    present = raw.notna() & (raw.astype(object) != "")
    converted = pd.to_numeric(raw.where(present), errors="coerce")
    values = converted.astype("float64")
    finite = pd.Series(np.isfinite(values.to_numpy()), index=series.index)
    bad = present & ~finite
    if bad.any():
        raise _first_bad(series, bad, column, _WHAT["number"], error)
    if kind == "integer":
        fractional = present & (values % 1 != 0)
        if fractional.any():
            raise _first_bad(series, fractional, column, _WHAT["integer"], error)
        if pd.api.types.is_integer_dtype(converted.dtype):
            return converted.astype("Int64")
        return values.round().astype("Int64")
    return values


def _timestamp(value: Any, tz: ZoneInfo | None) -> pd.Timestamp:
    """One value → naive shop-local Timestamp; raises ValueError/TypeError when impossible."""
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        raise ValueError("not a timestamp")
    if ts.tzinfo is not None:
        if tz is None:
            raise ValueError("has a UTC offset")
        ts = ts.tz_convert(tz).tz_localize(None)
    return ts


def _convert_datetime(series: pd.Series, column: str, tz: ZoneInfo | None, error: ErrorFactory) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        if getattr(series.dt, "tz", None) is not None:
            if tz is None:
                raise error(series.index[0], column, series.iloc[0], "has a UTC offset but no shop timezone was given")
            return series.dt.tz_convert(tz).dt.tz_localize(None)
        return series
    raw = _as_text(series)
    present = raw.notna() & (raw.astype(object) != "")
    # Fast path: ISO 8601 text (what shop exports and the warehouse produce).
    try:
        parsed = pd.to_datetime(raw.where(present), format="ISO8601", errors="coerce")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = None  # offsets are handled one value at a time below
    except (ValueError, TypeError, OverflowError):
        parsed = None
    if parsed is not None and not (present & parsed.isna()).any():
        return parsed
    # Slow path, only for the values the fast path did not understand.
    values: dict[Any, pd.Timestamp | None] = {}
    for label, value in raw.items():
        if not present.loc[label]:
            values[label] = None
            continue
        if parsed is not None and not pd.isna(parsed.loc[label]):
            values[label] = parsed.loc[label]
            continue
        try:
            values[label] = _timestamp(value, tz)
        except (ValueError, TypeError, OverflowError) as exc:
            problem = ("has a UTC offset but no shop timezone was given"
                       if "UTC offset" in str(exc) else _WHAT["datetime"])
            raise error(label, column, series.loc[label], problem) from None
    out = pd.to_datetime(pd.Series(list(values.values()), index=series.index, dtype=object))
    return out


def _convert_date(series: pd.Series, column: str, error: ErrorFactory) -> pd.Series:
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        # Fast path: every value is YYYY-MM-DD text or already a date (SQLite, CSV, PostgreSQL).
        kind = pd.api.types.infer_dtype(series, skipna=False)
        if kind == "date":
            return series.astype(object)
        if kind == "string" and series.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all():
            parsed = pd.to_datetime(series, format="%Y-%m-%d", errors="coerce")
            if not parsed.isna().any():
                return pd.Series(parsed.dt.date.to_numpy(dtype=object), index=series.index, dtype=object)

    def one(value: Any) -> date | None:
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        return date.fromisoformat(str(value).strip())

    out: list[date | None] = []
    for label, value in series.items():
        try:
            out.append(one(value))
        except (ValueError, TypeError):
            raise error(label, column, value, _WHAT["date"]) from None
    return pd.Series(out, index=series.index, dtype=object)


def coerce_types(frame: pd.DataFrame, table: str, *, error: ErrorFactory,
                 timezone: ZoneInfo | None = None) -> pd.DataFrame:
    """Convert the columns of ``frame`` that exist in raw table ``table`` to their typed form."""
    out = frame.copy()
    for column in RAW_TABLES[table].columns:
        name = column.name
        if name not in out.columns:
            continue
        kind = column_kind(column)
        if kind in ("integer", "number"):
            out[name] = _convert_number(out[name], name, kind, error)
        elif kind == "datetime":
            out[name] = _convert_datetime(out[name], name, timezone, error)
        elif kind == "date":
            out[name] = _convert_date(out[name], name, error)
    return out


def with_ds(frame: pd.DataFrame, ds: date) -> pd.DataFrame:
    if "ds" not in frame.columns:
        frame = frame.copy()
        frame.insert(0, "ds", pd.Series([ds] * len(frame), index=frame.index, dtype=object))
    return frame

