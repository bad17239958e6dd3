"""On-demand backfills: run a cadence for every period in a range, from the CLI or the Prefect UI."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from prefect import flow, get_run_logger
from pydantic import Field

from flows.common import build_context, delivery_rows, raise_if_undelivered
from opscadence.core.periods import cadence_names, get_cadence
from opscadence.reporting.slack.brief import render_backfill_summary
from tasks.backfill import backfill_periods
from tasks.notify import deliver_message

SUMMARY_KIND = "backfill-summary"


def summary_kind(cadence: str) -> str:
    """One summary message per cadence and range end (daily keeps the key it was stored under)."""
    return SUMMARY_KIND if cadence == "daily" else f"{SUMMARY_KIND}-{cadence}"


@flow(name="backfill", log_prints=False)
def backfill(
    # The UI offers the registry's cadences; any registered one is accepted when called.
    cadence: Annotated[str, Field(json_schema_extra={"enum": cadence_names()}, description="a cadence of the registry")],
    start: date,
    end: date,
    force: bool = False,
    concurrency: int = Field(1, ge=1, le=8, description="worker processes (about the number of cores)"),
    notify: bool = True,
) -> dict[str, Any]:
    """Run ``cadence`` for every period in [start, end]; skip complete periods unless ``force``.

    Alerts are recorded per period but never notified; one summary goes to the alerts channel.
    """
    get_cadence(cadence)  # an unknown cadence fails here, naming the known ones
    ctx = build_context()
    logger = get_run_logger()
    summary = backfill_periods(ctx.engine, ctx.cfg, ctx.source, cadence, start, end, force, concurrency)
    logger.info("backfill %s %s..%s: %d done, %d skipped, %d failed", cadence, start, end,
                len(summary.done), len(summary.skipped), len(summary.failed))
    delivery = None
    if notify:
        message = render_backfill_summary(summary, ctx.cfg.locale)
        channel = ctx.cfg.slack.channels.alert_channel()
        delivery = deliver_message(ctx.engine, ctx.slack, summary_kind(cadence), end, channel, message, ctx.cfg.outbox_dir)
    ctx.engine.dispose()
    return raise_if_undelivered({
        "cadence": cadence,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "done": [str(p) for p in summary.done],
        "skipped": [str(p) for p in summary.skipped],
        "recomputed": [str(p) for p in summary.recomputed],
        "failed": {str(p): why for p, why in summary.failed.items()},
        "summary_delivery": None if delivery is None else delivery_rows([delivery])[0],
    }, [delivery] if delivery is not None else [])
