"""Plain data passed between stages: computed by SQL/pandas, rendered into briefs.

Nothing here knows about Prefect, Slack or the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True)
class KpiValue:
    """A headline KPI (dimension ``all``) with its comparison points."""

    metric: str
    value: float | None
    previous_day: float | None = None
    same_weekday_last_week: float | None = None

    @property
    def day_over_day(self) -> float | None:
        return relative_change(self.value, self.previous_day)

    @property
    def week_over_week(self) -> float | None:
        return relative_change(self.value, self.same_weekday_last_week)


def relative_change(value: float | None, baseline: float | None) -> float | None:
    if value is None or baseline is None or baseline == 0:
        return None
    return (value - baseline) / abs(baseline)


@dataclass(frozen=True)
class Alert:
    """A breached rule for one ds × metric × dimension value."""

    rule_id: str
    metric: str
    dimension: str
    dimension_value: str
    condition: str
    threshold: float
    value: float | None
    baseline: float | None
    severity: str
    kind: str = "threshold"  # threshold | data_quality


@dataclass(frozen=True)
class FunnelStep:
    step: str
    users: int
    conversion: float | None  # from the previous step; None for the first step
    conversion_previous_day: float | None = None
    conversion_last_week: float | None = None


@dataclass(frozen=True)
class Funnel:
    steps: list[FunnelStep]
    weakest_step: str | None = None  # the step whose conversion fell most
    weakest_change: float | None = None  # its relative change (negative)
    weakest_baseline: str | None = None  # "last_week" or "previous_day"


@dataclass(frozen=True)
class DataQualityIssue:
    table: str
    expectation: str
    column: str | None
    severity: str  # critical | warning
    unexpected_count: int | None
    sample: list[str] = field(default_factory=list)
    detail: str = ""
    # A finding worded by the i18n catalogue: (key, arguments); the brief renders it in its locale.
    message: tuple[str, dict[str, str]] | None = None


@dataclass
class DailyBrief:
    ds: date
    timezone: str
    vertical: str
    kpis: list[KpiValue]
    alerts: list[Alert]
    funnel: Funnel | None
    dq_passed: bool
    dq_issues: list[DataQualityIssue] = field(default_factory=list)
    urgent_feedback_count: int = 0
    urgent_feedback: list[str] = field(default_factory=list)  # already masked excerpts
    run_url: str | None = None
    # Root-cause lines per alert (keyed by alert_key), already escaped for Slack.
    alert_details: dict[str, list[str]] = field(default_factory=dict)
    # Headline KPIs no configured source can feed: metric → the raw tables it lacks.
    unavailable: dict[str, tuple[str, ...]] = field(default_factory=dict)
    partial: bool = False  # the day had not ended when the brief was made (run with allow_partial)
    # Earlier messages still in the outbox, and the oldest period among them (delivery health).
    undelivered: int = 0
    undelivered_since: str | None = None


def alert_key(alert: Alert) -> str:
    """One alert's identity within a day: its rule and series."""
    return f"{alert.rule_id}|{alert.metric}|{alert.dimension}={alert.dimension_value}"


@dataclass(frozen=True)
class Message:
    """A Slack message: Block Kit blocks plus the plain-text fallback."""

    text: str
    blocks: list[dict[str, Any]]
