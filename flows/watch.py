"""The intraday watch (every 15 minutes): urgent metrics on today's partial data, P1 alerts."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from prefect import flow, get_run_logger

from flows.common import build_context, delivery_rows, raise_if_undelivered
from opscadence.core.locks import period_lock
from tasks.alerting import notify_alerts
from tasks.watch import evaluate_watch, update_watch_lifecycle


@flow(name="watch", log_prints=False)
def watch(as_of: datetime | None = None, notify: bool = True) -> dict[str, Any]:
    """Judge today's data up to ``as_of`` (default: the run's scheduled start), in the shop's timezone.

    Alerts fire on the first run after the data lands and resolve (one thread reply) when the
    metric recovers; unacknowledged P1s escalate at their deadline (checked on every run).
    """
    from prefect.runtime import flow_run

    ctx = build_context()
    cfg, engine = ctx.cfg, ctx.engine
    moment = as_of or flow_run.scheduled_start_time or datetime.now(timezone.utc)
    moment = datetime.fromisoformat(moment.isoformat())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=cfg.tz)  # a naive time is shop-local
    now_local = moment.astimezone(cfg.tz).replace(tzinfo=None, second=0, microsecond=0)
    now_utc = moment.astimezone(timezone.utc)
    get_run_logger().info("intraday watch at %s (%s)", now_local, cfg.timezone)

    with period_lock(engine, f"watch:{now_local.date()}"):
        result = evaluate_watch(engine, cfg, now_local)
        transitions = update_watch_lifecycle(engine, cfg, result, now_utc)
        deliveries = notify_alerts(engine, ctx.slack, cfg, transitions, now_utc) if notify else []
    engine.dispose()
    return raise_if_undelivered({
        "at": now_local.isoformat(timespec="minutes"),
        "data_late": result.data_late,
        "numbers": result.numbers,
        "breached": [o.alert.rule_id for o in result.observations if o.breached],
        "transitions": [f"{t.alert.rule_id}: {t.before} -> {t.after}" for t in transitions],
        "deliveries": delivery_rows(deliveries),
    }, deliveries)
