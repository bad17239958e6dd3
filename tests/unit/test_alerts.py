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


def test_period_conditions_and_the_daily_names_they_keep():
    from datetime import date

    from opscadence.alerting.rules import baseline_period
    from opscadence.core.periods import Period

    day = Period.day(date(2026, 11, 24))
    assert baseline_period("drop_vs_previous_period", day).start == date(2026, 11, 23)
    assert baseline_period("drop_vs_yesterday", day).start == date(2026, 11, 23)  # the same on days
    assert baseline_period("rise_vs_last_week", day).start == date(2026, 11, 17)
    assert baseline_period("below", day) is None
    week = Period.containing("week", date(2026, 11, 24))
    assert baseline_period("drop_vs_previous_period", week).key == "2026-W47"
    assert baseline_period("drop_vs_same_period_last_year", week).key == "2025-W48"
    with pytest.raises(ValueError, match="compares days"):
        baseline_period("drop_vs_last_week", week)
    kpis = {(D, "gmv", "all", "all"): 70.0, (D - timedelta(days=1), "gmv", "all", "all"): 100.0}
    # -30% vs the previous day breaks a 20% drop rule, written either way
    for condition in ("drop_vs_previous_period", "drop_vs_yesterday"):
        found = evaluate_rules([rule(metric="gmv", condition=condition, threshold=0.2)], kpis, D)
        assert [(a.value, a.baseline) for a in found] == [(70.0, 100.0)]
