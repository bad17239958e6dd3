"""Backfills: run a cadence for every period in a range, in one run (one process, or worker processes).

Each period goes through the same plain functions as the scheduled flow (validate, compute,
evaluate), so a backfilled day ends in the same state as a scheduled one; the marts of
consecutive days are computed a chunk at a time by the same range queries the daily flow runs
for its one day. Backfills record alerts but never notify per period. A year of daily periods
costs one start-up per worker, not one per period.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy.engine import Engine

from opscadence.pipelines import daily
from opscadence.analytics.daily import kpis as kpi_module
from opscadence.core.config import Config
from opscadence.core.locks import period_lock
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


# Days validated and computed together: one GX run per table and one set of range queries per
# chunk. 16 days keep a worker near 1.1 GB on L (31 days: 1.7 GB; see benchmarks/README.md).
CHUNK_DAYS = 16


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
    chunk_days: int = CHUNK_DAYS,
) -> BackfillSummary:
    """Run ``cadence`` for every period in [start, end] a chunk of consecutive days at a time.

    Three passes over the chunks: (1) validate each chunk (:func:`daily.validate_days`: one GX
    run per table when the data is in the warehouse, each day's stored report the one a
    scheduled run stores) and summarise its visitors; (2) compute its marts with one set of
    range queries, written day by day under the day's lock; (3) evaluate each day's alerts
    (recorded, never notified). A pass needs the one before it done for every chunk (MAU
    reads the 29 days before a chunk; alerts read earlier days' marts), and within a pass the
    chunks are independent, so ``concurrency`` > 1 runs them in that many worker processes
    (Python's GIL would serialise threads). A backfilled day ends in the same state as a
    scheduled run of that day.
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
    groups = chunks(todo, chunk_days)
    clock = dict.fromkeys(("validate", "compute", "evaluate"), 0.0)
    reports: dict[date, daily.ValidationReport] = {}
    workers = min(max(1, concurrency), len(groups)) if groups else 1
    context = _Context(engine, cfg, source) if workers == 1 else None
    pool = None
    if workers > 1:
        url = engine.url.render_as_string(hide_password=False)
        # spawn: a fresh interpreter per worker, no copied database connections or locks
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(url, cfg.model_dump(mode="json")))

    def run(fn, items):  # results in order, each as soon as it and those before it are done
        if pool is None:
            return (fn(context, *item) for item in items)
        return pool.map(_in_worker, [fn] * len(items), items)

    try:
        started = time.perf_counter()
        for chunk, (chunk_reports, errors) in zip(groups, run(_validate_chunk, [(cadence, chunk) for chunk in groups])):
            summary.failed.update(errors)
            reports.update(chunk_reports)
            if progress:
                for ds in chunk:
                    progress(ds, "validated")
            for ds, report in chunk_reports.items():
                if not report.passed:
                    summary.failed[ds] = "validation failed: " + "; ".join(
                        f"{c.table}.{c.expectation}" + (f"({c.column})" if c.column else "")
                        for c in report.critical_failures[:3]
                    )
        clock["validate"] = time.perf_counter() - started

        started = time.perf_counter()
        passed = [[ds for ds in chunk if ds in reports and reports[ds].passed] for chunk in groups]
        for chunk, days, error in zip(groups, passed, run(_compute_chunk, [(cadence, days) for days in passed])):
            if error is not None:
                for ds in days:
                    summary.failed[ds] = error
                    reports.pop(ds, None)
            if progress:
                for ds in chunk:
                    progress(ds, "failed" if ds in summary.failed else "done")
        clock["compute"] = time.perf_counter() - started

        started = time.perf_counter()
        ordered = sorted(reports)
        parts = [[(ds, reports[ds]) for ds in ordered[i::workers]] for i in range(workers)]
        list(run(_evaluate_days, [(part,) for part in parts if part]))
        summary.done = [ds for ds in ordered if ds not in summary.failed]
        clock["evaluate"] = time.perf_counter() - started
    finally:
        if pool is not None:
            pool.shutdown()
    summary.stage_seconds = {stage: round(seconds, 2) for stage, seconds in clock.items()}
    return summary


# --- the passes, run in this process or in a worker --------------------------------------------

@dataclass
class _Context:
    engine: Engine
    cfg: Config
    source: PartitionSource


_worker: _Context | None = None


def _init_worker(url: str, cfg_data: dict) -> None:
    global _worker
    from opscadence import warehouse

    cfg = Config.model_validate(cfg_data)
    engine = warehouse.create_engine(url)
    _worker = _Context(engine, cfg, daily.make_source(cfg, engine))


def _in_worker(fn: Callable, item: tuple):
    assert _worker is not None, "worker not initialised"
    return fn(_worker, *item)


def _release_memory() -> None:
    """Hand the heap a chunk freed back to the OS: glibc keeps it otherwise, and a worker's
    resident memory crept up by ~300 MB over six chunks of L (measured; with this, ~0)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _lock(ctx: _Context, cadence: str, ds: date):
    return period_lock(ctx.engine, f"{cadence}:{ds}")


def _validate_chunk(ctx: _Context, cadence: str, chunk: list[date]):
    """Validate a chunk (day by day if the chunk as a whole fails), withdraw the marts of days
    that failed, and summarise the visitors of the days that passed."""
    lock = lambda ds: _lock(ctx, cadence, ds)  # noqa: E731
    reports: dict[date, daily.ValidationReport] = {}
    errors: dict[date, str] = {}
    try:
        reports = daily.validate_days(ctx.engine, ctx.source, chunk, lock=lock)
    except Exception:  # validate day by day, so one bad period does not stop the others
        for ds in chunk:
            try:
                reports.update(daily.validate_days(ctx.engine, ctx.source, [ds], lock=lock))
            except Exception as exc:
                errors[ds] = f"{type(exc).__name__}: {exc}"
    for ds, report in reports.items():
        if not report.passed:
            with lock(ds):
                kpi_module.withdraw_marts(ctx.engine, ds)
    passed = [ds for ds in chunk if ds in reports and reports[ds].passed]
    if passed:
        with ctx.engine.begin() as conn:
            kpi_module.fill_visitor_mart(conn, passed[0], passed[-1] + timedelta(days=1), window=False)
    _release_memory()
    return reports, errors


def _compute_chunk(ctx: _Context, cadence: str, days: list[date]) -> str | None:
    if not days:
        return None
    try:
        daily.compute_days(ctx.engine, days, ctx.cfg.vertical, lock=lambda ds: _lock(ctx, cadence, ds),
                           summarised=True)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        _release_memory()
    return None


def _evaluate_days(ctx: _Context, items: list[tuple[date, daily.ValidationReport]]) -> None:
    for ds, report in items:
        daily.evaluate_day(ctx.engine, ctx.cfg, ds, report)
