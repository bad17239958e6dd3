"""A backfill validates a month in one GX run per table; each day's report must be exactly the
report of validating that day alone (the scheduled flow's path), failures included."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from opscadence import warehouse
from opscadence.demo import load_demo
from opscadence.sources import WarehouseSource
from opscadence.quality.day import validate_partition
from opscadence.quality.range import range_read_plan, validate_range
from opscadence.quality.sql import validate_partition_sql
from opscadence.quality.store import trailing_row_counts, trailing_row_counts_range
from tests.conftest import WAREHOUSES, _fresh_postgres

END = date(2026, 11, 24)
START = END - timedelta(days=9)


@pytest.fixture(scope="module", params=WAREHOUSES)
def planted(request, tmp_path_factory):
    """A small demo shop with one defect per day of the range (and a day with none), in a
    SQLite file and, when configured, in PostgreSQL."""
    if request.param == "sqlite":
        engine = warehouse.create_engine(f"sqlite:///{tmp_path_factory.mktemp('range') / 'warehouse.sqlite'}")
    else:
        engine = _fresh_postgres()
    load_demo(engine, users=300, days=20, seed=4, end_date=END)
    d = [START + timedelta(days=n) for n in range(10)]
    events, orders, payments = warehouse.raw_events, warehouse.raw_orders, warehouse.raw_payments
    with engine.begin() as conn:
        first = conn.execute(sa.select(events).where(events.c.ds == d[0]).limit(1)).mappings().one()
        # d0: an event id twice on the same day (a duplicate) ...
        conn.execute(events.insert(), [dict(first)])
        # ... d1: the same id again on another day (legal: ids are checked per partition)
        conn.execute(events.insert(), [dict(first, ds=d[1], event_at=datetime.combine(d[1], datetime.min.time()))])
        # d2: a negative amount and a status outside the allowed set
        two = conn.execute(sa.select(orders.c.order_id).where(orders.c.ds == d[2]).limit(2)).scalars().all()
        conn.execute(orders.update().where(orders.c.order_id == two[0]).values(amount=-5))
        conn.execute(orders.update().where(orders.c.order_id == two[1]).values(status="lost"))
        # d3: a payment stamped the next day (outside its partition), and one a second before midnight (inside)
        pay = conn.execute(sa.select(payments.c.attempt_id).where(payments.c.ds == d[3]).limit(2)).scalars().all()
        conn.execute(payments.update().where(payments.c.attempt_id == pay[0])
                     .values(attempt_at=datetime.combine(d[4], datetime.min.time())))
        conn.execute(payments.update().where(payments.c.attempt_id == pay[1])
                     .values(attempt_at=datetime.combine(d[3], datetime.max.time().replace(microsecond=0))))
        # d4: seven events with negative engagement (a warning; samples capped at five)
        ids = conn.execute(sa.select(events.c.event_id).where(events.c.ds == d[4]).limit(7)).scalars().all()
        conn.execute(events.update().where(events.c.event_id.in_(ids), events.c.ds == d[4]).values(engagement_seconds=-1))
        # d5: a duplicated ad (channel, campaign); d6: no feedback at all; d7: an event of the day before
        ad = conn.execute(sa.select(warehouse.raw_ad_spend).where(warehouse.raw_ad_spend.c.ds == d[5]).limit(1)).mappings().one()
        conn.execute(warehouse.raw_ad_spend.insert(), [dict(ad)])
        conn.execute(warehouse.raw_feedback.delete().where(warehouse.raw_feedback.c.ds == d[6]))
        one = conn.execute(sa.select(events.c.event_id).where(events.c.ds == d[7]).limit(1)).scalar_one()
        conn.execute(events.update().where(events.c.event_id == one, events.c.ds == d[7])
                     .values(event_at=datetime.combine(d[6], datetime.max.time().replace(microsecond=0))))
        # d8: a tenth of the usual events (row count implausible) -- d9 is left clean
        ids = conn.execute(sa.select(events.c.event_id).where(events.c.ds == d[8]).order_by(events.c.event_id)).scalars().all()
        conn.execute(events.delete().where(events.c.ds == d[8], events.c.event_id.in_(
            [i for n, i in enumerate(ids) if n % 10])))
    yield engine, d
    engine.dispose()


def _alone(engine, source, ds):
    """What a scheduled run stores for the day: pandas on SQLite, GX in SQL on PostgreSQL."""
    if engine.dialect.name == "postgresql":
        return validate_partition_sql(engine, ds, trailing_counts=trailing_row_counts(engine, ds),
                                      describe=lambda t: source.describe(t, ds))
    return validate_partition(source.read_partition(ds), ds, trailing_counts=trailing_row_counts(engine, ds),
                              describe=lambda t: source.describe(t, ds))


def _ranged(engine, source, days, frames=None):
    end = days[-1] + timedelta(days=1)
    frames = frames if frames is not None else source.read_range(days[0], end, **range_read_plan())
    return validate_range(frames, days, trailing_counts=trailing_row_counts_range(engine, days[0], end),
                          describe=source.describe, id_samples=engine.dialect.name == "postgresql")


def _same(ranged, alone):
    """Equal check for check, except one known gap of GX's SQL engine: it returns no rows for a
    failing compound-uniqueness check, so the in-SQL report has no sample where the range's has."""
    assert len(ranged) == len(alone)
    for r, a in zip(ranged, alone):
        if a.expectation == "expect_compound_columns_to_be_unique" and not a.success and a.sample == []:
            assert r.sample and dataclasses.replace(r, sample=[]) == a
        else:
            assert r == a


def test_every_day_gets_the_report_a_single_day_run_gives(planted):
    engine, days = planted
    source = WarehouseSource(engine)
    ranged = _ranged(engine, source, days)
    assert sorted(ranged) == days
    for ds in days:
        _same(ranged[ds].results, _alone(engine, source, ds).results)


def test_the_range_reader_moves_only_what_the_checks_need(planted):
    engine, days = planted
    plan = range_read_plan()
    assert "session_id" in plan["null_only"]["events"] and "page" in plan["presence_only"]["events"]
    assert "event_id" not in plan["null_only"]["events"]  # an id: samples name records by it
    frames = WarehouseSource(engine).read_range(days[0], days[0] + timedelta(days=1), **plan)
    full = WarehouseSource(engine).read_partition(days[0])
    assert list(frames["events"].columns) == list(full["events"].columns)
    assert frames["events"]["event_id"].tolist() == full["events"]["event_id"].tolist()
    assert set(frames["events"]["session_id"].unique()) <= {0.0}


def test_the_planted_defects_are_found_on_their_day_only(planted):
    engine, d = planted
    source = WarehouseSource(engine)
    reports = _ranged(engine, source, d)
    failed = {ds: {(r.table, r.expectation, r.column, r.unexpected_count) for r in reports[ds].failures} for ds in d}
    assert failed[d[0]] == {("events", "expect_column_values_to_be_unique", "event_id", 2)}
    assert failed[d[1]] == set()  # the same id on another day is legal
    assert failed[d[2]] == {("orders", "expect_column_values_to_be_between", "amount", 1),
                            ("orders", "expect_column_values_to_be_in_set", "status", 1)}
    assert failed[d[3]] == {("payments", "expect_column_values_to_be_between", "attempt_at", 1)}
    assert failed[d[4]] == {("events", "expect_column_values_to_be_between", "engagement_seconds", 7)}
    assert len(next(r for r in reports[d[4]].failures).sample) == 5
    assert failed[d[5]] == {("ad_spend", "expect_compound_columns_to_be_unique", None, 2)}
    # no feedback that day: judged as an empty partition (the demo's feedback history is too thin
    # for the row-count check to fail)
    assert failed[d[6]] == set()
    assert any(r.table == "feedback" and ": 0 rows" in r.detail for r in reports[d[6]].results)
    assert not reports[d[4]].critical_failures and reports[d[2]].critical_failures
    assert failed[d[7]] == {("events", "expect_column_values_to_be_between", "event_at", 1)}
    assert failed[d[8]] == {("events", "expect_table_row_count_to_be_between", None, None)}
    assert failed[d[9]] == set()
    detail = next(r.detail for r in reports[d[3]].failures)
    assert f"[{d[3].isoformat()} 00:00, {d[4].isoformat()} 00:00)" in detail and "ds=" + d[3].isoformat() in detail


def test_a_range_that_cannot_be_judged_at_once_is_validated_day_by_day(planted):
    """Rows of a day outside the list (here: a gap) send the range down the per-day path,
    with the same reports."""
    engine, days = planted
    source = WarehouseSource(engine)
    some = [days[0], days[2]]  # days[1]'s rows are read but not asked for
    frames = source.read_range(days[0], days[2] + timedelta(days=1), **range_read_plan())
    frames = {t: f[f["ds"].astype(str) != days[1].isoformat()] for t, f in frames.items()}
    reports = _ranged(engine, source, some, frames)
    for ds in some:
        _same(reports[ds].results, _alone(engine, source, ds).results)


def test_an_unreadable_value_fails_its_day_with_file_row_and_column_and_writes_nothing(tmp_path):
    """A value the chunk reader cannot type sends the chunk day by day: the bad day's report
    names the table, row and column, its marts stay empty, the other days validate and compute."""
    from opscadence.analytics.daily import kpis
    from opscadence.pipelines.backfill import run_backfill
    from opscadence.core.config import Config

    engine = warehouse.create_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    load_demo(engine, users=200, days=12, seed=5, end_date=END)
    days = [END - timedelta(days=n) for n in (3, 2, 1)]
    bad = days[1]
    with engine.begin() as conn:  # SQLite keeps text in a numeric column as it was written
        order_id = conn.execute(sa.select(warehouse.raw_orders.c.order_id)
                                .where(warehouse.raw_orders.c.ds == bad).limit(1)).scalar_one()
        conn.execute(sa.text("update raw_orders set amount = '12,5元' where order_id = :id"), {"id": order_id})

    summary = run_backfill(engine, Config(warehouse_url=str(engine.url)), WarehouseSource(engine), "daily",
                           days[0], days[-1], force=True)

    assert [p.start for p in summary.done] == [days[0], days[2]] and [p.start for p in summary.failed] == [bad]
    with engine.connect() as conn:
        assert not kpis.has_marts(conn, bad) and kpis.has_marts(conn, days[0]) and kpis.has_marts(conn, days[2])
        detail = conn.execute(sa.select(warehouse.dq_results.c.detail)
                              .where(warehouse.dq_results.c.ds == bad, warehouse.dq_results.c.success.is_(False))
                              ).scalars().all()
    assert any(f"raw_orders (ds={bad.isoformat()}) row" in d and "column amount" in d and "12,5元" in d
               for d in detail), detail
