"""Backfills: run a cadence for every period in a range, in one run (here, or chunks on a task runner).

Each period goes through the same plain functions as the scheduled flow, so a backfilled period
ends in the same state as a scheduled one. The cadence (from the registry in
:mod:`opscadence.core.periods`) says what "complete" means and which passes a backfill runs; the
passes run over chunks of consecutive periods (the daily cadence validates and computes 16 days
with one GX run per table and one set of range queries). Backfills record alerts but never
notify per period. A year of daily periods costs one start-up per worker, not one per period.
Prefect-free: the backfill flow hands :func:`run_backfill` a ``run_pass`` that submits chunks as
Prefect task runs (``tasks/backfill.py``); workers run :func:`run_chunk`.
"""

from __future__ import annotations

import ctypes
import gc
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.engine import Engine

from opscadence.core.config import Config
from opscadence.core.periods import BackfillPass, PassOutcome, Period, get_cadence, periods_between
from opscadence.sources import PartitionSource


@dataclass
class BackfillSummary:
    cadence: str
    start: date
    end: date
    done: list[Period] = field(default_factory=list)
    skipped: list[Period] = field(default_factory=list)
    recomputed: list[Period] = field(default_factory=list)  # done before, from inputs that changed since
    failed: dict[Period, str] = field(default_factory=dict)  # period -> why (validation or error)
    stage_seconds: dict[str, float] = field(default_factory=dict)  # wall time per pass

    @property
    def total(self) -> int:
        return len(self.done) + len(self.skipped) + len(self.failed)


def periods(cadence: str, start: date, end: date) -> list[Period]:
    """The cadence's periods that hold a day of [start, end]."""
    return periods_between(get_cadence(cadence).grain, start, end)


def progress_steps(cadence: str) -> int:
    """Progress steps a period takes (a skipped period takes them all at once)."""
    return max(1, sum(p.progress is not None for p in get_cadence(cadence).implementation().backfill_passes()))


def chunks(items: list[Period], size: int) -> list[list[Period]]:
    """Runs of consecutive periods from ``items`` (sorted), each at most ``size`` long."""
    out: list[list[Period]] = []
    for period in items:
        if out and len(out[-1]) < size and out[-1][-1].next() == period:
            out[-1].append(period)
        else:
            out.append([period])
    return out


# How a pass runs over the chunks: given the pass and its batches, the outcomes of each batch,
# in order. The default runs them here, one after another; the backfill flow submits each batch
# as a Prefect task run on its task runner (a process pool, or a Dask cluster).
PassRunner = Callable[[str, BackfillPass, list[list[tuple[Period, object]]]], Iterable[dict[Period, PassOutcome]]]


def run_backfill(
    engine: Engine,
    cfg: Config,
    source: PartitionSource,
    cadence: str,
    start: date,
    end: date,
    *,
    force: bool = False,
    progress: Callable[[Period, str], None] | None = None,
    chunk_periods: int | None = None,
    run_pass: PassRunner | None = None,
) -> BackfillSummary:
    """Run ``cadence`` for every period in [start, end], a chunk of consecutive periods at a time.

    The cadence's passes run one after the other (for the daily cadence: validate, compute,
    evaluate): a pass needs the one before it done for every chunk (MAU reads the 29 days before
    a chunk; alerts read earlier days' marts), and within a pass the chunks are independent, so
    ``run_pass`` may run them in parallel (the backfill flow: as Prefect task runs on a task
    runner). A period that failed (``why``) is reported; it goes on to later passes only when
    its pass says so (a day that failed validation still gets its data-quality alert).
    """
    spec = get_cadence(cadence)
    passes = spec.implementation().backfill_passes()
    steps = max(1, sum(p.progress is not None for p in passes))
    summary = BackfillSummary(cadence=cadence, start=start, end=end)
    todo = []
    candidates = periods_between(spec.grain, start, end)
    status = spec.implementation().period_status(engine, cfg, candidates)
    for period in candidates:
        if not force and status[period] == "current":
            summary.skipped.append(period)
            if progress:
                for _ in range(steps):
                    progress(period, "skipped")
        else:
            todo.append(period)
            if status[period] == "changed":
                summary.recomputed.append(period)
    groups = chunks(todo, chunk_periods or spec.chunk_periods)
    if run_pass is None:
        context = _Context(engine, cfg, source)

        def run_pass(cadence_name, step, batches):
            return (run_pass_here(context, cadence_name, step.function, batch) for batch in batches)

    carried: list[list[tuple[Period, object]]] = [[(p, None) for p in chunk] for chunk in groups]
    for step in passes:
        started = time.perf_counter()
        next_carried = []
        for batch, outcomes in zip(carried, run_pass(spec.name, step, carried)):
            kept = []
            for period, _ in batch:
                outcome = outcomes.get(period) or PassOutcome(ok=False, why=f"{step.name}: no result")
                if outcome.why:
                    summary.failed.setdefault(period, outcome.why)
                if outcome.ok:
                    kept.append((period, outcome.data))
                if progress and step.progress:
                    status = step.progress
                    if status == "done":
                        status = "failed" if period in summary.failed else "done"
                    progress(period, status)
            next_carried.append(kept)
        carried = next_carried
        summary.stage_seconds[step.name] = round(time.perf_counter() - started, 2)
    summary.done = sorted(p for batch in carried for p, _ in batch if p not in summary.failed)
    summary.failed = dict(sorted(summary.failed.items()))
    return summary


# --- running a pass over one chunk, in this process or in a worker -------------------------------

@dataclass
class _Context:
    engine: Engine
    cfg: Config
    source: PartitionSource


# One context per worker process (a Prefect process-pool or Dask worker runs many chunks).
_contexts: dict[str, _Context] = {}


def run_chunk(cadence: str, pass_name: str, batch: list[tuple[Period, object]]) -> dict[Period, PassOutcome]:
    """One pass over one chunk, in whatever process runs it. The warehouse, config and source
    come from this process's configuration (file and environment, as every worker of a
    deployment has them), built once per process: no URL or credential travels with the task,
    so none shows in the Prefect UI. Idempotent: every pass replaces its periods' windows, so a
    retried or rerun chunk leaves the same state."""
    from opscadence import warehouse
    from opscadence.core.config import load_config
    from opscadence.sources import make_source

    cfg = load_config()
    key = cfg.model_dump_json()
    if key not in _contexts:
        engine = warehouse.create_engine(cfg.resolved_warehouse_url)
        _contexts[key] = _Context(engine, cfg, make_source(cfg.source_list, engine, timezone=cfg.timezone))
    step = next(p for p in get_cadence(cadence).implementation().backfill_passes() if p.name == pass_name)
    return run_pass_here(_contexts[key], cadence, step.function, batch)


def run_pass_here(ctx: _Context, cadence: str, function: Callable, batch: list[tuple[Period, object]]):
    """One pass over one chunk; an exception fails the chunk's periods, naming it."""
    if not batch:
        return {}
    try:
        return function(ctx, cadence, batch)
    except Exception as exc:  # one bad chunk does not stop the others
        return {period: PassOutcome(ok=False, why=f"{type(exc).__name__}: {exc}") for period, _ in batch}
    finally:
        release_memory()


def release_memory() -> None:
    """Hand the heap a chunk freed back to the OS: glibc keeps it otherwise, and a worker's
    resident memory crept up by ~300 MB over six chunks of L (measured; with this, ~0)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
