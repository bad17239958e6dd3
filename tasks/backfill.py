"""Backfill: every period of a range in one task, one process (no per-period subflows)."""

import sys
from datetime import date

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.engine import Engine
from tqdm import tqdm

from opscadence.core.periods import Period
from opscadence.pipelines.backfill import BackfillSummary, periods, progress_steps, run_backfill
from opscadence.core.config import Config
from opscadence.sources import PartitionSource


@task(name="backfill-periods", cache_policy=NO_CACHE)
def backfill_periods(
    engine: Engine,
    cfg: Config,
    source: PartitionSource,
    cadence: str,
    start: date,
    end: date,
    force: bool,
    concurrency: int,
) -> BackfillSummary:
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
        return run_backfill(engine, cfg, source, cadence, start, end, force=force, concurrency=concurrency,
                            progress=progress)
    finally:
        bar.close()
