"""Threshold rules evaluated on a period's KPI mart."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy.engine import Connection

from opscadence import warehouse
from opscadence.core.config import ThresholdRule
from opscadence.core.model import Alert, DataQualityIssue, relative_change
from opscadence.core.periods import Period

KpiKey = tuple[date, str, str, str]  # (ds, metric, dimension, dimension_value)

_SEVERITY_ORDER = {"P1": 0, "P2": 1, "P3": 2}


# What each change condition compares with (README: "Threshold rules").
COMPARISONS = {
    "previous_period": ("_vs_previous_period", "_vs_yesterday"),
    "same_weekday_last_week": ("_vs_last_week",),
    "same_period_last_year": ("_vs_same_period_last_year",),
}


def comparison(condition: str) -> str | None:
    """``previous_period``, ``same_weekday_last_week``, ``same_period_last_year``, or None
    for a threshold on the value itself."""
    for name, suffixes in COMPARISONS.items():
        if condition.endswith(suffixes):
            return name
    return None


def baseline_period(condition: str, period: Period) -> Period | None:
    """The period a change condition compares ``period`` with."""
    basis = comparison(condition)
    if basis == "previous_period":
        return period.previous()
    if basis == "same_period_last_year":
        return period.same_period_last_year()
    if basis == "same_weekday_last_week":
        if period.grain != "day":
            raise ValueError(f"{condition} compares days; use drop/rise_vs_previous_period for a {period.grain}")
        return period.shift(-7)
    return None


def _baseline_day(condition: str, ds: date) -> date | None:
    baseline = baseline_period(condition, Period.day(ds))
    return baseline.start if baseline else None


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
        # The number of critical checks that failed, not rows: a row count and a missing column
        # are one check each and cannot be added to rows.
        value=float(sum(1 for issue in issues if issue.severity == "critical")),
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
    day = Period.day(ds)
    warehouse.replace_window(conn, warehouse.alerts, day.start, day.end, [alert_row(ds, a) for a in items])
