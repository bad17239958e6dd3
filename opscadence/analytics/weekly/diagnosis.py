"""Weekly diagnosis: the KPIs that moved most since last week, the segments behind each, and
the funnel step that moved.

"Moved most" ranks the whole-shop weekly KPIs by their relative change vs last week
(``|this − last| / |last|``; a rate's too, so a payment success rate falling from 98 % to 93 %
ranks by its 5 % relative fall, and is shown in percentage points). Each of the top
:data:`TOP_METRICS` is decomposed with :func:`opscadence.alerting.rootcause.explain` on the two
weeks' ``mart_weekly_kpis`` rows (every dimension of the marts; counterfactual contributions for
ratios, differences for sums — see that module). The funnel step whose conversion from the step
before changed most (in percentage points, either way) is named once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opscadence.alerting import rootcause
from opscadence.analytics.weekly import marts
from opscadence.analytics.weekly.sections import NextAction, WeeklyContext, WeeklySection
from opscadence.analytics.weekly.wording import text, weekly_metric_label
from opscadence.core.periods import Period
from opscadence.metrics import dimensions
from opscadence.reporting.i18n import (
    dimension_label,
    dimension_value_text,
    format_kpi_change,
    format_value,
    signed_points,
    step_label,
)

TOP_METRICS = 3


@dataclass(frozen=True)
class Move:
    metric: str
    value: float
    previous: float
    change: float  # relative: (value − previous) / |previous|

    @property
    def bad(self) -> bool:
        metric = marts.WEEKLY_BY_NAME.get(self.metric)
        higher_is_better = metric.higher_is_better if metric is not None else True
        return (self.value < self.previous) == higher_is_better


@dataclass(frozen=True)
class FunnelMove:
    step: str
    previous_step: str
    conversion: float
    previous_conversion: float

    @property
    def delta(self) -> float:
        return self.conversion - self.previous_conversion


@dataclass(frozen=True)
class Diagnosis:
    week: Period
    moves: list[tuple[Move, rootcause.RootCause]]
    funnel: FunnelMove | None
    funnel_compared: bool  # both weeks have a funnel


def moved_most(now: dict[str, float | None], before: dict[str, float | None], metrics: list[str],
               top: int = TOP_METRICS) -> list[Move]:
    """The ``top`` metrics with the largest relative change (both weeks known, last week not zero);
    ties by name."""
    moves = []
    for metric in metrics:
        value, previous = now.get(metric), before.get(metric)
        if value is None or previous is None or previous == 0 or value == previous:
            continue
        moves.append(Move(metric, value, previous, (value - previous) / abs(previous)))
    return sorted(moves, key=lambda m: (-abs(m.change), m.metric))[:top]


def _conversions(steps: list[tuple[str, int]]) -> dict[str, tuple[str, float]]:
    out = {}
    for (before_step, before), (step, users) in zip(steps, steps[1:]):
        if before:
            out[step] = (before_step, users / before)
    return out


def funnel_move(now: list[tuple[str, int]] | None, before: list[tuple[str, int]] | None) -> FunnelMove | None:
    """The step whose conversion from the step before changed most (pp, either way); ties by order."""
    if not now or not before:
        return None
    current, previous = _conversions(now), _conversions(before)
    best = None
    for step, (prior, conversion) in current.items():
        if step not in previous:
            continue
        move = FunnelMove(step, prior, conversion, previous[step][1])
        if best is None or abs(move.delta) > abs(best.delta):
            best = move
    return best if best is not None and best.delta != 0 else None


def diagnose(rows_now: list[dict[str, Any]], rows_before: list[dict[str, Any]], week: Period, metrics: list[str],
             funnel_now: list[tuple[str, int]] | None = None, funnel_before: list[tuple[str, int]] | None = None,
             top: int = TOP_METRICS) -> Diagnosis:
    """The diagnosis from two weeks of weekly mart rows (every dimension) and their funnels."""

    def totals(rows: list[dict[str, Any]]) -> dict[str, float | None]:
        return {r["metric"]: (None if r["value"] is None else float(r["value"]))
                for r in rows if r["dimension"] == dimensions.ALL}

    moves = moved_most(totals(rows_now), totals(rows_before), metrics, top)
    explained = [(move, rootcause.explain(rows_now, rows_before, move.metric, top=3)) for move in moves]
    return Diagnosis(week, explained, funnel_move(funnel_now, funnel_before),
                     funnel_compared=bool(funnel_now) and bool(funnel_before))


def load_diagnosis(engine: Any, cfg: Any, week: Period, top: int = TOP_METRICS) -> Diagnosis:
    metrics = [m.name for m in marts.weekly_metrics(cfg.vertical, cfg.provided_tables)]
    previous = week.previous()
    with engine.connect() as conn:
        rows_now = marts.load_week_rows(conn, week)
        rows_before = marts.load_week_rows(conn, previous)
        funnels = marts.load_funnel(conn, [previous, week])
    return diagnose(rows_now, rows_before, week, metrics, funnels.get(week), funnels.get(previous), top)


def _step(key: str, locale: str) -> str:
    return step_label(key, locale) or dimension_value_text(key, locale)


def _segment(seg: rootcause.SegmentContribution, locale: str) -> str:
    dim = dimension_label(seg.dimension, locale) or dimension_value_text(seg.dimension, locale)
    return f"{dim}={dimension_value_text(seg.dimension_value, locale, dimension=seg.dimension)}"


def diagnosis_lines(diagnosis: Diagnosis, locale: str) -> list[str]:
    lines = []
    for move, cause in diagnosis.moves:
        label, unit = weekly_metric_label(move.metric, locale)
        lines.append(text(locale, "diagnosis_metric", label=label, before=format_value(move.previous, unit, locale),
                          after=format_value(move.value, unit, locale),
                          change=format_kpi_change(move.metric, move.value, move.previous, locale)))
        # root_cause_lines escape what came from data; only the indentation is added here
        causes = rootcause.root_cause_lines(cause, locale)
        lines += [f"    · {line}" for line in causes] or [text(locale, "diagnosis_no_segments")]
    if not diagnosis.moves:
        lines.append(text(locale, "diagnosis_none"))
    if diagnosis.funnel is not None:
        f = diagnosis.funnel
        lines.append(text(locale, "funnel_moved", step=f"{_step(f.previous_step, locale)} → {_step(f.step, locale)}",
                          before=format_value(f.previous_conversion, "ratio", locale),
                          after=format_value(f.conversion, "ratio", locale), change=signed_points(f.delta, locale)))
    elif not diagnosis.funnel_compared:
        lines.append(text(locale, "funnel_missing"))
    return lines


def diagnosis_actions(diagnosis: Diagnosis, locale: str) -> list[NextAction]:
    """One per moved KPI: its first segment when one explains it; a bad move priority 1, a good one 3."""
    out = []
    for move, cause in diagnosis.moves:
        label, unit = weekly_metric_label(move.metric, locale)
        common = dict(label=label, change=format_kpi_change(move.metric, move.value, move.previous, locale),
                      before=format_value(move.previous, unit, locale), after=format_value(move.value, unit, locale))
        if cause.segments:
            seg = cause.segments[0]
            share = "100%+" if seg.share > 1 else f"{seg.share * 100:.0f}%"
            key = "action_segment_bad" if move.bad else "action_segment_good"
            out.append(NextAction(text(locale, key, segment=_segment(seg, locale), share=share, **common),
                                  priority=1 if move.bad else 3))
        elif move.bad:
            out.append(NextAction(text(locale, "action_metric_bad", **common), priority=2))
    return out


def section_from_diagnosis(diagnosis: Diagnosis, locale: str) -> WeeklySection:
    data = {
        "moves": [{"metric": m.metric, "value": m.value, "previous": m.previous, "change": m.change,
                   "dimension": c.dimension,
                   "segments": [{"dimension": s.dimension, "value": s.dimension_value, "contribution": s.contribution,
                                 "share": s.share} for s in c.segments]}
                  for m, c in diagnosis.moves],
        "funnel": None if diagnosis.funnel is None else {
            "step": diagnosis.funnel.step, "conversion": diagnosis.funnel.conversion,
            "previous_conversion": diagnosis.funnel.previous_conversion},
    }
    return WeeklySection(key="diagnosis", title=text(locale, "diagnosis_title", n=TOP_METRICS),
                         lines=tuple(diagnosis_lines(diagnosis, locale)),
                         actions=tuple(diagnosis_actions(diagnosis, locale)), data=data)


def diagnosis_section(ctx: WeeklyContext) -> WeeklySection:
    """The weekly brief's diagnosis (a :data:`~.sections.SECTION_PROVIDERS` provider)."""
    return section_from_diagnosis(load_diagnosis(ctx.engine, ctx.cfg, ctx.period), ctx.locale)
