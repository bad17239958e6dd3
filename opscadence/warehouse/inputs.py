"""What a period's marts were built from: a checksum of each raw partition and of the definitions.

A day counts as complete only when its marts exist *and* were built from the raw partitions and
definitions that are there now, so re-landed or corrected data, a formula change or a switch of
vertical recompute what they affect. The checksum is cheap and portable (one grouped query per
raw table, the same on SQLite and PostgreSQL): per table and day, the row count, the sum of every
numeric column, the total length of every text column and the first and last timestamp. A reload
of identical rows keeps the checksum; a changed amount, status, id or timestamp changes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opscadence.warehouse.calendar import as_date
from opscadence.warehouse.schema import RAW_TABLES, mart_inputs
from opscadence.warehouse.writers import replace_window


def _aggregates(table: sa.Table) -> list[sa.ColumnElement[Any]]:
    out: list[sa.ColumnElement[Any]] = [sa.func.count().label("rows")]
    for column in table.columns:
        if column.name == "ds":
            continue
        kind = column.type
        if isinstance(kind, (sa.Numeric, sa.Float, sa.Integer)):
            out.append(sa.func.sum(column).label(f"sum_{column.name}"))
        elif isinstance(kind, sa.DateTime):
            out.append(sa.func.min(column).label(f"min_{column.name}"))
            out.append(sa.func.max(column).label(f"max_{column.name}"))
        else:
            out.append(sa.func.sum(sa.func.length(column)).label(f"len_{column.name}"))
    return out


def _canonical(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (int, str)):
        return value
    if isinstance(value, float) or hasattr(value, "as_integer_ratio"):  # float, Decimal
        return round(float(value), 4)  # sums of NUMERIC(14,2) differ in type, not value, by dialect
    return str(value)[:19]  # timestamps: ISO text to the second on both warehouses


def input_checksums(conn: Connection, start: date, end: date,
                    tables: Iterable[str] | None = None) -> dict[date, dict[str, dict[str, Any]]]:
    """Per day in [start, end), per raw table with rows: its checksum (days without rows are absent)."""
    out: dict[date, dict[str, dict[str, Any]]] = {}
    for key in tables or RAW_TABLES:
        table = RAW_TABLES[key]
        query = (sa.select(table.c.ds, *_aggregates(table))
                 .where(table.c.ds >= start, table.c.ds < end).group_by(table.c.ds))
        for row in conn.execute(query).mappings():
            values = {name: _canonical(v) for name, v in row.items() if name != "ds"}
            out.setdefault(as_date(row["ds"]), {})[key] = values
    return out


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def definitions_version(parts: Iterable[str]) -> str:
    """One digest of the texts that define the numbers (SQL files, the catalogue, the vertical)."""
    return _digest(list(parts))


def record_inputs(conn: Connection, cadence: str, ds: date, checksums: dict[str, dict[str, Any]] | None,
                  definitions: str) -> None:
    """Remember what ``ds``'s marts were built from (None: the marts were withdrawn)."""
    rows = [] if checksums is None else [{
        "ds": ds, "cadence": cadence, "inputs": _digest(checksums), "definitions": definitions,
        "details": json.dumps(checksums, sort_keys=True, default=str),
    }]
    replace_window(conn, mart_inputs, ds, ds + timedelta(days=1), rows, extra_where=[mart_inputs.c.cadence == cadence])


def stale_or_missing(conn: Connection, cadence: str, days: list[date], definitions: str,
                     tables: Iterable[str] | None = None) -> dict[date, str]:
    """For each of ``days``: "missing" (no marts recorded), "changed" (inputs or definitions
    differ from what the marts were built from) or "current"."""
    if not days:
        return {}
    start, end = min(days), max(days) + timedelta(days=1)
    now = input_checksums(conn, start, end, tables)
    stored = {
        as_date(r.ds): r
        for r in conn.execute(sa.select(mart_inputs.c.ds, mart_inputs.c.inputs, mart_inputs.c.definitions).where(
            mart_inputs.c.cadence == cadence, mart_inputs.c.ds >= start, mart_inputs.c.ds < end))
    }
    out = {}
    for ds in days:
        row = stored.get(ds)
        if row is None:
            out[ds] = "missing"
        elif row.inputs != _digest(now.get(ds, {})) or row.definitions != definitions:
            out[ds] = "changed"
        else:
            out[ds] = "current"
    return out


def window_checksums(conn: Connection, start: date, end: date,
                     tables: Iterable[str] | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """The checksums of every day of [start, end) with rows, keyed by ISO day: the inputs of a
    period longer than a day (a week's marts), as :func:`record_inputs` stores them."""
    return {day.isoformat(): sums for day, sums in sorted(input_checksums(conn, start, end, tables).items())}


def stale_or_missing_windows(conn: Connection, cadence: str, windows: list[tuple[date, date]], definitions: str,
                             tables: Iterable[str] | None = None) -> dict[date, str]:
    """:func:`stale_or_missing` for periods of several days: each ``(start, end)`` window's marts
    are recorded under ``start`` with the checksums of :func:`window_checksums`; returns
    "missing", "changed" or "current" per window start."""
    if not windows:
        return {}
    low, high = min(s for s, _ in windows), max(e for _, e in windows)
    by_day = input_checksums(conn, low, high, tables)
    stored = {
        as_date(r.ds): r
        for r in conn.execute(sa.select(mart_inputs.c.ds, mart_inputs.c.inputs, mart_inputs.c.definitions).where(
            mart_inputs.c.cadence == cadence, mart_inputs.c.ds >= low, mart_inputs.c.ds < high))
    }
    out = {}
    for start, end in windows:
        row = stored.get(start)
        now = {day.isoformat(): sums for day, sums in sorted(by_day.items()) if start <= day < end}
        if row is None:
            out[start] = "missing"
        elif row.inputs != _digest(now) or row.definitions != definitions:
            out[start] = "changed"
        else:
            out[start] = "current"
    return out
