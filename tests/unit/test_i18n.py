"""The one catalogue: both locales have every key, and the renderers use exactly the keys it holds.

Rendering goes through the brief fixtures of test_brief and every alert message; a key
missing from a locale raises KeyError there, a key no renderer reads is reported as unused.
"""

from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from opscadence.alerting.rootcause import RootCause, SegmentContribution, root_cause_lines
from opscadence.core.model import DataQualityIssue, Funnel, FunnelStep, KpiValue
from opscadence.reporting import i18n
from opscadence.reporting.describe import describe_alert, watch_no_events, watch_payments
from opscadence.reporting.i18n import STRINGS, data_text
from opscadence.reporting.playbook import BUILTIN_ENTRIES
from opscadence.reporting.slack.alerts import render_escalation, render_firing, render_reminder, render_resolved
from opscadence.reporting.slack.brief import render_backfill_summary, render_daily_brief
from tests.unit.test_brief import alert, dq_issues, funnel, make_brief


class Recording(dict):
    """A locale's strings that remember which keys were read (``[]`` or ``.get``)."""

    def __init__(self, data):
        super().__init__(data)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


ALERTS = [
    alert(),  # below, P1
    alert(metric="bounce_rate", condition="above", threshold=0.6, value=0.62, severity="P2"),
    alert(metric="dau", condition="drop_vs_last_week", threshold=0.15, value=1234, baseline=1626, severity="P2"),
    alert(metric="dau", condition="rise_vs_last_week", threshold=0.15, value=2000, baseline=1626, severity="P2"),
    alert(metric="dau", condition="drop_vs_yesterday", threshold=0.15, value=1234, baseline=1626, severity="P3"),
    alert(metric="dau", condition="rise_vs_yesterday", threshold=0.5, value=3000, baseline=1500, severity="P3"),
    alert(metric="gmv", condition="drop_vs_same_period_last_year", threshold=0.2, value=700, baseline=1000, severity="P3"),
    alert(metric="gmv", condition="rise_vs_same_period_last_year", threshold=0.2, value=1300, baseline=1000, severity="P3"),
    alert(metric="orders", condition="anomaly_drop", threshold=3.0, value=60, baseline=100, kind="anomaly"),
    alert(metric="gmv", condition="anomaly_rise", threshold=3.0, value=160, baseline=100, kind="anomaly"),
    alert(metric="ad_ctr", threshold=0.01, value=0.008, severity="P3", dimension="channel", dimension_value="抖音"),
    alert(metric="orders", threshold=10, value=3, dimension="region", dimension_value="unknown"),
    alert(metric="aov", condition="above", threshold=500, value=600, dimension="platform", dimension_value="ios"),
    alert(dimension="payment_method", dimension_value="alipay"),
    alert(dimension="campaign", dimension_value="双11"),
    alert(metric="urgent_feedback", condition="above", threshold=0, value=4, dimension="day",
          dimension_value="2026-11-24"),
    alert(metric="dau", condition="sideways", threshold=2.5, value=7),
    alert(metric="data_quality", condition="validation_failed", threshold=0, value=3, dimension="table",
          dimension_value="fact_orders", kind="data_quality", severity="P2"),
    alert(metric="fact_orders", condition="not_null", threshold=0, value=None, dimension="table",
          dimension_value="x", kind="data_quality"),
    alert(value=None),
]


def render_everything(locale: str) -> None:
    render_daily_brief(make_brief(alerts=ALERTS * 2, run_url="https://x.example/r", urgent_feedback_count=1,
                                  urgent_feedback=["hi"], dq_issues=dq_issues()[:1], undelivered=2,
                                  undelivered_since="2026-11-23"), locale)
    render_daily_brief(make_brief(dq_passed=False, dq_issues=dq_issues() * 6, alerts=ALERTS), locale)
    render_daily_brief(make_brief(dq_passed=False, dq_issues=[], alerts=[]), locale)
    args = {"tables": "users, events", "ds": "2025-01-01", "where": "the warehouse sqlite:///w.sqlite"}
    absent = [DataQualityIssue("events", "expect_partition_to_have_rows", None, "critical", None, [], "x", (key, args))
              for key in ("dq_no_rows", "dq_source_empty")]
    render_daily_brief(make_brief(dq_passed=False, dq_issues=absent, alerts=[], partial=True), locale)
    render_daily_brief(make_brief(alerts=[], kpis=[KpiValue(f"m{i}", i) for i in range(600)]), locale)
    render_daily_brief(make_brief(unavailable={"dau": ("events",), "gmv": ("orders",)}), locale)
    for baseline in ("previous_day", None):
        f = Funnel(steps=funnel().steps, weakest_step="payment", weakest_change=-0.05, weakest_baseline=baseline)
        render_daily_brief(make_brief(funnel=f), locale)
    social = Funnel(steps=[FunnelStep("visit", 300, None), FunnelStep("interact", 150, 0.5),
                           FunnelStep("post", 75, 0.5), FunnelStep("share", 30, 0.4)],
                    weakest_step="share", weakest_change=-0.3, weakest_baseline="last_week")
    render_daily_brief(make_brief(funnel=social), locale)  # the social vertical's funnel
    summary = SimpleNamespace(cadence="daily", start=date(2026, 11, 1), end=date(2026, 11, 30), done=[1], recomputed=[1],
                              skipped=[], failed={date(2026, 11, d): "bad" for d in range(1, 13)})
    render_backfill_summary(summary, locale)
    for a in ALERTS:
        render_firing(a, ["detail"], locale, "abcdef0123456789")
        render_resolved(a, locale)
        render_escalation(a, locale, "abcdef0123456789", minutes=30, resolve=False, mention=None)
        render_escalation(a, locale, "abcdef0123456789", minutes=120, resolve=True, mention=None)
        render_escalation(a, locale, "abcdef0123456789", minutes=90, resolve=True, mention=None)
        render_reminder(a, locale, "abcdef0123456789", since=datetime(2026, 11, 24, 9, 5))
    for seconds in (45, 83, 3723):
        i18n.format_value(seconds, "seconds", locale)
    segments = [SegmentContribution(dim, "v", 0.7, 0.98, -0.14, 0.9)
                for dim in ("channel", "platform", "payment_method", "campaign", "region", "table")]
    root_cause_lines(RootCause("payment_success_rate", 0.8, 0.9, -0.1, segments, "checkout"), locale, top=10)
    # A segment over the whole change, one moving the other way (offset), one not listed.
    over = SegmentContribution("channel", "direct", 120.0, 100.0, 20.0, 2.0)
    others = [over, SegmentContribution("channel", "a", 5.0, 15.0, -10.0, -1.0),
              SegmentContribution("channel", "b", 2.0, 1.0, 1.0, 0.1)]
    root_cause_lines(RootCause("orders", 10.0, 0.0, 10.0, [over], None, "channel", others), locale, top=1)
    root_cause_lines(RootCause("payment_success_rate", 0.8, 0.9, -0.1, [SegmentContribution("platform", "ios", 0.5, 0.9,
                                                                                           -0.2, 2.0)], ratio=True),
                     locale)
    shanghai = ZoneInfo("Asia/Shanghai")
    watch_no_events(datetime(2026, 11, 24, 8, 0), 20, shanghai, locale)
    watch_payments(812, 1000, datetime(2026, 11, 24), shanghai, locale)
    for dim, value in (("channel", "direct"), ("campaign", "none")):
        describe_alert(alert(metric="orders", threshold=10, value=3, dimension=dim, dimension_value=value), locale)


def test_every_key_exists_in_both_locales():
    zh, en = set(STRINGS["zh-CN"]), set(STRINGS["en"])
    assert zh - en == set(), "keys missing in en"
    assert en - zh == set(), "keys missing in zh-CN"
    assert all(text.strip() for locale in STRINGS.values() for text in locale.values())


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_renderers_resolve_every_key_they_read_and_read_every_key(locale, monkeypatch):
    recording = Recording(STRINGS[locale])
    monkeypatch.setitem(STRINGS, locale, recording)
    render_everything(locale)  # a key missing from the catalogue raises KeyError here
    # .get lookups of labels that do not exist (dimension.day, step.m1 ...) are allowed misses.
    misses = {k for k in recording.read - set(recording)
              if not k.startswith(("dimension.", "value.", "step.", "metric."))}
    assert misses == set()
    # The built-in playbook texts are read once, when opscadence.reporting.playbook builds its entries.
    unread = {k for k in set(recording) - recording.read if not k.startswith("playbook.")}
    assert unread == set(), "catalogue keys no renderer reads"


def test_every_builtin_playbook_text_is_a_catalogue_entry_and_back():
    for locale in ("zh-CN", "en"):
        texts = {entry.text(locale) for entry in BUILTIN_ENTRIES}
        catalogue = {v for k, v in STRINGS[locale].items() if k.startswith("playbook.")}
        assert texts == catalogue
        # 15 metric entries (dau twice: down, up; the social pack's share rate and interaction time)
        # + data quality + generic
        assert len(catalogue) == 17


def test_region_label_and_unknown_value_are_localised():
    a = alert(metric="orders", threshold=10, value=3, dimension="region", dimension_value="unknown")
    assert describe_alert(a, "zh-CN") == "订单数（地区：未知） 3，低于阈值 10"
    assert describe_alert(a, "en") == "Orders (region: unknown) 3, below the 10 threshold"
    dq = alert(metric="data_quality", condition="validation_failed", threshold=0, value=None, dimension="table",
               dimension_value="unknown", kind="data_quality")
    assert describe_alert(dq, "zh-CN") == "数据质量：未知未通过校验"
    assert render_resolved(dq, "zh-CN").text == "✅ 已恢复：数据质量（未知） 校验通过"
    # gmv 0.5 → None: ¥0.50 → 无 (no value today); -0.07 of -1.00, share 0.07 → "7%";
    # remainder -1.00 - (-0.07) - 0 = -0.93.
    seg = SegmentContribution("region", "unknown", None, 0.5, -0.07, 0.07)
    cause = RootCause("gmv", 1.0, 2.0, -1.0, [seg])
    assert root_cause_lines(cause, "zh-CN") == ["地区=未知：¥0.50 → 无，贡献 -¥0.07，占总变化（-¥1.00）的 7%",
                                                "其余 -¥0.93"]
    assert root_cause_lines(cause, "en") == ["region=unknown: ¥0.50 → n/a, -¥0.07 of the -¥1.00 change (7%)",
                                             "remainder -¥0.93"]


def test_dimension_values_we_generate_are_localised_the_shops_are_not():
    # Before: "渠道：direct", "活动：none" — the SQL's values for a missing channel/campaign, in English.
    direct = alert(metric="orders", threshold=10, value=3, dimension="channel", dimension_value="direct")
    none = alert(metric="orders", threshold=10, value=3, dimension="campaign", dimension_value="none")
    assert describe_alert(direct, "zh-CN") == "订单数（渠道：直接访问） 3，低于阈值 10"
    assert describe_alert(direct, "en") == "Orders (channel: direct) 3, below the 10 threshold"
    assert describe_alert(none, "zh-CN") == "订单数（活动：无活动） 3，低于阈值 10"
    assert describe_alert(none, "en") == "Orders (campaign: no campaign) 3, below the 10 threshold"
    # "none" is ours only as a campaign: a platform the shop calls "none" stays as written.
    shop = alert(metric="orders", threshold=10, value=3, dimension="platform", dimension_value="none")
    assert describe_alert(shop, "zh-CN") == "订单数（平台：none） 3，低于阈值 10"
    # Root-cause lines label the dimension in English too (it printed the key "payment_method").
    seg = SegmentContribution("payment_method", "unknown", 0.5, 0.9, -0.1, 1.0)
    lines = root_cause_lines(RootCause("payment_success_rate", 0.8, 0.9, -0.1, [seg], "checkout"), "en")
    assert lines == ["payment method=unknown: 90.0% → 50.0%, -10.0 pp of the -10.0 pp change (100%)",
                     "funnel: Add to cart → Checkout conversion fell most"]


def test_data_text_collapses_truncates_then_escapes():
    assert data_text("  a\n\tb  ") == "a b"
    # 5000 "<" cut to 100 characters (99 + "…") before escaping: 99 × "&lt;" + "…"
    assert data_text("<" * 5000) == "&lt;" * 99 + "…"
    assert data_text("@here *bold*") == "＠here ＊bold＊"
    assert data_text("*bold* text", 8) == "＊bold＊…"  # "*bold* " (7) cut, right-stripped, + "…", then escaped
    assert data_text("   ") == "" and data_text("", empty="-") == "-"


def test_times_are_shown_in_the_shops_timezone_with_the_offset():
    # Naive = UTC (the warehouse's bookkeeping times): 01:05 UTC is 09:05 in Shanghai (+8 h),
    # 20:30 on 24 Nov in New York (-5 h in November).
    assert i18n.format_datetime(datetime(2026, 11, 24, 1, 5), ZoneInfo("Asia/Shanghai")) == "2026-11-24 09:05 UTC+08:00"
    assert i18n.format_datetime(datetime(2026, 11, 25, 1, 30), ZoneInfo("America/New_York")) == (
        "2026-11-24 20:30 UTC-05:00")
    assert i18n.format_datetime(datetime(2026, 11, 24, 1, 5)) == "2026-11-24 01:05"
    # The reminder said "since 2026-11-24 01:05 UTC" for a Shanghai shop; now its own time.
    a = alert(metric="dau", condition="drop_vs_last_week", threshold=0.15, value=1234, baseline=1626)
    text = render_reminder(a, "zh-CN", "abcdef0123456789", since=datetime(2026, 11, 24, 1, 5),
                           tz=ZoneInfo("Asia/Shanghai")).text
    assert text.startswith("⏰ 仍在告警（自 2026-11-24 09:05 UTC+08:00 起）：日活 DAU")


def test_plain_text_decodes_the_slack_entities_once():
    # escape_mrkdwn("<!here> & a&lt;b") = "&lt;!here&gt; &amp; a&amp;lt;b"; plain_text inverts it exactly.
    assert i18n.plain_text(data_text("<!here> & a&lt;b")) == "<!here> & a&lt;b"
    assert i18n.plain_text("no entities: 98.0% → 70.0%") == "no entities: 98.0% → 70.0%"


def test_watch_details_are_localised_and_say_which_clock():
    # Before: "no events since 08:00 (last week 20)" in English inside a zh-CN message, on no stated clock.
    shanghai = ZoneInfo("Asia/Shanghai")
    assert watch_no_events(datetime(2026, 11, 24, 8, 0), 20, shanghai, "zh-CN") == (
        "自 2026-11-24 08:00 UTC+08:00 起没有新事件（上周同期 20 条）")
    assert watch_no_events(datetime(2026, 11, 24, 8, 0), 20, shanghai, "en") == (
        "no events since 2026-11-24 08:00 UTC+08:00 (last week 20)")
    assert watch_payments(812, 1000, datetime(2026, 11, 24), shanghai, "zh-CN") == (
        "自 2026-11-24 00:00 UTC+08:00 起 1,000 次支付尝试中 812 次成功")
    assert watch_payments(812, 1000, datetime(2026, 11, 24), shanghai, "en") == (
        "812/1,000 payment attempts succeeded since 2026-11-24 00:00 UTC+08:00")


def test_our_series_outside_the_catalogue_are_labelled():
    # The urgent-feedback series was named by its key: "✅ 已恢复：urgent_feedback（day：2026-11-24） 回到 0".
    a = alert(metric="urgent_feedback", condition="above", threshold=0, value=0, dimension="day",
              dimension_value="2026-11-24")
    assert render_resolved(a, "zh-CN").text == "✅ 已恢复：紧急反馈（日期：2026-11-24） 回到 0"
    assert render_resolved(a, "en").text == "✅ resolved: Urgent feedback (day: 2026-11-24) back to 0"
