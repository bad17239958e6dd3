"""The commands behind ``opscadence alerts``: list the alerts, acknowledge one, silence one."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opscadence.alerting.lifecycle.state import FIRING, PENDING, RESOLVED, STATES, utc_naive
from opscadence.alerting.lifecycle.store import get_row
from opscadence.warehouse import alert_states

__all__ = ["MIN_PREFIX", "list_alerts", "ack", "silence"]

MIN_PREFIX = 6  # shortest fingerprint prefix accepted by ack/silence
_STATE_ORDER = {FIRING: 0, PENDING: 1, RESOLVED: 2}
_HEX = re.compile(r"^[0-9a-f]+$")


def _since(row: Any) -> datetime | None:
    if row.state == FIRING:
        return row.fired_at
    if row.state == RESOLVED:
        return row.resolved_at
    return row.first_seen_at


def _as_dict(row: Any) -> dict[str, Any]:
    return {
        "fingerprint": row.fingerprint,
        "state": row.state,
        "severity": row.severity,
        "kind": row.kind,
        "scope": row.scope,
        "metric": row.metric,
        "dimension": f"{row.dimension}={row.dimension_value}",
        "since": _since(row),
        "acked": row.acked_at is not None,
        "acked_by": row.acked_by,
        "acked_at": row.acked_at,
        "silenced_until": row.silenced_until,
        "summary": row.summary,
    }


def list_alerts(engine: Engine, *, state: str | None = None) -> list[dict[str, Any]]:
    """The alerts (all, or those in ``state``): firing first, then by severity, newest first."""
    if state is not None and state not in STATES:
        raise ValueError(f"unknown state {state!r}; expected one of {', '.join(STATES)}")
    query = sa.select(alert_states)
    if state is not None:
        query = query.where(alert_states.c.state == state)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    rows.sort(key=lambda r: r.fingerprint)
    rows.sort(key=lambda r: _since(r) or datetime.min, reverse=True)  # stable sorts: newest first ...
    rows.sort(key=lambda r: (_STATE_ORDER.get(r.state, 9), r.severity))  # ... within state × severity
    return [_as_dict(r) for r in rows]


def _find(conn: Connection, fp: str) -> sa.Row:
    key = (fp or "").strip().lower()
    if len(key) < MIN_PREFIX:
        raise ValueError(f"give at least {MIN_PREFIX} characters of the fingerprint, got {fp!r}")
    if not _HEX.match(key):
        raise ValueError(f"no alert with fingerprint {fp!r}")
    rows = conn.execute(
        sa.select(alert_states).where(alert_states.c.fingerprint.startswith(key, autoescape=True))
    ).all()
    exact = [r for r in rows if r.fingerprint == key]
    if exact:
        return exact[0]
    if not rows:
        raise ValueError(f"no alert with fingerprint {fp!r}")
    if len(rows) > 1:
        names = ", ".join(sorted(r.fingerprint for r in rows)[:5])
        raise ValueError(f"fingerprint prefix {fp!r} matches {len(rows)} alerts ({names}); give more characters")
    return rows[0]


def ack(engine: Engine, fingerprint: str, *, by: str, now: datetime) -> dict[str, Any]:
    """Acknowledge an open alert (stops the "unacknowledged" escalation); keeps the first ack."""
    by = (by or "").strip()
    if not by:
        raise ValueError("who acknowledges the alert is required")
    now = utc_naive(now)
    with engine.begin() as conn:
        row = _find(conn, fingerprint)
        if row.state == RESOLVED:
            raise ValueError(f"alert {row.fingerprint} is resolved; nothing to acknowledge")
        if row.acked_at is None:
            conn.execute(
                alert_states.update()
                .where(alert_states.c.fingerprint == row.fingerprint)
                .values(acked_at=now, acked_by=by[:128])
            )
        row = get_row(conn, row.fingerprint)
    return _as_dict(row)


def silence(engine: Engine, fingerprint: str, *, until: datetime, now: datetime) -> dict[str, Any]:
    """Silence an alert until ``until`` (must be in the future): state is kept, nothing is sent."""
    until, now = utc_naive(until), utc_naive(now)
    if until <= now:
        raise ValueError(f"silence end {until.isoformat(sep=' ')} UTC is not in the future")
    with engine.begin() as conn:
        row = _find(conn, fingerprint)
        conn.execute(
            alert_states.update().where(alert_states.c.fingerprint == row.fingerprint).values(silenced_until=until)
        )
        row = get_row(conn, row.fingerprint)
    return _as_dict(row)
