"""Anomaly alerts from the KPI mart history: config policies, calendar, and rule dedupe."""

from datetime import date, timedelta

import pandas as pd
import pytest

from opscadence.detection.anomalies import anomaly_alerts, policies
from opscadence.core.config import load_config

DS = date(2026, 11, 24)


@pytest.fixture(autouse=True)
def _no_config_file(tmp_path, monkeypatch):
    """load_config reads ./opscadence.yaml: run in an empty directory, as test_config does."""
    monkeypatch.chdir(tmp_path)


def history(orders_today: float, days: int = 35, promo: date | None = None, promo_value: float = 200.0):
    rows = []
    for n in range(days, 0, -1):
        day = DS - timedelta(days=n)
        rows.append({"ds": day, "metric": "orders", "value": promo_value if day == promo else 100.0,
                     "denominator": None})
    rows.append({"ds": DS, "metric": "orders", "value": orders_today, "denominator": None})
    return pd.DataFrame(rows)


def test_a_drop_in_orders_becomes_one_anomaly_alert():
    cfg = load_config(environ={})
    found = anomaly_alerts(history(60.0), DS, cfg)
    assert len(found) == 1
    alert = found[0]
    assert (alert.rule_id, alert.kind, alert.condition, alert.severity) == ("anomaly:orders", "anomaly", "anomaly_drop", "P2")
    assert alert.value == 60.0 and abs(alert.baseline - 100.0) < 1.0  # a flat history expects 100


def test_normal_day_and_skipped_metric_raise_nothing():
    cfg = load_config(environ={})
    assert anomaly_alerts(history(101.0), DS, cfg) == []
    assert anomaly_alerts(history(60.0), DS, cfg, skip={"orders"}) == []


def test_calendar_day_is_judged_with_its_uplift():
    promo = DS
    listed = load_config(environ={"OPSCADENCE_CALENDAR": f"[{{date: {promo}, name: 双11, expected_uplift: 1.0}}]"})
    unlisted = load_config(environ={})
    assert anomaly_alerts(history(200.0), DS, listed) == []
    assert [a.condition for a in anomaly_alerts(history(200.0), DS, unlisted)] == ["anomaly_rise"]


def test_config_overrides_policy_and_severity():
    cfg = load_config(environ={"OPSCADENCE_DETECTION__METRICS": "{orders: {direction: rise, severity: P1}}"})
    assert policies(cfg)["orders"].direction == "rise"
    assert anomaly_alerts(history(60.0), DS, cfg) == []  # a drop is not alerted on a rise-only metric
    assert [a.severity for a in anomaly_alerts(history(160.0), DS, cfg)] == ["P1"]
