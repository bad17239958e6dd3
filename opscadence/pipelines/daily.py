"""The daily brief's steps as plain functions (Prefect-free; ``tasks/`` wraps them).

validate → compute marts → evaluate rules → assemble the brief. Every step takes the
logical date ``ds`` and writes only its own window, so reruns converge to one state.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opscadence.analytics.daily import kpis as kpi_module
from opscadence import warehouse
from opscadence.detection import anomalies
from opscadence.alerting import lifecycle
from opscadence.alerting import rootcause
from opscadence.alerting.rules import data_quality_alert, evaluate_rules, sort_alerts, write_alerts
from opscadence.core.config import Config
from opscadence.metrics.catalog import headline_metrics, unavailable_metrics
from opscadence.core.locks import period_lock
from opscadence.core.model import Alert, DailyBrief, alert_key
from opscadence.core.periods import BackfillPass, PassOutcome, Period, get_cadence, last_complete
from opscadence.core.privacy import mask_pii
from opscadence.reporting.i18n import plain_text
from opscadence.sources import PartitionSource, SourceError
from opscadence.quality.day import validate_partition
from opscadence.quality.range import range_read_plan, validate_range
from opscadence.quality.report import CheckResult, ValidationReport
from opscadence.quality.sql import validate_partition_sql
from opscadence.quality.presence import presence_check
from opscadence.quality.store import (
    partition_row_counts,
    store_report,
    trailing_row_counts,
    trailing_row_counts_range,
)

@dataclass(frozen=True)
class Extracted:
    """One day's raw partitions as read from the source, or why they could not be read."""

    ds: date
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    error: str | None = None  # names the file, row and column
    error_check: str = "parse"  # the check the error is reported as ("file_missing": an export is absent)
    in_database: bool = False  # the partitions stay in the warehouse and are validated there


def validates_in_database(source: PartitionSource) -> bool:
    """PostgreSQL partitions are validated in SQL by GX, not read into pandas."""
    return source.validates_in_database()


def extract_day(source: PartitionSource, ds: date) -> Extracted:
    if validates_in_database(source):
        return Extracted(ds=ds, in_database=True)
    try:
        return Extracted(ds=ds, frames=source.read_partition(ds))
    except SourceError as exc:
        return Extracted(ds=ds, error=str(exc), error_check=exc.check)


def validate_day(engine: Engine, source: PartitionSource, extracted: Extracted) -> ValidationReport:
    """Validate the day's landed partitions and store the result.

    A CSV batch that passes is loaded into the raw tables in one transaction; a failing
    batch is never written (the export stays where it is, so nothing is lost).
    """
    ds = extracted.ds
    if extracted.error is not None:
        report = ValidationReport(ds=ds, results=[_parse_failure(extracted.error, extracted.error_check)])
    elif extracted.in_database:
        report = validate_partition_sql(
            engine, ds, trailing_counts=trailing_row_counts(engine, ds), describe=lambda t: source.describe(t, ds),
            tables=source.tables,
        )
        counts = partition_row_counts(engine, ds, ds + timedelta(days=1)).get(ds, {})
        _check_presence(report, source, counts)
    else:
        counts = trailing_row_counts(engine, ds)
        report = validate_partition(
            extracted.frames, ds, trailing_counts=counts, describe=lambda t: source.describe(t, ds),
            tables=source.tables,
        )
        _check_presence(report, source, {t: len(f) for t, f in extracted.frames.items()})
        if report.passed:
            source.land(engine, ds, extracted.frames)
    with engine.begin() as conn:
        store_report(conn, report)
    return report


def validate_days(engine: Engine, source: PartitionSource, days: list[date],
                  lock: Callable[[date], AbstractContextManager[Any]] | None = None) -> dict[date, ValidationReport]:
    """Validate consecutive ``days`` and store each day's report (under ``lock(day)``).

    Partitions already in the warehouse are read with one query per table (only the columns
    the checks need) and validated with one GX run per table (:func:`validate_range`: each
    day's report is the one a day alone gets; on PostgreSQL worded as its in-SQL validation
    words it); a source that lands (a SQL source's range read) lands each day that passed. CSV
    exports and a range that cannot be read in one go are validated day by day.
    """
    days = sorted(days)
    if not days:
        return {}
    reports: dict[date, ValidationReport] | None = None
    end = days[-1] + timedelta(days=1)
    try:
        frames = source.read_range(days[0], end, **range_read_plan())
    except SourceError:
        frames = None  # read day by day below: the error then names the day's row
    if frames is not None:
        reports = validate_range(frames, days, trailing_counts=trailing_row_counts_range(engine, days[0], end),
                                 describe=source.describe, id_samples=validates_in_database(source),
                                 tables=source.tables)
        if reports is not None:
            by_day = _counts_by_day(frames)
            for ds, report in reports.items():
                _check_presence(report, source, by_day.get(ds, {}))
    if reports is None:
        reports = {}
        for ds in days:
            with lock(ds) if lock else nullcontext():
                reports[ds] = validate_day(engine, source, extract_day(source, ds))
        return reports
    for ds in days:
        with lock(ds) if lock else nullcontext():
            if source.lands and reports[ds].passed:  # read from files or another database: land the day
                source.land(engine, ds, {t: _day_rows(f, ds) for t, f in frames.items()})
            with engine.begin() as conn:
                store_report(conn, reports[ds])
    return reports


def _day_rows(frame: pd.DataFrame, ds: date) -> pd.DataFrame:
    """The rows of a range read whose ``ds`` (a date, or ISO text on SQLite) is ``ds``."""
    return frame[frame["ds"].astype(str).str[:10] == ds.isoformat()]


def _check_presence(report: ValidationReport, source: PartitionSource, counts: dict[str, int]) -> None:
    """Add the failure of a day the source holds no rows for (absence is a finding, not zeros)."""
    ds = report.ds
    where = source.describe_partition(ds)
    found = presence_check(ds, counts, where, tables=source.tables)
    if found is None:
        return
    if source.is_empty():  # asked only now: a new or empty warehouse says so
        found = presence_check(ds, counts, where, tables=source.tables, source_empty=True)
    report.results.append(found)


def _counts_by_day(frames: dict[str, pd.DataFrame]) -> dict[date, dict[str, int]]:
    """Each day's rows per table of a range read (``ds`` as read: a date, or ISO text on SQLite)."""
    out: dict[date, dict[str, int]] = {}
    for table, frame in frames.items():
        if "ds" not in frame.columns or frame.empty:
            continue
        for day, n in frame["ds"].astype(str).str[:10].value_counts().items():
            out.setdefault(date.fromisoformat(day), {})[table] = int(n)
    return out


def _parse_failure(message: str, check: str = "parse") -> CheckResult:
    # One failed check, not a count of rows: the file could not be read (or is not there).
    table = next((t for t in warehouse.RAW_TABLES if re.search(rf"\b{t}\.csv\b", message)), "source")
    return CheckResult(
        table=table, expectation=check, column=None, severity="critical", success=False,
        unexpected_count=None, sample=[], detail=message,
    )


def compute_day(engine: Engine, ds: date, vertical: str, tables: Collection[str] | None = None) -> int:
    """Compute and write the day's KPI and funnel marts (only KPIs whose raw ``tables`` some
    source provides; None: all); returns the KPI row count."""
    with engine.begin() as conn:
        measures = kpi_module.compute_measures(conn, ds)
        rows = kpi_module.kpi_rows(measures, ds, vertical, tables)
        checksums = warehouse.input_checksums(conn, ds, ds + timedelta(days=1)).get(ds, {})
        kpi_module.write_marts(conn, ds, rows, _funnel_rows(measures, ds, vertical, tables))
        kpi_module.record_day_inputs(conn, ds, checksums, vertical, tables)
    return len(rows)


def compute_days(
    engine: Engine,
    days: list[date],
    vertical: str,
    *,
    lock: Callable[[date], AbstractContextManager[Any]] | None = None,
    summarised: bool = False,
    tables: Collection[str] | None = None,
) -> dict[date, int]:
    """Compute the marts of ``days`` with one set of range queries over [first, last] and write
    each day's rows in its own transaction (under ``lock(day)`` when given); days of the range
    not listed are left as they are (``summarised``: their visitor summary was just written,
    as a backfill's validation pass does). Returns the KPI row count per day written."""
    if not days:
        return {}
    first, last = min(days), max(days)
    end = last + timedelta(days=1)
    with engine.begin() as conn:  # a short write, then the long queries read without blocking writers
        kpi_module.prepare_range(conn, first, end, refresh=not summarised)
    with engine.connect() as conn:
        by_day = kpi_module.query_measures_range(conn, first, end)
        checksums = warehouse.input_checksums(conn, first, end)
    written = {}
    for ds in sorted(days):
        measures = by_day.get(ds, {})
        rows = kpi_module.kpi_rows(measures, ds, vertical, tables)
        with lock(ds) if lock else nullcontext():
            with engine.begin() as conn:
                kpi_module.write_marts(conn, ds, rows, _funnel_rows(measures, ds, vertical, tables))
                kpi_module.record_day_inputs(conn, ds, checksums.get(ds, {}), vertical, tables)
        written[ds] = len(rows)
    return written


def _funnel_rows(measures: kpi_module.Measures, ds: date, vertical: str,
                 tables: Collection[str] | None) -> list[dict[str, Any]]:
    """The funnel counts visitors' events: none without an events source (not a funnel of zeros)."""
    return kpi_module.funnel_rows(measures, ds, vertical) if tables is None or "events" in tables else []


def prepare_day(engine: Engine, source: PartitionSource, ds: date, vertical: str) -> ValidationReport:
    """Validate a day, then compute its marts, or withdraw them when validation failed."""
    report = validate_day(engine, source, extract_day(source, ds))
    if report.passed:
        compute_day(engine, ds, vertical, source.tables)
    else:
        kpi_module.withdraw_marts(engine, ds)
    return report


def ensure_baselines(engine: Engine, source: PartitionSource, ds: date, vertical: str) -> dict[date, str]:
    """Prepare the comparison days (yesterday, same weekday last week) whose marts are missing or
    were built from other inputs; returns each prepared day with why ("missing" or "changed")."""
    day = Period.day(ds)
    baselines = [day.shift(-7).start, day.previous().start]
    with engine.connect() as conn:
        status = kpi_module.day_status(conn, baselines, vertical, source.tables)
    prepared = {}
    for baseline in baselines:
        if status[baseline] != "current" and source.has_partition(baseline):
            prepare_day(engine, source, baseline, vertical)
            prepared[baseline] = status[baseline]
    return prepared


def evaluate_day(engine: Engine, cfg: Config, ds: date, report: ValidationReport) -> list[Alert]:
    """Threshold and anomaly alerts for the day; a failed validation raises one data-quality alert instead."""
    return evaluate_days(engine, cfg, {ds: report})[ds]


def evaluate_days(engine: Engine, cfg: Config, reports: dict[date, ValidationReport]) -> dict[date, list[Alert]]:
    """Each day's threshold and anomaly alerts (a failed validation: one data-quality alert
    instead), for one day or consecutive days at once (a backfill chunk): the KPI values and
    the detector's history read once for the whole range, every passed day judged in one
    detector call (each on its own window, see ``anomalies.anomaly_alerts_for_days``), each
    day's alerts written in its own transaction. A chunk's alerts equal those of its days
    evaluated one at a time (``tests/unit/test_evaluate_days.py``)."""
    days = sorted(reports)
    if not days:
        return {}
    passed = [ds for ds in days if reports[ds].passed]
    values: dict[tuple[date, str, str, str], float | None] = {}
    history = None
    if passed:
        with engine.connect() as conn:
            values = kpi_module.load_kpis(conn, passed[0] - timedelta(days=7), passed[-1] + timedelta(days=1))
            if cfg.detection.enabled:
                history = anomalies.history_frame(conn, passed[-1], (passed[-1] - passed[0]).days
                                                  + cfg.detection.lookback_days)
    by_day: dict[date, list[Alert]] = {}
    for ds in passed:
        window = {key: v for key, v in values.items() if ds - timedelta(days=7) <= key[0] <= ds}
        by_day[ds] = evaluate_rules(cfg.thresholds, window, ds)
    if history is not None:
        # A metric that already broke an explicit rule is not reported twice.
        skip = {ds: {a.metric for a in by_day[ds] if a.dimension == "all"} for ds in passed}
        for ds, found in anomalies.anomaly_alerts_for_days(history, passed, cfg, skip=skip).items():
            by_day[ds] += found
    out = {}
    for ds in days:
        found = by_day[ds] if reports[ds].passed else [data_quality_alert(reports[ds].issues())]
        with engine.begin() as conn:
            write_alerts(conn, ds, found)
        out[ds] = sort_alerts(found)
    return out


def urgent_feedback(engine: Engine, ds: date, keywords: tuple[str, ...] | list[str]) -> tuple[int, list[str]]:
    """Count the day's feedback with urgent keywords; return masked excerpts (no personal data)."""
    table = warehouse.raw_feedback
    with engine.connect() as conn:
        texts = conn.execute(sa.select(table.c.text).where(table.c.ds == ds).order_by(table.c.created_at)).scalars()
        lowered = [k.lower() for k in keywords]
        hits = [t for t in texts if t and any(k in t.lower() for k in lowered)]
    return len(hits), [mask_pii(t) for t in hits[:3]]


def assemble_brief(
    engine: Engine,
    cfg: Config,
    ds: date,
    report: ValidationReport,
    found: list[Alert],
    run_url: str | None = None,
    details: dict[str, list[str]] | None = None,
    partial: bool = False,
) -> DailyBrief:
    unavailable = unavailable_metrics(cfg.vertical, cfg.provided_tables)
    metrics = [m.name for m in headline_metrics(cfg.vertical) if m.name not in unavailable]
    with engine.connect() as conn:
        values = kpi_module.load_kpis(conn, ds - timedelta(days=7), ds + timedelta(days=1))
        funnel_days = kpi_module.load_funnel(conn, ds - timedelta(days=7), ds + timedelta(days=1))
    count, excerpts = urgent_feedback(engine, ds, cfg.urgent_keywords)
    return DailyBrief(
        ds=ds,
        timezone=cfg.timezone,
        vertical=cfg.vertical,
        kpis=kpi_module.headline_kpis(values, ds, metrics) if report.passed else [],
        alerts=found,
        funnel=kpi_module.build_funnel(funnel_days, ds) if report.passed else None,
        dq_passed=report.passed,
        dq_issues=report.issues(),
        urgent_feedback_count=count,
        urgent_feedback=excerpts,
        run_url=run_url,
        alert_details=details or {},
        unavailable={m.name: unavailable[m.name] for m in headline_metrics(cfg.vertical) if m.name in unavailable},
        partial=partial,
    )


# A funnel step is named as a cause only when its conversion really fell.
FUNNEL_CAUSE_MIN_FALL = 0.05


def root_cause_details(engine: Engine, ds: date, found: list[Alert], locale: str) -> dict[str, list[str]]:
    """For each KPI alert on the whole shop, the segments explaining most of the change vs the same
    weekday last week, and the funnel step whose conversion fell most (keyed by ``alert_key``)."""
    targets = [a for a in found if a.kind != "data_quality" and a.dimension == "all"]
    if not targets:
        return {}
    with engine.connect() as conn:
        now_rows = kpi_module.load_kpi_rows(conn, ds)
        base_rows = kpi_module.load_kpi_rows(conn, ds - timedelta(days=7))
        funnel = kpi_module.build_funnel(kpi_module.load_funnel(conn, ds - timedelta(days=7), ds + timedelta(days=1)), ds)
    fell = funnel is not None and (funnel.weakest_change or 0) <= -FUNNEL_CAUSE_MIN_FALL
    funnel_step = funnel.weakest_step if fell else None
    details = {}
    for alert in targets:
        cause = rootcause.explain(now_rows, base_rows, alert.metric, top=3, funnel_step=funnel_step)
        details[alert_key(alert)] = rootcause.root_cause_lines(cause, locale)
    return details


def update_lifecycle(
    engine: Engine,
    cfg: Config,
    ds: date,
    report: ValidationReport,
    found: list[Alert],
    details: dict[str, list[str]],
    *,
    now: datetime,
) -> list[lifecycle.Transition]:
    """Advance the daily alerts' lifecycle for ``ds`` (idempotent per day; older days change nothing).

    On a day whose data failed validation only the data-quality alert is judged: KPI alerts
    keep their state, since bad data can neither confirm nor clear them. The lifecycle's clock
    runs on complete days only: a day not over at ``now`` (a partial run) changes nothing.
    """
    # Root-cause lines are rendered escaped for the brief; the alert messages escape their details
    # themselves, so they get the plain lines (escaped once, not twice).
    observations = [lifecycle.Observation(a, True, tuple(plain_text(d) for d in details.get(alert_key(a), ())))
                    for a in found]
    covered = None if report.passed else (lambda row: row.kind == "data_quality")
    return lifecycle.apply_observations(
        engine, observations, scope="daily", period=ds.isoformat(), now=now,
        pending_periods=cfg.alerting.pending_periods, covered=covered, locale=cfg.locale,
        latest_complete=last_complete("day", cfg.timezone, now).key,
    )


# --- the daily cadence's steps (opscadence.core.periods.CadenceSteps) ---------------------------

def period_status(engine: Engine, cfg: Config, periods: list[Period]) -> dict[Period, str]:
    """A day is "current" when its validated marts are written from the raw partitions and
    definitions there are now; "changed" when those moved since; else "missing"."""
    with engine.connect() as conn:
        status = kpi_module.day_status(conn, [p.start for p in periods], cfg.vertical, cfg.provided_tables)
    return {p: status[p.start] for p in periods}


def backfill_passes() -> list[BackfillPass]:
    """Validate a chunk (and summarise its visitors), compute its marts, evaluate its alerts."""
    return [
        BackfillPass("validate", validate_chunk, progress="validated"),
        BackfillPass("compute", compute_chunk, progress="done"),
        BackfillPass("evaluate", evaluate_chunk),
    ]


def _day_lock(ctx: Any, cadence: str):
    spec = get_cadence(cadence)
    return lambda ds: period_lock(ctx.engine, spec.lock_key(Period.day(ds)))


def _validation_failure(report: ValidationReport) -> str:
    return "validation failed: " + "; ".join(
        f"{c.table}.{c.expectation}" + (f"({c.column})" if c.column else "") for c in report.critical_failures[:3]
    )


def validate_chunk(ctx: Any, cadence: str, batch: list[tuple[Period, Any]]) -> dict[Period, PassOutcome]:
    """Validate a chunk (day by day if the chunk as a whole fails), withdraw the marts of days
    that failed, and summarise the visitors of the days that passed. A day that failed
    validation goes on (its data-quality alert is evaluated), marked failed."""
    lock = _day_lock(ctx, cadence)
    chunk = [period.start for period, _ in batch]
    reports: dict[date, ValidationReport] = {}
    errors: dict[date, str] = {}
    try:
        reports = validate_days(ctx.engine, ctx.source, chunk, lock=lock)
    except Exception:  # validate day by day, so one bad period does not stop the others
        for ds in chunk:
            try:
                reports.update(validate_days(ctx.engine, ctx.source, [ds], lock=lock))
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
    out = {}
    for period, _ in batch:
        report = reports.get(period.start)
        if report is None:
            out[period] = PassOutcome(ok=False, why=errors.get(period.start, "not validated"))
        else:
            out[period] = PassOutcome(ok=True, data=report, why=None if report.passed else _validation_failure(report))
    return out


def compute_chunk(ctx: Any, cadence: str, batch: list[tuple[Period, Any]]) -> dict[Period, PassOutcome]:
    """The marts of the chunk's days that passed validation, from one set of range queries."""
    days = [period.start for period, report in batch if report.passed]
    if days:
        try:
            compute_days(ctx.engine, days, ctx.cfg.vertical, lock=_day_lock(ctx, cadence), summarised=True,
                         tables=ctx.source.tables)
        except Exception as exc:
            why = f"{type(exc).__name__}: {exc}"
            return {period: PassOutcome(ok=not report.passed, data=report, why=why if report.passed else None)
                    for period, report in batch}
    return {period: PassOutcome(ok=True, data=report) for period, report in batch}


def evaluate_chunk(ctx: Any, cadence: str, batch: list[tuple[Period, Any]]) -> dict[Period, PassOutcome]:
    """Each day's alerts, recorded and never notified (the chunk judged at once: evaluate_days)."""
    evaluate_days(ctx.engine, ctx.cfg, {period.start: report for period, report in batch})
    return {period: PassOutcome(ok=True, data=report) for period, report in batch}
