"""The intraday watch: urgent metrics over today's partial data, judged every 15 minutes.

Payment success so far (confidently below the line, with a minimum volume), paid orders so
far vs the same time on the same weekday last week, and feedback with urgent keywords. Each
breach is a P1 observation for the alert lifecycle (scope ``watch``), so it pages once when
it starts and replies once when it ends. When no events have landed for a while although
last week had some at that hour, the data is late: one data-quality alert is raised instead
and the KPI watch rules keep their state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from scipy.stats import binomtest
from sqlalchemy.engine import Engine

from opscadence import warehouse
from opscadence.core.config import Config
from opscadence.alerting.lifecycle import Observation
from opscadence.core.model import Alert
from opscadence.core.privacy import mask_pii
from opscadence.core.sqlfiles import run_sql
from opscadence.reporting.describe import watch_no_events, watch_payments

SCOPE = "watch"
KPI_RULES = ("watch:payment_success_rate", "watch:orders_so_far")


@dataclass
class WatchResult:
    ds: date
    cutoff: datetime  # shop-local, naive
    observations: list[Observation] = field(default_factory=list)
    data_late: bool = False
    numbers: dict[str, float] = field(default_factory=dict)


def success_rate_upper_bound(successes: int, attempts: int, confidence: float = 0.95) -> float:
    """Upper end of the Wilson interval: the rate is confidently below a line above this."""
    return binomtest(successes, attempts).proportion_ci(confidence_level=confidence, method="wilson").high


def _alert(rule: str, metric: str, condition: str, threshold: float, value: float | None, baseline: float | None,
           *, dimension: str = "all", dimension_value: str = "all", kind: str = "watch", severity: str = "P1") -> Alert:
    return Alert(rule_id=rule, metric=metric, dimension=dimension, dimension_value=dimension_value,
                 condition=condition, threshold=threshold, value=value, baseline=baseline, severity=severity, kind=kind)


def evaluate(engine: Engine, cfg: Config, now_local: datetime) -> WatchResult:
    """Judge today's data up to ``now_local`` (naive, shop timezone)."""
    settings = cfg.watch
    ds = now_local.date()
    last_week = ds - timedelta(days=7)
    cutoff_last_week = now_local - timedelta(days=7)
    result = WatchResult(ds=ds, cutoff=now_local)
    with engine.connect() as conn:
        window_start = max(datetime.combine(ds, datetime.min.time()), now_local - timedelta(minutes=settings.late_after_minutes))
        recent = run_sql(conn, "watch/recent_events", ds=ds, cutoff=now_local, window_start=window_start,
                         ds_last_week=last_week, cutoff_last_week=cutoff_last_week,
                         window_start_last_week=window_start - timedelta(days=7))[0]
        payments = run_sql(conn, "watch/payments_so_far", ds=ds, cutoff=now_local)[0]
        orders = run_sql(conn, "watch/orders_so_far", ds=ds, cutoff=now_local, ds_last_week=last_week,
                         cutoff_last_week=cutoff_last_week)[0]
        feedback_table = warehouse.raw_feedback
        texts = conn.execute(
            sa.select(feedback_table.c.text)
            .where(feedback_table.c.ds == ds, feedback_table.c.created_at < now_local)
            .order_by(feedback_table.c.created_at)
        ).scalars().all()

    full_window = now_local - window_start >= timedelta(minutes=settings.late_after_minutes)
    result.data_late = full_window and int(recent["events_recent"]) == 0 and int(recent["events_recent_last_week"]) > 0
    result.observations.append(Observation(
        _alert("watch:data_late", "data_quality", "validation_failed", 0.0, 0.0, float(recent["events_recent_last_week"]),
               dimension="table", dimension_value="events", kind="data_quality", severity="P2"),
        breached=result.data_late,
        details=(watch_no_events(window_start, int(recent["events_recent_last_week"]), cfg.tz, cfg.locale),)
        if result.data_late else (),
    ))

    if not result.data_late:
        attempts, successes = int(payments["payment_attempts"]), int(payments["payment_successes"])
        rate = successes / attempts if attempts else None
        confidently_low = (
            attempts >= settings.min_payment_attempts
            and success_rate_upper_bound(successes, attempts) < settings.payment_success_below
        )
        result.numbers.update(payment_attempts=attempts, payment_successes=successes)
        result.observations.append(Observation(
            _alert("watch:payment_success_rate", "payment_success_rate", "below", settings.payment_success_below,
                   rate, settings.payment_success_below),
            breached=confidently_low,
            details=(watch_payments(successes, attempts, datetime.combine(ds, datetime.min.time()), cfg.tz, cfg.locale),)
            if confidently_low else (),
        ))
        so_far, before = int(orders["orders_so_far"]), int(orders["orders_last_week"])
        result.numbers.update(orders_so_far=so_far, orders_last_week=before)
        dropped = before >= settings.min_orders_last_week and so_far < (1 - settings.orders_drop) * before
        result.observations.append(Observation(
            _alert("watch:orders_so_far", "orders", "drop_vs_last_week", settings.orders_drop, float(so_far), float(before)),
            breached=dropped,
        ))

    keywords = [k.lower() for k in cfg.urgent_keywords]
    urgent = [t for t in texts if t and any(k in t.lower() for k in keywords)]
    result.numbers["urgent_feedback"] = len(urgent)
    # One alert per day: new urgent feedback the next day is a new incident.
    result.observations.append(Observation(
        _alert("watch:urgent_feedback", "urgent_feedback", "above", 0.0, float(len(urgent)), 0.0,
               dimension="day", dimension_value=ds.isoformat()),
        breached=bool(urgent),
        details=tuple(mask_pii(t)[:200] for t in urgent[:3]),
    ))
    return result


def covered(result: WatchResult):
    """Which stored watch alerts this evaluation judges: all, except the KPI rules while data is late."""
    def judge(row) -> bool:
        return not (result.data_late and row.rule_id in KPI_RULES)

    return judge
