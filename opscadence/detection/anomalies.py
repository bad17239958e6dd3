"""Seasonal anomaly alerts: the detector (opscadence.detection.detector) run over the daily KPI mart."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pandas as pd
from sqlalchemy.engine import Connection

from opscadence.core.config import Config
from opscadence.detection.detector import CalendarDay, MetricPolicy, default_policy, detect_long
from opscadence.metrics.catalog import CATALOG, metrics_for
from opscadence.core.model import Alert
from opscadence.core.sqlfiles import read_sql_frame


def policies(cfg: Config) -> dict[str, MetricPolicy]:
    """Default policy per metric of the pack, with the config's overrides applied."""
    out = {}
    for metric in metrics_for(cfg.vertical):
        policy = default_policy(metric.name)
        override = cfg.detection.metrics.get(metric.name)
        if override is not None:
            changes = {k: v for k, v in override.model_dump().items()
                       if v is not None and k in ("direction", "min_relative_change", "sensitivity", "min_denominator")}
            policy = replace(policy, **changes)
        out[metric.name] = policy
    return out


def calendars(cfg: Config) -> dict[str, list[CalendarDay]]:
    """Business-calendar days per metric; uplifts apply to counts and money, not to rates."""
    out: dict[str, list[CalendarDay]] = {}
    for metric in metrics_for(cfg.vertical):
        days = [
            CalendarDay(ds=entry.date, name=entry.name, expected_uplift=entry.expected_uplift)
            for entry in cfg.calendar
            if entry.metrics is None or metric.name in entry.metrics
        ]
        out[metric.name] = days
    return out


def history_frame(conn: Connection, ds: date, lookback_days: int) -> pd.DataFrame:
    """Whole-shop KPI history (ds, metric, value, denominator) for [ds - lookback, ds]."""
    frame = read_sql_frame(conn, "kpi/shop_history", start=ds - timedelta(days=lookback_days), end=ds + timedelta(days=1))
    frame["ds"] = pd.to_datetime(frame["ds"]).dt.date
    frame["value"] = frame["value"].astype(float)
    frame["denominator"] = frame["denominator"].astype(float)
    return frame.reset_index(drop=True)


def _enabled(cfg: Config, skip: set[str]) -> set[str]:
    return {
        name for name in policies(cfg)
        if name not in skip and (cfg.detection.metrics.get(name) is None or cfg.detection.metrics[name].enabled)
    }


def anomaly_alerts(history: pd.DataFrame, ds: date, cfg: Config, *, skip: set[str] = frozenset()) -> list[Alert]:
    """Anomalies of ``ds`` on the whole shop, one alert per metric (metrics in ``skip`` are left out)."""
    frame = history[history["metric"].isin(_enabled(cfg, skip))]
    if frame.empty or not (frame["ds"] == ds).any():
        return []
    # Additive metrics have no denominator; the detector treats NaN as "no volume information".
    verdicts = detect_long(frame, policies=policies(cfg), calendar=calendars(cfg), min_history=cfg.detection.min_history)
    return _alerts(verdicts[(verdicts["ds"] == ds) & verdicts["is_anomaly"].astype(bool)], cfg)


def anomaly_alerts_for_days(history: pd.DataFrame, days: list[date], cfg: Config, *,
                            skip: dict[date, set[str]] | None = None) -> dict[date, list[Alert]]:
    """:func:`anomaly_alerts` for each of ``days`` in one detector call (a backfill chunk).

    ``history`` covers [min(days) - lookback, max(days)]. Each day is judged on its own
    window, [day - lookback, day] of ``history`` without the metrics in ``skip[day]``, exactly
    as :func:`anomaly_alerts` judges it alone: the windows are stacked as separate series
    (``detect_long``'s ``family``), each its own false-discovery family. One call over the
    whole range would not do: a verdict depends on how far back its history starts.
    """
    skip = skip or {}
    lookback = timedelta(days=cfg.detection.lookback_days)
    parts = []
    for ds in days:
        window = history[(history["ds"] >= ds - lookback) & (history["ds"] <= ds)]
        frame = window[window["metric"].isin(_enabled(cfg, skip.get(ds, set())))]
        if frame.empty or not (frame["ds"] == ds).any():
            continue
        parts.append(frame.assign(_window=ds))
    out: dict[date, list[Alert]] = {ds: [] for ds in days}
    if not parts:
        return out
    verdicts = detect_long(pd.concat(parts, ignore_index=True), policies=policies(cfg), calendar=calendars(cfg),
                           min_history=cfg.detection.min_history, family="_window")
    flagged = verdicts[(verdicts["ds"] == verdicts["_window"]) & verdicts["is_anomaly"].astype(bool)]
    for ds, rows in flagged.groupby("_window", sort=False):
        out[ds] = _alerts(rows.sort_values("metric", kind="stable"), cfg)
    return out


def _alerts(today: pd.DataFrame, cfg: Config) -> list[Alert]:
    """One alert per flagged verdict row of a day."""
    found = []
    for row in today.itertuples(index=False):
        override = cfg.detection.metrics.get(row.metric)
        severity = (override.severity if override and override.severity else None) or cfg.detection.severity
        found.append(
            Alert(
                rule_id=f"anomaly:{row.metric}",
                metric=row.metric,
                dimension="all",
                dimension_value="all",
                condition=f"anomaly_{row.direction}",
                threshold=float(policies(cfg)[row.metric].sensitivity),
                value=float(row.value),
                baseline=float(row.expected),
                severity=severity,
                kind="anomaly",
            )
        )
    return sorted(found, key=lambda a: (a.severity, list(CATALOG).index(a.metric) if a.metric in CATALOG else 99))
