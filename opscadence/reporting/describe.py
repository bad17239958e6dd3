"""One alert in one sentence, data escaped: the line of the brief, the alert messages and ``alert_states.summary``."""

from __future__ import annotations

from datetime import datetime, tzinfo

from opscadence.core.model import Alert, relative_change
from opscadence.metrics.catalog import is_rate
from opscadence.reporting.i18n import (
    data_text,
    dimension_label,
    dimension_value_text,
    format_datetime,
    format_value,
    metric_label,
    signed_points,
    strings,
)

__all__ = ["describe_alert", "dimension_suffix", "series_name", "watch_no_events", "watch_payments"]

_CHANGE_CONDITIONS = ("drop_vs_last_week", "rise_vs_last_week", "drop_vs_yesterday", "rise_vs_yesterday",
                      "drop_vs_same_period_last_year", "rise_vs_same_period_last_year", "anomaly_drop", "anomaly_rise")
# The daily brief: the previous period is yesterday.
_DAILY_NAMES = {"drop_vs_previous_period": "drop_vs_yesterday", "rise_vs_previous_period": "rise_vs_yesterday"}


def dimension_suffix(alert: Alert, locale: str) -> str:
    """"（渠道：抖音）" / " (channel: 抖音)" for an alert on one dimension value, "" for the whole shop."""
    if alert.dimension in ("", "all") or alert.dimension_value in ("", "all"):
        return ""
    name = dimension_label(alert.dimension, locale) or alert.dimension
    return strings(locale)["dim"].format(name=data_text(name),
                                         value=dimension_value_text(alert.dimension_value, locale,
                                                                    dimension=alert.dimension))


def _dq_name(alert: Alert, locale: str) -> str:
    # The data-quality alert names the failing tables in its dimension value.
    if alert.metric == "data_quality":
        return dimension_value_text(alert.dimension_value, locale, dimension=alert.dimension)
    return data_text(alert.metric)


def series_name(alert: Alert, locale: str) -> str:
    """The escaped name of the alert's series: "支付成功率（平台：ios）", "data quality (fact_orders)"."""
    if alert.kind == "data_quality":
        return strings(locale)["dq_series"].format(name=_dq_name(alert, locale))
    label, _ = metric_label(alert.metric, locale)
    return label + dimension_suffix(alert, locale)


def _shop_time(moment: datetime, tz: tzinfo) -> str:
    # The watch's times are shop-local and naive: say which clock they are on.
    return format_datetime(moment.replace(tzinfo=tz), tz)


def watch_no_events(since: datetime, last_week: int, tz: tzinfo, locale: str = "zh-CN") -> str:
    """The intraday watch's "data late" detail: "自 2026-11-24 08:00 UTC+08:00 起没有新事件（上周同期 20 条）"."""
    return strings(locale)["watch_no_events"].format(since=_shop_time(since, tz), n=f"{last_week:,}")


def watch_payments(successes: int, attempts: int, since: datetime, tz: tzinfo, locale: str = "zh-CN") -> str:
    """The intraday watch's payment detail: "812/1,000 payment attempts succeeded since 2026-11-24 00:00 UTC+08:00"."""
    return strings(locale)["watch_payments"].format(successes=f"{successes:,}", attempts=f"{attempts:,}",
                                                    since=_shop_time(since, tz))


def describe_alert(alert: Alert, locale: str = "zh-CN") -> str:
    """One sentence for an alert, data escaped: "支付成功率 88.2%，低于阈值 95.0%"."""
    s = strings(locale)
    dim = dimension_suffix(alert, locale)
    if alert.kind == "data_quality":
        text = s["dq_alert"].format(name=_dq_name(alert, locale), dim="" if alert.metric == "data_quality" else dim)
        if alert.value:  # the number of critical checks that failed (rules.data_quality_alert)
            text += s["dq_alert_count"].format(count=f"{alert.value:,.0f}")
        return text
    if alert.metric == "urgent_feedback":
        return s["urgent_feedback"].format(value=format_value(alert.value, "count", locale))
    label, unit = metric_label(alert.metric, locale)
    value = format_value(alert.value, unit, locale)
    condition = _DAILY_NAMES.get(alert.condition, alert.condition)
    if condition in ("below", "above"):
        return s[condition].format(label=label, dim=dim, value=value,
                                   threshold=format_value(alert.threshold, unit, locale))
    if condition in _CHANGE_CONDITIONS:
        if is_rate(alert.metric) and alert.value is not None and alert.baseline is not None:
            # A rate moves by percentage points: 99.0% → 88.9% is "down 10.1 pp", not "down 10.2%".
            pct = signed_points(abs(alert.value - alert.baseline), locale).lstrip("+")
        else:
            change = relative_change(alert.value, alert.baseline)
            pct = f"{abs(change) * 100:.1f}%" if change is not None else f"≥{alert.threshold * 100:.1f}%"
        return s[condition].format(label=label, dim=dim, value=value, pct=pct,
                                   baseline=format_value(alert.baseline, unit, locale))
    return s["other_condition"].format(label=label, dim=dim, value=value, condition=data_text(condition),
                                       threshold=f"{alert.threshold:g}")
