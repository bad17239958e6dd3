"""Backfill: each chunk of each pass a Prefect task run, on the flow's task runner."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner
from sqlalchemy.engine import Engine
from tqdm import tqdm

from opscadence.core.config import Config
from opscadence.core.periods import BackfillPass, PassOutcome, Period
from opscadence.pipelines.backfill import BackfillSummary, periods, progress_steps, run_backfill, run_chunk
from opscadence.sources import PartitionSource


def _chunk_name() -> str:
    from prefect.runtime import task_run

    p = task_run.parameters
    batch = p["batch"]
    span = f"{batch[0][0]}..{batch[-1][0]}" if batch else "empty"
    return f"{p['cadence']} {p['pass_name']} {span}"


# A chunk is idempotent (each pass replaces its periods' windows), so a failed or lost one is
# simply run again: by Prefect's retry, or by a rerun of the backfill, which skips done periods.
@task(name="backfill-chunk", task_run_name=_chunk_name, cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def backfill_chunk(cadence: str, pass_name: str, batch: list[tuple[Period, Any]]) -> dict[Period, PassOutcome]:
    return run_chunk(cadence, pass_name, batch)


def on_task_runner(runner: TaskRunner) -> Callable:
    """A ``run_pass`` for :func:`run_backfill`: every chunk of a pass submitted at once as a task
    run on ``runner`` (its workers take them as they free up); outcomes come back in order."""

    def run_pass(cadence: str, step: BackfillPass, batches: list[list[tuple[Period, Any]]]) -> Iterator[dict]:
        futures = [runner.submit(backfill_chunk, {"cadence": cadence, "pass_name": step.name, "batch": batch})
                   for batch in batches]
        for future in futures:
            yield future.result()

    return run_pass


def backfill_periods(
    engine: Engine,
    cfg: Config,
    source: PartitionSource,
    cadence: str,
    start: date,
    end: date,
    force: bool,
    runner: TaskRunner,
    chunk_periods: int | None = None,
) -> BackfillSummary:
    """The whole range, its chunks task runs on ``runner``; progress in a terminal bar or the log."""
    logger = get_run_logger()
    per_period = progress_steps(cadence)  # daily: validated, then done/failed
    total = per_period * len(periods(cadence, start, end))
    # A progress bar in a terminal; in a worker's log, a line every tenth of the way.
    bar = tqdm(total=total, unit="step", file=sys.stderr, disable=not sys.stderr.isatty(),
               desc=f"{cadence} backfill")
    step = max(1, total // 10)
    seen = 0

    def progress(period: Period, status: str) -> None:
        nonlocal seen
        before, seen = seen, seen + 1
        bar.update(1)
        bar.set_postfix_str(f"{period} {status}")
        if seen // step > before // step or seen == total:
            logger.info("backfill progress: %d/%d steps (last %s %s)", seen, total, period, status)

    try:
        return run_backfill(engine, cfg, source, cadence, start, end, force=force, progress=progress,
                            chunk_periods=chunk_periods, run_pass=on_task_runner(runner))
    finally:
        bar.close()
