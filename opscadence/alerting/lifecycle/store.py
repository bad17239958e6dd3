"""The lifecycle's rows in ``alert_states``: reading them, and moving them with :func:`apply_observations`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opscadence.alerting.lifecycle.state import (
    FIRING,
    PENDING,
    RESOLVED,
    Observation,
    Transition,
    next_state,
    utc_naive,
)
from opscadence.core.model import Alert
from opscadence.reporting.describe import describe_alert
from opscadence.reporting.i18n import strings
from opscadence.warehouse import alert_states

__all__ = ["apply_observations", "get_row", "record", "firing_rows", "alert_from_row", "details_from_row",
           "is_silenced"]


# ---------------------------------------------------------------------------
# Reading and updating rows
# ---------------------------------------------------------------------------


def is_silenced(row: Any, now: datetime) -> bool:
    return row.silenced_until is not None and row.silenced_until > now


def alert_from_row(row: Any, *, with_value: bool = True) -> Alert:
    return Alert(
        rule_id=row.rule_id,
        metric=row.metric,
        dimension=row.dimension,
        dimension_value=row.dimension_value,
        condition=row.condition or "",
        threshold=row.threshold if row.threshold is not None else 0.0,
        value=row.last_value if with_value else None,
        baseline=row.last_baseline if with_value else None,
        severity=row.severity,
        kind=row.kind,
    )


def details_from_row(row: Any) -> list[str]:
    if not row.details:
        return []
    try:
        lines = json.loads(row.details)
    except ValueError:
        return []
    return [str(line) for line in lines] if isinstance(lines, list) else []


def get_row(conn: Connection, fp: str) -> sa.Row | None:
    return conn.execute(sa.select(alert_states).where(alert_states.c.fingerprint == fp)).first()


def record(engine: Engine, row: sa.Row, **values: Any) -> None:
    """Update ``row`` unless its episode changed meanwhile (a newer firing)."""
    cond = [alert_states.c.fingerprint == row.fingerprint]
    if row.fired_at is not None:
        cond.append(alert_states.c.fired_at == row.fired_at)
    with engine.begin() as conn:
        conn.execute(alert_states.update().where(*cond).values(**values))


def firing_rows(engine: Engine, *where: sa.ColumnElement[bool]) -> list[sa.Row]:
    """The firing alerts (matching ``where``), oldest firing first."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(alert_states)
            .where(alert_states.c.state == FIRING, alert_states.c.fired_at.is_not(None), *where)
            .order_by(alert_states.c.fired_at, alert_states.c.fingerprint)
        ).all()


# ---------------------------------------------------------------------------
# State changes (one transaction)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Evaluation:
    """One evaluation's settings, shared by every row it moves."""

    conn: Connection
    scope: str
    period: str
    now: datetime
    pending_periods: int
    locale: str
    latest_complete: str | None = None

    def counts(self, last_period: str | None) -> bool:
        """Whether a row's last period is on the scope's clock: a period after the latest
        complete one (stored by a run of a day not yet over) does not count."""
        return last_period is not None and (self.latest_complete is None or last_period <= self.latest_complete)

    def done(self, row: sa.Row | None) -> bool:
        """The row was already evaluated for this period or a later (complete) one."""
        return row is not None and self.counts(row.last_period) and row.last_period >= self.period


def _select_rows(conn: Connection, scope: str, fingerprints: Iterable[str]) -> dict[str, sa.Row]:
    rows: dict[str, sa.Row] = {}
    for row in conn.execute(sa.select(alert_states).where(alert_states.c.scope == scope).with_for_update()):
        rows[row.fingerprint] = row
    wanted = [fp for fp in fingerprints if fp not in rows]
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        query = sa.select(alert_states).where(alert_states.c.fingerprint.in_(chunk)).with_for_update()
        for row in conn.execute(query):
            rows[row.fingerprint] = row
    return rows


def _by_fingerprint(observations: Sequence[Observation]) -> dict[str, Observation]:
    by_fp: dict[str, Observation] = {}
    for obs in observations:
        fp = obs.fingerprint
        if fp in by_fp:
            a = obs.alert
            raise ValueError(
                f"two observations of the same alert {fp} "
                f"({a.rule_id} / {a.metric} / {a.dimension}={a.dimension_value}) in one evaluation"
            )
        by_fp[fp] = obs
    return by_fp


def apply_observations(
    engine: Engine,
    observations: Sequence[Observation],
    *,
    scope: str,
    period: str,
    now: datetime,
    pending_periods: int = 0,
    covered: Callable[[sa.Row], bool] | None = None,
    locale: str = "zh-CN",
    latest_complete: str | None = None,
) -> list[Transition]:
    """Move the alerts through pending → firing → resolved for one evaluation; return the changes.

    ``scope`` names the evaluation family that owns the alerts it opens ("daily",
    "watch" ...); ``period`` is the evaluation's period key ("2026-11-24",
    "2026-11-24T14:15"), compared as a string, so one scope must use one format.
    ``covered(row)`` says whether an open alert of the scope that was not observed was
    checked by this evaluation (then it counts as not breached); default: all of them.
    ``locale`` is the language of the stored one-line ``summary``.

    A row already evaluated for ``period`` (or a later one) is left alone, and an
    evaluation of a period earlier than the latest one stored for the scope changes
    nothing: both return no transitions. Firing → firing and pending → pending are not
    transitions.

    ``latest_complete`` (the key of the latest period that has ended) keeps the scope's clock
    on complete periods: an evaluation of a later period (today's partial day, a future
    date) changes nothing, and a row last evaluated for such a period does not count as the
    scope's latest period nor as evaluated.
    """
    if pending_periods < 0:
        raise ValueError("pending_periods must be >= 0")
    if not period:
        raise ValueError("period is required")
    strings(locale)
    by_fp = _by_fingerprint(observations)
    if latest_complete is not None and period > latest_complete:
        return []  # a period not over yet: its numbers can neither open nor resolve an alert
    transitions: list[Transition] = []
    with engine.begin() as conn:
        rows = _select_rows(conn, scope, by_fp)
        ev = _Evaluation(conn, scope, period, utc_naive(now), pending_periods, locale, latest_complete)
        latest = max((r.last_period for r in rows.values() if r.scope == scope and ev.counts(r.last_period)),
                     default=None)
        if latest is not None and period < latest:
            return []  # a backfill or rerun of an older period: the present state stands
        for fp, obs in by_fp.items():
            row = rows.get(fp)
            if not ev.done(row):
                transitions.extend(_apply_one(ev, fp, row, obs))
        for fp, row in rows.items():
            if fp in by_fp or row.scope != scope or row.state not in (PENDING, FIRING) or ev.done(row):
                continue
            if covered is not None and not covered(row):
                continue
            absent = Observation(alert=alert_from_row(row, with_value=False), breached=False,
                                 details=details_from_row(row))
            transitions.extend(_apply_one(ev, fp, row, absent, observed=False))
    return transitions


def _alert_values(alert: Alert, locale: str) -> dict[str, Any]:
    return {
        "rule_id": alert.rule_id,
        "metric": alert.metric,
        "dimension": alert.dimension,
        "dimension_value": alert.dimension_value,
        "kind": alert.kind,
        "severity": alert.severity,
        "condition": alert.condition,
        "threshold": alert.threshold,
        "summary": describe_alert(alert, locale),
    }


def _apply_one(ev: _Evaluation, fp: str, row: sa.Row | None, obs: Observation, *,
               observed: bool = True) -> list[Transition]:
    """Move one row by one observation (``observed=False``: absent from the evaluation, keep its numbers)."""
    before = row.state if row is not None else None
    state, count = next_state(before, row.pending_count if row is not None else 0, obs.breached, ev.pending_periods)
    if state is None:  # never breached, nothing to remember
        return []
    alert = obs.alert
    details = [str(d) for d in obs.details]
    measured = {"last_value": alert.value, "last_baseline": alert.baseline} if observed else {}
    where = alert_states.c.fingerprint == fp
    if obs.breached and before in (None, RESOLVED):
        _open_episode(ev, fp, row, alert, details, measured, state, count)
        return [Transition(fp, before, state, alert, details)]
    if obs.breached:  # pending → pending | firing, firing → firing
        values = {
            **_alert_values(alert, ev.locale),
            **measured,
            "state": state,
            "pending_count": count,
            "last_seen_at": ev.now,
            "last_period": ev.period,
            "details": json.dumps(details, ensure_ascii=False),
        }
        if before == PENDING and state == FIRING:
            values["fired_at"] = ev.now
        ev.conn.execute(alert_states.update().where(where).values(**values))
        return [Transition(fp, before, state, alert, details)] if state != before else []
    # Not breached.
    values = {**measured, "last_period": ev.period, "pending_count": 0}
    if before == RESOLVED:
        ev.conn.execute(alert_states.update().where(where).values(**values))
        return []
    values.update(state=RESOLVED, resolved_at=ev.now)
    ev.conn.execute(alert_states.update().where(where).values(**values))
    return [Transition(fp, before, RESOLVED, alert, details)]


def _open_episode(ev: _Evaluation, fp: str, row: sa.Row | None, alert: Alert, details: list[str],
                  measured: dict[str, Any], state: str, count: int) -> None:
    """A first breach (new row) or a breach after a resolve (a new episode): every episode field reset."""
    values = {
        **_alert_values(alert, ev.locale),
        **measured,
        "state": state,
        "scope": ev.scope,
        "pending_count": count,
        "first_seen_at": ev.now,
        "fired_at": ev.now if state == FIRING else None,
        "resolved_at": None,
        "last_seen_at": ev.now,
        "last_period": ev.period,
        "details": json.dumps(details, ensure_ascii=False),
        "acked_at": None,
        "acked_by": None,
        "channel": None,
        "channel_id": None,
        "thread_ts": None,
        "escalated_at": None,
        "resolve_escalated_at": None,
        "last_reminder_on": None,
    }
    if row is None:
        ev.conn.execute(alert_states.insert().values(fingerprint=fp, silenced_until=None, **values))
    else:  # a new episode; a silence still running keeps applying
        ev.conn.execute(alert_states.update().where(alert_states.c.fingerprint == fp).values(**values))
