"""The weekly flow end to end: demo shop → daily marts of two weeks → weekly marts, sections,
brief → Slack (a real local HTTP server), the chart through files_upload_v2 into its thread."""

from __future__ import annotations

import json
import re
from datetime import date

import sqlalchemy as sa

from flows.weekly import weekly_review
from opscadence import warehouse
from opscadence.warehouse.schema import mart_weekly_kpis

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FILE_METHODS = ("files.getUploadURLExternal", "upload", "files.completeUploadExternal")


def test_the_brief_is_posted_once_with_its_chart_in_its_thread_and_a_rerun_sends_nothing(shop_env, slack_server):
    shop, home, engine = shop_env  # the demo's 21 days end Tuesday 24 November: W46 and W47 are whole weeks

    result = weekly_review(as_of=date(2026, 11, 18))

    assert result["period"] == "2026-W47" and result["complete"] and result["section_errors"] == {}
    posts = [c for c in slack_server.calls("chat.postMessage") if c.status == 200]
    assert len(posts) == 1
    blocks = json.dumps(posts[0].body["blocks"], ensure_ascii=False)
    for part in ("Weekly review · 2026-W47", "WoW", "YoY no data (2025-W47)", "What moved", "New-user retention",
                 "Next week", "in this message's thread"):
        assert part in blocks, part
    # The sections of the other weekly analyses, on the demo's data: the channel ROI names its best
    # and worst channel, the planted experiments get their verdicts (recall SMS copy: ship B; the
    # checkout button's 45/55 split: SRM, no verdict), the RFM moves and the pain points.
    assert re.search(r"Best ROI: \w+ \(\+[\d,]+%\); worst: \w+ \(", blocks)
    assert re.search(r"recall_sms_copy\*.*ship B", blocks) and "sample ratio mismatch" in blocks
    for part in ("RFM customer segments", "Callback list", "Customer pain points", "unhappy customer"):
        assert part in blocks, part
    # files_upload_v2: an upload URL, the PNG's bytes to it, then the share into the brief's thread
    assert [len([c for c in slack_server.calls(m) if c.status == 200]) for m in FILE_METHODS] == [1, 1, 1]
    complete = slack_server.calls("files.completeUploadExternal")[0].body
    assert complete["thread_ts"] == posts[0].response["ts"]
    assert complete["channel_id"] == posts[0].response["channel"]
    (shared,) = slack_server.files.values()
    assert shared["data"][:8] == PNG_SIGNATURE and shared["length"] == len(shared["data"])
    assert shared["shares"] == [(posts[0].response["channel"], posts[0].response["ts"])]
    with engine.connect() as conn:
        weeks = set(conn.execute(sa.select(mart_weekly_kpis.c.week).distinct()).scalars())
        stored = {r.kind: r.status for r in conn.execute(sa.select(warehouse.briefs))}
    assert {"2026-W46", "2026-W47"} <= weeks  # the week and the one it is compared with
    assert stored == {"weekly-brief": "sent", "weekly-chart": "sent"}
    calls_before = len(slack_server.requests)

    rerun = weekly_review(as_of=date(2026, 11, 18))

    assert {d["status"] for d in rerun["deliveries"]} == {"unchanged"}
    new_calls = slack_server.requests[calls_before:]
    assert [c.method for c in new_calls if c.method in ("chat.postMessage", "chat.update", *FILE_METHODS)] == []
    assert rerun["text"].split("View run")[0] == result["text"].split("View run")[0]


def test_a_weekly_backfill_builds_each_week_once_and_a_rerun_skips_them(shop_env, slack_server):
    from flows.backfill import backfill

    shop, home, engine = shop_env  # the demo's days end Tuesday 24 November: W46 and W47 are whole

    result = backfill(cadence="weekly", start=date(2026, 11, 9), end=date(2026, 11, 22), notify=False)

    assert result["done"] == ["2026-W46", "2026-W47"] and result["failed"] == {} and result["skipped"] == []
    with engine.connect() as conn:
        weeks = set(conn.execute(sa.select(mart_weekly_kpis.c.week).distinct()).scalars())
    assert weeks == {"2026-W46", "2026-W47"}
    assert slack_server.calls("chat.postMessage") == []  # a backfill sends no weekly brief

    again = backfill(cadence="weekly", start=date(2026, 11, 9), end=date(2026, 11, 22), notify=False)

    assert again["done"] == [] and again["skipped"] == ["2026-W46", "2026-W47"]
