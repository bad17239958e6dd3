"""A backfill chunk's alerts, evaluated at once (``daily.evaluate_days``), equal each day's
alerts evaluated alone (``daily.evaluate_day``, the scheduled run's step), on SQLite and
PostgreSQL: the same rows in the alerts table and the same returned alerts."""

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from opscadence import warehouse
from opscadence.core.config import load_config
from opscadence.demo import load_demo
from opscadence.pipelines import daily
from opscadence.pipelines.backfill import run_backfill
from opscadence.quality.report import CheckResult, ValidationReport
from opscadence.sources import make_source

END = date(2026, 11, 24)
DAYS = 45


@pytest.fixture
def computed(engine, tmp_path, monkeypatch):
    """A 45-day demo shop (its planted incidents included) with every day's marts computed."""
    monkeypatch.chdir(tmp_path)
    load_demo(engine, users=1500, days=DAYS, seed=11, end_date=END)
    cfg = load_config(environ={"OPSCADENCE_WAREHOUSE_URL": engine.url.render_as_string(hide_password=False),
                               "OPSCADENCE_HOME": str(tmp_path / "home")})
    source = make_source(cfg.source_list, engine, timezone=cfg.timezone)
    start = END - timedelta(days=DAYS - 1)
    summary = run_backfill(engine, cfg, source, "daily", start, END, force=True)
    assert not summary.failed
    return engine, cfg, start


def _alert_rows(engine, start, end):
    table = warehouse.alerts
    columns = [c for c in table.columns if c.name not in ("id", "created_at")]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).where(table.c.ds >= start, table.c.ds <= end)).all()
    return sorted(tuple(str(v) for v in row) for row in rows)


def test_a_chunk_evaluated_at_once_equals_each_day_alone(computed):
    engine, cfg, start = computed
    chunk = [END - timedelta(days=n) for n in range(15, -1, -1)]  # the last 16 days (a chunk)
    failed_day = chunk[5]
    reports = {ds: ValidationReport(ds=ds, results=[]) for ds in chunk}
    reports[failed_day] = ValidationReport(ds=failed_day, results=[CheckResult(
        table="orders", expectation="expect_column_values_to_not_be_null", column="order_id", severity="critical",
        success=False, unexpected_count=3, sample=[], detail="3 null ids")])
    assert reports[chunk[0]].passed and not reports[failed_day].passed

    one_by_one = {ds: daily.evaluate_day(engine, cfg, ds, reports[ds]) for ds in chunk}
    expected_rows = _alert_rows(engine, chunk[0], chunk[-1])
    with engine.begin() as conn:  # forget them: evaluate_days must write them again
        conn.execute(warehouse.alerts.delete().where(warehouse.alerts.c.ds >= chunk[0]))
    assert _alert_rows(engine, chunk[0], chunk[-1]) == []

    at_once = daily.evaluate_days(engine, cfg, reports)

    assert at_once == one_by_one
    assert _alert_rows(engine, chunk[0], chunk[-1]) == expected_rows
    kinds = {a.kind for found in one_by_one.values() for a in found}
    # something to compare: the planted incidents' anomalies and the failed day's data-quality alert
    assert {"anomaly", "data_quality"} <= kinds, kinds
    assert [a.kind for a in one_by_one[failed_day]] == ["data_quality"]
