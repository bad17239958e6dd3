"""render_daily_brief: wording, formatting, escaping, privacy and Slack limits.

Briefs are built by hand here; expected strings are written out literally.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from opscadence.reporting.describe import describe_alert
from opscadence.reporting.i18n import format_change, format_value
from opscadence.reporting.playbook import suggestion_for
from opscadence.reporting.slack.brief import MAX_ALERTS_SHOWN, MAX_BLOCKS, render_daily_brief
from opscadence.core.model import Alert, DailyBrief, DataQualityIssue, Funnel, FunnelStep, KpiValue, Message

EVIL = "<!channel> *boss* <@U123>"


def alert(metric="payment_success_rate", condition="below", threshold=0.95, value=0.882, baseline=None,
          severity="P1", dimension="all", dimension_value="all", kind="threshold", rule_id="r") -> Alert:
    return Alert(rule_id=rule_id, metric=metric, dimension=dimension, dimension_value=dimension_value,
                 condition=condition, threshold=threshold, value=value, baseline=baseline,
                 severity=severity, kind=kind)


def funnel() -> Funnel:
    return Funnel(
        steps=[
            FunnelStep("page_view", 12345, None),
            FunnelStep("product_view", 8000, 0.648),
            FunnelStep("add_to_cart", 2000, 0.25),
            FunnelStep("checkout", 900, 0.45, 0.47, 0.513),
            FunnelStep("payment", 850, 0.944),
        ],
        weakest_step="checkout",
        weakest_change=-0.123,
        weakest_baseline="last_week",
    )


def make_brief(**overrides) -> DailyBrief:
    fields = dict(
        ds=date(2026, 11, 24),
        timezone="Asia/Shanghai",
        vertical="ecommerce",
        kpis=[
            KpiValue("dau", 12345, previous_day=12000, same_weekday_last_week=13000),
            KpiValue("payment_success_rate", 0.9312, previous_day=0.93, same_weekday_last_week=None),
            KpiValue("gmv", 12345.6, previous_day=None, same_weekday_last_week=10000),
        ],
        alerts=[],
        funnel=funnel(),
        dq_passed=True,
    )
    fields.update(overrides)
    return DailyBrief(**fields)


def dump(message: Message) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def texts(message: Message) -> list[str]:
    """Every text string in the blocks."""
    out = []
    for b in message.blocks:
        if "text" in b:
            out.append(b["text"]["text"])
        out += [f["text"] for f in b.get("fields", [])]
        out += [e["text"] for e in b.get("elements", [])]
    return out


def assert_slack_limits(message: Message) -> None:
    assert len(message.blocks) <= 50
    assert len(message.text) <= 40_000
    for b in message.blocks:
        if b["type"] == "header":
            assert b["text"]["type"] == "plain_text"
            assert 0 < len(b["text"]["text"]) <= 150
        elif b["type"] == "section":
            assert "text" in b or "fields" in b
            if "text" in b:
                assert 0 < len(b["text"]["text"]) <= 3000
            assert len(b.get("fields", [])) <= 10
            for f in b.get("fields", []):
                assert 0 < len(f["text"]) <= 2000
        elif b["type"] == "context":
            assert 1 <= len(b["elements"]) <= 10
            for e in b["elements"]:
                assert 0 < len(e["text"]) <= 2000
        else:
            assert b["type"] == "divider"


# --- value formatting ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "locale", "expected"),
    [
        (1234567, "count", "zh-CN", "1,234,567"),
        (1234567.0, "count", "en", "1,234,567"),
        (0, "count", "en", "0"),
        (0.9312, "ratio", "zh-CN", "93.1%"),
        (0.9312, "ratio", "en", "93.1%"),
        (0.0078, "ratio", "en", "0.8%"),
        (12345.6, "currency", "zh-CN", "¥12,345.60"),
        (12345.6, "currency", "en", "¥12,345.60"),
        (-5, "currency", "en", "-¥5.00"),
        (83, "seconds", "en", "1m 23s"),
        (83, "seconds", "zh-CN", "1分23秒"),
        (45.4, "seconds", "en", "45s"),
        (45.4, "seconds", "zh-CN", "45秒"),
        (3723, "seconds", "en", "1h 2m 3s"),
        (3723, "seconds", "zh-CN", "1小时2分3秒"),
        (None, "count", "en", "n/a"),
        (None, "ratio", "zh-CN", "无"),
    ],
)
def test_format_value(value, unit, locale, expected):
    assert format_value(value, unit, locale) == expected


@pytest.mark.parametrize(
    ("change", "locale", "expected"),
    [
        (0.052, "en", "▲ +5.2%"),
        (-0.123, "zh-CN", "▼ -12.3%"),
        (1.5, "en", "▲ +150.0%"),
        (0.0001, "en", "0.0%"),
        (None, "en", "n/a"),
        (None, "zh-CN", "无"),
    ],
)
def test_format_change(change, locale, expected):
    assert format_change(change, locale) == expected


def test_kpi_fields_and_lines_zh():
    msg = render_daily_brief(make_brief())
    fields = [f["text"] for b in msg.blocks for f in b.get("fields", [])]
    assert fields == [
        "*日活 DAU*\n12,345\n较昨日 ▲ +2.9% · 较上周同日 ▼ -5.0%",
        "*支付成功率*\n93.1%\n较昨日 ▲ +0.1 个百分点 · 较上周同日 无",  # 0.9312 - 0.93 = +0.12 pp
        "*GMV 成交额*\n¥12,345.60\n较昨日 无 · 较上周同日 ▲ +23.5%",
    ]
    assert "• 日活 DAU：12,345（较昨日 ▲ +2.9%，较上周同日 ▼ -5.0%）" in msg.text
    assert "• GMV 成交额：¥12,345.60（较昨日 无，较上周同日 ▲ +23.5%）" in msg.text


def test_rates_change_in_percentage_points_counts_in_percent():
    # Payment success 98.99% -> 88.90%: the relative change (0.889 - 0.9899) / 0.9899 = -10.19% was shown
    # as "▼ -10.2%"; in points it is 88.90 - 98.99 = -10.09 -> "-10.1 pp". Stickiness 20% vs 25% last
    # week: -5.0 pp (relative -20%). AOV is a ratio of measures but an amount: 110 vs 100 = +10.0%.
    kpis = [KpiValue("payment_success_rate", 0.889, previous_day=0.9899, same_weekday_last_week=0.889),
            KpiValue("stickiness", 0.2, previous_day=None, same_weekday_last_week=0.25),
            KpiValue("aov", 110, previous_day=100, same_weekday_last_week=None)]
    zh = render_daily_brief(make_brief(kpis=kpis)).text
    assert "• 支付成功率：88.9%（较昨日 ▼ -10.1 个百分点，较上周同日 0.0 个百分点）" in zh
    assert "-10.2%" not in zh
    assert "• 粘性 DAU/MAU：20.0%（较昨日 无，较上周同日 ▼ -5.0 个百分点）" in zh
    assert "• 客单价：¥110.00（较昨日 ▲ +10.0%，较上周同日 无）" in zh
    en = render_daily_brief(make_brief(kpis=kpis), "en").text
    assert "• Payment success rate: 88.9% (DoD ▼ -10.1 pp, WoW 0.0 pp)" in en
    assert "• Stickiness (DAU/MAU): 20.0% (DoD n/a, WoW ▼ -5.0 pp)" in en
    assert "• AOV: ¥110.00 (DoD ▲ +10.0%, WoW n/a)" in en


def test_kpi_lines_en():
    msg = render_daily_brief(make_brief(), "en")
    assert "• DAU: 12,345 (DoD ▲ +2.9%, WoW ▼ -5.0%)" in msg.text
    assert "• Payment success rate: 93.1% (DoD ▲ +0.1 pp, WoW n/a)" in msg.text  # 0.9312 - 0.93 = +0.12 pp
    fields = [f["text"] for b in msg.blocks for f in b.get("fields", [])]
    assert fields[2] == "*GMV*\n¥12,345.60\nDoD n/a · WoW ▲ +23.5%"


def test_kpi_order_follows_input():
    kpis = [KpiValue("gmv", 1.0), KpiValue("dau", 2.0), KpiValue("orders", 3.0)]
    msg = render_daily_brief(make_brief(kpis=kpis), "en")
    labels = [f["text"].split("\n")[0] for b in msg.blocks for f in b.get("fields", [])]
    assert labels == ["*GMV*", "*DAU*", "*Orders*"]


# --- header, locale -------------------------------------------------------------


def test_default_locale_is_zh_cn():
    msg = render_daily_brief(make_brief())
    assert msg.blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "📊 每日数据简报 2026-11-24 (Asia/Shanghai)", "emoji": True},
    }
    assert msg.text.startswith("📊 每日数据简报 2026-11-24 (Asia/Shanghai)\n")


def test_english_locale():
    msg = render_daily_brief(make_brief(), "en")
    assert msg.blocks[0]["text"]["text"] == "📊 Daily brief 2026-11-24 (Asia/Shanghai)"
    assert "每日" not in msg.text and "较昨日" not in msg.text


@pytest.mark.parametrize("locale", ["fr", "zh", "EN", ""])
def test_unknown_locale_raises(locale):
    with pytest.raises(ValueError, match="locale"):
        render_daily_brief(make_brief(), locale)


def test_timezone_is_sanitised_in_header():
    msg = render_daily_brief(make_brief(timezone="Asia/Shanghai<!here>"), "en")
    assert msg.blocks[0]["text"]["text"] == "📊 Daily brief 2026-11-24 (Asia/Shanghaihere)"


# --- alerts -----------------------------------------------------------------------


def test_below_alert_wording_zh_and_en():
    a = alert()
    assert describe_alert(a, "zh-CN") == "支付成功率 88.2%，低于阈值 95.0%"
    assert describe_alert(a, "en") == "Payment success rate 88.2%, below the 95.0% threshold"


def test_drop_vs_last_week_wording_zh_and_en():
    a = alert(metric="dau", condition="drop_vs_last_week", threshold=0.15, value=1234, baseline=1626,
              severity="P2")
    assert describe_alert(a, "en") == "DAU 1,234, down 24.1% vs same weekday last week (1,626)"
    assert describe_alert(a, "zh-CN") == "日活 DAU 1,234，较上周同日下降 24.1%（1,626）"


def test_other_conditions_wording():
    above = alert(metric="bounce_rate", condition="above", threshold=0.6, value=0.62, severity="P2")
    assert describe_alert(above, "en") == "Bounce rate 62.0%, above the 60.0% threshold"
    rise = alert(metric="dau", condition="rise_vs_yesterday", threshold=0.5, value=3000, baseline=1500)
    assert describe_alert(rise, "zh-CN") == "日活 DAU 3,000，较昨日上升 100.0%（1,500）"


def test_alert_lines_with_severity_and_suggestion_zh():
    msg = render_daily_brief(make_brief(alerts=[alert()]))
    expected = "🔴 *P1* 支付成功率 88.2%，低于阈值 95.0%\n    → 建议：排查支付网关错误与延迟（按支付方式、平台拆分）"
    assert any(expected in t for t in texts(msg))
    assert "🔴 P1 支付成功率 88.2%，低于阈值 95.0%\n    → 建议：排查支付网关错误与延迟（按支付方式、平台拆分）" in msg.text
    assert "🚨 告警（1）" in msg.text


def test_alert_lines_with_severity_and_suggestion_en():
    a = alert(metric="dau", condition="drop_vs_last_week", threshold=0.15, value=1234, baseline=1626,
              severity="P2")
    msg = render_daily_brief(make_brief(alerts=[a]), "en")
    assert ("🟠 P2 DAU 1,234, down 24.1% vs same weekday last week (1,626)\n"
            "    → Suggested: check releases, acquisition channels and tracking for that day") in msg.text


def test_dimension_value_shown_and_all_hidden():
    a = alert(metric="ad_ctr", threshold=0.01, value=0.008, severity="P3", dimension="channel",
              dimension_value="抖音")
    assert describe_alert(a, "en") == "Ad CTR (channel: 抖音) 0.8%, below the 1.0% threshold"
    assert describe_alert(a, "zh-CN") == "广告点击率（渠道：抖音） 0.8%，低于阈值 1.0%"
    msg = render_daily_brief(make_brief(alerts=[a]), "en")
    assert "🟡 P3 Ad CTR (channel: 抖音)" in msg.text
    assert "change the creative or pause the channel" in msg.text
    assert "(all" not in describe_alert(alert(dimension="channel", dimension_value="all"), "en")


DROPS = ["below", "drop_vs_last_week", "drop_vs_yesterday", "anomaly_drop"]
RISES = ["above", "rise_vs_last_week", "rise_vs_yesterday", "anomaly_rise"]


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_suggestion_lookup_by_direction_then_metric_then_generic(locale):
    # dau has one suggestion per direction: every drop condition gets one, every rise the other.
    down = {suggestion_for("dau", c, locale) for c in DROPS}
    up = {suggestion_for("dau", c, locale) for c in RISES}
    assert len(down) == 1 and len(up) == 1 and down != up
    # payment_success_rate has one for either direction.
    assert len({suggestion_for("payment_success_rate", c, locale) for c in DROPS + RISES}) == 1
    # A metric without an entry gets the generic suggestion, whatever the condition.
    generic = {suggestion_for("some_new_metric", c, locale) for c in DROPS + RISES}
    assert len(generic) == 1 and generic.isdisjoint(down | up)
    # A data-quality alert gets the data-quality suggestion, whatever its metric names.
    dq = {suggestion_for(m, "expect_column_values_to_not_be_null", locale, kind="data_quality")
          for m in ("fact_orders", "dau", "payment_success_rate")}
    assert len(dq) == 1 and dq.isdisjoint(down | up | generic)


def test_suggestions_in_an_unknown_locale_are_refused():
    with pytest.raises(ValueError, match="unsupported locale"):
        suggestion_for("dau", "below", "fr")


@pytest.mark.parametrize(
    "metric",
    ["bounce_rate", "add_to_cart_conversion", "orders", "gmv", "aov", "repurchase_rate", "new_users",
     "registration_conversion"],
)
def test_every_named_metric_has_its_own_suggestion(metric):
    generic = suggestion_for("no_such_metric", "below", "en")
    for locale in ("en", "zh-CN"):
        assert suggestion_for(metric, "below", locale) != suggestion_for("no_such_metric", "below", locale)
    assert suggestion_for(metric, "above", "en") != generic


def test_data_quality_alert_phrasing():
    a = alert(metric="fact_orders", condition="expect_column_values_to_not_be_null", threshold=0, value=12,
              severity="P1", kind="data_quality")
    # The alert's value counts the critical checks that failed (rules.data_quality_alert), not rows:
    # it was worded "12 unexpected rows" / "异常 12 行".
    assert describe_alert(a, "en") == "Data quality: fact_orders failed validation, 12 check(s) failed"
    assert describe_alert(a, "zh-CN") == "数据质量：fact_orders未通过校验，12 项检查失败"
    msg = render_daily_brief(make_brief(alerts=[a]), "en")
    assert "check the upstream load and tracking for that table, then re-run the day's flow" in msg.text


def test_no_alerts_line():
    assert "✅ 无告警" in render_daily_brief(make_brief(alerts=[])).text
    msg = render_daily_brief(make_brief(alerts=[]), "en")
    assert "✅ No alerts" in msg.text
    assert {"type": "section", "text": {"type": "mrkdwn", "text": "✅ No alerts"}} in msg.blocks


def test_200_alerts_fit_limits_keep_p1_first_and_count_the_rest():
    alerts = [alert(metric="ad_ctr", threshold=0.01, value=0.005, severity="P3", dimension="campaign",
                    dimension_value=f"campaign-{i} " + "x" * 300) for i in range(150)]
    alerts += [alert(severity="P1", dimension="platform", dimension_value=f"p1-{i}") for i in range(30)]
    alerts += [alert(metric="dau", condition="drop_vs_last_week", threshold=0.15, value=10, baseline=20,
                     severity="P2", dimension="channel", dimension_value=f"p2-{i}") for i in range(20)]
    assert len(alerts) == 200
    for locale, more in (("en", "…and 190 more"), ("zh-CN", "…另有 190 条")):
        msg = render_daily_brief(make_brief(alerts=alerts), locale)
        assert_slack_limits(msg)
        assert MAX_ALERTS_SHOWN == 10
        assert more in msg.text
        assert any(more in t for t in texts(msg))
        shown = [line for line in msg.text.splitlines() if line.startswith(("🔴", "🟠", "🟡"))]
        assert len(shown) == 10
        assert all(line.startswith("🔴 P1") for line in shown)
        assert "p1-0" in shown[0] and "p1-9" in shown[9]  # stable within a severity
        assert "campaign-" not in msg.text


def test_alerts_sorted_by_severity():
    alerts = [alert(severity="P3", dimension="c", dimension_value="three"),
              alert(severity="P2", dimension="c", dimension_value="two"),
              alert(severity="P1", dimension="c", dimension_value="one")]
    msg = render_daily_brief(make_brief(alerts=alerts), "en")
    assert msg.text.index("one") < msg.text.index("two") < msg.text.index("three")
    assert "more" not in msg.text


# --- escaping and privacy -------------------------------------------------------------


def test_dimension_value_escaped_in_every_block_and_fallback():
    a = alert(metric="ad_ctr", threshold=0.01, value=0.008, severity="P3", dimension="channel",
              dimension_value=EVIL)
    for locale in ("zh-CN", "en"):
        msg = render_daily_brief(make_brief(alerts=[a], urgent_feedback_count=1, urgent_feedback=[EVIL]), locale)
        everything = dump(msg) + msg.text
        for raw in ("<!channel>", "<@U123>", "*boss*"):
            assert raw not in everything
        assert "&lt;!channel&gt; ＊boss＊ &lt;@U123&gt;" in msg.text
        alert_blocks = [t for t in texts(msg) if "Ad CTR" in t or "广告" in t]
        assert alert_blocks and all("&lt;!channel&gt; ＊boss＊ &lt;@U123&gt;" in t for t in alert_blocks)


def test_broadcast_words_in_data_are_neutralised():
    a = alert(dimension="campaign", dimension_value="@here sale")
    msg = render_daily_brief(make_brief(alerts=[a]), "en")
    assert "@here" not in dump(msg) + msg.text
    assert "＠here sale" in msg.text


def test_feedback_masked_escaped_truncated_and_quoted():
    fb = [
        "退款不到账！我的手机 13800138000，邮箱 zhang.san@example.com <!here>",
        "card 4111 1111 1111 1111 " + "慢" * 400,
        "third",
        "fourth is not shown",
    ]
    msg = render_daily_brief(make_brief(urgent_feedback_count=7, urgent_feedback=fb))
    everything = dump(msg) + msg.text
    for raw in ("13800138000", "zhang.san@example.com", "4111", "<!here>", "fourth"):
        assert raw not in everything
    assert "📣 紧急反馈 7 条" in msg.text
    assert "> 退款不到账！我的手机 [phone]，邮箱 [email] &lt;!here&gt;" in msg.text
    second = next(line for line in msg.text.splitlines() if line.startswith("> card"))
    assert second.startswith("> card [number] 慢")
    assert second.endswith("…") and len(second) == 2 + 200
    assert "> third" in msg.text


def test_no_feedback_section_when_count_is_zero():
    msg = render_daily_brief(make_brief(urgent_feedback_count=0, urgent_feedback=["ignored"]), "en")
    assert "Urgent feedback" not in msg.text and "ignored" not in msg.text


# --- data quality ------------------------------------------------------------------


def dq_issues() -> list[DataQualityIssue]:
    return [
        DataQualityIssue("fact_orders", "expect_column_values_to_be_between", "amount", "warning", 2,
                         ["order_id=7"]),
        DataQualityIssue("fact_orders", "expect_column_values_to_not_be_null", "user_id", "critical", 1234,
                         ["order_id=20261124000123", "user_id=998877", "order_id=<!channel>", "order_id=4th"],
                         detail="1,234 of 56,789 rows; contact ops@example.com"),
    ]


def test_dq_failed_withholds_numbers_and_lists_issues():
    threshold_alert = alert(value=0.5)
    dq_alert = alert(metric="fact_orders", condition="not_null", threshold=0, value=1234, severity="P1",
                     kind="data_quality")
    brief = make_brief(
        kpis=[KpiValue("dau", 98765, 91234, 87654), KpiValue("gmv", 55555.5)],
        dq_passed=False, dq_issues=dq_issues(), alerts=[threshold_alert, dq_alert],
    )
    for locale in ("zh-CN", "en"):
        msg = render_daily_brief(brief, locale)
        everything = dump(msg) + msg.text
        for number in ("98,765", "91,234", "87,654", "55,555", "50.0%", "12,345", "8,000", "-12.3%"):
            assert number not in everything, number
        assert not any("fields" in b for b in msg.blocks)
        assert "user_id=998877" not in everything and "998877" not in everything
        assert "<!channel>" not in everything and "ops@example.com" not in everything
        assert "4th" not in everything  # at most 3 samples
        assert_slack_limits(msg)
    msg = render_daily_brief(brief, "en")
    assert msg.blocks[1]["type"] == "section"  # data quality comes first, right after the header
    first = msg.blocks[1]["text"]["text"]
    assert first.startswith("*⛔ Data validation failed: numbers for 2026-11-24 are withheld*\n")
    # critical first; table · check · column · count · samples · detail
    # An issue's count is of rows; 4 samples, 3 shown: "…and 1 more".
    assert ("❌ fact_orders · expect_column_values_to_not_be_null · column user_id · 1,234 rows failed · "
            "e.g. order_id=20261124000123, user_id=[redacted], order_id=&lt;!channel&gt; …and 1 more — "
            "1,234 of 56,789 rows; contact [email]") in first
    assert "⚠️ fact_orders · expect_column_values_to_be_between · column amount · 2 rows failed · e.g. order_id=7" in first
    assert "1 metric alert(s) withheld because data validation failed" in msg.text
    assert "Data quality: fact_orders failed validation, 1,234 check(s) failed" in msg.text
    zh = render_daily_brief(brief)
    assert "⛔ 数据校验未通过：2026-11-24 的指标数字暂不发布" in zh.text
    assert "列 user_id · 异常 1,234 行 · 样例：order_id=20261124000123" in zh.text
    assert "order_id=&lt;!channel&gt; …另有 1 条 — " in zh.text


def test_dq_failed_without_alerts_does_not_claim_all_clear():
    msg = render_daily_brief(make_brief(dq_passed=False, dq_issues=[], alerts=[]), "en")
    assert "No alerts" not in msg.text
    assert "(no details)" in msg.text


def test_dq_failed_many_issues_capped_with_more_line():
    issues = [DataQualityIssue(f"t{i}", "expect_x", None, "critical", i, [f"id={i}"], detail="d" * 500)
              for i in range(60)]
    msg = render_daily_brief(make_brief(dq_passed=False, dq_issues=issues), "en")
    assert_slack_limits(msg)
    assert "…and 50 more" in msg.text
    assert "t9 ·" in msg.text and "t10 ·" not in msg.text


def test_dq_warnings_note_when_passed():
    warn = [DataQualityIssue("dim_product", "expect_column_values_to_be_unique", "sku", "warning", 3)]
    msg = render_daily_brief(make_brief(dq_issues=warn), "en")
    note = "⚠️ 1 data-quality warning(s) (non-blocking): dim_product · expect_column_values_to_be_unique"
    assert {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]} in msg.blocks
    assert any("fields" in b for b in msg.blocks)  # KPIs still shown
    assert "12,345" in msg.text


# --- funnel ----------------------------------------------------------------------


def test_funnel_zh():
    msg = render_daily_brief(make_brief())
    assert ("🔻 转化漏斗\n访问 12,345\n商品浏览 8,000（转化率 64.8%）\n加购 2,000（转化率 25.0%）\n"
            "结算 900（转化率 45.0%）\n支付成功 850（转化率 94.4%）\n最弱环节：加购→结算，较上周同日 -6.3 个百分点") in msg.text
    # A conversion is a rate: 45.0% vs 51.3% last week is 45.0 - 51.3 = -6.3 pp (it was the relative -12.3%).
    assert "-12.3%" not in msg.text


def test_funnel_en_and_previous_day_baseline():
    f = Funnel(steps=funnel().steps, weakest_step="payment", weakest_change=-0.05, weakest_baseline="previous_day")
    msg = render_daily_brief(make_brief(funnel=f), "en")
    assert "Visit 12,345\nProduct view 8,000 (64.8% conversion)" in msg.text
    assert "Weakest step: Checkout → Payment success, -5.0% vs yesterday" in msg.text


def test_funnel_unknown_step_is_escaped():
    f = Funnel(steps=[FunnelStep("page_view", 10, None), FunnelStep("*promo*_step", 5, 0.5)])
    msg = render_daily_brief(make_brief(funnel=f), "en")
    assert "＊promo＊＿step 5 (50.0% conversion)" in msg.text
    assert "Weakest" not in msg.text


# --- footer ----------------------------------------------------------------------


def test_run_url_link_in_footer():
    url = "https://prefect.example.com/runs/flow-run/abc?tab=logs&x=1"
    msg = render_daily_brief(make_brief(run_url=url))
    assert msg.blocks[-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn",
                      "text": "<https://prefect.example.com/runs/flow-run/abc?tab=logs&amp;x=1|查看运行> · opscadence"}],
    }
    assert "查看运行: https://prefect.example.com/runs/flow-run/abc?tab=logs&amp;x=1 · opscadence" in msg.text
    en = render_daily_brief(make_brief(run_url=url), "en")
    assert "|View run> · opscadence" in en.blocks[-1]["elements"][0]["text"]


def test_footer_without_or_with_unsafe_run_url():
    for url in (None, "javascript:alert(1)", "https://x.example/a b"):
        msg = render_daily_brief(make_brief(run_url=url), "en")
        assert msg.blocks[-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": "opscadence"}]}
        assert msg.text.endswith("\n\nopscadence")
    msg = render_daily_brief(make_brief(run_url="https://x.example/a|b>c"), "en")
    assert msg.blocks[-1]["elements"][0]["text"] == "<https://x.example/a%7Cb&gt;c|View run> · opscadence"


# --- limits ----------------------------------------------------------------------------


def test_typical_brief_within_limits():
    msg = render_daily_brief(make_brief(alerts=[alert()], urgent_feedback_count=1, urgent_feedback=["hi"],
                                        run_url="https://x.example/r"))
    assert_slack_limits(msg)
    assert [b["type"] for b in msg.blocks] == [
        "header", "section", "divider", "section", "divider", "section", "divider", "section", "context"]


def test_many_kpis_split_into_sections_of_ten_and_capped_at_50_blocks():
    kpis = [KpiValue("dau", float(i)) for i in range(25)]
    msg = render_daily_brief(make_brief(kpis=kpis), "en")
    assert_slack_limits(msg)
    assert [len(b["fields"]) for b in msg.blocks if "fields" in b] == [10, 10, 5]

    huge = [KpiValue(f"metric_{i}", float(i)) for i in range(3000)]
    msg = render_daily_brief(make_brief(kpis=huge), "en")
    assert_slack_limits(msg)
    assert len(msg.blocks) == MAX_BLOCKS
    assert msg.blocks[-2] == {"type": "section",
                              "text": {"type": "mrkdwn", "text": "…message too long, the rest is omitted"}}
    assert msg.blocks[-1]["type"] == "context"
    assert len(msg.text) == 40_000 and msg.text.endswith("…")


def test_long_data_values_are_truncated_in_sections():
    a = alert(dimension="campaign", dimension_value="<" * 5000)
    msg = render_daily_brief(make_brief(alerts=[a]), "en")
    assert_slack_limits(msg)
    assert "&lt;" * 99 + "…" in msg.text
    assert "&lt;" * 100 not in msg.text


def test_rendering_is_pure():
    brief = make_brief(alerts=[alert()])
    assert render_daily_brief(brief, "en") == render_daily_brief(brief, "en")


def test_anomaly_alert_wording_in_both_locales():
    a = alert(metric="orders", condition="anomaly_drop", threshold=3.0, value=60, baseline=100, severity="P2",
              kind="anomaly")
    assert describe_alert(a, "en") == "Orders 60, 40.0% below the expected 100 (seasonal anomaly)"
    assert describe_alert(a, "zh-CN") == "订单数 60，比季节性预期 100 低 40.0%（异常）"


def test_root_cause_lines_appear_under_their_alert_at_most_two():
    from opscadence.core.model import alert_key

    a = alert()
    other = alert(metric="ad_ctr", threshold=0.01, value=0.007, severity="P3", dimension="channel",
                  dimension_value="wechat", rule_id="ctr")
    # One dimension's lines (rootcause): -20.0 - 4.5 - 0.5 = -25.0 pp.
    details = {alert_key(a): ["platform=ios: 100.0% → 68.6%, -20.0 pp of the -25.0 pp change (80%)",
                              "platform=android: 99.0% → 90.0%, -4.5 pp of the -25.0 pp change (18%)",
                              "remainder -0.5 pp"]}
    msg = render_daily_brief(make_brief(alerts=[a, other], alert_details=details), "en")
    lines = msg.text.splitlines()
    payment = next(i for i, line in enumerate(lines) if "Payment success rate" in line and "P1" in line)
    assert lines[payment + 2] == "    · platform=ios: 100.0% → 68.6%, -20.0 pp of the -25.0 pp change (80%)"
    assert lines[payment + 3] == "    · platform=android: 99.0% → 90.0%, -4.5 pp of the -25.0 pp change (18%)"
    assert lines[payment + 4] == "    · …and 1 more"  # only the top two, the third counted
    assert "remainder" not in msg.text
    assert "platform=ios" in json.dumps(msg.blocks, ensure_ascii=False)


# --- numbers that mislead --------------------------------------------------------------


def test_urgent_feedback_says_how_many_quotes_are_left_out():
    # 10 urgent messages, 3 excerpts carried by the brief: 10 - 3 = 7 more. Before: no such line.
    brief = make_brief(urgent_feedback_count=10, urgent_feedback=["付款失败", "账号被封", "退款没到"])
    zh = render_daily_brief(brief).text
    assert "📣 紧急反馈 10 条\n> 付款失败\n> 账号被封\n> 退款没到\n…另有 7 条" in zh
    en = render_daily_brief(brief, "en").text
    assert "📣 Urgent feedback: 10\n> 付款失败\n> 账号被封\n> 退款没到\n…and 7 more" in en
    # All shown: no "more" line.
    assert "另有" not in render_daily_brief(make_brief(urgent_feedback_count=1, urgent_feedback=["付款失败"])).text


def test_root_cause_lines_under_an_alert_say_how_many_are_left_out():
    from opscadence.core.model import alert_key

    a = alert()
    details = {alert_key(a): ["one", "two", "three", "four"]}  # 2 shown: 4 - 2 = 2 more
    text = render_daily_brief(make_brief(alerts=[a], alert_details=details), "en").text
    assert "    · one\n    · two\n    · …and 2 more" in text and "three" not in text


def test_rate_alerts_describe_the_change_in_percentage_points():
    # Payment success 99.0% -> 88.9% vs yesterday: 88.9 - 99.0 = -10.1 pp; the relative
    # (0.889 - 0.99) / 0.99 = -10.2% was shown. DAU 1,234 vs 1,626 stays relative: 392 / 1,626 = 24.1%.
    psr = alert(condition="drop_vs_yesterday", threshold=0.05, value=0.889, baseline=0.99)
    assert describe_alert(psr, "zh-CN") == "支付成功率 88.9%，较昨日下降 10.1 个百分点（99.0%）"
    assert describe_alert(psr, "en") == "Payment success rate 88.9%, down 10.1 pp vs yesterday (99.0%)"
    ctr = alert(metric="ad_ctr", condition="anomaly_rise", threshold=3.0, value=0.03, baseline=0.02, kind="anomaly")
    assert describe_alert(ctr, "en") == "Ad CTR 3.0%, 1.0 pp above the expected 2.0% (seasonal anomaly)"
    dau = alert(metric="dau", condition="drop_vs_last_week", threshold=0.15, value=1234, baseline=1626)
    assert describe_alert(dau, "en") == "DAU 1,234, down 24.1% vs same weekday last week (1,626)"


def test_data_quality_alert_counts_failed_checks_not_rows():
    from opscadence.alerting.rules import data_quality_alert

    # Critical: not_null on user_id (1,234 rows) and a row-count check (no row count); warning: amount (2 rows).
    # Before: 1,234 + 1 (the row-count check counted as a row) = 1,235 "rows"; now 2 critical checks.
    issues = [*dq_issues(), DataQualityIssue("fact_orders", "expect_table_row_count_to_be_between", None,
                                             "critical", None)]
    dq = data_quality_alert(issues)
    assert dq.value == 2
    assert describe_alert(dq, "zh-CN") == "数据质量：fact_orders未通过校验，2 项检查失败"
    assert describe_alert(dq, "en") == "Data quality: fact_orders failed validation, 2 check(s) failed"
