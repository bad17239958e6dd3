"""On-demand backfills: run a cadence for every period in a range, from the CLI or the Prefect UI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any, Literal

from prefect import flow, get_run_logger
from pydantic import Field

from flows.common import build_context, delivery_rows, raise_if_undelivered
from opscadence.core.periods import Period, cadence_names, check_complete, get_cadence
from opscadence.reporting.slack.brief import render_backfill_summary
from opscadence.core.config import BackfillConfig
from tasks.backfill import backfill_periods
from tasks.notify import deliver_message

SUMMARY_KIND = "backfill-summary"


def chunk_task_runner(settings: BackfillConfig, concurrency: int):
    """The Prefect task runner the chunks run on: ``concurrency`` workers of a process pool, or of
    a Dask cluster (the one at ``dask_address``, else a local one). One worker: a thread here."""
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

    if settings.runner == "dask":
        from prefect_dask import DaskTaskRunner

        if settings.dask_address:
            return DaskTaskRunner(address=settings.dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": concurrency, "threads_per_worker": 1, "processes": True})
    if concurrency == 1:
        return ThreadPoolTaskRunner(max_workers=1)
    return ProcessPoolTaskRunner(max_workers=concurrency)


@contextmanager
def workers_use_this_api(settings: BackfillConfig) -> Iterator[None]:
    """Point the process pool's workers at this flow's Prefect API.

    Without ``PREFECT_API_URL`` the flow runs on Prefect's temporary server, and a spawned
    worker, which sees no API URL either, started a temporary server of its own on its first
    task run: three API servers for a 2-worker backfill (L: 0.45-0.68 GB of the tree's peak,
    README "Benchmarks"). With the running server's URL in the settings the runner hands its
    workers, they report to it. A configured API, a Dask runner (its workers may be remote) or
    no temporary server: left as it is.
    """
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = SubprocessASGIServer._instances.get(None)
    if PREFECT_API_URL.value() or settings.runner == "dask" or server is None or not server.running:
        yield
        return
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        yield


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
    concurrency: int = Field(1, ge=1, le=64, description="workers running chunks at once (about the number of cores)"),
    notify: bool = True,
    runner: Literal["process", "dask"] | None = Field(
        None, description="process: Prefect's process pool here; dask: a Dask cluster (default: config backfill.runner)"),
    chunk_periods: int | None = Field(None, ge=1, description="periods per chunk task (default: the cadence's)"),
) -> dict[str, Any]:
    """Run ``cadence`` for every period in [start, end]; skip complete periods unless ``force``.

    Each chunk of consecutive periods, in each pass, is a Prefect task run on a task runner
    (retried when it fails; the UI lists them with their periods). Alerts are recorded per
    period but never notified; one summary goes to the alerts channel.
    """
    spec = get_cadence(cadence)  # an unknown cadence fails here, naming the known ones
    ctx = build_context()
    # A backfill recomputes finished periods only: its last one must have ended.
    check_complete(Period.containing(spec.grain, end), ctx.cfg.timezone, hint="end the backfill there")
    logger = get_run_logger()
    settings = ctx.cfg.backfill.model_copy(update={"runner": runner or ctx.cfg.backfill.runner})
    with workers_use_this_api(settings), chunk_task_runner(settings, concurrency) as task_runner:
        summary = backfill_periods(ctx.engine, ctx.cfg, ctx.source, cadence, start, end, force, task_runner,
                                   chunk_periods)
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
        "stage_seconds": summary.stage_seconds,  # wall time per pass
        "failed": {str(p): why for p, why in summary.failed.items()},
        "summary_delivery": None if delivery is None else delivery_rows([delivery])[0],
    }, [delivery] if delivery is not None else [])
