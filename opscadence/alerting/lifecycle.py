"""The alert lifecycle, Grafana-like: pending → firing → resolved, stored in ``alert_states``.

One row per *fingerprint* (rule × metric × dimension × dimension value). An evaluation
(the daily flow, an intraday watch ...) turns every rule × series it checked into an
:class:`Observation` (breached or not) and calls :func:`apply_observations`, which moves
the rows through the state machine in one transaction and returns the
:class:`Transition` s. :func:`notify` then tells Slack about them:

* a breach opens the alert as ``pending``; it fires once it has been pending for more
  than ``pending_periods`` consecutive evaluations (``0``: it fires at once);
* a pending alert that stops breaching goes back to ``resolved`` silently (it never
  fired, nobody was told);
* a firing alert that stops breaching is ``resolved``: one reply in the thread of its
  firing message;
* an alert of the evaluation's ``scope`` that the evaluation covers but did not observe
  counts as not breached (``covered`` decides what an evaluation covers, so the daily run
  does not resolve the watch alerts and vice versa);
* each row remembers the last evaluation period it saw: re-applying a period (a rerun)
  changes nothing, and an evaluation of a period earlier than the scope's latest one (a
  backfill of an old day) changes nothing at all.

Every Slack message goes through :func:`opscadence.delivery.outbox.deliver`, keyed by a ``kind``
made of the fingerprint and the firing time (one kind per firing *episode*, so a re-fire
the same day gets its own message), so a retry or a rerun never posts twice and a Slack
outage ends in the outbox. When the firing message went to the outbox its ts is not known;
it is picked up from the ``briefs`` table once ``opscadence outbox send`` delivered it,
otherwise the replies are posted without a thread.

Silences (``silenced_until`` in the future) record state changes but send nothing; an alert
whose firing was never announced gets no "resolved" reply either. Unacknowledged P1s
escalate once after ``ack_minutes`` and once more when unresolved after
``resolve_minutes`` (:func:`check_escalations`); :func:`send_reminders` re-posts a
still-firing alert once a day.

Timestamps are naive UTC; aware datetimes given by callers are converted.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opscadence.core.config import SlackChannels
from opscadence.core.model import Alert
from opscadence.delivery.outbox import STATUS_SENT, DeliveryOutcome, deliver
from opscadence.delivery.slack import SlackClient
from opscadence.reporting.describe import describe_alert
from opscadence.reporting.i18n import strings as _strings
from opscadence.reporting.slack.alerts import render_escalation, render_firing, render_reminder, render_resolved
from opscadence.warehouse import alert_states, briefs

__all__ = [
    "PENDING",
    "FIRING",
    "RESOLVED",
    "STATES",
    "Observation",
    "Transition",
    "fingerprint",
    "next_state",
    "apply_observations",
    "notify",
    "check_escalations",
    "send_reminders",
    "list_alerts",
    "ack",
    "silence",
]

PENDING, FIRING, RESOLVED = "pending", "firing", "resolved"
STATES = (PENDING, FIRING, RESOLVED)
MIN_PREFIX = 6  # shortest fingerprint prefix accepted by ack/silence

# ---------------------------------------------------------------------------
# Pure logic
# ---------------------------------------------------------------------------


def fingerprint(rule_id: str, metric: str, dimension: str, dimension_value: str) -> str:
    """Stable id of one rule × series: sha1 hex of the joined key, first 16 characters."""
    key = "\x1f".join((str(rule_id), str(metric), str(dimension), str(dimension_value)))
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def _alert_fingerprint(alert: Alert) -> str:
    return fingerprint(alert.rule_id, alert.metric, alert.dimension, alert.dimension_value)


@dataclass(frozen=True)
class Observation:
    """The result of evaluating one rule for one series at one time."""

    alert: Alert  # rule_id, metric, dimension, dimension_value, severity, kind, value, baseline, threshold, condition
    breached: bool
    details: Sequence[str] = ()  # e.g. root-cause lines, put into the firing message

    @property
    def fingerprint(self) -> str:
        return _alert_fingerprint(self.alert)


@dataclass(frozen=True)
class Transition:
    """A change of state; ``before`` is None for an alert seen for the first time."""

    fingerprint: str
    before: str | None
    after: str
    alert: Alert
    details: list[str]


def next_state(before: str | None, pending_count: int, breached: bool, pending_periods: int) -> tuple[str | None, int]:
    """``(state, pending_count)`` after one evaluation; ``(None, 0)`` means "no alert".

    ``pending_count`` is the number of consecutive breaching evaluations of the current
    episode; the alert fires when it exceeds ``pending_periods``.
    """
    if before not in (None, *STATES):
        raise ValueError(f"unknown alert state {before!r}")
    if breached:
        if before in (None, RESOLVED):
            count = 1
        elif before == PENDING:
            count = pending_count + 1
        else:
            return FIRING, pending_count
        return (FIRING if count > pending_periods else PENDING), count
    if before is None:
        return None, 0
    return RESOLVED, 0


def _utc_naive(value: datetime) -> datetime:
    if value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _silenced(row: Any, now: datetime) -> bool:
    return row.silenced_until is not None and row.silenced_until > now


def _alert_from_row(row: Any, *, with_value: bool = True) -> Alert:
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


def _details_from_row(row: Any) -> list[str]:
    if not row.details:
        return []
    try:
        lines = json.loads(row.details)
    except ValueError:
        return []
    return [str(line) for line in lines] if isinstance(lines, list) else []


# ---------------------------------------------------------------------------
# State changes (one transaction)
# ---------------------------------------------------------------------------


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
    """
    if pending_periods < 0:
        raise ValueError("pending_periods must be >= 0")
    if not period:
        raise ValueError("period is required")
    _strings(locale)
    now = _utc_naive(now)
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

    transitions: list[Transition] = []
    with engine.begin() as conn:
        rows = _select_rows(conn, scope, by_fp)
        latest = max((r.last_period for r in rows.values() if r.scope == scope and r.last_period), default=None)
        if latest is not None and period < latest:
            return []  # a backfill or rerun of an older period: the present state stands

        def done(row: sa.Row | None) -> bool:
            return row is not None and row.last_period is not None and row.last_period >= period

        for fp, obs in by_fp.items():
            row = rows.get(fp)
            if done(row):
                continue
            transitions.extend(_apply_one(conn, fp, row, obs, scope, period, now, pending_periods, locale))

        for fp, row in rows.items():
            if fp in by_fp or row.scope != scope or row.state not in (PENDING, FIRING) or done(row):
                continue
            if covered is not None and not covered(row):
                continue
            absent = Observation(alert=_alert_from_row(row, with_value=False), breached=False,
                                 details=_details_from_row(row))
            transitions.extend(_apply_one(conn, fp, row, absent, scope, period, now, pending_periods, locale,
                                          observed=False))
    return transitions


def _apply_one(
    conn: Connection,
    fp: str,
    row: sa.Row | None,
    obs: Observation,
    scope: str,
    period: str,
    now: datetime,
    pending_periods: int,
    locale: str,
    *,
    observed: bool = True,
) -> list[Transition]:
    before = row.state if row is not None else None
    state, count = next_state(before, row.pending_count if row is not None else 0, obs.breached, pending_periods)
    alert = obs.alert
    details = [str(d) for d in obs.details]
    measured = {"last_value": alert.value, "last_baseline": alert.baseline} if observed else {}
    where = alert_states.c.fingerprint == fp

    if state is None:  # never breached, nothing to remember
        return []
    if obs.breached and before in (None, RESOLVED):
        values = {
            **_alert_values(alert, locale),
            **measured,
            "state": state,
            "scope": scope,
            "pending_count": count,
            "first_seen_at": now,
            "fired_at": now if state == FIRING else None,
            "resolved_at": None,
            "last_seen_at": now,
            "last_period": period,
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
            conn.execute(alert_states.insert().values(fingerprint=fp, silenced_until=None, **values))
        else:  # a new episode; a silence still running keeps applying
            conn.execute(alert_states.update().where(where).values(**values))
        return [Transition(fp, before, state, alert, details)]

    if obs.breached:  # pending → pending | firing, firing → firing
        values = {
            **_alert_values(alert, locale),
            **measured,
            "state": state,
            "pending_count": count,
            "last_seen_at": now,
            "last_period": period,
            "details": json.dumps(details, ensure_ascii=False),
        }
        if before == PENDING and state == FIRING:
            values["fired_at"] = now
        conn.execute(alert_states.update().where(where).values(**values))
        return [Transition(fp, before, state, alert, details)] if state != before else []

    # Not breached.
    values = {**measured, "last_period": period, "pending_count": 0}
    if before == RESOLVED:
        conn.execute(alert_states.update().where(where).values(**values))
        return []
    values.update(state=RESOLVED, resolved_at=now)
    conn.execute(alert_states.update().where(where).values(**values))
    return [Transition(fp, before, RESOLVED, alert, details)]


# ---------------------------------------------------------------------------
# Slack
# ---------------------------------------------------------------------------


def _kind(prefix: str, fp: str, fired_at: datetime) -> str:
    """The delivery key of one message of one firing episode (≤ 32 characters)."""
    return f"{prefix}-{fp}-{fired_at:%H%M%S}"[:32]


def _get(conn: Connection, fp: str) -> sa.Row | None:
    return conn.execute(sa.select(alert_states).where(alert_states.c.fingerprint == fp)).first()


def _record(engine: Engine, row: sa.Row, **values: Any) -> None:
    """Update ``row`` unless its episode changed meanwhile (a newer firing)."""
    cond = [alert_states.c.fingerprint == row.fingerprint]
    if row.fired_at is not None:
        cond.append(alert_states.c.fired_at == row.fired_at)
    with engine.begin() as conn:
        conn.execute(alert_states.update().where(*cond).values(**values))


def _thread(engine: Engine, row: sa.Row) -> str | None:
    """The firing message's ts: stored on the row, or found in ``briefs`` once the outbox sent it."""
    if row.thread_ts:
        return row.thread_ts
    if row.channel is None or row.fired_at is None:
        return None
    with engine.connect() as conn:
        sent = conn.execute(
            sa.select(briefs.c.channel_id, briefs.c.message_ts).where(
                briefs.c.kind == _kind("alert", row.fingerprint, row.fired_at),
                briefs.c.ds == row.fired_at.date(),
                briefs.c.channel == row.channel,
                briefs.c.status == STATUS_SENT,
            )
        ).first()
    if sent is None or not sent.message_ts:
        return None
    _record(engine, row, channel_id=sent.channel_id, thread_ts=sent.message_ts)
    return sent.message_ts


def notify(
    engine: Engine,
    client: SlackClient | None,
    transitions: Sequence[Transition],
    *,
    channels: SlackChannels,
    locale: str,
    outbox_dir: Path | str,
    now: datetime,
    oncall_mention: str | None = None,
) -> list[DeliveryOutcome]:
    """Tell Slack about ``transitions``: one message per firing, one thread reply per resolve.

    Pending and silently-resolved (never fired) transitions send nothing, nor does a
    silenced alert. A P1 firing message carries ``oncall_mention`` when given.
    ``client=None`` (no token) writes every message to the outbox.
    """
    _strings(locale)
    now = _utc_naive(now)
    outbox_dir = Path(outbox_dir)
    outcomes: list[DeliveryOutcome] = []
    for t in transitions:
        if t.after == FIRING and t.before != FIRING:
            outcome = _notify_firing(engine, client, t, channels, locale, outbox_dir, now, oncall_mention)
        elif t.after == RESOLVED and t.before == FIRING:
            outcome = _notify_resolved(engine, client, t, locale, outbox_dir, now)
        else:
            continue
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def _notify_firing(engine, client, t, channels, locale, outbox_dir, now, mention) -> DeliveryOutcome | None:
    with engine.connect() as conn:
        row = _get(conn, t.fingerprint)
    if row is None or row.fired_at is None or _silenced(row, now):
        return None
    channel = channels.severity_channel(t.alert.severity)
    message = render_firing(t.alert, t.details, locale, t.fingerprint,
                            mention=mention if t.alert.severity == "P1" else None)
    outcome = deliver(
        engine, client, kind=_kind("alert", t.fingerprint, row.fired_at), ds=row.fired_at.date(),
        channel=channel, message=message, outbox_dir=outbox_dir,
    )
    _record(engine, row, channel=channel, channel_id=outcome.channel_id, thread_ts=outcome.ts)
    return outcome


def _notify_resolved(engine, client, t, locale, outbox_dir, now) -> DeliveryOutcome | None:
    with engine.connect() as conn:
        row = _get(conn, t.fingerprint)
    # No firing message (silenced when it fired) → nothing to resolve in Slack.
    if row is None or row.fired_at is None or row.channel is None or _silenced(row, now):
        return None
    return deliver(
        engine, client, kind=_kind("res", t.fingerprint, row.fired_at), ds=row.fired_at.date(),
        channel=row.channel, message=render_resolved(t.alert, locale), outbox_dir=outbox_dir,
        thread_ts=_thread(engine, row),
    )


def _firing_rows(engine: Engine, *where: sa.ColumnElement[bool]) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(alert_states)
            .where(alert_states.c.state == FIRING, alert_states.c.fired_at.is_not(None), *where)
            .order_by(alert_states.c.fired_at, alert_states.c.fingerprint)
        ).all()


def check_escalations(
    engine: Engine,
    client: SlackClient | None,
    *,
    channels: SlackChannels,
    oncall_mention: str | None,
    now: datetime,
    ack_minutes: int = 30,
    resolve_minutes: int = 120,
    locale: str,
    outbox_dir: Path | str,
) -> list[DeliveryOutcome]:
    """Escalate firing P1s, each step once, in the alert's thread with the on-call mention.

    * not acknowledged ``ack_minutes`` after firing → "P1 unacknowledged for 30 min";
    * not resolved ``resolve_minutes`` after firing (acknowledged or not) → "P1 not
      resolved within 2 h". When both are due at once, only this one is sent.

    Silenced alerts are skipped while the silence lasts.
    """
    _strings(locale)
    if ack_minutes <= 0 or resolve_minutes <= 0:
        raise ValueError("ack_minutes and resolve_minutes must be > 0")
    now = _utc_naive(now)
    outbox_dir = Path(outbox_dir)
    outcomes: list[DeliveryOutcome] = []
    for row in _firing_rows(engine, alert_states.c.severity == "P1"):
        if _silenced(row, now):
            continue
        ack_due = (row.acked_at is None and row.escalated_at is None
                   and now >= row.fired_at + timedelta(minutes=ack_minutes))
        resolve_due = row.resolve_escalated_at is None and now >= row.fired_at + timedelta(minutes=resolve_minutes)
        if not (ack_due or resolve_due):
            continue
        minutes = resolve_minutes if resolve_due else ack_minutes
        message = render_escalation(_alert_from_row(row), locale, row.fingerprint, minutes=minutes,
                                    resolve=resolve_due, mention=oncall_mention)
        outcome = deliver(
            engine, client, kind=_kind("escr" if resolve_due else "esca", row.fingerprint, row.fired_at),
            ds=row.fired_at.date(), channel=row.channel or channels.severity_channel(row.severity),
            message=message, outbox_dir=outbox_dir, thread_ts=_thread(engine, row),
        )
        outcomes.append(outcome)
        values: dict[str, Any] = {}
        if ack_due:
            values["escalated_at"] = now
        if resolve_due:
            values["resolve_escalated_at"] = now
        _record(engine, row, **values)
    return outcomes


def send_reminders(
    engine: Engine,
    client: SlackClient | None,
    *,
    today: date,
    channels: SlackChannels,
    locale: str,
    outbox_dir: Path | str,
    now: datetime | None = None,
    enabled: bool = True,
) -> list[DeliveryOutcome]:
    """One reminder per day (``today``) per alert still firing since an earlier day, in its thread.

    ``enabled`` is ``alerting.daily_reminder``; silenced alerts are skipped.
    """
    if not enabled:
        return []
    _strings(locale)
    now = _utc_naive(now) if now is not None else datetime.now(UTC).replace(tzinfo=None)
    outbox_dir = Path(outbox_dir)
    outcomes: list[DeliveryOutcome] = []
    for row in _firing_rows(engine):
        if _silenced(row, now) or row.fired_at.date() >= today:
            continue
        if row.last_reminder_on is not None and row.last_reminder_on >= today:
            continue
        message = render_reminder(_alert_from_row(row), locale, row.fingerprint, since=row.fired_at)
        outcome = deliver(
            engine, client, kind=f"rem-{row.fingerprint}"[:32], ds=today,
            channel=row.channel or channels.severity_channel(row.severity),
            message=message, outbox_dir=outbox_dir, thread_ts=_thread(engine, row),
        )
        outcomes.append(outcome)
        _record(engine, row, last_reminder_on=today)
    return outcomes


# ---------------------------------------------------------------------------
# Commands: list, ack, silence
# ---------------------------------------------------------------------------

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
    now = _utc_naive(now)
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
        row = _get(conn, row.fingerprint)
    return _as_dict(row)


def silence(engine: Engine, fingerprint: str, *, until: datetime, now: datetime) -> dict[str, Any]:
    """Silence an alert until ``until`` (must be in the future): state is kept, nothing is sent."""
    until, now = _utc_naive(until), _utc_naive(now)
    if until <= now:
        raise ValueError(f"silence end {until.isoformat(sep=' ')} UTC is not in the future")
    with engine.begin() as conn:
        row = _find(conn, fingerprint)
        conn.execute(
            alert_states.update().where(alert_states.c.fingerprint == row.fingerprint).values(silenced_until=until)
        )
        row = _get(conn, row.fingerprint)
    return _as_dict(row)
