"""The weekly brief: sections in order, actions by priority, Slack's limits on a long week."""

from __future__ import annotations

import json
from datetime import date

from opscadence.analytics.weekly.sections import NextAction, WeeklySection
from opscadence.core.periods import Period
from opscadence.reporting.slack.blocks import MAX_BLOCKS, MAX_SECTION_TEXT
from opscadence.reporting.slack.weekly import WeeklyBrief, render_weekly_brief, sorted_actions

WEEK = Period("week", date(2026, 11, 16))


def _section(key: str, actions: tuple[NextAction, ...] = (), lines: int = 2, findings: tuple[str, ...] = ()):
    return WeeklySection(key=key, title=f"{key} title", lines=tuple(f"{key} line {i} " + "x" * 30 for i in range(lines)),
                         actions=actions, findings=findings)


def test_actions_of_all_sections_are_sorted_by_priority_keeping_the_sections_order():
    sections = [
        _section("trends", (NextAction("GMV ¥1,000 below its range", priority=1),)),
        _section("rfm", (NextAction("win back 120 at-risk customers", priority=2),
                         NextAction("thank 40 champions", priority=3))),
        _section("abtest", (NextAction("ship variant B: +2.1 pp conversion", priority=1),)),
    ]
    assert [a.text for a in sorted_actions(sections)] == [
        "GMV ¥1,000 below its range", "ship variant B: +2.1 pp conversion", "win back 120 at-risk customers",
        "thank 40 champions"]
    message = render_weekly_brief(WeeklyBrief(WEEK, "Asia/Shanghai", sections, chart_file="thread"), "en")
    assert "1. [P1] GMV ¥1,000 below its range\n2. [P1] ship variant B" in message.text
    order = [message.text.index(f"{k} title") for k in ("trends", "rfm", "abtest")]
    assert order == sorted(order) and message.text.index("Next week") > order[-1]
    assert "in this message's thread" in message.text.split("rfm title")[0]  # the chart line under the trends


def test_a_long_week_stays_within_slacks_limits_and_says_what_it_cut():
    # 12 sections of 200 lines of ~40 characters: 3 section blocks each (≤ 3000 characters), 60+ blocks in all
    sections = [_section(f"s{i}", (NextAction(f"action {i}", priority=2),), lines=200, findings=("missing data",) * 9)
                for i in range(12)]
    message = render_weekly_brief(WeeklyBrief(WEEK, "Asia/Shanghai", sections), "zh-CN")
    assert len(message.blocks) <= MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= MAX_SECTION_TEXT for b in message.blocks if b["type"] == "section")
    blocks = json.dumps(message.blocks, ensure_ascii=False)
    assert "消息过长，其余部分已省略" in blocks  # the cut is said
    assert "下周行动" in blocks and "…另有 4 项" in blocks  # the actions survive the cut: 12 actions, 8 shown
    assert "…另有 4 项" in message.text  # findings: 9 of a section, 5 shown


def test_a_partial_week_and_data_notes_come_first():
    brief = WeeklyBrief(WEEK, "Asia/Shanghai", [_section("trends")], notes=["⚠️ No data for 2026-11-18"],
                        partial=True)
    message = render_weekly_brief(brief, "en")
    assert message.blocks[0]["text"]["text"] == "Weekly review · 2026-W47"
    notes = message.blocks[2]["elements"][0]["text"]
    assert notes.startswith("⚠️ 2026-W47 has not ended yet (Asia/Shanghai)") and "No data for 2026-11-18" in notes


def test_every_weekly_string_exists_in_both_locales():
    from opscadence.analytics.weekly import wording
    from opscadence.pipelines import weekly
    from opscadence.reporting.slack import weekly as brief

    for catalogue in (wording.STRINGS, wording.WEEKLY_LABELS, brief.STRINGS, weekly.WEEK_NOTES):
        assert set(catalogue) == {"zh-CN", "en"} and set(catalogue["zh-CN"]) == set(catalogue["en"])
