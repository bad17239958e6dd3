"""Render a :class:`~opscadence.core.model.DailyBrief` (and a backfill's summary) as a Slack message.

``render_daily_brief`` is pure: the same brief gives the same :class:`Message`. Its
``blocks`` are Slack Block Kit; its ``text`` is the notification fallback, Slack-escaped
like the blocks. The same text, made plain by :func:`~opscadence.reporting.i18n.plain_text`
(the entities decoded), is written as the Markdown outbox file and printed on the
terminal, so it reads on its own (title, KPIs, alerts, funnel, data quality, feedback,
run link) with no Slack-only markup. Every list cut short says how many it left out.

Safety rules enforced here:

* every string that came from data (dimension values, step keys, data-quality
  table/check/column/detail/samples, feedback, unknown metric names) goes through
  :func:`~opscadence.core.privacy.escape_mrkdwn`, in the blocks and in the fallback text;
  free text (feedback, dimension values) is also masked, by the one
  :func:`~opscadence.core.privacy.free_text`; samples (record ids) go through
  :func:`~opscadence.core.privacy.redact_sample`; a data-quality detail shows the value it
  quotes (a bad timestamp, an amount) verbatim, escaped: it is what the operator must fix
  (only e-mail, resident ID and mobile patterns are masked in it, ``mask_pii(structured=True)``);
* when data quality failed, no number built on that day's data is shown: no KPI
  section, no funnel, and threshold alerts are withheld (only counted);
* Slack's documented limits hold: ≤ 50 blocks, section text ≤ 3000 chars, ≤ 10 fields
  of ≤ 2000 chars, header ≤ 150 chars, context element ≤ 2000 chars, fallback text
  ≤ 40,000 chars. Long lists keep the most severe items and end with "…and N more".
"""

from __future__ import annotations

import re
from typing import Any

from opscadence.core.model import Alert, DailyBrief, DataQualityIssue, Funnel, KpiValue, Message, alert_key
from opscadence.core.privacy import free_text, mask_pii, redact_sample, truncate
from opscadence.reporting.describe import describe_alert
from opscadence.reporting.i18n import (
    SEVERITY_EMOJI,
    data_text,
    format_date,
    format_kpi_change,
    format_value,
    metric_label,
    signed_pct,
    signed_points,
    step_label,
    strings,
)
from opscadence.reporting.playbook import DEFAULT_PLAYBOOK, Playbook
from opscadence.reporting.slack.blocks import (
    MAX_LINE,
    MAX_BLOCKS,
    MAX_CONTEXT_ELEMENT,
    MAX_FALLBACK_TEXT,
    MAX_FIELD_TEXT,
    MAX_FIELDS,
    context,
    header,
    pack_sections,
    safe_link,
    section,
)

__all__ = [
    "MAX_ALERTS_SHOWN",
    "MAX_BLOCKS",
    "MAX_DQ_ISSUES_SHOWN",
    "render_daily_brief",
    "render_backfill_summary",
]

# Our own caps, so a bad day stays readable.
MAX_ALERTS_SHOWN = 10
MAX_DQ_ISSUES_SHOWN = 10
MAX_SAMPLES = 3
MAX_FEEDBACK_SHOWN = 3
FEEDBACK_EXCERPT_CHARS = 200
DQ_DETAIL_CHARS = 200
MAX_DETAILS_SHOWN = 2  # root-cause lines under an alert in the brief

_SEVERITY_RANK = {"P1": 0, "P2": 1, "P3": 2}

Part = tuple[list[dict[str, Any]], list[str]]  # (blocks, fallback lines)


def _step_label(step: str, locale: str) -> str:
    label = step_label(step, locale)
    return label if label is not None else data_text(step)


def _safe_tz(tz: str) -> str:
    return re.sub(r"[^A-Za-z0-9_/+\-]", "", tz)[:64]


# ---------------------------------------------------------------------------
# Parts: each returns (blocks, fallback lines)
# ---------------------------------------------------------------------------


def _more(n: int, s: dict[str, str]) -> str:
    return s["more"].format(n=n)


def _kpi_part(kpis: list[KpiValue], locale: str, s: dict[str, str]) -> Part:
    fields: list[dict[str, Any]] = []
    lines: list[str] = []
    for k in kpis:
        label, unit = metric_label(k.metric, locale)
        value = format_value(k.value, unit, locale)
        # A rate in percentage points, a count or an amount in relative percent.
        dod = format_kpi_change(k.metric, k.value, k.previous_day, locale)
        wow = format_kpi_change(k.metric, k.value, k.same_weekday_last_week, locale)
        field_text = f"*{label}*\n{value}\n{s['dod']} {dod} · {s['wow']} {wow}"
        fields.append({"type": "mrkdwn", "text": truncate(field_text, MAX_FIELD_TEXT)})
        lines.append("• " + s["kpi_line"].format(label=label, value=value, dod=s["dod"], dod_v=dod,
                                                 wow=s["wow"], wow_v=wow))
    blocks: list[dict[str, Any]] = []
    for i in range(0, len(fields), MAX_FIELDS):
        block: dict[str, Any] = {"type": "section", "fields": fields[i : i + MAX_FIELDS]}
        if i == 0:
            block["text"] = {"type": "mrkdwn", "text": f"*{s['kpis']}*"}
        blocks.append(block)
    return blocks, [s["kpis"], *lines]


def _unavailable_part(unavailable: dict[str, tuple[str, ...]], locale: str, s: dict[str, str]) -> Part:
    """One line per set of missing raw tables, naming the KPIs (and the funnel) it costs."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for metric, tables in unavailable.items():
        groups.setdefault(tables, []).append(metric_label(metric, locale)[0])
    separator = "、" if locale == "zh-CN" else ", "
    lines = []
    for tables, labels in groups.items():
        if "events" in tables:
            labels = [*labels, s["funnel_name"]]
        lines.append(s["unavailable"].format(metrics=separator.join(labels), tables=separator.join(tables)))
    blocks = [{"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(line, MAX_LINE)}]} for line in lines]
    return blocks, lines


def _alert_lines(alert: Alert, locale: str, s: dict[str, str], playbook: Playbook, *, markup: bool,
                 details: list[str] | None = None) -> str:
    emoji = SEVERITY_EMOJI.get(alert.severity, "⚪")
    sev = data_text(alert.severity, 10)
    sev = f"*{sev}*" if markup else sev
    text = f"{emoji} {sev} {describe_alert(alert, locale)}\n    → {s['suggest']}{playbook.for_alert(alert, locale)}"
    # Root-cause lines arrive escaped (opscadence.alerting.rootcause); only their length is bounded here.
    for line in (details or [])[:MAX_DETAILS_SHOWN]:
        text += f"\n    · {truncate(line, 300)}"
    if len(details or []) > MAX_DETAILS_SHOWN:
        text += f"\n    · {_more(len(details or []) - MAX_DETAILS_SHOWN, s)}"
    return text


def _alerts_part(alerts: list[Alert], dq_passed: bool, locale: str, s: dict[str, str], playbook: Playbook,
                 details: dict[str, list[str]] | None = None) -> Part:
    withheld = 0
    if not dq_passed:
        withheld = sum(1 for a in alerts if a.kind != "data_quality")
        alerts = [a for a in alerts if a.kind == "data_quality"]
    if not alerts and not withheld:
        if not dq_passed:
            return [], []  # nothing could be evaluated; the data-quality section says so
        return [section(s["no_alerts"])], [s["no_alerts"]]
    ordered = sorted(alerts, key=lambda a: (_SEVERITY_RANK.get(a.severity, 9), a.kind != "data_quality"))
    shown, hidden = ordered[:MAX_ALERTS_SHOWN], len(ordered) - MAX_ALERTS_SHOWN
    title = s["alerts"].format(n=len(alerts))
    details = details or {}

    def lines(markup: bool) -> list[str]:
        return [_alert_lines(a, locale, s, playbook, markup=markup, details=details.get(alert_key(a)))
                for a in shown]

    extra = []
    if hidden > 0:
        extra.append(_more(hidden, s))
    if withheld:
        extra.append(s["withheld_alerts"].format(n=withheld))
    return pack_sections(title, lines(True) + extra), [title, *lines(False), *extra]


def _issue_line(issue: DataQualityIssue, s: dict[str, str]) -> str:
    if issue.message is not None:  # a finding worded by the catalogue (e.g. no rows for the day)
        key, args = issue.message
        text = s[key].format(**{k: data_text(v, 300) for k, v in args.items()})
        return ("❌ " if issue.severity == "critical" else "⚠️ ") + text
    parts = [data_text(issue.table), data_text(issue.expectation)]
    if issue.column:
        parts.append(s["dq_column"].format(column=data_text(issue.column)))
    if issue.unexpected_count is not None:
        parts.append(s["dq_count"].format(count=f"{issue.unexpected_count:,}"))
    samples = [data_text(redact_sample(str(x)), 60) for x in issue.sample[:MAX_SAMPLES]]
    samples = [x for x in samples if x]
    if samples:
        text = ", ".join(samples)
        if len(issue.sample) > MAX_SAMPLES:
            text += " " + _more(len(issue.sample) - MAX_SAMPLES, s)
        parts.append(s["dq_samples"].format(samples=text))
    line = ("❌ " if issue.severity == "critical" else "⚠️ ") + " · ".join(p for p in parts if p)
    if issue.detail:
        # The value to fix, verbatim (escaped): the free-text mask would hide a bad timestamp such as
        # 2026-12-32 10:00:00 as a phone number. A misaligned CSV row can still put someone's
        # e-mail or mobile number into a typed column, so those unambiguous patterns stay masked.
        line += " — " + data_text(mask_pii(issue.detail[:2000], structured=True), DQ_DETAIL_CHARS)
    return line


def _dq_failed_part(brief: DailyBrief, s: dict[str, str]) -> Part:
    title = s["dq_failed"].format(ds=format_date(brief.ds))
    issues = sorted(brief.dq_issues, key=lambda i: i.severity != "critical")
    lines = [_issue_line(i, s) for i in issues[:MAX_DQ_ISSUES_SHOWN]] or [s["dq_no_details"]]
    if len(issues) > MAX_DQ_ISSUES_SHOWN:
        lines.append(_more(len(issues) - MAX_DQ_ISSUES_SHOWN, s))
    lines.append(s["dq_failed_hint"])
    return pack_sections(title, lines), [title, *lines]


def _dq_warning_part(issues: list[DataQualityIssue], s: dict[str, str]) -> Part:
    names = "; ".join(f"{data_text(i.table)} · {data_text(i.expectation)}" for i in issues[:3])
    if len(issues) > 3:
        names += " " + _more(len(issues) - 3, s)
    text = truncate(s["dq_warnings"].format(n=len(issues), names=names), MAX_CONTEXT_ELEMENT)
    return [context(text)], [text]


def _weakest_line(funnel: Funnel, locale: str, s: dict[str, str]) -> str:
    keys = [st.step for st in funnel.steps]
    name = _step_label(funnel.weakest_step, locale)
    if funnel.weakest_step in keys and keys.index(funnel.weakest_step) > 0:
        prev = keys[keys.index(funnel.weakest_step) - 1]
        name = f"{_step_label(prev, locale)}{s['step_arrow']}{name}"
    line = s["weakest"].format(step=name)
    if funnel.weakest_change is not None:
        key = {"last_week": "weakest_change_last_week", "previous_day": "weakest_change_previous_day"}.get(
            funnel.weakest_baseline or "", "weakest_change")
        # A conversion is a rate: its change in percentage points when the baseline is known.
        step = next((st for st in funnel.steps if st.step == funnel.weakest_step), None)
        baseline = None if step is None else {"last_week": step.conversion_last_week,
                                              "previous_day": step.conversion_previous_day}.get(
            funnel.weakest_baseline or "")
        if step is not None and step.conversion is not None and baseline is not None:
            change = signed_points(step.conversion - baseline, locale)
        else:
            change = signed_pct(funnel.weakest_change)
        line += s[key].format(change=change)
    return line


def _funnel_part(funnel: Funnel, locale: str, s: dict[str, str]) -> Part:
    lines = []
    for i, step in enumerate(funnel.steps):
        label, users = _step_label(step.step, locale), format_value(step.users, "count", locale)
        if i == 0 or step.conversion is None:
            lines.append(f"{label} {users}")
        else:
            lines.append(s["funnel_step"].format(label=label, users=users,
                                                 conv=format_value(step.conversion, "ratio", locale)))
    if funnel.weakest_step:
        lines.append(_weakest_line(funnel, locale, s))
    return pack_sections(s["funnel"], lines), [s["funnel"], *lines]


def _feedback_excerpt(text: str) -> str:
    return "> " + free_text(text, FEEDBACK_EXCERPT_CHARS)


def _feedback_part(brief: DailyBrief, s: dict[str, str]) -> Part:
    title = s["feedback"].format(n=f"{brief.urgent_feedback_count:,}")
    lines = [_feedback_excerpt(t) for t in brief.urgent_feedback[:MAX_FEEDBACK_SHOWN] if str(t).strip()]
    if lines and brief.urgent_feedback_count > len(lines):  # the count is of all, the excerpts a few
        lines.append(_more(brief.urgent_feedback_count - len(lines), s))
    return pack_sections(title, lines), [title, *lines]


def _footer(brief: DailyBrief, s: dict[str, str]) -> tuple[dict[str, Any], str]:
    link = safe_link(brief.run_url, s["run_link"])
    block_text = f"{link} · opscadence" if link else "opscadence"
    text = "opscadence"
    if link:
        url = link[1 : link.rindex("|")]
        text = f"{s['run_link']}: {url} · opscadence"
    return context(block_text), text


def _fit_blocks(blocks: list[dict[str, Any]], s: dict[str, str]) -> list[dict[str, Any]]:
    """Keep at most MAX_BLOCKS: the first ones, a truncation note, and the footer."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    return [*blocks[: MAX_BLOCKS - 2], section(s["truncated"]), blocks[-1]]


def _parts(brief: DailyBrief, locale: str, s: dict[str, str], playbook: Playbook) -> list[tuple[Part, bool]]:
    """The brief's parts in order, each with whether a divider goes before it."""
    parts: list[tuple[Part, bool]] = []
    if brief.partial:
        note = s["partial_period"].format(period=format_date(brief.ds), tz=_safe_tz(brief.timezone))
        parts.append((([context(note)], [note]), False))
    if not brief.dq_passed:
        parts.append((_dq_failed_part(brief, s), True))
    else:
        if brief.kpis:
            parts.append((_kpi_part(brief.kpis, locale, s), True))
        if brief.unavailable:
            parts.append((_unavailable_part(brief.unavailable, locale, s), not brief.kpis))
        if brief.dq_issues:
            parts.append((_dq_warning_part(brief.dq_issues, s), False))
    parts.append((_alerts_part(brief.alerts, brief.dq_passed, locale, s, playbook, brief.alert_details), True))
    if brief.dq_passed and brief.funnel is not None and brief.funnel.steps:
        parts.append((_funnel_part(brief.funnel, locale, s), True))
    if brief.urgent_feedback_count > 0:
        parts.append((_feedback_part(brief, s), True))
    return parts


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


def render_daily_brief(brief: DailyBrief, locale: str = "zh-CN", playbook: Playbook = DEFAULT_PLAYBOOK) -> Message:
    """Render ``brief`` as Slack blocks plus a self-contained plain-text/Markdown fallback.

    ``playbook`` gives each alert's suggested action. Raises ``ValueError`` for a locale
    other than ``zh-CN`` or ``en``.
    """
    s = strings(locale)
    title = s["title"].format(ds=format_date(brief.ds), tz=_safe_tz(brief.timezone))
    blocks: list[dict[str, Any]] = [header(title)]
    paragraphs: list[list[str]] = [[title]]
    for (part_blocks, part_lines), divider in _parts(brief, locale, s, playbook):
        if not part_blocks:
            continue
        if divider and len(blocks) > 1:
            blocks.append({"type": "divider"})
        blocks.extend(part_blocks)
        paragraphs.append(part_lines)

    if brief.undelivered > 0:
        health = s["delivery_health"].format(n=brief.undelivered, period=data_text(brief.undelivered_since or ""))
        blocks.append(context(health))
        paragraphs.append([health])
    footer_block, footer_text = _footer(brief, s)
    blocks.append(footer_block)
    paragraphs.append([footer_text])

    text = "\n\n".join("\n".join(p) for p in paragraphs)
    return Message(text=truncate(text, MAX_FALLBACK_TEXT), blocks=_fit_blocks(blocks, s))


def render_backfill_summary(summary: Any, locale: str = "zh-CN") -> Message:
    """One message for a whole backfill: done, skipped, failed (with why, escaped)."""
    s = strings(locale)
    title = s["backfill_title"].format(cadence=data_text(summary.cadence), start=format_date(summary.start),
                                       end=format_date(summary.end))
    counts = s["backfill_counts"].format(done=len(summary.done), skipped=len(summary.skipped),
                                         failed=len(summary.failed))
    lines = [counts]
    if summary.recomputed:
        lines.append(s["backfill_recomputed"].format(n=len(summary.recomputed)))
    failed = sorted(summary.failed.items())
    if failed:
        lines.append(s["backfill_failed"])
        lines += [f"• {period}: {data_text(why, 300)}" for period, why in failed[:MAX_ALERTS_SHOWN]]
        if len(failed) > MAX_ALERTS_SHOWN:
            lines.append(_more(len(failed) - MAX_ALERTS_SHOWN, s))
    blocks: list[dict[str, Any]] = [header(title), *pack_sections(counts, lines[1:])]
    return Message(text=truncate("\n".join([title, *lines]), MAX_FALLBACK_TEXT), blocks=_fit_blocks(blocks, s))
