from datetime import timedelta

import pytest

from opscadence.alerting.rules import breaches, evaluate_rules
from opscadence.core.config import ThresholdRule
from tests.fixtures.tiny_shop import D


def rule(**kw):
    return ThresholdRule(**kw)


def test_below_and_above():
    r = rule(metric="payment_success_rate", condition="below", threshold=0.95)
    assert breaches(r, 0.949, None) and not breaches(r, 0.95, None) and not breaches(r, None, None)
    assert breaches(rule(metric="bounce_rate", condition="above", threshold=0.6), 0.61, None)


def test_drop_vs_last_week_needs_more_than_the_threshold():
    r = rule(metric="dau", condition="drop_vs_last_week", threshold=0.15)
    assert breaches(r, 84, 100)  # -16%
    assert not breaches(r, 85, 100)  # exactly -15% is not *more than* 15%
    assert not breaches(r, 84, None)  # no baseline, no verdict
    assert breaches(rule(metric="gmv", condition="rise_vs_yesterday", threshold=0.5), 151, 100)


def test_evaluate_rules_per_dimension_value_and_order():
    kpis = {
        (D, "dau", "all", "all"): 4.0,
        (D - timedelta(days=7), "dau", "all", "all"): 6.0,
        (D, "payment_success_rate", "all", "all"): 0.6,
        (D, "ad_ctr", "channel", "douyin"): 0.03,
        (D, "ad_ctr", "channel", "wechat"): 0.005,
        (D - timedelta(days=1), "payment_success_rate", "all", "all"): 0.5,  # another day: ignored
    }
    rules = [
        rule(metric="dau", condition="drop_vs_last_week", threshold=0.15, severity="P2"),
        rule(metric="payment_success_rate", condition="below", threshold=0.95, severity="P1"),
        rule(metric="ad_ctr", condition="below", threshold=0.01, dimension="channel", severity="P3"),
    ]
    found = evaluate_rules(rules, kpis, D)
    assert [(a.severity, a.metric, a.dimension_value) for a in found] == [
        ("P1", "payment_success_rate", "all"), ("P2", "dau", "all"), ("P3", "ad_ctr", "wechat")
    ]
    dau = found[1]
    assert (dau.value, dau.baseline) == (4.0, 6.0)
    assert found[0].baseline == pytest.approx(0.95)
