"""Daily KPIs and funnel: SQL measures in, catalog formulas applied, marts written idempotently."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Collection
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opscadence import warehouse
from opscadence.metrics import dimensions
from opscadence.metrics.catalog import CATALOG, metrics_for, unavailable_metrics
from opscadence.core.model import Funnel, FunnelStep, KpiValue, relative_change
from opscadence.core.sqlfiles import read_sql_frame, run_sql, sql_names, sql_text

MAU_DAYS = warehouse.MAU_DAYS
RAW_TABLE_KEYS = tuple(warehouse.RAW_TABLES)
REPURCHASE_DAYS = warehouse.REPURCHASE_DAYS

# SQL files that each return one row per ds × dimension × dimension_value with measure
# columns, for the days in [start, end); event measures come from kpi/session_facts (see
# event_measures) and MAU from kpi/visitor_days (see mau_by_day).
MEASURE_QUERIES = (
    "kpi/signup_measures",
    "kpi/order_measures",
    "kpi/payment_measures",
    "kpi/ad_measures",
)

# The measure MAU (kpi/visitor_days, :func:`mau_by_day`) is stored under.
MAU_MEASURE = "mau_visitors"

# Funnel steps and the measure that counts each step's users: the e-commerce funnel, and the
# social app's (visitors, those who liked, commented, followed, posted or shared, posters, sharers).
FUNNEL_STEPS: tuple[tuple[str, str], ...] = (
    ("page_view", "active_visitors"),
    ("product_view", "product_viewers"),
    ("add_to_cart", "cart_adders"),
    ("checkout", "checkout_users"),
    ("payment", "paying_users"),
)
SOCIAL_FUNNEL_STEPS: tuple[tuple[str, str], ...] = (
    ("visit", "active_visitors"),
    ("interact", "interactors"),
    ("post", "posters"),
    ("share", "sharers"),
)
FUNNELS: dict[str, tuple[tuple[str, str], ...]] = {"ecommerce": FUNNEL_STEPS, "social": SOCIAL_FUNNEL_STEPS}


def funnel_steps(vertical: str) -> tuple[tuple[str, str], ...]:
    """The vertical's funnel: (step, measure counting its users) in order."""
    return FUNNELS[vertical]

Measures = dict[tuple[str, str], dict[str, float]]


def range_params(start: date, end: date) -> dict[str, Any]:
    """Bind values for the measure queries over the days in [start, end)."""
    return {
        "start": start,
        "end": end,
        "mau_start": start - timedelta(days=MAU_DAYS - 1),
    }


def fill_visitor_mart(conn: Connection, start: date, end: date, *, window: bool = True,
                      refresh: bool = True) -> list[tuple[date, date]]:
    """Write ``mart_daily_visitors`` for the days in [start, end), and for every day of the MAU
    window before ``start`` that lacks it; returns the windows written.

    The mart is derived from raw events only (one row per visitor × platform × channel), so
    MAU reads small daily summaries instead of raw events; a day is summarised when computed,
    or here the first time a later day needs it. Each run of consecutive days is one
    statement. With ``window=False`` only [start, end) is written; with ``refresh=False``
    days of [start, end) that already have their summary are left as they are.
    """
    mart, raw = warehouse.mart_daily_visitors, warehouse.raw_events
    window_start = start - timedelta(days=MAU_DAYS - 1) if window else start
    # the days written anyway: the range itself, unless it is only to be completed
    rewrite_from = start if refresh else end
    probe = sa.select(mart.c.ds).where(mart.c.ds == sa.bindparam("day", type_=sa.Date)).limit(1)
    have = {  # one index probe per day that may be kept (grouping by ds would read every row)
        window_start + timedelta(days=n) for n in range((rewrite_from - window_start).days)
        if conn.execute(probe, {"day": window_start + timedelta(days=n)}).first() is not None
    }
    windows: list[tuple[date, date]] = []
    day = window_start
    while day < end:  # contiguous runs of days to write
        if day >= rewrite_from or (day not in have and has_raw_data(conn, day, exists=True)):
            if windows and windows[-1][1] == day:
                windows[-1] = (windows[-1][0], day + timedelta(days=1))
            else:
                windows.append((day, day + timedelta(days=1)))
        day += timedelta(days=1)
    for low, high in windows:
        conn.execute(mart.delete().where(mart.c.ds >= low, mart.c.ds < high))
        summary = (
            sa.select(
                raw.c.ds,
                raw.c.visitor_id,
                sa.func.coalesce(raw.c.platform, "unknown"),
                sa.func.coalesce(raw.c.utm_source, "direct"),
            )
            .where(raw.c.ds >= low, raw.c.ds < high)
            .distinct()
        )
        conn.execute(mart.insert().from_select(["ds", "visitor_id", "platform", "channel"], summary))
    return windows


# Event measures by dimension: the session_facts column of each dimension (None: all).
EVENT_DIMENSIONS = dimensions.breakdowns("events")
FUNNEL_FLAGS = (("product_viewers", "viewed_product"), ("cart_adders", "added_to_cart"),
                ("checkout_users", "checked_out"), ("sharers", "shared"),
                ("interactors", "interacted"), ("posters", "posted"))


def event_measures(facts: pd.DataFrame) -> dict[tuple[date, str, str], dict[str, float]]:
    """DAU, sessions, bounces, funnel-step users, engagement and sharers per (ds, dimension,
    value) from ``kpi/session_facts`` rows (one per ds × session × visitor × dimension values).

    A visitor counts once per value even with several sessions or platforms; a session's
    size within a value is the sum of its events there (bounce: exactly one event). Distinct
    counts run on integer codes (unique group × member keys).
    """
    out: dict[tuple[date, str, str], dict[str, float]] = {}
    if facts.empty:
        return out
    day, day_values = pd.factorize(facts["ds"])
    days = [warehouse.as_date(v) for v in day_values]
    visitor, visitors = pd.factorize(facts["visitor_id"])
    session, sessions = pd.factorize(facts["session_id"])
    events = facts["event_count"].to_numpy(dtype=np.int64)
    engagement = facts["engagement_seconds"].to_numpy(dtype=float)
    flags = {measure: facts[flag].to_numpy(dtype=np.int64) > 0 for measure, flag in FUNNEL_FLAGS}
    for dimension, column in EVENT_DIMENSIONS:
        value, labels = _dimension_codes(facts, column)
        group = day.astype(np.int64) * len(labels) + value
        groups = len(days) * len(labels)
        result = {
            "active_visitors": _distinct_per_group(group, visitor, len(visitors), groups),
            "engagement_seconds": np.bincount(group, weights=engagement, minlength=groups),
        }
        for measure, mask in flags.items():
            result[measure] = _distinct_per_group(group[mask], visitor[mask], len(visitors), groups)
        inverse, pairs = pd.factorize(group * len(sessions) + session)
        size = np.bincount(inverse, weights=events, minlength=len(pairs))
        result["sessions"] = np.bincount(pairs // len(sessions), minlength=groups)
        result["bounced_sessions"] = np.bincount(pairs // len(sessions), weights=(size == 1), minlength=groups)
        present = np.nonzero(result["active_visitors"] > 0)[0]
        for g in present:
            key = (days[g // len(labels)], dimension, str(labels[g % len(labels)]))
            out[key] = {measure: float(counts[g]) for measure, counts in result.items()}
    return out


def _dimension_codes(frame: pd.DataFrame, column: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Each row's value of a dimension as an integer code, and the values (None: 'all')."""
    if column is None:
        return np.zeros(len(frame), dtype=np.int64), np.array(["all"], dtype=object)
    return pd.factorize(frame[column].astype(str))


def _distinct_per_group(group: np.ndarray, member: np.ndarray, members: int, groups: int) -> np.ndarray:
    """How many distinct members each group has (groups and members as integer codes)."""
    keys = pd.unique(group.astype(np.int64) * members + member)  # pandas' hash table: faster than np.unique here
    return np.bincount(keys // members, minlength=groups)


# MAU by dimension: the visitor_days column of each dimension (None: all).
MAU_DIMENSIONS = dimensions.breakdowns("visitors")


def mau_by_day(visits: pd.DataFrame, start: date, end: date) -> dict[tuple[date, str, str], int]:
    """MAU per (day, dimension, dimension_value) for the days in [start, end): distinct visitors
    active in the 30 days ending on the day, overall and by each of :data:`MAU_DIMENSIONS`.

    ``visits`` has columns ds, visitor_id, platform, channel (the daily visitor summary from
    ``start - 29``). A visit on day a keeps its visitor counted from a until the visitor's
    next visit in the same dimension value or a + 30, whichever comes first; these spans never
    overlap, so a running sum of +1 at each span's start and -1 at its end counts each visitor
    once per day. Values without visitors are left out.
    """
    days = (end - start).days
    if visits.empty or days <= 0:
        return {}
    origin = start - timedelta(days=MAU_DAYS - 1)
    day_number = (pd.to_datetime(visits["ds"]) - pd.Timestamp(origin)).dt.days.to_numpy()
    inside = (day_number >= 0) & (day_number < MAU_DAYS - 1 + days)  # visits outside every window
    visits, day_number = visits[inside], day_number[inside]
    visitor = pd.factorize(visits["visitor_id"])[0]
    out: dict[tuple[date, str, str], int] = {}
    for dimension, column in MAU_DIMENSIONS:
        codes, labels = _dimension_codes(visits, column)
        frame = pd.DataFrame({"value": codes, "visitor": visitor, "day": day_number}).drop_duplicates()
        frame = frame.sort_values(["value", "visitor", "day"], kind="stable")
        same_next = (frame["value"].shift(-1) == frame["value"]) & (frame["visitor"].shift(-1) == frame["visitor"])
        next_day = frame["day"].shift(-1).where(same_next)
        until = np.minimum(frame["day"].to_numpy() + MAU_DAYS, next_day.fillna(np.inf).to_numpy()).astype(np.int64)
        width = MAU_DAYS - 1 + days + MAU_DAYS + 1
        counts = np.zeros((len(labels), width), dtype=np.int64)
        np.add.at(counts, (frame["value"].to_numpy(), frame["day"].to_numpy()), 1)
        np.add.at(counts, (frame["value"].to_numpy(), until), -1)
        mau = np.cumsum(counts, axis=1)[:, MAU_DAYS - 1: MAU_DAYS - 1 + days]
        for value_index, day_index in zip(*np.nonzero(mau > 0)):
            day = start + timedelta(days=int(day_index))
            out[(day, dimension, str(labels[value_index]))] = int(mau[value_index, day_index])
    return out


def prepare_range(conn: Connection, start: date, end: date, *, refresh: bool = True) -> None:
    """Write what the measure queries of [start, end) read besides raw data: the calendar
    rows and the daily visitor summary (of the range, and any missing day of its MAU window;
    ``refresh=False``: the range's days already summarised are kept)."""
    warehouse.ensure_calendar(conn, start, end)
    fill_visitor_mart(conn, start, end, refresh=refresh)


def query_measures_range(conn: Connection, start: date, end: date) -> dict[date, Measures]:
    """Every measure for each day in [start, end) (read-only; :func:`prepare_range` first)."""
    params = range_params(start, end)
    measures: dict[date, Measures] = defaultdict(lambda: defaultdict(dict))
    facts = read_sql_frame(conn, "kpi/session_facts", **params)
    for (ds, dimension, value), values in event_measures(facts).items():
        measures[ds][(dimension, value)].update(values)
    del facts
    for name in MEASURE_QUERIES:
        for row in run_sql(conn, name, **params):
            ds = warehouse.as_date(row.pop("ds"))
            key = (row.pop("dimension"), str(row.pop("dimension_value")))
            for measure, value in row.items():
                measures[ds][key][measure] = 0.0 if value is None else float(value)
    visits = read_sql_frame(conn, "kpi/visitor_days", **params)
    for (ds, dimension, value), mau in mau_by_day(visits, start, end).items():
        measures[ds][(dimension, value)][MAU_MEASURE] = float(mau)
    return {ds: dict(by_key) for ds, by_key in measures.items()}


def compute_measures_range(conn: Connection, start: date, end: date) -> dict[date, Measures]:
    """Every measure for each day in [start, end): {ds: {(dimension, value): {measure: number}}}.

    One query per measure family covers the whole range (grouped by ds), so a backfill of a
    month costs about as much SQL as its rows, not 30 times a day's fixed cost; the daily
    flow is the range of one day. Refreshes the visitor summary of the range (and any missing
    day of the MAU window) first, on ``conn``: inside the caller's transaction, like the marts
    written after it.
    """
    prepare_range(conn, start, end)
    return query_measures_range(conn, start, end)


def compute_measures(conn: Connection, ds: date) -> Measures:
    """Every measure of one day (see :func:`compute_measures_range`)."""
    return compute_measures_range(conn, ds, ds + timedelta(days=1)).get(ds, {})


def kpi_rows(measures: Measures, ds: date, vertical: str, tables: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Apply the catalog to each dimension's measures; only metrics whose inputs exist there,
    and whose raw tables some source provides (``tables``; None: all)."""
    rows = []
    unavailable = unavailable_metrics(vertical, tables) if tables is not None else {}
    for (dimension, dimension_value), values in sorted(measures.items()):
        for metric in metrics_for(vertical):
            if metric.name in unavailable or metric.numerator not in values:
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


def funnel_rows(measures: Measures, ds: date, vertical: str = "ecommerce") -> list[dict[str, Any]]:
    """The vertical's funnel steps per dimension value that has visitors."""
    rows = []
    for (dimension, dimension_value), values in sorted(measures.items()):
        if "active_visitors" not in values:
            continue  # e.g. payment_method: no event-based steps
        for index, (step, measure) in enumerate(funnel_steps(vertical)):
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
    """Withdraw a day's numbers (its data failed validation), and the record of their inputs."""
    write_marts(conn, ds, [], [])
    warehouse.record_inputs(conn, CADENCE, ds, None, "")


# The cadence these marts belong to (its key in mart_inputs).
CADENCE = "daily"
# The SQL that defines the daily numbers: a change in any of these files recomputes the marts.
DEFINITION_SQL_DIRS = ("kpi/", "funnel/", "staging/")


def definitions_version(vertical: str, tables: Collection[str] | None = None) -> str:
    """What the daily marts' numbers are defined by: their SQL, the metric catalogue, the
    vertical, and the raw tables the sources provide (when not all of them)."""
    provided = None if tables is None or set(RAW_TABLE_KEYS) <= set(tables) else ",".join(sorted(tables))
    return _definitions_version(vertical, provided)


@functools.cache
def _definitions_version(vertical: str, provided: str | None) -> str:
    # the funnel too: switching vertical recomputes the marts (another pack and funnel)
    sql = [f"{name}\n{sql_text(name)}" for name in sql_names() if name.startswith(DEFINITION_SQL_DIRS)]
    catalogue = [repr(CATALOG[name]) for name in sorted(CATALOG)]
    scope = [f"vertical={vertical}"] + ([f"tables={provided}"] if provided is not None else [])
    funnel = repr(funnel_steps(vertical))
    return warehouse.definitions_version([*scope, *catalogue, f"funnel={funnel}", *sql])


def record_day_inputs(conn: Connection, ds: date, checksums: dict[str, dict[str, Any]], vertical: str,
                      tables: Collection[str] | None = None) -> None:
    warehouse.record_inputs(conn, CADENCE, ds, checksums, definitions_version(vertical, tables))


def day_status(conn: Connection, days: list[date], vertical: str,
               tables: Collection[str] | None = None) -> dict[date, str]:
    """missing / changed / current: whether each day's marts were built from today's inputs."""
    return warehouse.stale_or_missing(conn, CADENCE, days, definitions_version(vertical, tables))


def withdraw_marts(engine: Engine, ds: date) -> None:
    """Withdraw a day's numbers, in a transaction of their own (its data failed validation)."""
    with engine.begin() as conn:
        clear_marts(conn, ds)


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
    frame = read_sql_frame(conn, "kpi/kpis_for_days", start=start, end=end)
    days = {value: warehouse.as_date(value) for value in frame["ds"].unique()}
    return {
        (days[ds], metric, dimension, value_label): (None if value is None or value != value else float(value))
        for ds, metric, dimension, value_label, value in zip(
            frame["ds"], frame["metric"], frame["dimension"], frame["dimension_value"], frame["value"])
    }


def load_kpi_rows(conn: Connection, ds: date) -> list[dict[str, Any]]:
    """Every mart row of one day (all metrics and dimensions, with numerator and denominator)."""
    return run_sql(conn, "kpi/kpis_for_days", start=ds, end=ds + timedelta(days=1))


def load_funnel(conn: Connection, start: date, end: date, dimension: str = "all", value: str = "all") -> dict[date, list[tuple[str, int]]]:
    out: dict[date, list[tuple[str, int]]] = defaultdict(list)
    for row in run_sql(conn, "funnel/funnel_for_days", start=start, end=end):
        if row["dimension"] == dimension and row["dimension_value"] == value:
            out[warehouse.as_date(row["ds"])].append((row["step"], int(row["users"])))
    return dict(out)


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
