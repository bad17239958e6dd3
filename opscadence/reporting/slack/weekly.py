"""Render the weekly review as one Slack message (Block Kit, zh-CN or en).

Order: the header and the week's data notes; then one part per
:class:`~opscadence.analytics.weekly.sections.WeeklySection`, in the order the pipeline hands
them over (trends first, with where its chart is, then the diagnosis, retention and every
provider of :data:`~opscadence.analytics.weekly.sections.SECTION_PROVIDERS`), each with its
findings; then "next week": the actions of all sections sorted by priority (1 first; ties keep
the sections' order), each already tied to a number; then the footer.

Section lines arrive localised, escaped and free of personal data (the section contract); this
module bounds their size only. Slack's limits hold as in the daily brief
(:mod:`opscadence.reporting.slack.blocks`): ≤ 50 blocks, section text ≤ 3000 chars, context
element ≤ 2000, header ≤ 150, fallback text ≤ 40,000; long lists say how many they left out.
``render_weekly_brief`` is pure: the same brief gives the same message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from opscadence.analytics.weekly.sections import NextAction, WeeklySection
from opscadence.core.model import Message
from opscadence.core.periods import Period
from opscadence.core.privacy import truncate
from opscadence.reporting.i18n import data_text, strings
from opscadence.reporting.slack.blocks import (
    MAX_BLOCKS,
    MAX_CONTEXT_ELEMENT,
    MAX_FALLBACK_TEXT,
    context,
    header,
    pack_sections,
    safe_link,
    section,
)

MAX_ACTIONS_SHOWN = 8
MAX_FINDINGS_SHOWN = 5  # per section

STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "周报 · {week}",
        "span": "{start} 至 {end} · {tz}",
        "partial": "⚠️ {week} 尚未结束（{tz}）：以下为不完整一周的数字。",
        "chart_thread": "📊 核心指标近12周走势图见本消息的回复。",
        "chart_outbox": "📊 核心指标走势图已保存在 outbox：{file}",
        "next_week": "🗓️ 下周行动（按优先级）",
        "no_actions": "本周没有需要跟进的行动。",
        "action": "{n}. [P{priority}] {text}",
        "more": "…另有 {n} 项",
        "section_failed": "本部分未能生成：{error}",
        "truncated": "…消息过长，其余部分已省略",
        "delivery_health": "⚠️ 还有 {n} 条消息未送达（最早：{period}），见 `opscadence outbox status`。",
        "run_link": "查看运行",
    },
    "en": {
        "title": "Weekly review · {week}",
        "span": "{start} to {end} · {tz}",
        "partial": "⚠️ {week} has not ended yet ({tz}): the numbers below are of a partial week.",
        "chart_thread": "📊 Charts of the core KPIs over the last 12 weeks: in this message's thread.",
        "chart_outbox": "📊 Charts of the core KPIs kept in the outbox: {file}",
        "next_week": "🗓️ Next week (by priority)",
        "no_actions": "Nothing to follow up this week.",
        "action": "{n}. [P{priority}] {text}",
        "more": "…and {n} more",
        "section_failed": "This part could not be built: {error}",
        "truncated": "…message too long, the rest is left out",
        "delivery_health": "⚠️ {n} earlier message(s) not delivered yet (oldest: {period}); see `opscadence outbox status`.",
        "run_link": "View run",
    },
}


@dataclass(frozen=True)
class WeeklyBrief:
    period: Period  # the ISO week
    timezone: str
    sections: list[WeeklySection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # localised, escaped: the week's data notes
    chart_file: str | None = None  # where the chart is: None (none), "thread", or the outbox file's name
    run_url: str | None = None
    partial: bool = False
    undelivered: int = 0
    undelivered_since: str | None = None


def _s(locale: str) -> dict[str, str]:
    strings(locale)  # an unknown locale fails as everywhere else
    return STRINGS[locale]


def sorted_actions(sections: list[WeeklySection]) -> list[NextAction]:
    """Every section's actions, priority 1 first; ties keep the sections' and their own order."""
    ranked = [(a.priority, i, j, a) for i, sec in enumerate(sections) for j, a in enumerate(sec.actions)]
    return [a for *_, a in sorted(ranked, key=lambda r: r[:3])]


def _section_part(sec: WeeklySection, s: dict[str, str], chart: str | None) -> tuple[list[dict[str, Any]], list[str]]:
    blocks = pack_sections(sec.title, list(sec.lines)) if sec.lines else [section(f"*{sec.title}*")]
    lines = [sec.title, *sec.lines]
    findings = [f"⚠️ {f}" for f in sec.findings[:MAX_FINDINGS_SHOWN]]
    if len(sec.findings) > MAX_FINDINGS_SHOWN:
        findings.append(s["more"].format(n=len(sec.findings) - MAX_FINDINGS_SHOWN))
    if chart:
        findings.append(chart)
    if findings:
        blocks.append(context(truncate("\n".join(findings), MAX_CONTEXT_ELEMENT)))
        lines += findings
    return blocks, lines


def _chart_line(brief: WeeklyBrief, s: dict[str, str]) -> str | None:
    if brief.chart_file is None:
        return None
    if brief.chart_file == "thread":
        return s["chart_thread"]
    return s["chart_outbox"].format(file=data_text(brief.chart_file, 200))


def _actions_part(sections: list[WeeklySection], s: dict[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    actions = sorted_actions(sections)
    lines = [s["action"].format(n=n, priority=a.priority, text=a.text)
             for n, a in enumerate(actions[:MAX_ACTIONS_SHOWN], start=1)]
    if len(actions) > MAX_ACTIONS_SHOWN:
        lines.append(s["more"].format(n=len(actions) - MAX_ACTIONS_SHOWN))
    if not lines:
        lines = [s["no_actions"]]
    return pack_sections(s["next_week"], lines), [s["next_week"], *lines]


def _fit(blocks: list[dict[str, Any]], s: dict[str, str], keep_last: int) -> list[dict[str, Any]]:
    """At most MAX_BLOCKS: the first ones, a truncation note, and the last ``keep_last`` (actions, footer)."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    tail = blocks[-keep_last:]
    return [*blocks[: MAX_BLOCKS - 1 - len(tail)], section(s["truncated"]), *tail]


def render_weekly_brief(brief: WeeklyBrief, locale: str = "zh-CN") -> Message:
    """The weekly review as Slack blocks plus a plain-text fallback that reads on its own."""
    s = _s(locale)
    week = brief.period
    tz = re.sub(r"[^A-Za-z0-9_/+\-]", "", brief.timezone)[:64]
    title = s["title"].format(week=week.label(locale))
    span = s["span"].format(start=week.start.isoformat(), end=week.last_day.isoformat(), tz=tz)
    blocks: list[dict[str, Any]] = [header(title), context(span)]
    paragraphs: list[list[str]] = [[title, span]]
    notes = ([s["partial"].format(week=week.label(locale), tz=tz)] if brief.partial else []) + list(brief.notes)
    if notes:
        blocks.append(context(truncate("\n".join(notes), MAX_CONTEXT_ELEMENT)))
        paragraphs.append(notes)
    chart = _chart_line(brief, s)
    for index, sec in enumerate(brief.sections):
        part_blocks, part_lines = _section_part(sec, s, chart if sec.key == "trends" else None)
        blocks += [{"type": "divider"}, *part_blocks]
        paragraphs.append(part_lines)
    if chart and not any(sec.key == "trends" for sec in brief.sections):
        blocks.append(context(chart))
        paragraphs.append([chart])
    action_blocks, action_lines = _actions_part(brief.sections, s)
    blocks += [{"type": "divider"}, *action_blocks]
    paragraphs.append(action_lines)
    tail = 1 + len(action_blocks)
    if brief.undelivered > 0:
        health = s["delivery_health"].format(n=brief.undelivered, period=data_text(brief.undelivered_since or ""))
        blocks.append(context(health))
        paragraphs.append([health])
        tail += 1
    link = safe_link(brief.run_url, s["run_link"])
    blocks.append(context(f"{link} · opscadence" if link else "opscadence"))
    paragraphs.append([f"{s['run_link']}: {link[1:link.rindex('|')]} · opscadence" if link else "opscadence"])
    text = "\n\n".join("\n".join(p) for p in paragraphs)
    return Message(text=truncate(text, MAX_FALLBACK_TEXT), blocks=_fit(blocks, s, tail + 1))


def failed_section(key: str, title: str, error: str, locale: str) -> WeeklySection:
    """The part of a provider that raised: its title and the error as a finding (escaped)."""
    return WeeklySection(key=key, title=title, lines=(),
                         findings=(_s(locale)["section_failed"].format(error=data_text(error, 300)),))
