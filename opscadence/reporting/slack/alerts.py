"""The alert lifecycle's Slack messages: firing, resolved, escalation, reminder (pure).

Each is one section (the message, ≤ 3000 characters) and, except "resolved", a context
line with the alert's fingerprint, which ``opscadence alerts ack`` takes. Data in them is
escaped (:mod:`opscadence.reporting.describe`, :func:`~opscadence.reporting.i18n.data_text`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from opscadence.core.model import Alert, Message
from opscadence.core.privacy import truncate
from opscadence.reporting.describe import describe_alert, series_name
from opscadence.reporting.i18n import (
    SEVERITY_EMOJI,
    data_text,
    format_datetime,
    format_duration,
    format_value,
    metric_label,
    strings,
)
from opscadence.reporting.playbook import DEFAULT_PLAYBOOK, Playbook
from opscadence.reporting.slack.blocks import MAX_SECTION_TEXT, context, section

__all__ = ["render_firing", "render_resolved", "render_escalation", "render_reminder"]

MAX_DETAIL_LINES = 10
DETAIL_CHARS = 300


def _message(main: str, lines: Sequence[str] = (), footer: str | None = None) -> Message:
    body = truncate("\n".join([main, *lines]), MAX_SECTION_TEXT)
    blocks: list[dict[str, Any]] = [section(body)]
    text = body
    if footer:
        blocks.append(context(footer))
        text = f"{body}\n{footer}"
    return Message(text=text, blocks=blocks)


def render_firing(
    alert: Alert, details: Sequence[str], locale: str, fp: str, *, mention: str | None = None,
    playbook: Playbook = DEFAULT_PLAYBOOK,
) -> Message:
    """"🔴 P1 firing: <description>", the suggested action, the detail lines (escaped)."""
    s = strings(locale)
    main = s["firing"].format(
        emoji=SEVERITY_EMOJI.get(alert.severity, "⚪"),
        severity=data_text(alert.severity, 10),
        summary=describe_alert(alert, locale),
    )
    if mention:
        main = f"{mention} {main}"
    lines = [f"→ {s['suggest']}{playbook.for_alert(alert, locale)}"]
    given = [d for d in details if str(d).strip()]
    lines += [f"• {data_text(d, DETAIL_CHARS)}" for d in given[:MAX_DETAIL_LINES]]
    if len(given) > MAX_DETAIL_LINES:
        lines.append(s["more"].format(n=len(given) - MAX_DETAIL_LINES))
    return _message(main, lines, s["fingerprint"].format(fp=fp))


def render_resolved(alert: Alert, locale: str) -> Message:
    """"✅ resolved: <metric> back to <value>" (no value: "no longer breaching")."""
    s = strings(locale)
    series = series_name(alert, locale)
    if alert.kind == "data_quality":
        return _message(s["dq_resolved"].format(series=series))
    if alert.value is None:
        return _message(s["resolved_no_value"].format(series=series))
    _, unit = metric_label(alert.metric, locale)
    return _message(s["resolved"].format(series=series, value=format_value(alert.value, unit, locale)))


def render_escalation(
    alert: Alert, locale: str, fp: str, *, minutes: int, resolve: bool, mention: str | None
) -> Message:
    """"🚨 P1 unacknowledged for 30 min: …" or, ``resolve``, "🚨 P1 not resolved within 2 h: …"."""
    s = strings(locale)
    summary = describe_alert(alert, locale)
    if resolve:
        main = s["escalate_resolve"].format(duration=format_duration(minutes, locale), summary=summary)
    else:
        main = s["escalate_ack"].format(minutes=minutes, summary=summary)
    main = f"{mention} 🚨 {main}" if mention else f"🚨 {main}"
    return _message(main, footer=s["fingerprint"].format(fp=fp))


def render_reminder(alert: Alert, locale: str, fp: str, *, since: datetime, tz: tzinfo | None = None) -> Message:
    """"⏰ still firing (since 2026-11-24 09:05 UTC+08:00): <description>", ``since`` (naive: UTC)
    shown in the shop's timezone ``tz`` (UTC when not given)."""
    s = strings(locale)
    main = s["reminder"].format(since=format_datetime(since, tz or UTC), summary=describe_alert(alert, locale))
    return _message(main, footer=s["fingerprint"].format(fp=fp))
