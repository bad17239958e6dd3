"""Cell values of a shop's export → typed raw values, one column at a time (vectorised).

Every parser takes a column of cells (text from a CSV; text, numbers, datetimes from an .xlsx)
and returns the typed values and a mask of the cells it could not read, so the caller names
each bad cell's row. Missing cells (empty, blank) are missing, never bad: whether a column may
be empty is the caller's rule.

* amounts: ``1299``, ``1,299.00``, ``¥1,299.00``, ``￥1299``, ``1299元``, ``RMB 1299``, ``-12.5``;
  a comma is a thousands separator only between groups of three digits (``1,29`` is bad);
* timestamps: ``2026-11-03 14:05``, ``2026/11/3 14:05:00``, ``2026年11月3日 14:05``,
  ``2026年11月3日 14时05分``, ``2026-11-03T14:05:00+08:00`` (an offset or ``Z`` is converted
  to the shop's timezone), a date alone (midnight), datetime cells of a workbook, Excel serial
  numbers (``46329.5``), Unix epoch seconds (10 digits) or milliseconds (13 digits, UTC).
  Times without an offset are the shop's local time. ``11/03/2026`` is refused (day or month?);
* ids and text: numbers of a workbook lose their ``.0``; an id Excel has rounded (a number past
  2^53, or written as ``2.02611E+17``) is bad, since the real id cannot be recovered.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

_CURRENCY_OR_SPACE = re.compile(r"[¥￥$＄€£\s]|元|人民币|RMB|CNY|USD", re.IGNORECASE)
_PLAIN = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+")
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:\.\d+)?[eE][+-]?\d+")
_TIMESTAMP = re.compile(
    r"(?P<y>\d{4})[-/.年](?P<mo>\d{1,2})[-/.月](?P<d>\d{1,2})日?"
    r"(?:(?:[T\s]+)(?P<h>\d{1,2})[:时点](?P<mi>\d{1,2})分?"
    r"(?:(?::(?P<s>\d{1,2})(?:[.,](?P<f>\d{1,9}))?)|(?P<s2>\d{1,2})秒)?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?"
)
EXACT_ID_LIMIT = 2 ** 53  # a double holds every integer below this exactly
_EXCEL_SERIAL = (1, 2_958_466)  # 1900-01-01 .. 9999-12-31


def _nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def _missing(value: Any) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    if isinstance(value, float) and value != value:
        return True
    return isinstance(value, str) and not value.strip()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def all_text(cells: pd.Series) -> bool:
    """Every cell is a string (a CSV column): the vectorised paths apply."""
    return pd.api.types.infer_dtype(cells, skipna=False) == "string"


def present(cells: pd.Series) -> pd.Series:
    """Cells with a value (not empty, not blank)."""
    if all_text(cells):
        return cells.ne("") & ~cells.str.isspace().astype(bool)
    return ~cells.map(_missing).astype(bool)


def _nfkc_series(text: pd.Series) -> pd.Series:
    """NFKC only where needed (non-ASCII text), stripped."""
    ascii_ = text.str.isascii()
    if ascii_.all():
        return text.str.strip()
    out = text.copy()
    out[~ascii_] = text[~ascii_].map(_nfkc)
    return out.str.strip()


def parse_number(cells: pd.Series, *, integer: bool = False, here: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """Amounts and counts (see the module docstring); ``integer``: whole numbers only."""
    out = pd.Series(np.nan, index=cells.index, dtype="float64")
    bad = pd.Series(False, index=cells.index)
    here = present(cells) if here is None else here
    numeric = (pd.Series(False, index=cells.index) if all_text(cells) else cells.map(_is_number).astype(bool)) & here
    if numeric.any():
        out[numeric] = cells[numeric].astype("float64")
    text = here & ~numeric
    if text.any():  # plain numbers first, in C; the rest through the cleaning below
        plain = pd.to_numeric(cells[text], errors="coerce")
        plain = plain[plain.notna()]
        out[plain.index] = plain.astype("float64")
        text[plain.index] = False
    if text.any():
        raw = cells[text].astype(str)
        for attempt in (1, 2):  # the second time in NFKC form (full-width digits), for what is left
            cleaned = raw.str.replace(_CURRENCY_OR_SPACE, "", regex=True)
            grouped = cleaned.str.contains(",", regex=False)
            if grouped.any():  # a comma only between groups of three digits: 1,299.00 but not 1,29
                wrong = ~cleaned[grouped].str.fullmatch(_NUMBER)
                cleaned[wrong[wrong].index] = "x"
                cleaned = cleaned.str.replace(",", "", regex=False)
            number = pd.to_numeric(cleaned.where(cleaned.str.fullmatch(_PLAIN), "x"), errors="coerce")
            done = number[number.notna()]
            out[done.index] = done.astype("float64")
            left = number.index[number.isna()]
            if attempt == 1 and len(left):
                raw = raw[left].map(_nfkc)
        bad[left] = True
    bad |= here & ~bad & ~np.isfinite(out.fillna(0.0))
    if integer:
        bad |= here & ~bad & (out % 1 != 0)
    out[bad] = np.nan
    return out, bad


def _offset_minutes(text: pd.Series) -> pd.Series:
    """``+08:00`` / ``+0800`` / ``+08`` / ``Z`` → minutes east of UTC (NaN: no offset)."""
    out = pd.Series(np.nan, index=text.index, dtype="float64")
    has = text.notna()
    if not has.any():
        return out
    t = text[has]
    z = t == "Z"
    out[t[z].index] = 0.0
    rest = t[~z]
    if len(rest):
        sign = np.where(rest.str[0] == "-", -1.0, 1.0)
        digits = rest.str[1:].str.replace(":", "", regex=False)
        hours = pd.to_numeric(digits.str[:2])
        minutes = pd.to_numeric(digits.str[2:4].replace("", "0")).fillna(0)
        out[rest.index] = sign * (hours * 60 + minutes)
    return out


def parse_timestamp(cells: pd.Series, tz: ZoneInfo, *, epoch: datetime | None = None, here: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """Naive shop-local timestamps (``datetime64[us]``) and the mask of unreadable cells."""
    out = pd.Series(pd.NaT, index=cells.index, dtype="datetime64[us]")
    bad = pd.Series(False, index=cells.index)
    here = present(cells) if here is None else here
    if all_text(cells):
        kinds = pd.Series("str", index=cells.index)
    else:
        kinds = cells.map(lambda v: "dt" if isinstance(v, (datetime, date, pd.Timestamp)) else
                          "num" if _is_number(v) else "str" if isinstance(v, str) else "other")
    dt = here & (kinds == "dt")
    for label in dt[dt].index:  # workbook datetime cells: naive = shop-local
        value = pd.Timestamp(cells[label])
        if value.tzinfo is not None:
            value = value.tz_convert(tz).tz_localize(None)
        out[label] = value
    text = here & (kinds == "str")
    numbers = pd.Series(np.nan, index=cells.index, dtype="float64")
    digits = pd.Series(0, index=cells.index, dtype="int64")
    if text.any():
        s = _nfkc_series(cells[text].astype(str))
        # Fast path: ISO layouts without an offset (2026-11-03, 2026-11-03 14:05[:00]), parsed in C.
        layout = s.str.len().isin([10, 16, 19]) & (s.str[4] == "-") & (s.str[7] == "-")
        if layout.any():
            try:
                quick = pd.to_datetime(s[layout], format="ISO8601", errors="coerce")
            except (ValueError, TypeError, OverflowError):  # offsets mixed with local times: the slow path
                quick = pd.Series(pd.NaT, index=s[layout].index, dtype="datetime64[us, UTC]")
            if getattr(quick.dt, "tz", None) is None:
                done = quick[quick.notna()]
                out[done.index] = done.astype("datetime64[us]")
                s = s.drop(done.index)
        parts = s.str.extract(_TIMESTAMP.pattern + "$", expand=True)
        parts = parts[s.str.fullmatch(_TIMESTAMP)]
        matched = parts.index
        if len(matched):
            seconds = parts["s"].fillna(parts["s2"]).fillna("0")
            fraction = parts["f"].fillna("").str.ljust(6, "0").str[:6].replace("", "0")
            stamp = pd.to_datetime(pd.DataFrame({
                "year": pd.to_numeric(parts["y"]), "month": pd.to_numeric(parts["mo"]),
                "day": pd.to_numeric(parts["d"]), "hour": pd.to_numeric(parts["h"].fillna("0")),
                "minute": pd.to_numeric(parts["mi"].fillna("0")), "second": pd.to_numeric(seconds),
                "microsecond": pd.to_numeric(fraction),
            }), errors="coerce")
            offset = _offset_minutes(parts["tz"])
            with_offset = offset.notna() & stamp.notna()
            if with_offset.any():
                utc = stamp[with_offset] - pd.to_timedelta(offset[with_offset], unit="m")
                stamp = stamp.astype("datetime64[us]")
                stamp[with_offset] = utc.dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None)
            out[matched] = stamp.astype("datetime64[us]")
            bad[matched] = stamp.isna()
        unmatched = s.index.difference(matched)
        if len(unmatched):
            rest = s[unmatched]
            is_number = rest.str.fullmatch(r"\d+(?:\.\d+)?")
            numbers[rest[is_number].index] = pd.to_numeric(rest[is_number])
            digits[rest[is_number].index] = rest[is_number].str.split(".").str[0].str.len()
            bad[rest[~is_number].index] = True
    num = here & (kinds == "num")
    if num.any():
        numbers[num] = cells[num].astype("float64")
        digits[num] = cells[num].map(lambda v: len(str(int(abs(v))))).astype("int64")
    for label in numbers[numbers.notna()].index:
        value, width = float(numbers[label]), int(digits[label])
        try:
            if width == 10 and value == int(value):  # Unix epoch seconds (UTC)
                stamp = pd.Timestamp(int(value), unit="s", tz="UTC").tz_convert(tz).tz_localize(None)
            elif width == 13 and value == int(value):  # Unix epoch milliseconds (UTC)
                stamp = pd.Timestamp(int(value), unit="ms", tz="UTC").tz_convert(tz).tz_localize(None)
            elif _EXCEL_SERIAL[0] <= value < _EXCEL_SERIAL[1] and width <= 7:
                from openpyxl.utils.datetime import from_excel

                stamp = pd.Timestamp(from_excel(value, epoch) if epoch is not None else from_excel(value))
            else:
                raise ValueError
            out[label] = stamp
        except (ValueError, OverflowError, TypeError):
            bad[label] = True
    other = here & (kinds == "other")
    bad |= other
    out[bad] = pd.NaT
    return out, bad


def parse_date(cells: pd.Series, tz: ZoneInfo, *, epoch: datetime | None = None,
               here: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """Calendar days (``datetime.date`` objects): any timestamp :func:`parse_timestamp` reads."""
    stamps, bad = parse_timestamp(cells, tz, epoch=epoch, here=here)
    days = pd.Series(stamps.dt.date.to_numpy(dtype=object), index=cells.index, dtype=object)
    return days.where(stamps.notna(), None), bad


def id_text(value: Any) -> str | None:
    """One id cell as text; None when it cannot be an exact id (a rounded Excel number)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value) or value != int(value) or abs(value) >= EXACT_ID_LIMIT:
            return None
        return str(int(value))
    text = str(value).strip()
    if _SCIENTIFIC.fullmatch(text):
        return None
    return text


def parse_text(cells: pd.Series, *, max_length: int | None, identifier: bool, here: pd.Series | None = None) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Text values (stripped; missing → None), the mask of rounded ids, and of too-long values."""
    here = present(cells) if here is None else here
    raw = cells.astype(object)
    if all_text(cells):
        values = cells.str.strip().where(here, None).astype(object)
        rounded = here & values.str.fullmatch(_SCIENTIFIC.pattern).fillna(False).astype(bool) if identifier else \
            pd.Series(False, index=cells.index)
        values[rounded] = None
    elif identifier:
        values = pd.Series([id_text(v) if h else None for v, h in zip(raw, here)], index=cells.index, dtype=object)
        rounded = here & values.isna()
    else:
        values = pd.Series([(str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip()) if h else None
                            for v, h in zip(raw, here)], index=cells.index, dtype=object)
        rounded = pd.Series(False, index=cells.index)
    too_long = pd.Series(False, index=cells.index)
    if max_length is not None:
        too_long = (values.str.len() > max_length).fillna(False).astype(bool) if here.any() else too_long
    return values, rounded, too_long
