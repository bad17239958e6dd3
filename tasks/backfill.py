"""Backfill: every period of a range in one task, one process (no per-period subflows)."""

import sys
from datetime import date

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.engine import Engine
from tqdm import tqdm

from opscadence.pipelines.backfill import BackfillSummary, periods, run_backfill
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
    total = len(periods(cadence, start, end))
    # A progress bar in a terminal; in a worker's log, a line every tenth of the way.
    # Two steps per period (validated, then done/failed; a skipped period both at once).
    bar = tqdm(total=2 * total, unit="step", file=sys.stderr, disable=not sys.stderr.isatty(),
               desc=f"{cadence} backfill")
    step = max(1, 2 * total // 10)
    seen = 0

    def progress(ds: date, status: str) -> None:
        nonlocal seen
        steps = 2 if status == "skipped" else 1
        before, seen = seen, seen + steps
        bar.update(steps)
        bar.set_postfix_str(f"{ds} {status}")
        if seen // step > before // step or seen == 2 * total:
            logger.info("backfill progress: %d/%d steps (last %s %s)", seen, 2 * total, ds, status)

    try:
        return run_backfill(engine, cfg, source, cadence, start, end, force=force, concurrency=concurrency,
                            progress=progress)
    finally:
        bar.close()
