"""Backfills: every period once, skips complete ones, no per-period messages, one summary."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from flows.backfill import backfill
from flows.daily import daily_brief
from opscadence import warehouse
from opscadence.pipelines.backfill import run_backfill


def _days_with_marts(engine):
    with engine.connect() as conn:
        return set(conn.execute(sa.select(warehouse.mart_daily_kpis.c.ds).distinct()).scalars())


def _mart_rows(engine, ds):
    table = warehouse.mart_daily_kpis
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.metric, table.c.dimension, table.c.dimension_value, table.c.value)
                            .where(table.c.ds == ds)).all()
    return sorted(rows)


def test_backfill_runs_every_period_once_and_sends_one_summary(shop_env, slack_server):
    shop, home, engine = shop_env
    start, end = shop.start, shop.end

    result = backfill(cadence="daily", start=start, end=end)

    n_days = (end - start).days + 1
    assert len(result["done"]) == n_days and result["failed"] == {} and result["skipped"] == []
    assert len(_days_with_marts(engine)) == n_days
    posts = [c for c in slack_server.calls("chat.postMessage") if c.status == 200]
    assert len(posts) == 1  # one summary, no per-period briefs or alerts
    assert posts[0].body["channel"] == "#ops-alerts"
    assert f"done {n_days} · skipped 0 · failed 0" in posts[0].body["text"]
    # Alerts were recorded for the planted incidents, silently.
    with engine.connect() as conn:
        alert_days = {(r.ds, r.metric) for r in conn.execute(sa.select(warehouse.alerts)).all() if r.dimension == "all"}
    assert (shop.payment_incident_day, "payment_success_rate") in alert_days
    assert (shop.dau_drop_day, "dau") in alert_days

    again = backfill(cadence="daily", start=start, end=end)

    assert len(again["skipped"]) == n_days and again["done"] == []
    # The same range again: its summary message is updated in place, not posted twice.
    assert len([c for c in slack_server.calls("chat.postMessage") if c.status == 200]) == 1
    updates = [c for c in slack_server.calls("chat.update") if c.status == 200]
    assert len(updates) == 1 and f"done 0 · skipped {n_days}" in updates[0].body["text"]


def _snapshot(engine, table, ds=None):
    """Every row of ``table`` (of day ``ds``), without surrogate ids, sorted."""
    columns = [c for c in table.columns if c.name != "id"]
    query = sa.select(*columns)
    if ds is not None:
        query = query.where(table.c.ds == ds)
    with engine.connect() as conn:
        return sorted(tuple(row) for row in conn.execute(query).all())


def test_backfilled_day_equals_a_scheduled_run_of_that_day(shop_env, slack_server, tmp_path):
    shop, home, engine = shop_env
    ds = shop.payment_incident_day
    daily_brief(as_of=ds, notify=False)
    scheduled = _mart_rows(engine, ds)
    checks = _snapshot(engine, warehouse.dq_results, ds)
    funnel = _snapshot(engine, warehouse.mart_daily_funnel, ds)

    backfill(cadence="daily", start=ds - timedelta(days=2), end=ds, force=True, concurrency=2, notify=False)

    assert _mart_rows(engine, ds) == scheduled
    assert _snapshot(engine, warehouse.mart_daily_funnel, ds) == funnel
    # the backfill validated three days in one GX run per table (SQLite); the stored checks of
    # the day are the ones the scheduled run stored
    assert _snapshot(engine, warehouse.dq_results, ds) == checks and len(checks) > 50
    assert slack_server.calls("chat.postMessage") == []


# SQLite here; several processes on PostgreSQL are proven by the Dask backfill tests
# (tests/flows/test_backfill_runners.py), which compare the same tables row for row.
@pytest.mark.parametrize("shop_env", ["sqlite"], indirect=True)
def test_worker_processes_end_in_the_state_of_one_process(shop_env):
    """concurrency 2 runs every chunk of every pass as a task run on Prefect's process pool (two
    worker processes); every mart, check and alert row equals a single-process backfill's."""
    shop, home, engine = shop_env
    from opscadence.core.config import load_config
    from opscadence.pipelines.backfill import chunks, periods
    from opscadence.sources import make_source
    from tests.flows.test_backfill_runners import task_run_names

    cfg = load_config()
    tables = (warehouse.mart_daily_kpis, warehouse.mart_daily_funnel, warehouse.dq_results, warehouse.alerts)
    one = run_backfill(engine, cfg, make_source(cfg.source_list, engine, timezone=cfg.timezone), "daily", shop.start, shop.end, force=True)
    single = {t.name: _snapshot(engine, t) for t in tables}
    state = backfill(cadence="daily", start=shop.start, end=shop.end, force=True, concurrency=2, chunk_periods=4,
                     notify=False, return_state=True)
    two = state.result()

    assert two["done"] == [str(p) for p in one.done] and len(two["done"]) == (shop.end - shop.start).days + 1
    for table in tables:
        assert _snapshot(engine, table) == single[table.name], table.name
    assert any(row for row in single["alerts"])
    # 21 days in chunks of 4: 4+4+4+4+4+1 → 6 chunks, each a task run named by its days in each of the 3 passes
    groups = chunks(periods("daily", shop.start, shop.end), 4)
    assert len(groups) == 6
    expected = {f"daily {name} {g[0]}..{g[-1]}" for g in groups for name in ("validate", "compute", "evaluate")}
    assert sorted(task_run_names(state.state_details.flow_run_id)) == sorted(expected)


def test_a_bad_day_is_reported_and_does_not_stop_the_others(shop_env, slack_server):
    shop, home, engine = shop_env
    bad = shop.dau_drop_day
    orders = warehouse.raw_orders
    with engine.begin() as conn:
        conn.execute(orders.update().where(orders.c.ds == bad).values(status="weird"))
    start, end = bad - timedelta(days=2), bad + timedelta(days=2)

    result = backfill(cadence="daily", start=start, end=end)

    assert list(result["failed"]) == [bad.isoformat()]
    assert "orders" in result["failed"][bad.isoformat()]
    assert len(result["done"]) == 4
    summary = [c for c in slack_server.calls("chat.postMessage") if c.status == 200][0].body["text"]
    assert "failed 1" in summary and bad.isoformat() in summary
    assert bad not in _days_with_marts(engine)


def test_progress_reports_every_period(shop_env):
    shop, home, engine = shop_env
    from opscadence.core.config import load_config
    from opscadence.sources import make_source

    cfg = load_config()
    seen = []
    start = shop.end - timedelta(days=3)
    summary = run_backfill(engine, cfg, make_source(cfg.source_list, engine, timezone=cfg.timezone), "daily", start, shop.end,
                           progress=lambda period, status: seen.append((period.start, status)))
    days = [start + timedelta(days=n) for n in range(4)]
    assert seen == [(d, "validated") for d in days] + [(d, "done") for d in days]
    assert summary.total == 4


def _marts(engine) -> list[tuple]:
    t = warehouse.mart_daily_kpis
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.ds, t.c.metric, t.c.dimension, t.c.dimension_value, t.c.value)).all()
    return sorted((str(r[0]), r[1], r[2], r[3], None if r[4] is None else round(r[4], 9)) for r in rows)


def test_relanded_inputs_are_recomputed_not_skipped(engine, tmp_path):
    """`opscadence demo --history --seed 8` over an existing shop yields seed-8 marts."""
    from opscadence.core.config import load_config
    from opscadence.demo import load_demo
    from opscadence.sources import make_source

    cfg = load_config(environ={"OPSCADENCE_HOME": str(tmp_path)})
    source = make_source(cfg.source_list, engine, timezone=cfg.timezone)
    end = date(2026, 11, 24)
    shop = load_demo(engine, users=300, days=10, seed=11, end_date=end)
    first = run_backfill(engine, cfg, source, "daily", shop.start, end)
    assert len(first.done) == 10 and first.recomputed == []
    again = run_backfill(engine, cfg, source, "daily", shop.start, end)
    assert len(again.skipped) == 10 and again.done == []  # same inputs: nothing to do

    load_demo(engine, users=300, days=10, seed=8, end_date=end)  # re-landed with other data
    relanded = run_backfill(engine, cfg, source, "daily", shop.start, end)
    assert len(relanded.recomputed) == 10 and len(relanded.done) == 10 and relanded.skipped == []
    reseeded = _marts(engine)

    warehouse.metadata.drop_all(engine)
    warehouse.init_schema(engine)
    load_demo(engine, users=300, days=10, seed=8, end_date=end)
    run_backfill(engine, cfg, source, "daily", shop.start, end)
    assert reseeded == _marts(engine)  # exactly the marts of a fresh seed-8 shop
