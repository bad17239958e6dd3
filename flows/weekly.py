"""The weekly cadence: the review of the ISO week that just ended, Monday 09:30 in the shop's timezone."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger

from opscadence.analytics.weekly.sections import WeeklyContext
from opscadence.core.locks import period_lock
from opscadence.core.periods import get_cadence, is_complete
from opscadence.delivery.outbox import outbox_health
from opscadence.pipelines.weekly import BRIEF_KIND, assemble_brief, chart_location, week_notes
from opscadence.reporting.i18n import plain_text

from flows.common import build_context, delivery_rows, logical_period, raise_if_undelivered
from tasks.weekly import build_sections, deliver_brief, deliver_chart, fill_history, prepare_weeks, render_brief

CADENCE = "weekly"


@flow(name="weekly-review", log_prints=False)
def weekly_review(as_of: date | None = None, notify: bool = True, allow_partial: bool = False) -> dict[str, Any]:
    """Review the ISO week (Monday to Sunday, the shop's timezone) holding ``as_of``, or the one
    that just ended: trends, diagnosis, retention and the other weekly sections, next week's
    actions, and the chart of the core KPIs in the brief's thread.

    A week not over yet is refused unless ``allow_partial``. ``notify=False`` computes and
    renders but sends nothing. Reruns post no second brief and upload no second chart.
    """
    ctx = build_context()
    cfg, engine = ctx.cfg, ctx.engine
    week = logical_period(CADENCE, as_of, cfg, allow_partial=allow_partial)
    partial = not is_complete(week, cfg.timezone)
    logger = get_run_logger()
    logger.info("weekly review for %s (%s .. %s, %s)", week.key, week.start, week.last_day, cfg.timezone)

    # One run per week at a time: a concurrent rerun waits, then finds the brief already sent.
    with period_lock(engine, get_cadence(CADENCE).lock_key(week)):
        prepared = prepare_weeks(engine, cfg, ctx.source, week, partial)
        filled = fill_history(engine, cfg, week)
        if filled:
            logger.info("weekly marts of %d earlier week(s) computed for the charts", len(filled))
        sections, errors = build_sections(WeeklyContext(engine, cfg, week, cfg.locale, cfg.home / "exports"))
        for spec, error in errors.items():
            logger.error("weekly section %s failed: %s", spec, error)
        health = outbox_health(engine, exclude=(BRIEF_KIND, week.start)) if notify else None
        brief = assemble_brief(
            cfg, week, sections, week_notes(prepared, cfg.locale),
            chart_file=chart_location(ctx.slack, week) if notify else None, run_url=ctx.run_url, partial=partial,
            undelivered=health.undelivered if health else 0, undelivered_since=health.oldest_period if health else None)
        message, content_key = render_brief(brief, cfg.locale)
        deliveries, charts = [], []
        if notify:
            deliveries = deliver_brief(engine, ctx.slack, cfg, week, message, content_key)
            charts = deliver_chart(engine, ctx.slack, cfg, week, deliveries, cfg.locale)
    engine.dispose()
    this = prepared["week"]
    return raise_if_undelivered({
        "cadence": CADENCE,
        "period": week.key,
        "ds": week.start.isoformat(),
        "validation_passed": not this.failed_days,
        "complete": this.ready,
        "partial": partial,
        "recomputed": sorted(d.isoformat() for p in prepared.values() for d, why in p.prepared_days.items()
                             if why == "changed"),
        "sections": [s.key for s in sections],
        "section_errors": errors,
        "text": plain_text(message.text),  # for the terminal: the Slack escaping undone
        "deliveries": delivery_rows([*deliveries, *charts]),
    }, [*deliveries, *charts])


if __name__ == "__main__":
    weekly_review()
