"""Daily KPIs and funnel: SQL measures in, catalog formulas applied, marts written idempotently."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opscadence import warehouse
from opscadence.metrics import CATALOG, metrics_for
from opscadence.model import Funnel, FunnelStep, KpiValue, relative_change
from opscadence.sqlfiles import run_sql

MAU_DAYS = 30
REPURCHASE_DAYS = 90

# SQL files that each return one row per dimension × dimension_value with measure columns.
MEASURE_QUERIES = (
    "kpi/event_measures",
    "kpi/mau_measures",
    "kpi/signup_measures",
    "kpi/order_measures",
    "kpi/payment_measures",
    "kpi/ad_measures",
)

# Funnel steps and the measure that counts each step's users.
FUNNEL_STEPS: tuple[tuple[str, str], ...] = (
    ("page_view", "active_visitors"),
    ("product_view", "product_viewers"),
    ("add_to_cart", "cart_adders"),
    ("checkout", "checkout_users"),
    ("payment", "paying_users"),
)

Measures = dict[tuple[str, str], dict[str, float]]


def measure_params(ds: date) -> dict[str, Any]:
    return {
        "ds": ds,
        "mau_start": ds - timedelta(days=MAU_DAYS - 1),
        "repeat_start": ds - timedelta(days=REPURCHASE_DAYS),
    }


def fill_visitor_mart(conn: Connection, start: date, ds: date) -> list[date]:
    """Write ``mart_daily_visitors`` for ``ds`` and for every day in [start, ds) that lacks it.

    The mart is derived from raw events only (one row per visitor × platform × channel), so
    MAU reads 30 small daily summaries instead of 30 days of raw events; a day is summarised
    once (when computed, or here the first time a later day needs it). Returns the days written.
    """
    mart, raw = warehouse.mart_daily_visitors, warehouse.raw_events
    have = set(
        _as_date(d) for d in conn.execute(
            sa.select(mart.c.ds).where(mart.c.ds >= start, mart.c.ds < ds).group_by(mart.c.ds)
        ).scalars()
    )
    todo = []
    day = start
    while day < ds:
        if day not in have and has_raw_data(conn, day, exists=True):
            todo.append(day)
        day += timedelta(days=1)
    todo.append(ds)
    for day in todo:
        conn.execute(mart.delete().where(mart.c.ds == day))
        summary = (
            sa.select(
                raw.c.ds,
                raw.c.visitor_id,
                sa.func.coalesce(raw.c.platform, "unknown"),
                sa.func.coalesce(raw.c.utm_source, "direct"),
            )
            .where(raw.c.ds == day)
            .distinct()
        )
        conn.execute(mart.insert().from_select(["ds", "visitor_id", "platform", "channel"], summary))
    return todo


def compute_measures(conn: Connection, ds: date) -> Measures:
    """Run every measure query for ``ds``; merge into {(dimension, value): {measure: number}}.

    Refreshes the day's visitor summary (and any missing one of the MAU window) first, on
    ``conn``: inside the caller's transaction, like the marts written after it.
    """
    params = measure_params(ds)
    fill_visitor_mart(conn, params["mau_start"], ds)
    measures: Measures = defaultdict(dict)
    for name in MEASURE_QUERIES:
        for row in run_sql(conn, name, **params):
            key = (row.pop("dimension"), str(row.pop("dimension_value")))
            for measure, value in row.items():
                measures[key][measure] = 0.0 if value is None else float(value)
    return dict(measures)


def kpi_rows(measures: Measures, ds: date, vertical: str) -> list[dict[str, Any]]:
    """Apply the catalog to each dimension's measures; only metrics whose inputs exist there."""
    rows = []
    for (dimension, dimension_value), values in sorted(measures.items()):
        for metric in metrics_for(vertical):
            if metric.numerator not in values:
                continue
            if metric.denominator is not None and metric.denominator not in values:
                continue
            value, numerator, denominator = metric.compute(values)
            rows.append(
                {
                    "ds": ds,
                    "metric": metric.name,
                    "dimension": dimension,
                    "dimension_value": dimension_value,
                    "value": value,
                    "numerator": numerator,
                    "denominator": denominator,
                }
            )
    return rows


def funnel_rows(measures: Measures, ds: date) -> list[dict[str, Any]]:
    rows = []
    for (dimension, dimension_value), values in sorted(measures.items()):
        if "active_visitors" not in values:
            continue  # e.g. payment_method: no event-based steps
        for index, (step, measure) in enumerate(FUNNEL_STEPS):
            rows.append(
                {
                    "ds": ds,
                    "step_index": index,
                    "step": step,
                    "dimension": dimension,
                    "dimension_value": dimension_value,
                    "users": int(values.get(measure, 0)),
                }
            )
    return rows


def write_marts(conn: Connection, ds: date, kpis: list[dict[str, Any]], funnel: list[dict[str, Any]]) -> None:
    end = ds + timedelta(days=1)
    warehouse.replace_window(conn, warehouse.mart_daily_kpis, ds, end, kpis)
    warehouse.replace_window(conn, warehouse.mart_daily_funnel, ds, end, funnel)


def clear_marts(conn: Connection, ds: date) -> None:
    """Withdraw a day's numbers (its data failed validation)."""
    write_marts(conn, ds, [], [])


def has_marts(conn: Connection, ds: date) -> bool:
    query = sa.select(sa.func.count()).select_from(warehouse.mart_daily_kpis).where(warehouse.mart_daily_kpis.c.ds == ds)
    return conn.execute(query).scalar_one() > 0


def has_raw_data(conn: Connection, ds: date, *, exists: bool = False) -> bool:
    if exists:  # an index probe, not a count of the day's events
        probe = sa.select(warehouse.raw_events.c.ds).where(warehouse.raw_events.c.ds == ds).limit(1)
        return conn.execute(probe).first() is not None
    query = sa.select(sa.func.count()).select_from(warehouse.raw_events).where(warehouse.raw_events.c.ds == ds)
    return conn.execute(query).scalar_one() > 0


def load_kpis(conn: Connection, start: date, end: date) -> dict[tuple[date, str, str, str], float | None]:
    """KPI values for ds in [start, end) keyed by (ds, metric, dimension, dimension_value)."""
    out = {}
    for row in run_sql(conn, "kpi/kpis_for_days", start=start, end=end):
        out[(_as_date(row["ds"]), row["metric"], row["dimension"], row["dimension_value"])] = row["value"]
    return out


def load_kpi_rows(conn: Connection, ds: date) -> list[dict[str, Any]]:
    """Every mart row of one day (all metrics and dimensions, with numerator and denominator)."""
    return run_sql(conn, "kpi/kpis_for_days", start=ds, end=ds + timedelta(days=1))


def load_funnel(conn: Connection, start: date, end: date, dimension: str = "all", value: str = "all") -> dict[date, list[tuple[str, int]]]:
    out: dict[date, list[tuple[str, int]]] = defaultdict(list)
    for row in run_sql(conn, "funnel/funnel_for_days", start=start, end=end):
        if row["dimension"] == dimension and row["dimension_value"] == value:
            out[_as_date(row["ds"])].append((row["step"], int(row["users"])))
    return dict(out)


def _as_date(value: Any) -> date:
    # SQLite returns ISO strings through text() queries; PostgreSQL returns dates.
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def headline_kpis(values: dict[tuple[date, str, str, str], float | None], ds: date, metrics: list[str]) -> list[KpiValue]:
    previous, last_week = ds - timedelta(days=1), ds - timedelta(days=7)
    return [
        KpiValue(
            metric=name,
            value=values.get((ds, name, "all", "all")),
            previous_day=values.get((previous, name, "all", "all")),
            same_weekday_last_week=values.get((last_week, name, "all", "all")),
        )
        for name in metrics
        if name in CATALOG
    ]


def build_funnel(steps_by_day: dict[date, list[tuple[str, int]]], ds: date) -> Funnel | None:
    """Step conversions for ``ds`` vs the previous day and the same weekday last week.

    The weakest step is the one whose conversion fell most (relative), preferring the
    week-over-week comparison (it is free of weekday rhythm) when last week is known.
    """
    today = steps_by_day.get(ds)
    if not today:
        return None
    previous = _conversions(steps_by_day.get(ds - timedelta(days=1)))
    last_week = _conversions(steps_by_day.get(ds - timedelta(days=7)))
    current = _conversions(today)
    steps = []
    for index, (step, users) in enumerate(today):
        steps.append(
            FunnelStep(
                step=step,
                users=users,
                conversion=current.get(step) if index else None,
                conversion_previous_day=previous.get(step) if index else None,
                conversion_last_week=last_week.get(step) if index else None,
            )
        )
    baseline_name, baseline = ("last_week", last_week) if last_week else ("previous_day", previous)
    weakest, weakest_change = None, None
    for step, conversion in current.items():
        change = relative_change(conversion, baseline.get(step))
        if change is not None and change < 0 and (weakest_change is None or change < weakest_change):
            weakest, weakest_change = step, change
    return Funnel(
        steps=steps,
        weakest_step=weakest,
        weakest_change=weakest_change,
        weakest_baseline=baseline_name if weakest else None,
    )


def _conversions(steps: list[tuple[str, int]] | None) -> dict[str, float]:
    """Conversion into each step from the step before it (steps after the first)."""
    if not steps:
        return {}
    out = {}
    for (_, before), (step, users) in zip(steps, steps[1:]):
        if before:
            out[step] = users / before
    return out
