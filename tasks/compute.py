"""Compute: baselines, KPI/funnel marts, threshold alerts, and the brief's content."""

from datetime import date

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.engine import Engine

from opscadence.pipelines import daily
from opscadence.core.config import Config
from opscadence.analytics.daily.kpis import withdraw_marts
from opscadence.core.model import Alert, DailyBrief
from opscadence.sources import PartitionSource
from opscadence.quality.report import ValidationReport


@task(name="prepare-baselines", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def prepare_baselines(engine: Engine, source: PartitionSource, ds: date, vertical: str) -> dict[date, str]:
    return daily.ensure_baselines(engine, source, ds, vertical)


@task(name="compute-marts", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def compute_marts(engine: Engine, ds: date, vertical: str, report: ValidationReport,
                  tables: frozenset[str] | None = None) -> int:
    if not report.passed:
        # Numbers built on data that failed validation are withdrawn, not shown.
        withdraw_marts(engine, ds)
        return 0
    return daily.compute_day(engine, ds, vertical, tables)


@task(name="evaluate-alerts", cache_policy=NO_CACHE)
def evaluate_alerts(engine: Engine, cfg: Config, ds: date, report: ValidationReport) -> list[Alert]:
    return daily.evaluate_day(engine, cfg, ds, report)


@task(name="assemble-brief", cache_policy=NO_CACHE)
def assemble_brief(
    engine: Engine, cfg: Config, ds: date, report: ValidationReport, alerts: list[Alert], run_url: str | None,
    details: dict[str, list[str]], partial: bool = False,
) -> DailyBrief:
    return daily.assemble_brief(engine, cfg, ds, report, alerts, run_url, details, partial)
