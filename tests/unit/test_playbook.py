"""The suggested actions: config ``playbook`` over the built-in texts, most specific entry first."""

from __future__ import annotations

import re

import pytest

from opscadence.core.config import ConfigError, PlaybookEntry, load_config
from opscadence.reporting.playbook import Playbook
from opscadence.reporting.slack.alerts import render_firing
from opscadence.reporting.slack.brief import render_daily_brief
from tests.unit.test_brief import alert, make_brief

# What the brief showed under a payment-success-rate alert before playbooks existed.
PAYMENT_ZH = "排查支付网关错误与延迟（按支付方式、平台拆分）"
PAYMENT_EN = "check payment gateway errors and latency, by payment method and platform"


def entry(**fields) -> PlaybookEntry:
    return PlaybookEntry.model_validate(fields)


def team_payment() -> PlaybookEntry:
    return entry(metric="payment_success_rate", **{"zh-CN": "先看支付渠道状态页，再找值班 SRE", "en": "check the PSP status page, then page the SRE"})


def load(tmp_path, yaml_text: str):
    path = tmp_path / "opscadence.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    return load_config(path, environ={})


def test_without_config_the_built_in_text_is_shown(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(environ={})
    assert cfg.playbook == []
    playbook = Playbook(cfg.playbook)
    zh = render_daily_brief(make_brief(alerts=[alert()]), "zh-CN", playbook)
    en = render_daily_brief(make_brief(alerts=[alert()]), "en", playbook)
    assert f"🔴 P1 支付成功率 88.2%，低于阈值 95.0%\n    → 建议：{PAYMENT_ZH}" in zh.text
    assert f"🔴 P1 Payment success rate 88.2%, below the 95.0% threshold\n    → Suggested: {PAYMENT_EN}" in en.text
    # ... and the same as rendering with no playbook argument at all
    assert zh == render_daily_brief(make_brief(alerts=[alert()]), "zh-CN")


def test_a_team_entry_overrides_the_built_in_text_for_its_metric_in_both_locales(tmp_path):
    cfg = load(tmp_path, "playbook:\n"
                         "  - metric: payment_success_rate\n"
                         "    zh-CN: 先看支付渠道状态页，再找值班 SRE\n"
                         "    en: check the PSP status page, then page the SRE\n")
    playbook = Playbook(cfg.playbook)
    zh = render_daily_brief(make_brief(alerts=[alert()]), "zh-CN", playbook)
    en = render_daily_brief(make_brief(alerts=[alert()]), "en", playbook)
    assert "    → 建议：先看支付渠道状态页，再找值班 SRE" in zh.text and PAYMENT_ZH not in zh.text
    assert "    → Suggested: check the PSP status page, then page the SRE" in en.text and PAYMENT_EN not in en.text
    firing = render_firing(alert(), [], "en", "abcdef0123456789", playbook=playbook)
    assert firing.text.splitlines()[1] == "→ Suggested: check the PSP status page, then page the SRE"
    # Other metrics keep their built-in text: the team entry names payment only.
    dau = alert(metric="dau", condition="drop_vs_last_week", threshold=0.15, value=1234, baseline=1626)
    assert playbook.for_alert(dau, "en") == "check releases, acquisition channels and tracking for that day"


def test_a_plain_team_entry_beats_the_built_in_direction_entries_of_its_metric():
    mine = entry(metric="dau", **{"zh-CN": "看发版日志", "en": "read the release log"})
    playbook = Playbook([mine])
    for condition in ("drop_vs_last_week", "rise_vs_yesterday"):  # built-ins: dau down / dau up
        a = alert(metric="dau", condition=condition, threshold=0.15, value=1234, baseline=1626)
        assert playbook.for_alert(a, "en") == "read the release log"
        assert playbook.for_alert(a, "zh-CN") == "看发版日志"


def test_a_more_specific_entry_beats_a_wildcard_whatever_the_order():
    wildcard = entry(metric="*", **{"zh-CN": "通用排查", "en": "generic check"})
    payment = team_payment()
    by_rule = entry(metric="*", rule="psr-floor", **{"zh-CN": "按规则", "en": "by rule"})
    playbook = Playbook([wildcard, payment, by_rule])
    assert playbook.for_alert(alert(), "en") == "check the PSP status page, then page the SRE"
    assert playbook.for_alert(alert(rule_id="psr-floor"), "en") == "by rule"  # a rule beats a metric
    # paying_rate has no entry of its own, built-in or team: the team's wildcard applies ...
    assert playbook.for_alert(alert(metric="paying_rate"), "zh-CN") == "通用排查"
    # ... while gmv's built-in entry names the metric, which beats a wildcard.
    assert playbook.for_alert(alert(metric="gmv"), "en") == (
        "break GMV down by category and channel to find where the change comes from")


def test_kind_and_direction_narrow_an_entry():
    anomaly_drop = entry(metric="orders", kind="anomaly", direction="down", **{"zh-CN": "异常下降", "en": "anomaly drop"})
    playbook = Playbook([anomaly_drop])
    hit = alert(metric="orders", condition="anomaly_drop", threshold=3, value=60, baseline=100, kind="anomaly")
    rise = alert(metric="orders", condition="anomaly_rise", threshold=3, value=160, baseline=100, kind="anomaly")
    threshold = alert(metric="orders", condition="below", threshold=10, value=3)
    assert playbook.for_alert(hit, "en") == "anomaly drop"
    orders = "check the checkout and payment steps and running promotions"  # the built-in orders text
    assert playbook.for_alert(rise, "en") == orders  # direction up: not this entry
    assert playbook.for_alert(threshold, "en") == orders  # kind threshold: not this entry


def test_data_quality_alerts_take_only_data_quality_entries():
    dq = alert(metric="data_quality", condition="validation_failed", threshold=0, value=3, dimension="table",
               dimension_value="fact_orders", kind="data_quality")
    wildcard = entry(metric="*", **{"zh-CN": "通用排查", "en": "generic check"})
    assert Playbook([wildcard]).for_alert(dq, "en") == (
        "check the upstream load and tracking for that table, then re-run the day's flow")
    mine = entry(metric="*", kind="data_quality", **{"zh-CN": "找数据组", "en": "ask the data team"})
    assert Playbook([wildcard, mine]).for_alert(dq, "zh-CN") == "找数据组"


def test_an_unknown_metric_is_rejected_naming_the_key(tmp_path):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, "playbook:\n  - {metric: payment_sucess_rate, zh-CN: 看看, en: look}\n")
    message = str(err.value)
    assert "playbook.0.metric: Value error, unknown metric 'payment_sucess_rate'" in message
    assert "expected '*' or one of dau, mau," in message


@pytest.mark.parametrize(
    ("yaml_entry", "key"),
    [
        ("{metric: dau, zh-CN: 看看}", "playbook.0.en: Field required"),
        ("{metric: dau, zh_cn: 看看, en: look}", "playbook.0.zh_cn: Extra inputs are not permitted"),
        ("{metric: dau, direction: sideways, zh-CN: 看看, en: look}", "playbook.0.direction: Input should be"),
        ("{metric: dau, kind: data_quality, zh-CN: 看看, en: look}",
         "playbook.0: Value error, an entry of kind data_quality takes metric '*' and no direction"),
        ("{metric: dau, zh-CN: '', en: look}", "playbook.0.zh-CN: String should have at least 1 character"),
    ],
)
def test_malformed_entries_are_rejected_naming_the_key(tmp_path, yaml_entry, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        load(tmp_path, f"playbook:\n  - {yaml_entry}\n")


def test_urgent_feedback_and_wildcard_are_accepted_metric_names(tmp_path):
    cfg = load(tmp_path, "playbook:\n"
                         "  - {metric: urgent_feedback, zh-CN: 客服先回复, en: support answers first}\n"
                         "  - {metric: '*', kind: data_quality, zh-CN: 找数据组, en: ask the data team}\n")
    assert [(e.metric, e.kind) for e in cfg.playbook] == [("urgent_feedback", None), ("*", "data_quality")]
    feedback = alert(metric="urgent_feedback", condition="above", threshold=0, value=4)
    assert Playbook(cfg.playbook).for_alert(feedback, "zh-CN") == "客服先回复"
