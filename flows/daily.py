"""The daily cadence: a validated data brief for the day that just ended, before 10:00."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone
from typing import Any

from prefect import flow, get_run_logger

from opscadence.core.locks import period_lock
from opscadence.core.periods import get_cadence, is_complete
from opscadence.delivery.outbox import outbox_health
from opscadence.reporting.i18n import plain_text
from opscadence.reporting.playbook import Playbook

from flows.common import build_context, delivery_rows, inject_fault, logical_period, raise_if_undelivered
from tasks.compute import assemble_brief, compute_marts, evaluate_alerts, prepare_baselines
from tasks.extract import extract_partitions
from tasks.alerting import explain_alerts, notify_alerts, update_alert_lifecycle
from tasks.notify import deliver_message, render_brief
from tasks.validate import validate_partitions

CADENCE = "daily"
BRIEF_KIND = "daily-brief"


@flow(name="daily-brief", log_prints=False)
def daily_brief(as_of: date | None = None, notify: bool = True, allow_partial: bool = False) -> dict[str, Any]:
    """Validate the day's data, compute KPIs, funnel and alerts, and deliver the brief.

    ``as_of`` is the logical date; None means yesterday in the shop's timezone, taken from
    the run's scheduled start, so scheduled runs, UI reruns and backfills behave alike.
    A day that has not ended yet in the shop's timezone is refused unless ``allow_partial``;
    the brief of such a day says it is partial and its alerts leave the alert lifecycle alone.
    ``notify=False`` records the day's alerts but sends nothing and leaves the alert lifecycle
    alone (backfills).
    """
    ctx = build_context()
    cfg, engine = ctx.cfg, ctx.engine
    period = logical_period(CADENCE, as_of, cfg, allow_partial=allow_partial)
    partial = not is_complete(period, cfg.timezone)
    ds = period.start
    logger = get_run_logger()
    logger.info("daily brief for %s (%s)", ds, cfg.timezone)

    # One run per period at a time: a concurrent rerun waits, then finds the brief already sent.
    with period_lock(engine, get_cadence(CADENCE).lock_key(period)):
        baselines = prepare_baselines(engine, ctx.source, ds, cfg.vertical)
        recomputed = sorted(d.isoformat() for d, why in baselines.items() if why == "changed")
        if recomputed:
            logger.info("%d day(s) recomputed: inputs changed (%s)", len(recomputed), ", ".join(recomputed))
        extracted = extract_partitions(ctx.source, ds)
        report = validate_partitions(engine, ctx.source, extracted)
        if not report.passed:
            logger.warning("validation failed for %s: %d critical check(s)", ds, len(report.critical_failures))
        compute_marts(engine, ds, cfg.vertical, report, ctx.source.tables)
        inject_fault("after-compute")
        alerts = evaluate_alerts(engine, cfg, ds, report)
        details = explain_alerts(engine, ds, alerts, cfg.locale)  # root causes, for the brief and the alerts
        brief = assemble_brief(engine, cfg, ds, report, alerts, ctx.run_url, details, partial)
        if notify:
            # Earlier messages still undelivered: one line in the brief (its own row excluded).
            health = outbox_health(engine, exclude=(BRIEF_KIND, ds))
            brief = replace(brief, undelivered=health.undelivered, undelivered_since=health.oldest_period)
        message, content_key = render_brief(brief, cfg.locale, Playbook(cfg.playbook))

        deliveries = []
        if notify:
            for channel in cfg.slack.channels.brief_channels():
                deliveries.append(deliver_message(engine, ctx.slack, BRIEF_KIND, ds, channel, message, cfg.outbox_dir,
                                                  content_key, period.key))
            # Alerts notify on state changes only: once when firing, once (in thread) when resolved.
            # A partial day's numbers can neither open nor resolve an alert (the lifecycle refuses it too).
            if not partial:
                now = datetime.now(timezone.utc)
                transitions = update_alert_lifecycle(engine, cfg, ds, report, alerts, details, now)
                deliveries += notify_alerts(engine, ctx.slack, cfg, transitions, now)
    engine.dispose()
    return raise_if_undelivered({
        "cadence": CADENCE,
        "period": period.key,
        "ds": ds.isoformat(),
        "validation_passed": report.passed,
        "partial": partial,
        "recomputed": recomputed,  # comparison days whose inputs changed since their marts
        "alerts": [f"{a.severity} {a.metric} {a.dimension}={a.dimension_value}" for a in alerts],
        "text": plain_text(message.text),  # for the terminal: the Slack escaping undone
        "deliveries": delivery_rows(deliveries),
    }, deliveries)


if __name__ == "__main__":
    daily_brief()
