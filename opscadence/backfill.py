"""Backfills: run a cadence for every period in a range, in one process.

Each period goes through the same plain functions as the scheduled flow (validate, compute,
evaluate), so a backfilled day ends in the same state as a scheduled one; the marts of
consecutive days are computed a chunk at a time by the same range queries the daily flow runs
for its one day. Backfills record alerts but never notify per period. A year of daily periods
costs one process start-up.
"""

from __future__ import annotations

import time
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
    stage_seconds: dict[str, float] = field(default_factory=dict)  # wall time: validate, compute, evaluate

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


# Days computed together: one set of range queries per chunk (MAU and repurchase read each
# summary row once per chunk). A month keeps memory flat on L (see benchmarks/README.md).
CHUNK_DAYS = 31


def chunks(days: list[date], size: int = CHUNK_DAYS) -> list[list[date]]:
    """Runs of consecutive days from ``days`` (sorted), each at most ``size`` days long."""
    out: list[list[date]] = []
    for ds in days:
        if out and len(out[-1]) < size and out[-1][-1] + timedelta(days=1) == ds:
            out[-1].append(ds)
        else:
            out.append([ds])
    return out


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
    """Validate and compute the periods a chunk of consecutive days at a time, then evaluate
    alerts in date order.

    A chunk is validated by :func:`daily.validate_days` (one GX run per table for the chunk
    when the data is in a SQLite warehouse, each day's report the one a scheduled run stores;
    ``concurrency`` parts of the chunk at once) and its marts come from one set of range
    queries, written day by day under the day's lock, so a backfilled day ends in the same
    state as a scheduled one. Alerts compare a day with earlier days, so they are evaluated
    afterwards, oldest first.
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

    def lock(ds: date):
        return period_lock(engine, f"{cadence}:{ds}")

    def validate(chunk: list[date]) -> tuple[dict[date, daily.ValidationReport], dict[date, str]]:
        try:
            return daily.validate_days(engine, source, chunk, lock=lock), {}
        except Exception:  # validate day by day, so one bad period does not stop the others
            pass
        reports, errors = {}, {}
        for ds in chunk:
            try:
                reports.update(daily.validate_days(engine, source, [ds], lock=lock))
            except Exception as exc:
                errors[ds] = f"{type(exc).__name__}: {exc}"
        return reports, errors

    reports: dict[date, daily.ValidationReport] = {}
    clock = dict.fromkeys(("validate", "compute", "evaluate"), 0.0)
    groups = chunks(todo)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for chunk in groups:
            passed = []
            started = time.perf_counter()
            # concurrency splits a chunk's validation into that many consecutive parts
            size = -(-len(chunk) // max(1, concurrency))
            for chunk_reports, errors in pool.map(validate, [chunk[i:i + size] for i in range(0, len(chunk), size)]):
                summary.failed.update(errors)
                for ds, report in chunk_reports.items():
                    reports[ds] = report
                    if report.passed:
                        passed.append(ds)
                        continue
                    with lock(ds), engine.begin() as conn:
                        kpi_module.clear_marts(conn, ds)
                    summary.failed[ds] = "validation failed: " + "; ".join(
                        f"{c.table}.{c.expectation}" + (f"({c.column})" if c.column else "")
                        for c in report.critical_failures[:3]
                    )
            clock["validate"] += time.perf_counter() - started
            started = time.perf_counter()
            if passed:
                try:
                    daily.compute_days(engine, passed, cfg.vertical, lock=lock)
                except Exception as exc:
                    for ds in passed:
                        summary.failed[ds] = f"{type(exc).__name__}: {exc}"
                        reports.pop(ds, None)
            clock["compute"] += time.perf_counter() - started
            if progress:
                for ds in chunk:
                    progress(ds, "failed" if ds in summary.failed else "done")
    started = time.perf_counter()
    for ds in sorted(reports):
        daily.evaluate_day(engine, cfg, ds, reports[ds])
        if ds not in summary.failed:
            summary.done.append(ds)
    clock["evaluate"] = time.perf_counter() - started
    summary.stage_seconds = {stage: round(seconds, 2) for stage, seconds in clock.items()}
    return summary
