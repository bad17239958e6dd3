"""Backfills: run a cadence for every period in a range, in one process.

Each period goes through the same plain functions as the scheduled flow (validate, compute,
evaluate), so a backfilled day ends in the same state as a scheduled one; backfills record
alerts but never notify per period. A year of daily periods costs one process start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy.engine import Engine

from opscadence import daily
from opscadence import kpis as kpi_module
from opscadence.config import Config
from opscadence.locks import period_lock
from opscadence.sources import PartitionSource

CADENCES = ("daily",)


@dataclass
class BackfillSummary:
    cadence: str
    start: date
    end: date
    done: list[date] = field(default_factory=list)
    skipped: list[date] = field(default_factory=list)
    failed: dict[date, str] = field(default_factory=dict)  # period -> why (validation or error)

    @property
    def total(self) -> int:
        return len(self.done) + len(self.skipped) + len(self.failed)


def periods(cadence: str, start: date, end: date) -> list[date]:
    if cadence not in CADENCES:
        raise ValueError(f"unknown cadence {cadence!r}; known: {', '.join(CADENCES)}")
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def is_complete(engine: Engine, ds: date) -> bool:
    """A day is complete when its validated marts are written."""
    with engine.connect() as conn:
        return kpi_module.has_marts(conn, ds)


def run_backfill(
    engine: Engine,
    cfg: Config,
    source: PartitionSource,
    cadence: str,
    start: date,
    end: date,
    *,
    force: bool = False,
    concurrency: int = 1,
    progress: Callable[[date, str], None] | None = None,
) -> BackfillSummary:
    """Prepare every period (validate + marts), then evaluate alerts in date order.

    Preparing is independent per day, so it may run ``concurrency`` days at once; alerts
    compare a day with earlier days, so they are evaluated afterwards, oldest first.
    """
    summary = BackfillSummary(cadence=cadence, start=start, end=end)
    todo = []
    for ds in periods(cadence, start, end):
        if not force and is_complete(engine, ds):
            summary.skipped.append(ds)
            if progress:
                progress(ds, "skipped")
        else:
            todo.append(ds)

    def prepare(ds: date) -> tuple[date, daily.ValidationReport | None, str | None]:
        try:
            with period_lock(engine, f"{cadence}:{ds}"):
                return ds, daily.prepare_day(engine, source, ds, cfg.vertical), None
        except Exception as exc:  # one bad period must not stop the others
            return ds, None, f"{type(exc).__name__}: {exc}"

    reports: dict[date, daily.ValidationReport] = {}
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for ds, report, error in pool.map(prepare, todo):
            if error is not None:
                summary.failed[ds] = error
            elif not report.passed:
                reports[ds] = report
                summary.failed[ds] = "validation failed: " + "; ".join(
                    f"{c.table}.{c.expectation}" + (f"({c.column})" if c.column else "")
                    for c in report.critical_failures[:3]
                )
            else:
                reports[ds] = report
            if progress:
                progress(ds, "failed" if ds in summary.failed else "done")
    for ds in sorted(reports):
        daily.evaluate_day(engine, cfg, ds, reports[ds])
        if ds not in summary.failed:
            summary.done.append(ds)
    return summary
