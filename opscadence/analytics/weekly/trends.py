"""Weekly trends: every KPI this week vs last week vs the same ISO week last year, and its usual range.

Numbers come from ``mart_weekly_kpis`` (dimension ``all``). A comparison week without marts is
said ("no data (2025-W48)"), never read as zero. The usual range of a KPI is
``median ± k · 1.4826 · MAD`` of the earlier weeks of the 12-week window (at least
:data:`MIN_BAND_WEEKS` of them), robust to the one odd week a mean and a standard deviation
would chase; its half-width is at least 1 % of the median, so a flat history does not flag
rounding noise. The same range is drawn as the band of the charts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from opscadence.analytics.weekly import marts
from opscadence.analytics.weekly.sections import NextAction, WeeklyContext, WeeklySection
from opscadence.analytics.weekly.wording import text, weekly_metric_label
from opscadence.core.periods import Period
from opscadence.reporting.i18n import format_kpi_change, format_value

CHART_WEEKS = 12  # the window of the trends' history and of the charts
BAND_K = 3.0
MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution × this = its standard deviation
MIN_BAND_WEEKS = 4  # earlier weeks with numbers a usual range needs
BAND_FLOOR = 0.01  # the range's half-width is at least this share of the median


@dataclass(frozen=True)
class Band:
    """The usual range of a KPI from its earlier weeks."""

    low: float
    high: float
    median: float
    weeks: int  # earlier weeks it was computed from

    def outside(self, value: float | None) -> int:
        """-1 below, +1 above, 0 inside (or no value)."""
        if value is None:
            return 0
        return -1 if value < self.low else 1 if value > self.high else 0


def usual_range(values: list[float | None], k: float = BAND_K, min_weeks: int = MIN_BAND_WEEKS) -> Band | None:
    """``median ± k · 1.4826 · MAD`` of the values that exist; None with fewer than ``min_weeks``."""
    known = np.array([v for v in values if v is not None], dtype=float)
    if len(known) < min_weeks:
        return None
    median = float(np.median(known))
    spread = MAD_TO_SIGMA * float(np.median(np.abs(known - median)))
    half = max(k * spread, BAND_FLOOR * abs(median))
    return Band(low=median - half, high=median + half, median=median, weeks=len(known))


@dataclass(frozen=True)
class Trend:
    metric: str
    value: float | None
    previous: float | None
    last_year: float | None
    history: tuple[tuple[Period, float | None], ...]  # CHART_WEEKS weeks, oldest first, this week last
    band: Band | None = None  # from the weeks before this one

    @property
    def change(self) -> float | None:
        """Relative change vs last week (None without both numbers, or from zero)."""
        if self.value is None or self.previous in (None, 0):
            return None
        return (self.value - self.previous) / abs(self.previous)


@dataclass(frozen=True)
class Trends:
    week: Period
    previous: Period
    last_year: Period
    trends: list[Trend] = field(default_factory=list)
    has_week: bool = False
    has_previous: bool = False
    has_last_year: bool = False


def history_weeks(week: Period, n: int = CHART_WEEKS) -> list[Period]:
    """The ``n`` weeks ending with ``week``, oldest first."""
    return [week.shift(i) for i in range(-(n - 1), 1)]


def build_trends(totals: dict[Period, dict[str, float | None]], week: Period, metrics: list[str],
                 n: int = CHART_WEEKS) -> Trends:
    """Trends of ``metrics`` from whole-shop weekly totals (weeks without marts are absent)."""
    weeks = history_weeks(week, n)
    previous, last_year = week.previous(), week.same_period_last_year()
    out = []
    for metric in metrics:
        history = tuple((w, totals.get(w, {}).get(metric)) for w in weeks)
        out.append(Trend(
            metric=metric,
            value=totals.get(week, {}).get(metric),
            previous=totals.get(previous, {}).get(metric),
            last_year=totals.get(last_year, {}).get(metric),
            history=history,
            band=usual_range([v for _, v in history[:-1]]),
        ))
    return Trends(week, previous, last_year, out, has_week=week in totals, has_previous=previous in totals,
                  has_last_year=last_year in totals)


def load_trends(engine: Any, cfg: Any, week: Period, n: int = CHART_WEEKS) -> Trends:
    """Every weekly KPI of the vertical (its sources providing it), from the warehouse."""
    metrics = [m.name for m in marts.weekly_metrics(cfg.vertical, cfg.provided_tables)]
    weeks = [*history_weeks(week, n), week.same_period_last_year()]
    with engine.connect() as conn:
        totals = marts.load_totals(conn, weeks)
    return build_trends(totals, week, metrics, n)


def _comparison(trend: Trend, baseline: float | None, week: Period, locale: str) -> str:
    if baseline is None:
        return text(locale, "no_data_for", week=week.label(locale))
    return format_kpi_change(trend.metric, trend.value, baseline, locale)


def _where(trend: Trend, locale: str) -> str | None:
    if trend.band is None:
        return None
    side = trend.band.outside(trend.value)
    if not side:
        return None
    _, unit = weekly_metric_label(trend.metric, locale)
    key = "outside_band_low" if side < 0 else "outside_band_high"
    return text(locale, key, n=CHART_WEEKS, low=format_value(trend.band.low, unit, locale),
                high=format_value(trend.band.high, unit, locale))


def trend_lines(trends: Trends, locale: str) -> list[str]:
    lines = []
    for trend in trends.trends:
        if trend.value is None:
            continue
        label, unit = weekly_metric_label(trend.metric, locale)
        line = text(locale, "trend_line", label=label, value=format_value(trend.value, unit, locale),
                    wow=_comparison(trend, trend.previous, trends.previous, locale),
                    yoy=_comparison(trend, trend.last_year, trends.last_year, locale))
        where = _where(trend, locale)
        if where:
            line += f" · ⚠️ {where}"
        lines.append(line)
    return lines


def trend_actions(trends: Trends, locale: str) -> list[NextAction]:
    """A KPI outside its usual range: priority 1 when in its bad direction, 3 when in its good one."""
    out = []
    for trend in trends.trends:
        where = _where(trend, locale)
        if where is None or trend.band is None:
            continue
        metric = marts.WEEKLY_BY_NAME.get(trend.metric)
        higher_is_better = metric.higher_is_better if metric is not None else True
        bad = (trend.band.outside(trend.value) < 0) == higher_is_better
        label, unit = weekly_metric_label(trend.metric, locale)
        key = "action_band_bad" if bad else "action_band_good"
        out.append(NextAction(text(locale, key, label=label, value=format_value(trend.value, unit, locale),
                                   where=where, previous=format_value(trend.previous, unit, locale)),
                              priority=1 if bad else 3))
    return out


def trend_findings(trends: Trends, locale: str) -> list[str]:
    out = []
    if not trends.has_week:
        out.append(text(locale, "missing_week", week=trends.week.label(locale)))
    if not trends.has_previous:
        out.append(text(locale, "missing_previous", week=trends.previous.label(locale)))
    if not trends.has_last_year:
        out.append(text(locale, "missing_last_year", week=trends.last_year.label(locale)))
    known = sum(1 for _, v in (trends.trends[0].history if trends.trends else ()) if v is not None)
    if trends.has_week and known - 1 < MIN_BAND_WEEKS:
        out.append(text(locale, "band_short", n=known, min=MIN_BAND_WEEKS + 1))
    return out


def section_from_trends(trends: Trends, locale: str) -> WeeklySection:
    data = {
        "week": trends.week.key,
        "metrics": {
            t.metric: {"value": t.value, "previous": t.previous, "last_year": t.last_year,
                       "band": None if t.band is None else [t.band.low, t.band.high],
                       "history": [[w.key, v] for w, v in t.history]}
            for t in trends.trends
        },
    }
    return WeeklySection(
        key="trends", title=text(locale, "trends_title"), lines=tuple(trend_lines(trends, locale)),
        actions=tuple(trend_actions(trends, locale)), findings=tuple(trend_findings(trends, locale)),
        data=data,
    )


def trends_section(ctx: WeeklyContext) -> WeeklySection:
    """The weekly brief's trends (a :data:`~.sections.SECTION_PROVIDERS` provider)."""
    return section_from_trends(load_trends(ctx.engine, ctx.cfg, ctx.period), ctx.locale)
