"""Weekly marts: one row per ISO week × metric × dimension × dimension_value.

A week's numbers are built from its seven daily marts and from its raw data, never by adding
up what does not add up:

* **sums** (orders, GMV, new users, sessions, payment attempts, ad spend …) add the week's
  daily measures, and **ratios of sums** divide them again (AOV = Σ GMV / Σ orders, payment
  success = Σ successes / Σ attempts, bounce rate = Σ bounced / Σ sessions, CTR, stickiness
  = Σ DAU / Σ MAU, interaction time = Σ seconds / Σ daily visitors);
* **distinct counts** come from the week's raw data (``sql/weekly/visitor_facts.sql``,
  ``sql/weekly/buyer_measures.sql``, counted in pandas): weekly active visitors (WAU), funnel-step visitors, buyers and
  repeat buyers; a visitor active on five days is one visitor. Rates over people use them:
  paying rate = buyers / WAU, registration conversion = new users / WAU, add-to-cart = cart
  adders / product viewers, share rate = sharers / WAU, repurchase = repeat buyers / buyers;
* ``dau`` is the week's mean DAU (Σ daily visitors / 7, additive over segments), ``mau``
  the 30-day MAU on the week's last day.

With them the week's active registered users per day go to ``mart_weekly_active_users``
(``sql/weekly/active_users.sql``), what retention reads.

A week is computed only when its seven days are validated and their daily marts current; the
write replaces the week in one transaction and records the week's input fingerprint (the raw
partitions' checksums of its seven days and the definitions) in ``mart_inputs`` under cadence
``weekly``, so a rerun of an unchanged week is skipped and a changed one recomputed.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opscadence import warehouse
from opscadence.analytics.daily import kpis as daily_kpis
from opscadence.core.periods import Period
from opscadence.core.sqlfiles import read_sql_frame, run_sql, sql_names, sql_text
from opscadence.metrics import dimensions
from opscadence.metrics.catalog import CATALOG, unavailable_metrics
from opscadence.warehouse.inputs import stale_or_missing_windows, window_checksums
from opscadence.warehouse.schema import mart_inputs, mart_weekly_active_users, mart_weekly_funnel, mart_weekly_kpis

CADENCE = "weekly"

Measures = dict[tuple[str, str], dict[str, float]]  # (dimension, value) -> measure -> number


@dataclass(frozen=True)
class WeeklyMetric:
    """A weekly KPI: ``numerator / denominator`` of weekly measures (or the numerator alone);
    ``per_day`` divides by the week's days (the mean DAU)."""

    name: str
    numerator: str
    denominator: str | None = None
    per_day: bool = False
    packs: tuple[str, ...] = ("ecommerce", "social")
    tables: frozenset[str] = frozenset()  # the raw tables it counts (unavailable without them)

    @property
    def unit(self) -> str:
        return CATALOG[self.name].unit if self.name in CATALOG else "count"

    @property
    def is_rate(self) -> bool:
        return self.unit == "ratio"

    @property
    def higher_is_better(self) -> bool:
        return CATALOG[self.name].higher_is_better if self.name in CATALOG else True

    def compute(self, measures: Mapping[str, float], days: int) -> tuple[float | None, float | None, float | None]:
        num = measures.get(self.numerator)
        if num is None:
            return None, None, None
        if self.per_day:
            return num / days, None, None
        if self.denominator is None:
            return float(num), None, None
        den = measures.get(self.denominator)
        if den is None:
            return None, None, None
        return (num / den if den else None), float(num), float(den)


def _metric(name: str, numerator: str, denominator: str | None = None, *, per_day: bool = False,
            tables: tuple[str, ...] | None = None) -> WeeklyMetric:
    known = CATALOG.get(name)
    packs = known.packs if known is not None else ("ecommerce", "social")
    needed = frozenset(tables) if tables is not None else known.tables()
    return WeeklyMetric(name, numerator, denominator, per_day, packs, needed)


# Weekly measures from raw distinct counts (sql/weekly) carry the daily measure names; the sums
# of daily measures are prefixed ``sum_``; ``mau_last`` is the last day's MAU.
WEEKLY_METRICS: tuple[WeeklyMetric, ...] = (
    _metric("dau", "sum_active_visitors", per_day=True),
    _metric("wau", "active_visitors", tables=("events",)),
    _metric("mau", "mau_last"),
    _metric("stickiness", "sum_active_visitors", "sum_mau_visitors"),
    _metric("new_users", "sum_new_users"),
    _metric("registration_conversion", "sum_new_users", "active_visitors"),
    _metric("paying_users", "paying_users"),
    _metric("paying_rate", "paying_users", "active_visitors"),
    _metric("repurchase_rate", "repeat_paying_users", "paying_users"),
    _metric("bounce_rate", "sum_bounced_sessions", "sum_sessions"),
    _metric("add_to_cart_conversion", "cart_adders", "product_viewers"),
    _metric("orders", "sum_paid_orders"),
    _metric("gmv", "sum_gmv"),
    _metric("aov", "sum_gmv", "sum_paid_orders"),
    _metric("payment_success_rate", "sum_payment_successes", "sum_payment_attempts"),
    _metric("ad_ctr", "sum_ad_clicks", "sum_ad_impressions"),
    _metric("ad_cost", "sum_ad_cost"),
    _metric("avg_interaction_seconds", "sum_engagement_seconds", "sum_active_visitors"),
    _metric("share_rate", "sharers", "active_visitors"),
)
WEEKLY_BY_NAME: dict[str, WeeklyMetric] = {m.name: m for m in WEEKLY_METRICS}

# The daily measures a week adds up (from the daily marts' values, numerators and denominators).
SUMMED_MEASURES = ("active_visitors", "mau_visitors", "new_users", "sessions", "bounced_sessions", "paid_orders",
                   "gmv", "payment_attempts", "payment_successes", "ad_impressions", "ad_clicks", "ad_cost",
                   "engagement_seconds")
# Distinct visitors per funnel flag of sql/weekly/visitor_facts.sql.
VISITOR_FLAGS = (("product_viewers", "viewed_product"), ("cart_adders", "added_to_cart"),
                 ("checkout_users", "checked_out"), ("sharers", "shared"), ("interactors", "interacted"),
                 ("posters", "posted"))


def weekly_metrics(vertical: str, tables: Collection[str] | None = None) -> list[WeeklyMetric]:
    """The vertical's weekly KPIs whose raw tables some source provides (None: all)."""
    out = [m for m in WEEKLY_METRICS if vertical in m.packs]
    if tables is not None:
        unavailable = unavailable_metrics(vertical, tables)
        out = [m for m in out if m.name not in unavailable and m.tables <= set(tables)]
    return out


# --- measures ---------------------------------------------------------------------------------

def daily_measures(rows: list[Mapping[str, Any]]) -> dict[tuple[date, str, str], dict[str, float]]:
    """Each day's measures per (ds, dimension, value), read back from daily mart rows: a count
    metric's value is its measure, a ratio's numerator and denominator are its two."""
    out: dict[tuple[date, str, str], dict[str, float]] = defaultdict(dict)
    for row in rows:
        metric = CATALOG.get(row["metric"])
        if metric is None:
            continue
        key = (warehouse.as_date(row["ds"]), str(row["dimension"]), str(row["dimension_value"]))
        if metric.denominator is None:
            if row["value"] is not None:
                out[key][metric.numerator] = float(row["value"])
        else:
            if row["numerator"] is not None:
                out[key][metric.numerator] = float(row["numerator"])
            if row["denominator"] is not None:
                out[key][metric.denominator] = float(row["denominator"])
    return dict(out)


def summed_measures(by_day: Mapping[tuple[date, str, str], Mapping[str, float]], last_day: date) -> Measures:
    """The week's sums of :data:`SUMMED_MEASURES` (``sum_<measure>``) and the last day's MAU."""
    out: Measures = defaultdict(dict)
    for (ds, dimension, value), measures in by_day.items():
        target = out[(dimension, value)]
        for name in SUMMED_MEASURES:
            if name in measures:
                target[f"sum_{name}"] = target.get(f"sum_{name}", 0.0) + measures[name]
        if ds == last_day and "mau_visitors" in measures:
            target["mau_last"] = measures["mau_visitors"]
    return dict(out)


def visitor_measures(facts: pd.DataFrame) -> Measures:
    """Distinct visitors per (dimension, value), overall and per funnel flag, from
    ``sql/weekly/visitor_facts.sql`` rows (a visitor with several platforms counts once per value)."""
    out: Measures = {}
    if facts.empty:
        return out
    visitor = pd.factorize(facts["visitor_id"])[0].astype(np.int64)
    flags = {measure: facts[flag].to_numpy(dtype=np.int64) > 0 for measure, flag in VISITOR_FLAGS}
    for dimension, column in daily_kpis.EVENT_DIMENSIONS:
        if column is None:
            codes, labels = np.zeros(len(facts), dtype=np.int64), np.array([dimensions.ALL], dtype=object)
        else:
            codes, labels = pd.factorize(facts[column].astype(str))
        counts = {"active_visitors": _distinct(codes, visitor, len(labels))}
        for measure, mask in flags.items():
            counts[measure] = _distinct(codes[mask], visitor[mask], len(labels))
        for index, label in enumerate(labels):
            if counts["active_visitors"][index] > 0:
                out[(dimension, str(label))] = {m: float(c[index]) for m, c in counts.items()}
    return out


# The orders dimensions of sql/weekly/buyer_measures.sql rows (None: the whole shop).
ORDER_DIMENSIONS = dimensions.breakdowns("orders")


def buyer_measures(orders: pd.DataFrame) -> Measures:
    """Distinct buyers and repeat buyers per (dimension, value) from ``sql/weekly/buyer_measures.sql``
    rows (one per paid order): a buyer of several orders counts once per value."""
    out: Measures = {}
    if orders.empty:
        return out
    buyer = pd.factorize(orders["user_id"])[0].astype(np.int64)
    repeat = orders["repeat_purchase"].to_numpy(dtype=np.int64) > 0
    for dimension, column in ORDER_DIMENSIONS:
        if column is None:
            codes, labels = np.zeros(len(orders), dtype=np.int64), np.array([dimensions.ALL], dtype=object)
        else:
            codes, labels = pd.factorize(orders[column].astype(str))
        buyers = _distinct(codes, buyer, len(labels))
        repeaters = _distinct(codes[repeat], buyer[repeat], len(labels))
        for index, label in enumerate(labels):
            out[(dimension, str(label))] = {"paying_users": float(buyers[index]),
                                            "repeat_paying_users": float(repeaters[index])}
    return out


def _distinct(group: np.ndarray, member: np.ndarray, groups: int) -> np.ndarray:
    """Distinct members per group (both integer codes)."""
    if not len(group):
        return np.zeros(groups, dtype=np.int64)
    width = int(member.max()) + 1
    keys = pd.unique(group.astype(np.int64) * width + member)
    return np.bincount(keys // width, minlength=groups)


def week_measures(conn: Connection, week: Period) -> Measures:
    """Every weekly measure of ``week`` per (dimension, value): the sums of its daily marts, the
    distinct visitors and buyers of its raw data, and its number of days (``days``)."""
    warehouse.ensure_calendar(conn, week.start, week.end)  # the repeat-buyer window of each day
    daily_rows = run_sql(conn, "kpi/kpis_for_days", start=week.start, end=week.end)
    measures: Measures = defaultdict(dict)
    for key, values in summed_measures(daily_measures(daily_rows), week.last_day).items():
        measures[key].update(values)
    facts = read_sql_frame(conn, "weekly/visitor_facts", start=week.start, end=week.end)
    for key, values in visitor_measures(facts).items():
        measures[key].update(values)
    orders = read_sql_frame(conn, "weekly/buyer_measures", start=week.start, end=week.end)
    for key, values in buyer_measures(orders).items():
        measures[key].update(values)
    days = float(len(week.days()))
    for values in measures.values():
        values["days"] = days
    return dict(measures)


def kpi_rows(measures: Measures, week: Period, vertical: str,
             tables: Collection[str] | None = None) -> list[dict[str, Any]]:
    """The weekly KPI rows: each metric where its measures exist for the dimension value."""
    rows = []
    days = len(week.days())
    for (dimension, value), values in sorted(measures.items()):
        for metric in weekly_metrics(vertical, tables):
            if metric.numerator not in values or (metric.denominator and metric.denominator not in values):
                continue
            number, numerator, denominator = metric.compute(values, days)
            rows.append({"ds": week.start, "week": week.key, "metric": metric.name, "dimension": dimension,
                         "dimension_value": value, "value": number, "numerator": numerator,
                         "denominator": denominator})
    return rows


def funnel_rows(measures: Measures, week: Period, vertical: str,
                tables: Collection[str] | None = None) -> list[dict[str, Any]]:
    """The vertical's funnel of distinct visitors per step, per dimension value with visitors
    (the payment step: distinct buyers). None without an events source."""
    if tables is not None and "events" not in tables:
        return []
    return [{**row, "week": week.key} for row in daily_kpis.funnel_rows(measures, week.start, vertical)]


# --- definitions, status, writes --------------------------------------------------------------

def definitions_version(vertical: str, tables: Collection[str] | None = None) -> str:
    """The weekly numbers' definitions: the daily marts' (they are read), the weekly SQL and
    the weekly metric list."""
    provided = None if tables is None or set(daily_kpis.RAW_TABLE_KEYS) <= set(tables) else ",".join(sorted(tables))
    return _definitions_version(vertical, provided)


@functools.cache
def _definitions_version(vertical: str, provided: str | None) -> str:
    tables = None if provided is None else provided.split(",")
    sql = [f"{name}\n{sql_text(name)}" for name in sql_names() if name.startswith("weekly/")]
    return warehouse.definitions_version([
        f"daily={daily_kpis.definitions_version(vertical, tables)}", *map(repr, WEEKLY_METRICS), *sql])


def week_status(conn: Connection, weeks: list[Period], vertical: str,
                tables: Collection[str] | None = None) -> dict[Period, str]:
    """missing / changed / current: whether each week's marts were built from today's inputs."""
    by_start = stale_or_missing_windows(conn, CADENCE, [(w.start, w.end) for w in weeks],
                                        definitions_version(vertical, tables))
    return {w: by_start[w.start] for w in weeks}


def write_week(conn: Connection, week: Period, kpis: list[dict[str, Any]], funnel: list[dict[str, Any]],
               vertical: str, tables: Collection[str] | None = None) -> None:
    """Replace the week's rows and record its inputs, inside the caller's transaction."""
    warehouse.replace_window(conn, mart_weekly_kpis, week.start, week.end, kpis)
    warehouse.replace_window(conn, mart_weekly_funnel, week.start, week.end, funnel)
    active = read_sql_frame(conn, "weekly/active_users", start=week.start, end=week.end)
    active["ds"] = pd.to_datetime(active["ds"].astype(str).str[:10], format="%Y-%m-%d").dt.date
    warehouse.replace_window(conn, mart_weekly_active_users, week.start, week.end, active)
    warehouse.record_inputs(conn, CADENCE, week.start, window_checksums(conn, week.start, week.end),
                            definitions_version(vertical, tables))


def withdraw_week(conn: Connection, week: Period) -> None:
    """Remove a week's numbers (a day of it failed validation or has no data)."""
    warehouse.replace_window(conn, mart_weekly_kpis, week.start, week.end, [])
    warehouse.replace_window(conn, mart_weekly_funnel, week.start, week.end, [])
    warehouse.replace_window(conn, mart_weekly_active_users, week.start, week.end, [])
    warehouse.record_inputs(conn, CADENCE, week.start, None, "")


def compute_week(conn: Connection, week: Period, vertical: str, tables: Collection[str] | None = None) -> int:
    """Compute and write ``week``'s marts in the caller's transaction; returns the KPI row count."""
    measures = week_measures(conn, week)
    rows = kpi_rows(measures, week, vertical, tables)
    write_week(conn, week, rows, funnel_rows(measures, week, vertical, tables), vertical, tables)
    return len(rows)


# --- reads ------------------------------------------------------------------------------------

def load_week_rows(conn: Connection, first: Period, last: Period | None = None) -> list[dict[str, Any]]:
    """Every weekly mart row of the weeks from ``first`` to ``last`` (default: ``first``)."""
    last = last or first
    return run_sql(conn, "weekly/kpis_for_weeks", start=first.start, end=last.end)


def load_totals(conn: Connection, weeks: list[Period]) -> dict[Period, dict[str, float | None]]:
    """The whole-shop value of every metric, per week that has marts (weeks without any are absent)."""
    if not weeks:
        return {}
    by_start = {w.start: w for w in weeks}
    out: dict[Period, dict[str, float | None]] = {}
    for row in run_sql(conn, "weekly/kpis_for_weeks", start=min(by_start), end=max(w.end for w in weeks)):
        week = by_start.get(warehouse.as_date(row["ds"]))
        if week is None or row["dimension"] != dimensions.ALL:
            continue
        value = row["value"]
        out.setdefault(week, {})[row["metric"]] = None if value is None else float(value)
    return out


def load_funnel(conn: Connection, weeks: list[Period]) -> dict[Period, list[tuple[str, int]]]:
    """The whole-shop weekly funnel (step, visitors) of each week that has one."""
    if not weeks:
        return {}
    by_start = {w.start: w for w in weeks}
    out: dict[Period, list[tuple[str, int]]] = {}
    for row in run_sql(conn, "weekly/funnel_for_weeks", start=min(by_start), end=max(w.end for w in weeks)):
        week = by_start.get(warehouse.as_date(row["ds"]))
        if week is not None and row["dimension"] == dimensions.ALL:
            out.setdefault(week, []).append((row["step"], int(row["users"])))
    return out


def weeks_with_marts(conn: Connection, weeks: list[Period]) -> set[Period]:
    """The weeks among ``weeks`` whose marts are written (recorded in ``mart_inputs``)."""
    if not weeks:
        return set()
    by_start = {w.start: w for w in weeks}
    query = sa.select(mart_inputs.c.ds).where(mart_inputs.c.cadence == CADENCE, mart_inputs.c.ds >= min(by_start),
                                              mart_inputs.c.ds <= max(by_start))
    return {by_start[d] for d in map(warehouse.as_date, conn.execute(query).scalars()) if d in by_start}


def has_week(conn: Connection, week: Period) -> bool:
    query = sa.select(mart_weekly_kpis.c.ds).where(mart_weekly_kpis.c.ds == week.start).limit(1)
    return conn.execute(query).first() is not None
