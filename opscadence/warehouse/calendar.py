"""The day calendar SQL joins on (``dim_calendar``), so no date arithmetic happens in SQL."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opscadence.warehouse.schema import REPURCHASE_DAYS, dim_calendar


def as_date(value: Any) -> date:
    """A ``ds`` value as read: SQLite returns ISO strings through text() queries, PostgreSQL dates."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def calendar_row(ds: date) -> dict[str, date]:
    return {
        "ds": ds,
        "repurchase_window_start": ds - timedelta(days=REPURCHASE_DAYS),
    }


def ensure_calendar(conn: Connection, start: date, end: date) -> None:
    """Make sure ``dim_calendar`` has the days in [start, end) (concurrent callers are fine)."""
    have = {
        as_date(d)
        for d in conn.execute(
            sa.select(dim_calendar.c.ds).where(dim_calendar.c.ds >= start, dim_calendar.c.ds < end)
        ).scalars()
    }
    rows = [calendar_row(start + timedelta(days=n)) for n in range((end - start).days)]
    rows = [r for r in rows if r["ds"] not in have]
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # another dialect: plain insert of the missing rows
        conn.execute(dim_calendar.insert(), rows)
        return
    conn.execute(insert(dim_calendar).on_conflict_do_nothing(index_elements=["ds"]), rows)
