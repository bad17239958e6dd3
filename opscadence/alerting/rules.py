"""Threshold rules evaluated on the daily KPI mart (first version of alerting)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from opscadence import warehouse
from opscadence.core.config import ThresholdRule
from opscadence.core.model import Alert, DataQualityIssue, relative_change

KpiKey = tuple[date, str, str, str]  # (ds, metric, dimension, dimension_value)

_SEVERITY_ORDER = {"P1": 0, "P2": 1, "P3": 2}


def _baseline_day(condition: str, ds: date) -> date | None:
    if condition.endswith("_vs_last_week"):
        return ds - timedelta(days=7)
    if condition.endswith("_vs_yesterday"):
        return ds - timedelta(days=1)
    return None


def breaches(rule: ThresholdRule, value: float | None, baseline: float | None) -> bool:
    """Whether ``value`` breaks ``rule`` (a missing value or baseline never breaches)."""
    if value is None:
        return False
    if rule.condition == "below":
        return value < rule.threshold
    if rule.condition == "above":
        return value > rule.threshold
    change = relative_change(value, baseline)
    if change is None:
        return False
    if rule.condition.startswith("drop_"):
        return change < -rule.threshold
    return change > rule.threshold


def evaluate_rules(rules: Iterable[ThresholdRule], kpis: Mapping[KpiKey, float | None], ds: date) -> list[Alert]:
    """Every breach of every rule on ``ds``; a rule on a dimension checks each of its values."""
    found = []
    for rule in rules:
        baseline_ds = _baseline_day(rule.condition, ds)
        for (day, metric, dimension, dimension_value), value in sorted(kpis.items(), key=lambda kv: kv[0][1:]):
            if day != ds or metric != rule.metric or dimension != rule.dimension:
                continue
            baseline = kpis.get((baseline_ds, metric, dimension, dimension_value)) if baseline_ds else rule.threshold
            if breaches(rule, value, baseline if baseline_ds else None):
                found.append(
                    Alert(
                        rule_id=rule.rule_id,
                        metric=metric,
                        dimension=dimension,
                        dimension_value=dimension_value,
                        condition=rule.condition,
                        threshold=rule.threshold,
                        value=value,
                        baseline=baseline,
                        severity=rule.severity,
                    )
                )
    return sort_alerts(found)


def sort_alerts(items: Iterable[Alert]) -> list[Alert]:
    return sorted(items, key=lambda a: (_SEVERITY_ORDER.get(a.severity, 9), a.metric, a.dimension_value))


def data_quality_alert(issues: list[DataQualityIssue]) -> Alert:
    """The one alert raised instead of KPI alerts when a partition fails validation."""
    tables = sorted({issue.table for issue in issues if issue.severity == "critical"})
    return Alert(
        rule_id="data_quality:critical",
        metric="data_quality",
        dimension="table",
        dimension_value=",".join(tables) or "unknown",
        condition="validation_failed",
        threshold=0.0,
        value=float(sum(issue.unexpected_count or 1 for issue in issues if issue.severity == "critical")),
        baseline=None,
        severity="P2",
        kind="data_quality",
    )


def alert_row(ds: date, alert: Alert) -> dict[str, Any]:
    return {
        "ds": ds,
        "rule_id": alert.rule_id,
        "metric": alert.metric,
        "dimension": alert.dimension,
        "dimension_value": alert.dimension_value,
        "condition": alert.condition,
        "threshold": alert.threshold,
        "value": alert.value,
        "baseline": alert.baseline,
        "severity": alert.severity,
        "kind": alert.kind,
    }


def write_alerts(conn: Connection, ds: date, items: list[Alert]) -> None:
    warehouse.replace_window(conn, warehouse.alerts, ds, ds + timedelta(days=1), [alert_row(ds, a) for a in items])
