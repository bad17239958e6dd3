"""The lifecycle's Slack side: firing and resolved messages, P1 escalations, daily reminders.

Messages are rendered by :mod:`opscadence.reporting.slack.alerts` and delivered through
:func:`opscadence.delivery.outbox.deliver`, keyed per firing episode (see the package docstring).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opscadence.alerting.lifecycle.state import FIRING, RESOLVED, Transition, utc_naive
from opscadence.alerting.lifecycle.store import alert_from_row, firing_rows, get_row, is_silenced, record
from opscadence.core.config import SlackChannels
from opscadence.delivery.outbox import STATUS_SENT, DeliveryOutcome, deliver
from opscadence.delivery.slack import SlackClient
from opscadence.reporting.i18n import strings
from opscadence.reporting.playbook import DEFAULT_PLAYBOOK, Playbook
from opscadence.reporting.slack.alerts import render_escalation, render_firing, render_reminder, render_resolved
from opscadence.warehouse import alert_states, briefs

__all__ = ["notify", "check_escalations", "send_reminders"]


def _kind(prefix: str, fp: str, fired_at: datetime) -> str:
    """The delivery key of one message of one firing episode (≤ 32 characters)."""
    return f"{prefix}-{fp}-{fired_at:%H%M%S}"[:32]


def _period(row: sa.Row) -> str:
    """The shop-timezone period of the alert's latest evaluation (names its outbox files).

    ``fired_at`` is UTC bookkeeping time; its date is only the fallback of rows written before
    periods were recorded.
    """
    return row.last_period or row.fired_at.date().isoformat()


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
    record(engine, row, channel_id=sent.channel_id, thread_ts=sent.message_ts)
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
    playbook: Playbook = DEFAULT_PLAYBOOK,
) -> list[DeliveryOutcome]:
    """Tell Slack about ``transitions``: one message per firing, one thread reply per resolve.

    Pending and silently-resolved (never fired) transitions send nothing, nor does a
    silenced alert. A P1 firing message carries ``oncall_mention`` when given, every
    firing message the suggested action from ``playbook``.
    ``client=None`` (no token) writes every message to the outbox.
    """
    strings(locale)
    now = utc_naive(now)
    outbox_dir = Path(outbox_dir)
    outcomes: list[DeliveryOutcome] = []
    for t in transitions:
        if t.after == FIRING and t.before != FIRING:
            outcome = _notify_firing(engine, client, t, channels, locale, outbox_dir, now, oncall_mention, playbook)
        elif t.after == RESOLVED and t.before == FIRING:
            outcome = _notify_resolved(engine, client, t, locale, outbox_dir, now)
        else:
            continue
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def _notify_firing(engine, client, t, channels, locale, outbox_dir, now, mention, playbook) -> DeliveryOutcome | None:
    with engine.connect() as conn:
        row = get_row(conn, t.fingerprint)
    if row is None or row.fired_at is None or is_silenced(row, now):
        return None
    channel = channels.severity_channel(t.alert.severity)
    message = render_firing(t.alert, t.details, locale, t.fingerprint,
                            mention=mention if t.alert.severity == "P1" else None, playbook=playbook)
    outcome = deliver(
        engine, client, kind=_kind("alert", t.fingerprint, row.fired_at), ds=row.fired_at.date(),
        channel=channel, message=message, outbox_dir=outbox_dir, period=_period(row),
    )
    record(engine, row, channel=channel, channel_id=outcome.channel_id, thread_ts=outcome.ts)
    return outcome


def _notify_resolved(engine, client, t, locale, outbox_dir, now) -> DeliveryOutcome | None:
    with engine.connect() as conn:
        row = get_row(conn, t.fingerprint)
    # No firing message (silenced when it fired) → nothing to resolve in Slack.
    if row is None or row.fired_at is None or row.channel is None or is_silenced(row, now):
        return None
    return deliver(
        engine, client, kind=_kind("res", t.fingerprint, row.fired_at), ds=row.fired_at.date(),
        channel=row.channel, message=render_resolved(t.alert, locale), outbox_dir=outbox_dir,
        thread_ts=_thread(engine, row), period=_period(row),
    )


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
    strings(locale)
    if ack_minutes <= 0 or resolve_minutes <= 0:
        raise ValueError("ack_minutes and resolve_minutes must be > 0")
    now = utc_naive(now)
    outbox_dir = Path(outbox_dir)
    outcomes: list[DeliveryOutcome] = []
    for row in firing_rows(engine, alert_states.c.severity == "P1"):
        if is_silenced(row, now):
            continue
        ack_due = (row.acked_at is None and row.escalated_at is None
                   and now >= row.fired_at + timedelta(minutes=ack_minutes))
        resolve_due = row.resolve_escalated_at is None and now >= row.fired_at + timedelta(minutes=resolve_minutes)
        if not (ack_due or resolve_due):
            continue
        minutes = resolve_minutes if resolve_due else ack_minutes
        message = render_escalation(alert_from_row(row), locale, row.fingerprint, minutes=minutes,
                                    resolve=resolve_due, mention=oncall_mention)
        outcome = deliver(
            engine, client, kind=_kind("escr" if resolve_due else "esca", row.fingerprint, row.fired_at),
            ds=row.fired_at.date(), channel=row.channel or channels.severity_channel(row.severity),
            message=message, outbox_dir=outbox_dir, thread_ts=_thread(engine, row), period=_period(row),
        )
        outcomes.append(outcome)
        values: dict[str, Any] = {}
        if ack_due:
            values["escalated_at"] = now
        if resolve_due:
            values["resolve_escalated_at"] = now
        record(engine, row, **values)
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
    timezone: tzinfo | str | None = None,
) -> list[DeliveryOutcome]:
    """One reminder per day (``today``) per alert still firing since an earlier day, in its thread.

    ``enabled`` is ``alerting.daily_reminder``; silenced alerts are skipped. ``timezone`` (the
    shop's; UTC when not given) shows the time it fires since, and dates the outbox files by
    the shop's day of ``now`` rather than ``today``.
    """
    if not enabled:
        return []
    strings(locale)
    if isinstance(timezone, str):
        timezone = ZoneInfo(timezone)
    now = utc_naive(now) if now is not None else datetime.now(UTC).replace(tzinfo=None)
    period = now.replace(tzinfo=UTC).astimezone(timezone).date() if timezone else today
    outbox_dir = Path(outbox_dir)
    outcomes: list[DeliveryOutcome] = []
    for row in firing_rows(engine):
        if is_silenced(row, now) or row.fired_at.date() >= today:
            continue
        if row.last_reminder_on is not None and row.last_reminder_on >= today:
            continue
        message = render_reminder(alert_from_row(row), locale, row.fingerprint, since=row.fired_at, tz=timezone)
        outcome = deliver(
            engine, client, kind=f"rem-{row.fingerprint}"[:32], ds=today,
            channel=row.channel or channels.severity_channel(row.severity),
            message=message, outbox_dir=outbox_dir, thread_ts=_thread(engine, row), period=period,
        )
        outcomes.append(outcome)
        record(engine, row, last_reminder_on=today)
    return outcomes
