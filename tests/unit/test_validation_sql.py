"""validate_partition_sql: the GX suites run as SQL against PostgreSQL, with parity to the
pandas path (validate_partition on the same rows read through WarehouseSource)."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from opscadence import warehouse
from opscadence.sources import WarehouseSource
from opscadence.quality.day import validate_partition
from opscadence.quality.sql import sql_runtime, validate_partition_sql

URL = os.environ.get("OPSCADENCE_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not URL, reason="OPSCADENCE_TEST_POSTGRES_URL is not set")

DS = date(2026, 11, 24)
PREV = DS - timedelta(days=1)


def at(hour: int, minute: int = 0, day: date = DS) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute)


def _orders(day: date, n: int = 5) -> list[dict]:
    statuses = ["paid", "created", "cancelled", "refunded"]
    return [
        {"ds": day, "order_id": f"o{day:%d}{i:03d}", "user_id": f"u{i:03d}", "order_at": at(8 + i % 12, i % 60, day),
         "amount": 10 + i, "status": statuses[i % 4], "platform": "ios", "channel": None}
        for i in range(n)
    ]


def _clean_rows(day: date) -> dict[str, list[dict]]:
    return {
        "users": [
            {"ds": day, "user_id": f"u{day:%d}1", "signup_at": at(8, day=day), "channel": "douyin", "platform": "ios", "region": "上海"},
            {"ds": day, "user_id": f"u{day:%d}2", "signup_at": at(9, day=day), "channel": None, "platform": "android", "region": None},
        ],
        "events": [
            {"ds": day, "event_id": f"e{day:%d}{i}", "event_at": at(8 + i, day=day), "visitor_id": f"v{i % 2}",
             "user_id": None, "session_id": f"s{i}", "event_name": "page_view", "page": "/", "platform": "ios",
             "utm_source": None, "utm_medium": None, "utm_campaign": None, "engagement_seconds": float(i)}
            for i in range(4)
        ],
        "orders": _orders(day),
        "payments": [
            {"ds": day, "attempt_id": f"p{day:%d}1", "order_id": f"o{day:%d}000", "attempt_at": at(10, day=day),
             "status": "success", "method": "alipay", "platform": "ios", "error_code": None},
            {"ds": day, "attempt_id": f"p{day:%d}2", "order_id": f"o{day:%d}001", "attempt_at": at(11, day=day),
             "status": "failed", "method": "wechat_pay", "platform": "android", "error_code": "TIMEOUT"},
        ],
        "ad_spend": [
            {"ds": day, "channel": "douyin", "campaign": "双11预热", "impressions": 10000, "clicks": 250, "cost": 800},
            {"ds": day, "channel": "wechat", "campaign": "friends", "impressions": 5000, "clicks": 0, "cost": 0},
        ],
        "feedback": [
            {"ds": day, "feedback_id": f"f{day:%d}1", "source": "app_review", "created_at": at(12, day=day),
             "rating": 2, "text": "太慢了 call me 13800138000", "user_id": None},
        ],
    }


@pytest.fixture()
def engine():
    eng = sa.create_engine(URL)
    warehouse.metadata.drop_all(eng)
    warehouse.init_schema(eng)
    yield eng
    eng.dispose()


def _load(engine, rows: dict[str, list[dict]]) -> None:
    with engine.begin() as conn:
        for table, records in rows.items():
            if records:
                conn.execute(warehouse.RAW_TABLES[table].insert(), records)


def _key(report):
    return [(r.table, r.expectation, r.column, r.severity, r.success, r.unexpected_count, r.detail)
            for r in report.results]


def _both(engine, trailing_counts=None):
    source = WarehouseSource(engine)
    describe = lambda t: source.describe(t, DS)  # noqa: E731
    pandas_report = validate_partition(source.read_partition(DS), DS, trailing_counts=trailing_counts, describe=describe)
    sql_report = validate_partition_sql(engine, DS, trailing_counts=trailing_counts, describe=describe)
    assert _key(sql_report) == _key(pandas_report)  # same checks, verdicts, counts and details
    return pandas_report, sql_report


def _failures(report):
    return [(r.table, r.expectation, r.column, r.unexpected_count) for r in report.failures]


def _day_with(engine, **changes) -> None:
    rows = _clean_rows(DS)
    for table, records in changes.items():
        rows[table] = records
    _load(engine, rows)
    # a neighbouring day full of problems must not leak into DS's batch
    prev = _clean_rows(PREV)
    prev["orders"] = prev["orders"] + [dict(prev["orders"][0], amount=-1, status="bogus")]
    _load(engine, prev)


def test_clean_partition_passes_on_both_paths(engine):
    _day_with(engine)
    pandas_report, sql_report = _both(engine)
    assert sql_report.passed and pandas_report.passed
    assert not sql_report.failures
    assert len(sql_report.results) == sum(1 for _ in pandas_report.results) > 60


def test_negative_amount(engine):
    orders = _orders(DS)
    orders[2]["amount"] = -5
    _day_with(engine, orders=orders)
    pandas_report, sql_report = _both(engine)
    assert _failures(sql_report) == [("orders", "expect_column_values_to_be_between", "amount", 1)]
    (fail,) = sql_report.failures
    assert fail.sample == ["order_id=o24002"]  # the id only, never the amount
    assert pandas_report.failures[0].sample == ["order_id=o24002 (row 2)"]


def test_duplicate_order_id(engine):
    orders = _orders(DS)
    orders[3]["order_id"] = orders[1]["order_id"]
    _day_with(engine, orders=orders)
    _, sql_report = _both(engine)
    assert _failures(sql_report) == [("orders", "expect_column_values_to_be_unique", "order_id", 2)]
    assert sql_report.failures[0].sample == ["order_id=o24001"]


def test_timestamp_outside_partition(engine):
    orders = _orders(DS)
    orders[0]["order_at"] = datetime(2026, 11, 25, 0, 0)  # the end is exclusive
    orders[1]["order_at"] = datetime(2026, 11, 23, 23, 59)
    _day_with(engine, orders=orders)
    _, sql_report = _both(engine)
    assert _failures(sql_report) == [("orders", "expect_column_values_to_be_between", "order_at", 2)]
    assert sql_report.failures[0].sample == ["order_id=o24000", "order_id=o24001"]
    assert "outside the partition [2026-11-24 00:00, 2026-11-25 00:00)" in sql_report.failures[0].detail


def test_bad_status(engine):
    orders = _orders(DS)
    orders[4]["status"] = "shipped"
    _day_with(engine, orders=orders)
    _, sql_report = _both(engine)
    assert _failures(sql_report) == [("orders", "expect_column_values_to_be_in_set", "status", 1)]
    assert sql_report.failures[0].sample == ["order_id=o24004"]
    assert "shipped" not in repr(sql_report.failures[0])


def test_null_key(engine):
    # the warehouse schema forbids it; drop the constraint to simulate a bad load
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE raw_orders ALTER COLUMN order_id DROP NOT NULL"))
    orders = _orders(DS)
    orders[1]["order_id"] = None
    _day_with(engine, orders=orders)
    pandas_report, sql_report = _both(engine)
    assert _failures(sql_report) == [("orders", "expect_column_values_to_not_be_null", "order_id", 1)]
    assert not sql_report.passed and not pandas_report.passed


def test_row_count_far_below_trailing_mean(engine):
    _day_with(engine)
    trailing = {"orders": [100] * 7}
    _, sql_report = _both(engine, trailing_counts=trailing)
    assert [(r.table, r.expectation) for r in sql_report.failures] == [("orders", "expect_table_row_count_to_be_between")]
    assert "5 rows, outside the plausible range 25–400" in sql_report.failures[0].detail


def test_empty_table_partition_matches_pandas(engine):
    _day_with(engine, feedback=[])
    _, sql_report = _both(engine, trailing_counts={"feedback": [50] * 7})
    assert [(r.table, r.expectation) for r in sql_report.failures] == [("feedback", "expect_table_row_count_to_be_between")]


def test_checks_run_as_sql_on_a_gx_sql_batch(engine):
    from great_expectations.execution_engine import SqlAlchemyExecutionEngine
    from great_expectations.execution_engine.sqlalchemy_batch_data import SqlAlchemyBatchData

    many = _orders(DS, n=400)
    _day_with(engine, orders=many)
    sql = sql_runtime(engine)
    batch = sql.get_batch("orders", DS)
    assert isinstance(batch.data, SqlAlchemyBatchData)
    assert isinstance(batch.data.execution_engine, SqlAlchemyExecutionEngine)
    # The batch is the day's rows only, selected in the database through the ds index.
    assert "WHERE raw_orders.ds = '2026-11-24'" in batch.batch_spec["query"]

    # count the rows GX's connections fetch while validating: aggregates, not the partition
    gx_engine = batch.data.execution_engine.engine
    fetched: list[int] = []
    statements: list[str] = []

    def after(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)
        if cursor.description is not None:
            fetched.append(max(cursor.rowcount, 0))

    sa.event.listen(gx_engine, "after_cursor_execute", after)
    try:
        report = validate_partition_sql(engine, DS)
    finally:
        sa.event.remove(gx_engine, "after_cursor_execute", after)
    assert report.passed
    assert statements, "the checks must run through GX's SQL engine"
    assert any("raw_orders" in s and "count(" in s.lower() for s in statements)
    # Every statement on raw_orders is restricted to the day: no scan of other days' rows.
    assert all("raw_orders.ds = '2026-11-24'" in st for st in statements if "raw_orders" in st)
    # The checks are aggregates; GX reads the day's rows once only to learn column types
    # (its column-reflection fallback for query assets), never row by row per check.
    assert sum(fetched) < 400 + 100


def test_non_postgres_engine_is_refused():
    with pytest.raises(ValueError, match="PostgreSQL"):
        validate_partition_sql(sa.create_engine("sqlite://"), DS)
