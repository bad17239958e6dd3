"""What data reaches Slack: structured values verbatim (escaped), free text masked.

A data-quality finding quotes the value the operator must fix (a bad timestamp): it is shown as
it is. A dimension value (channel, campaign, region, …) is free text, typed by whoever set the
UTM tag: it is masked like feedback, by the one ``opscadence.core.privacy.free_text``, in the
alert messages (posted to the real local Slack server), the brief and the root-cause lines.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from opscadence.alerting.lifecycle import apply_observations, notify
from opscadence.alerting.lifecycle.state import Observation
from opscadence.alerting.rootcause import RootCause, SegmentContribution, root_cause_lines
from opscadence.core.config import SlackChannels
from opscadence.core.model import Alert, DailyBrief
from opscadence.core.privacy import free_text, mask_pii
from opscadence.delivery.slack import SlackWebClient
from opscadence.pipelines.daily import extract_day, validate_day
from opscadence.reporting.i18n import data_text
from opscadence.reporting.slack.brief import render_daily_brief
from opscadence.sources import CsvExportSource
from tests.slack_api_server import SlackApiServer
from tests.unit.test_sources import CLEAN, DS, write_export

TOKEN = "xoxb-1234-5678-MaskingTestToken"
BAD_TIMESTAMP = "2026-12-32 10:00:00"


@pytest.fixture()
def engine(sqlite_engine):
    """Rendering only: SQLite stores the day's report and the alert states."""
    return sqlite_engine


def _events_with(bad_event_at: str) -> dict[str, str]:
    lines = CLEAN["events"].splitlines()
    row = lines[1].split(",")
    row[1] = bad_event_at
    return {**CLEAN, "events": "\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n"}


def test_a_bad_timestamp_is_shown_verbatim_in_the_data_quality_section(tmp_path, engine):
    write_export(tmp_path, _events_with(BAD_TIMESTAMP))
    source = CsvExportSource(tmp_path)
    report = validate_day(engine, source, extract_day(source, DS))
    [issue] = report.issues()
    # The finding names file, row (line 2, the first data row) and column, and quotes the value.
    assert issue.detail.endswith(f"events.csv row 2, column event_at: '{BAD_TIMESTAMP}' is not a timestamp")
    # The failure before: the free-text mask reads "2026-12-32 10" (four digit groups, ten digits,
    # not a valid date) as a phone number.
    assert "'[phone]:00:00'" in mask_pii(issue.detail)
    brief = DailyBrief(ds=DS, timezone="Asia/Shanghai", vertical="ecommerce", kpis=[], alerts=[], funnel=None,
                       dq_passed=False, dq_issues=report.issues())
    for locale in ("en", "zh-CN"):
        msg = render_daily_brief(brief, locale)
        section = msg.blocks[1]["text"]["text"]  # the data-quality section, first after the header
        assert f"'{BAD_TIMESTAMP}' is not a timestamp" in section
        assert f"column event_at: '{BAD_TIMESTAMP}' is not a timestamp" in msg.text
        assert "[phone]" not in msg.text


def test_a_bad_value_is_escaped_for_slack_and_an_email_in_it_still_masked(tmp_path, engine):
    # Slack's escaping: & < > become &amp; &lt; &gt; (the value cannot ping or link).
    write_export(tmp_path, _events_with("2026-11-24 <!here>&1"))
    source = CsvExportSource(tmp_path)
    brief = DailyBrief(ds=DS, timezone="Asia/Shanghai", vertical="ecommerce", kpis=[], alerts=[], funnel=None,
                       dq_passed=False, dq_issues=validate_day(engine, source, extract_day(source, DS)).issues())
    text = render_daily_brief(brief, "en").text
    assert "'2026-11-24 &lt;!here&gt;&amp;1' is not a timestamp" in text and "<!here>" not in text
    # A misaligned row can put someone's e-mail into a typed column: that pattern stays masked.
    write_export(tmp_path, _events_with("amy@example.com"))
    brief.dq_issues[:] = validate_day(engine, source, extract_day(source, DS)).issues()
    text = render_daily_brief(brief, "en").text
    assert "'[email]' is not a timestamp" in text and "amy@example.com" not in text


CHANNELS = SlackChannels(alerts="#ops-alerts")
PERSONAL = {"vip-13812345678": "vip-[phone]", "a@b.com": "[email]"}


def _ctr_alert(channel: str) -> Alert:
    return Alert(rule_id="ad_ctr:below:0.01:channel", metric="ad_ctr", dimension="channel", dimension_value=channel,
                 condition="below", threshold=0.01, value=0.004, baseline=None, severity="P3")


def test_a_personal_channel_name_reaches_slack_masked_in_the_alert_message(engine, tmp_path):
    # Before: dimension values went through data_text, which escapes only.
    assert [data_text(c) for c in PERSONAL] == list(PERSONAL)
    with SlackApiServer(token=TOKEN) as server:
        client = SlackWebClient(TOKEN, base_url=server.url, max_retries=0)
        observations = [Observation(alert=_ctr_alert(c), breached=True) for c in PERSONAL]
        now = datetime(2026, 11, 24, 9, 0)
        transitions = apply_observations(engine, observations, scope="daily", period="2026-11-24", now=now,
                                         pending_periods=0, locale="en")
        outcomes = notify(engine, client, transitions, channels=CHANNELS, locale="en",
                          outbox_dir=tmp_path / "outbox", now=now)
        assert [o.status for o in outcomes] == ["posted", "posted"]
        posts = [c.body for c in server.calls("chat.postMessage") if c.status == 200]
    texts = sorted(p["text"] + str(p["blocks"]) for p in posts)
    assert len(texts) == 2
    for raw, masked in PERSONAL.items():
        assert not any(raw in t for t in texts), raw
        # 0.004 = 0.4% below the 1.0% threshold, on the masked channel
        assert any(f"Ad CTR (channel: {masked}) 0.4%, below the 1.0% threshold" in t for t in texts), masked
    assert "13812345678" not in "".join(texts)


def test_dimension_values_are_masked_in_the_brief_and_the_root_cause_lines():
    alert = _ctr_alert("vip-13812345678")
    cause = RootCause(metric="ad_ctr", value=0.004, baseline=0.02, delta=-0.016, segments=[
        SegmentContribution("campaign", "a@b.com", 0.001, 0.02, -0.012, 0.75)])
    lines = root_cause_lines(cause, "en")
    assert lines[0].startswith("campaign=[email]: ") and "a@b.com" not in "".join(lines)
    brief = DailyBrief(ds=DS, timezone="Asia/Shanghai", vertical="ecommerce", kpis=[], alerts=[alert], funnel=None,
                       dq_passed=True)
    text = render_daily_brief(brief, "zh-CN").text
    assert "vip-[phone]" in text and "13812345678" not in text


def test_free_text_masks_then_cuts_then_escapes():
    # mask first (no half address survives the cut), escape last (no half entity).
    assert free_text("call 13812345678 <now> & *go*", 100) == "call [phone] &lt;now&gt; &amp; ＊go＊"
    assert free_text("  \n ", 10, empty="-") == "-"
    assert free_text("x" * 30 + " a@b.com", 12) == "x" * 11 + "…"
