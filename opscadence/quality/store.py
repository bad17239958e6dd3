"""The warehouse side of validation: the trailing row counts the suites are judged against,
and the stored results (``dq_results``)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opscadence import warehouse
from opscadence.quality.report import ValidationReport
from opscadence.quality.suites import TRAILING_DAYS
from opscadence.warehouse import RAW_TABLES


def _counts_by_day(conn: Connection, start: date, end: date) -> dict[str, dict[date, int]]:
    """Per raw table, the row count of each day in [start, end) that has rows: one grouped query a table."""
    out: dict[str, dict[date, int]] = {}
    for key, table in RAW_TABLES.items():
        query = (
            sa.select(table.c.ds, sa.func.count().label("n"))
            .where(table.c.ds >= sa.bindparam("start", start, type_=sa.Date),
                   table.c.ds < sa.bindparam("end", end, type_=sa.Date))
            .group_by(table.c.ds)
            .order_by(table.c.ds)
        )
        out[key] = {d: int(n) for d, n in conn.execute(query) if n}
    return out


def _counts(engine: Engine | Connection, start: date, end: date) -> dict[str, dict[date, int]]:
    if isinstance(engine, Connection):
        return _counts_by_day(engine, start, end)
    with engine.connect() as conn:
        return _counts_by_day(conn, start, end)


def trailing_row_counts(engine: Engine | Connection, ds: date, days: int = TRAILING_DAYS) -> dict[str, list[int]]:
    """Per raw table, the row counts of the days ``ds-days .. ds-1`` that have rows (oldest first)."""
    return {key: list(by_day.values()) for key, by_day in _counts(engine, ds - timedelta(days=days), ds).items()}


def trailing_row_counts_range(engine: Engine, start: date, end: date,
                              days: int = TRAILING_DAYS) -> dict[date, dict[str, list[int]]]:
    """:func:`trailing_row_counts` for every day in [start, end), from one query per table."""
    by_table = _counts(engine, start - timedelta(days=days), end)
    out = {}
    ds = start
    while ds < end:
        window = [ds - timedelta(days=days - k) for k in range(days)]
        out[ds] = {key: [counts[d] for d in window if counts.get(d)] for key, counts in by_table.items()}
        ds += timedelta(days=1)
    return out


def partition_row_counts(engine: Engine, start: date, end: date) -> dict[date, dict[str, int]]:
    """Per day in [start, end), each raw table's row count (days and tables without rows left out)."""
    out: dict[date, dict[str, int]] = {}
    for key, by_day in _counts(engine, start, end).items():
        for ds, n in by_day.items():
            out.setdefault(ds, {})[key] = n
    return out


def store_report(conn: Connection, report: ValidationReport) -> None:
    """Replace the stored results of ``report.ds`` (run inside the caller's transaction)."""
    rows = [
        {
            "ds": report.ds,
            "table_name": r.table,
            "expectation": r.expectation[:128],
            "column_name": r.column[:64] if r.column else None,
            "severity": r.severity,
            "success": bool(r.success),
            "unexpected_count": r.unexpected_count,
            "sample": json.dumps(r.sample, ensure_ascii=False),
            "detail": r.detail,
        }
        for r in report.results
    ]
    warehouse.replace_window(conn, warehouse.dq_results, report.ds, report.ds + timedelta(days=1), rows)
