"""What every flow does at its entry: config, engine, source and clients, built once."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from prefect import get_run_logger

from sqlalchemy.engine import Engine

from opscadence import warehouse
from opscadence.core.config import Config, load_config
from opscadence.core.periods import Period, check_complete, get_cadence
from opscadence.sources import make_source
from opscadence.delivery.outbox import DeliveryFailed, DeliveryOutcome
from opscadence.delivery.slack import SlackClient, client_from_env
from opscadence.sources import PartitionSource


@dataclass
class RunContext:
    cfg: Config
    engine: Engine
    source: PartitionSource
    slack: SlackClient | None
    run_url: str | None


def build_context(cfg: Config | None = None) -> RunContext:
    cfg = cfg or load_config()
    engine = warehouse.create_engine(cfg.resolved_warehouse_url)
    warehouse.init_schema(engine)
    return RunContext(
        cfg=cfg,
        engine=engine,
        source=make_source(cfg.source_list, engine, timezone=cfg.timezone),
        slack=client_from_env(token=_slack_token(cfg), timeout=cfg.slack.request_timeout_seconds,
                              max_delivery_seconds=cfg.slack.max_delivery_seconds),
        run_url=flow_run_url(),
    )


def _slack_token(cfg: Config) -> str | None:
    """The bot token: SLACK_BOT_TOKEN, else the configured Prefect Secret block."""
    token = os.environ.get("SLACK_BOT_TOKEN")
    if token or not cfg.slack.token_block:
        return token or None
    from prefect.blocks.system import Secret

    return Secret.load(cfg.slack.token_block).get()


def flow_run_url() -> str | None:
    """Link to this flow run in the Prefect UI, when the UI's address is known."""
    from prefect.runtime import flow_run

    url = flow_run.ui_url
    return url if url and url.startswith("http") else None


def raise_if_undelivered(result: dict[str, Any], deliveries: Iterable[DeliveryOutcome]) -> dict[str, Any]:
    """Name every failed delivery in the run's log, then fail the flow run (or return ``result``).

    Called at the very end of a flow, after everything was recorded and outboxed: the run is
    Failed in Prefect (automations and cron see it) and the CLI exits with EXIT_DELIVERY.
    """
    failures = [d for d in deliveries if d.failed]
    if not failures:
        return result
    logger = get_run_logger()
    for d in failures:
        logger.error("%s for %s to %s not delivered: %s (%s); kept in the outbox", d.kind, d.period or d.ds,
                     d.channel, d.error_code or "error", d.error)
    raise DeliveryFailed(failures, result)


def delivery_rows(deliveries: Iterable[DeliveryOutcome]) -> list[dict[str, Any]]:
    """The deliveries as a flow result lists them."""
    return [
        {"kind": d.kind, "channel": d.channel, "status": d.status, "path": str(d.path) if d.path else None,
         "period": d.period, "error_code": d.error_code if d.failed else None}
        for d in deliveries
    ]


def logical_period(cadence: str, as_of: date | None, cfg: Config, *, allow_partial: bool = False) -> Period:
    """The period holding ``as_of``, or the one that just ended at the run's scheduled start.

    Unless ``allow_partial``, a period that has not ended yet (checked against the clock, not
    the scheduled start) is refused with :class:`opscadence.core.periods.PeriodNotComplete`.
    """
    from prefect.runtime import flow_run

    scheduled = flow_run.scheduled_start_time
    now = datetime.fromisoformat(scheduled.isoformat()) if scheduled is not None else None
    period = get_cadence(cadence).period(as_of, cfg.timezone, now)
    if not allow_partial:
        check_complete(period, cfg.timezone, hint="pass --allow-partial, or the flow parameter allow_partial, "
                                                  "to run it anyway")
    return period


class InjectedFault(RuntimeError):
    """A failure injected on purpose: a failure drill (README, "Backfills and reruns")."""


def inject_fault(step: str) -> None:
    """The failure drill, an operator feature: fail at ``step`` when ``OPSCADENCE_FAULT_AT``
    names it, so a team can rehearse a crashed run (Prefect retry, UI rerun) and see that the
    period is finished once and posted once. The rerun tests use it the same way. Steps:
    ``after-compute`` (daily: marts written, nothing sent yet).

    ``OPSCADENCE_FAULT_ONCE_FILE`` makes it fail only the first time: the file is created when
    the fault fires, and a fault whose file exists does not fire again.
    """
    if os.environ.get("OPSCADENCE_FAULT_AT") != step:
        return
    marker = os.environ.get("OPSCADENCE_FAULT_ONCE_FILE")
    if marker:
        from pathlib import Path

        if Path(marker).exists():
            return
        Path(marker).write_text(step, encoding="utf-8")
    raise InjectedFault(f"injected fault at {step}")
