"""Great Expectations validation of one day's raw partitions."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from opscadence import warehouse

from opscadence.core import model
from opscadence.core.resources import resource_dir
from opscadence.quality.day import validate_partition
from opscadence.quality.report import CheckResult, ValidationReport
from opscadence.quality.store import store_report, trailing_row_counts
from opscadence.quality.suites import row_count_bounds
from opscadence.warehouse import RAW_TABLES

DS = date(2026, 11, 24)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour, minute)


def _frame(rows: list[dict], first_line: int = 2) -> pd.DataFrame:
    """A typed frame whose index is the CSV line number (header = line 1)."""
    frame = pd.DataFrame(rows)
    frame.index = pd.RangeIndex(first_line, first_line + len(frame))
    for col in frame.columns:
        if col.endswith("_at"):
            frame[col] = pd.to_datetime(frame[col])
    return frame


@pytest.fixture()
def frames() -> dict[str, pd.DataFrame]:
    """A clean partition for 2026-11-24: every check passes."""
    users = _frame([
        {"user_id": "u001", "signup_at": at(8), "channel": "douyin", "platform": "ios", "region": "上海"},
        {"user_id": "u002", "signup_at": at(9), "channel": "wechat", "platform": "android", "region": "北京"},
    ])
    events = _frame([
        {"event_id": "e001", "event_at": at(8), "visitor_id": "v1", "user_id": None, "session_id": "s1",
         "event_name": "page_view", "page": "/", "platform": "ios", "utm_source": "douyin", "utm_medium": "cpc",
         "utm_campaign": "双11", "engagement_seconds": 12.5},
        {"event_id": "e002", "event_at": at(8, 5), "visitor_id": "v1", "user_id": "u001", "session_id": "s1",
         "event_name": "signup", "page": "/signup", "platform": "ios", "utm_source": None, "utm_medium": None,
         "utm_campaign": None, "engagement_seconds": None},
        {"event_id": "e003", "event_at": at(23, 59), "visitor_id": "v2", "user_id": None, "session_id": "s2",
         "event_name": "page_view", "page": "/", "platform": "android", "utm_source": None, "utm_medium": None,
         "utm_campaign": None, "engagement_seconds": 0.0},
    ])
    orders = _frame([
        {"order_id": "o0001", "user_id": "u001", "order_at": at(10), "amount": 99.0, "status": "paid",
         "platform": "ios", "channel": "douyin"},
        {"order_id": "o0002", "user_id": "u002", "order_at": at(11), "amount": 0.0, "status": "created",
         "platform": "android", "channel": "wechat"},
        {"order_id": "o0003", "user_id": "u001", "order_at": at(0), "amount": 15.5, "status": "refunded",
         "platform": "ios", "channel": None},
    ])
    payments = _frame([
        {"attempt_id": "p01", "order_id": "o0001", "attempt_at": at(10, 1), "status": "success", "method": "alipay",
         "platform": "ios", "error_code": None},
        {"attempt_id": "p02", "order_id": "o0002", "attempt_at": at(11, 1), "status": "failed", "method": "wechat_pay",
         "platform": "android", "error_code": "TIMEOUT"},
    ])
    ad_spend = _frame([
        {"channel": "douyin", "campaign": "双11预热", "impressions": 10000, "clicks": 250, "cost": 800.0},
        {"channel": "wechat", "campaign": "friends", "impressions": 5000, "clicks": 0, "cost": 0.0},
    ])
    ad_spend["impressions"] = ad_spend["impressions"].astype("Int64")
    ad_spend["clicks"] = ad_spend["clicks"].astype("Int64")
    feedback = _frame([
        {"feedback_id": "f01", "source": "app_review", "created_at": at(12), "rating": 2,
         "text": "付款一直失败，手机号 13800138000 请回电", "user_id": "u002"},
        {"feedback_id": "f02", "source": "survey", "created_at": at(13), "rating": None, "text": None, "user_id": None},
    ])
    feedback["rating"] = feedback["rating"].astype("Int64")
    out = {"users": users, "events": events, "orders": orders, "payments": payments, "ad_spend": ad_spend,
           "feedback": feedback}
    for frame in out.values():
        frame.insert(0, "ds", DS)
    return out


def describe(table: str) -> str:
    return f"/exports/{DS.isoformat()}/{table}.csv"


def run(frames, **kwargs) -> ValidationReport:
    return validate_partition(frames, DS, describe=describe, **kwargs)


def only_failure(report: ValidationReport) -> CheckResult:
    assert len(report.failures) == 1, [f.detail for f in report.failures]
    return report.failures[0]


# --- the clean partition -------------------------------------------------------------------

def test_clean_partition_passes(frames):
    report = run(frames)
    assert report.passed
    assert report.failures == []
    assert report.issues() == []
    assert {r.table for r in report.results} == set(RAW_TABLES)
    # every table got its existence, null and row-count checks
    orders = [r for r in report.results if r.table == "orders"]
    assert {r.expectation for r in orders} >= {
        "expect_column_to_exist", "expect_column_values_to_not_be_null", "expect_column_values_to_be_unique",
        "expect_column_values_to_be_between", "expect_column_values_to_be_in_set",
        "expect_table_row_count_to_be_between",
    }


def test_validation_does_not_modify_the_frames(frames):
    before = {k: v.copy() for k, v in frames.items()}
    run(frames)
    for key, frame in frames.items():
        pd.testing.assert_frame_equal(frame, before[key])


# --- bad inputs ----------------------------------------------------------------------------

def test_missing_column_is_reported_once_as_missing(frames):
    frames["orders"] = frames["orders"].drop(columns=["amount"])
    report = run(frames)
    assert not report.passed
    failure = only_failure(report)
    assert failure.table == "orders"
    assert failure.expectation == "expect_column_to_exist"
    assert failure.column == "amount"
    assert failure.severity == "critical"
    assert failure.unexpected_count is None
    assert failure.detail == "/exports/2026-11-24/orders.csv: column amount is missing"
    # the other checks on amount (not null, >= 0) are not reported separately
    assert [r for r in report.results if r.column == "amount"] == [failure]


def test_missing_optional_column_is_a_warning(frames):
    frames["events"] = frames["events"].drop(columns=["engagement_seconds"])
    report = run(frames)
    assert report.passed
    failure = only_failure(report)
    assert (failure.table, failure.column, failure.severity) == ("events", "engagement_seconds", "warning")


def test_negative_amount(frames):
    frames["orders"].loc[3, "amount"] = -5.0  # o0002, line 3 of the file
    report = run(frames)
    assert not report.passed
    failure = only_failure(report)
    assert (failure.table, failure.expectation, failure.column) == (
        "orders", "expect_column_values_to_be_between", "amount")
    assert failure.severity == "critical"
    assert failure.unexpected_count == 1
    assert failure.sample == ["order_id=o0002 (row 3)"]
    assert failure.detail == "/exports/2026-11-24/orders.csv: column amount has 1 value below 0"


def test_duplicate_order_id(frames):
    frames["orders"].loc[4, "order_id"] = "o0001"
    report = run(frames)
    assert not report.passed
    failure = only_failure(report)
    assert (failure.expectation, failure.column) == ("expect_column_values_to_be_unique", "order_id")
    assert failure.unexpected_count == 2
    assert failure.sample == ["order_id=o0001 (row 2)", "order_id=o0001 (row 4)"]
    assert "column order_id has 2 rows with a duplicated value" in failure.detail


@pytest.mark.parametrize("when", [datetime(2026, 11, 25, 0, 0), datetime(2026, 11, 23, 23, 59, 59)])
def test_timestamp_outside_partition(frames, when):
    frames["orders"].loc[3, "order_at"] = when  # end is exclusive: 11-25 00:00 is outside
    report = run(frames)
    assert not report.passed
    failure = only_failure(report)
    assert (failure.expectation, failure.column) == ("expect_column_values_to_be_between", "order_at")
    assert failure.unexpected_count == 1
    assert failure.sample == ["order_id=o0002 (row 3)"]
    assert "outside the partition [2026-11-24 00:00, 2026-11-25 00:00)" in failure.detail


def test_partition_start_is_inside(frames):
    frames["orders"].loc[3, "order_at"] = datetime(2026, 11, 24, 0, 0)
    assert run(frames).failures == []


def test_bad_status(frames):
    frames["payments"].loc[3, "status"] = "pending"
    report = run(frames)
    assert not report.passed
    failure = only_failure(report)
    assert (failure.table, failure.expectation, failure.column) == (
        "payments", "expect_column_values_to_be_in_set", "status")
    assert failure.unexpected_count == 1
    assert failure.sample == ["attempt_id=p02 (row 3)"]
    assert failure.detail == ("/exports/2026-11-24/payments.csv: column status has 1 value "
                              "not in the allowed set (success, failed)")


def test_null_key(frames):
    frames["payments"].loc[2, "attempt_id"] = None
    report = run(frames)
    assert not report.passed
    failure = only_failure(report)
    assert (failure.table, failure.expectation, failure.column) == (
        "payments", "expect_column_values_to_not_be_null", "attempt_id")
    assert failure.unexpected_count == 1
    assert failure.sample == ["row 2"]  # no id to show, only the line
    assert failure.detail == "/exports/2026-11-24/payments.csv: column attempt_id has 1 null value"


def test_ds_column_must_match_the_partition(frames):
    frames["users"].loc[3, "ds"] = date(2026, 11, 23)
    failure = only_failure(run(frames))
    assert (failure.table, failure.expectation, failure.column) == ("users", "expect_column_values_to_be_in_set", "ds")
    assert failure.sample == ["user_id=u002 (row 3)"]


def test_warning_failure_does_not_block(frames):
    frames["ad_spend"].loc[3, "clicks"] = 6000  # more clicks than impressions
    report = run(frames)
    assert report.passed
    failure = only_failure(report)
    assert (failure.table, failure.expectation, failure.severity) == (
        "ad_spend", "expect_column_pair_values_a_to_be_greater_than_b", "warning")
    assert failure.unexpected_count == 1
    assert failure.sample == ["channel=wechat, campaign=friends (row 3)"]
    assert report.critical_failures == []


def test_samples_never_carry_personal_data(frames):
    frames["feedback"].loc[2, "created_at"] = datetime(2026, 11, 26, 9, 0)
    frames["feedback"].loc[2, "source"] = "13800138000"
    report = run(frames)
    failures = [f for f in report.failures if f.table == "feedback"]
    assert {f.expectation for f in failures} == {"expect_column_values_to_be_between",
                                                 "expect_column_values_to_be_in_set"}
    text = json.dumps([f.sample + [f.detail] for f in failures], ensure_ascii=False)
    assert "13800138000" not in text and "付款" not in text
    assert all(f.sample == ["feedback_id=f01 (row 2)"] for f in failures)


def test_a_missing_table_reports_every_column_missing(frames):
    frames["payments"] = pd.DataFrame()  # e.g. payments.csv was not exported
    report = run(frames)
    assert not report.passed
    missing = [f for f in report.failures if f.table == "payments"]
    assert {f.column for f in missing} == {c for c in RAW_TABLES["payments"].c.keys() if c != "ds"}
    assert all(f.expectation == "expect_column_to_exist" for f in missing)
    assert len(missing) == len({f.column for f in missing})


def test_sample_is_capped_at_five(frames):
    orders = frames["orders"]
    many = pd.concat([orders] * 4, ignore_index=True)
    many.index = pd.RangeIndex(2, 2 + len(many))
    many["order_id"] = [f"o{i:04d}" for i in range(len(many))]
    many["amount"] = -1.0
    frames["orders"] = many
    failure = only_failure(run(frames))
    assert failure.unexpected_count == 12
    assert failure.sample == [f"order_id=o{i:04d} (row {i + 2})" for i in range(5)]


def test_wrongly_typed_column_is_reported_not_raised(frames):
    frames["orders"]["order_at"] = frames["orders"]["order_at"].astype(str)  # text, not datetime
    report = run(frames)
    failure = only_failure(report)
    assert (failure.column, failure.success, failure.severity) == ("order_at", False, "critical")
    assert "could not run" in failure.detail


# --- row-count plausibility ----------------------------------------------------------------

def test_row_count_far_below_trailing_mean_fails(frames):
    # orders has 3 rows; trailing mean 30 → 10%
    report = run(frames, trailing_counts={"orders": [30] * 7})
    assert not report.passed
    failure = only_failure(report)
    assert (failure.table, failure.expectation, failure.column) == (
        "orders", "expect_table_row_count_to_be_between", None)
    assert failure.severity == "critical"
    assert "3 rows, outside the plausible range 8–120" in failure.detail
    assert "trailing 7-day mean 30" in failure.detail


def test_row_count_far_above_trailing_mean_fails(frames):
    orders = pd.concat([frames["orders"]] * 30, ignore_index=True)
    orders["order_id"] = [f"o{i:04d}" for i in range(len(orders))]
    frames["orders"] = orders  # 90 rows vs mean 20 → 450%
    failure = only_failure(run(frames, trailing_counts={"orders": [20] * 7}))
    assert failure.expectation == "expect_table_row_count_to_be_between"


def test_row_count_without_history_passes(frames):
    report = run(frames, trailing_counts={})
    assert report.passed and report.failures == []
    check = next(r for r in report.results
                 if r.table == "orders" and r.expectation == "expect_table_row_count_to_be_between")
    assert check.success
    assert "no trailing history" in check.detail


def test_row_count_with_thin_history_passes(frames):
    assert run(frames, trailing_counts={"orders": [19] * 7}).passed  # mean < 20: not judged


def test_row_count_bounds():
    assert row_count_bounds(None) == (0, None, None)
    assert row_count_bounds([]) == (0, None, None)
    assert row_count_bounds([10, 12]) == (0, None, 11)
    assert row_count_bounds([100, 100, 100]) == (25, 400, 100)


# --- report, issues, storage ---------------------------------------------------------------

def test_issues_list_critical_first(frames):
    frames["ad_spend"].loc[3, "clicks"] = 6000  # warning (ad_spend comes after orders)
    frames["feedback"].loc[2, "feedback_id"] = None  # critical, in a later table
    report = run(frames)
    issues = report.issues()
    assert [i.severity for i in issues] == ["critical", "warning"]
    assert isinstance(issues[0], model.DataQualityIssue)
    assert (issues[0].table, issues[0].column, issues[0].unexpected_count) == ("feedback", "feedback_id", 1)
    assert issues[0].sample == ["row 2"]


@pytest.fixture()
def engine(sqlite_engine):
    """These tests run on SQLite only (conftest's ``engine`` would add PostgreSQL)."""
    return sqlite_engine


def test_store_report_twice_leaves_one_set(frames, engine):
    frames["orders"].loc[3, "amount"] = -5.0
    report = run(frames)
    for _ in range(2):
        with engine.begin() as conn:
            store_report(conn, report)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(warehouse.dq_results).where(warehouse.dq_results.c.ds == DS)).mappings().all()
    assert len(rows) == len(report.results)
    failed = [r for r in rows if not r["success"]]
    assert len(failed) == 1
    assert failed[0]["table_name"] == "orders" and failed[0]["column_name"] == "amount"
    assert failed[0]["severity"] == "critical" and failed[0]["unexpected_count"] == 1
    assert json.loads(failed[0]["sample"]) == ["order_id=o0002 (row 3)"]


def test_store_report_keeps_other_days(frames, engine):
    report = run(frames)
    other = ValidationReport(ds=DS + timedelta(days=1), results=report.results[:2])
    with engine.begin() as conn:
        store_report(conn, other)
        store_report(conn, report)
        store_report(conn, report)
    with engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(warehouse.dq_results)).scalar_one()
    assert n == len(report.results) + 2


def test_trailing_row_counts(engine):
    rows = []
    for back, count in [(1, 3), (2, 5), (7, 2), (8, 100)]:  # day 8 is outside the window
        day = DS - timedelta(days=back)
        rows += [{"ds": day, "order_id": f"{day}-{i}", "user_id": "u", "order_at": datetime.combine(day, datetime.min.time()),
                  "amount": 1, "status": "paid"} for i in range(count)]
    rows += [{"ds": DS, "order_id": "today", "user_id": "u", "order_at": at(1), "amount": 1, "status": "paid"}]
    with engine.begin() as conn:
        warehouse.replace_window(conn, warehouse.raw_orders, DS - timedelta(days=8), DS + timedelta(days=1), rows)
    counts = trailing_row_counts(engine, DS)
    assert counts["orders"] == [2, 5, 3]  # oldest first, only days with rows, today excluded
    assert counts["users"] == []
    assert set(counts) == set(RAW_TABLES)


# --- the suites themselves -----------------------------------------------------------------

def test_every_suite_is_consistent_with_the_warehouse_schema():
    directory = resource_dir("expectations")
    for table, sa_table in RAW_TABLES.items():
        doc = json.loads((directory / f"{table}.json").read_text(encoding="utf-8"))
        assert doc["name"] == sa_table.name
        columns = set(sa_table.c.keys())
        exists = {e["kwargs"]["column"] for e in doc["expectations"] if e["type"] == "expect_column_to_exist"}
        assert exists == columns - {"ds"}, table
        for exp in doc["expectations"]:
            assert exp["meta"]["severity"] in ("critical", "warning"), exp
            kw = exp["kwargs"]
            referenced = [kw.get("column"), kw.get("column_A"), kw.get("column_B"), *kw.get("column_list", [])]
            assert {c for c in referenced if c} <= columns, exp
        required = {c.name for c in sa_table.columns if not c.nullable} - {"ds"}
        critical_exists = {e["kwargs"]["column"] for e in doc["expectations"]
                           if e["type"] == "expect_column_to_exist" and e["meta"]["severity"] == "critical"}
        assert critical_exists == required, table


def test_gx_progress_bars_and_analytics_are_off(frames):
    from opscadence.quality.gx_runtime import shared_runtime

    run(frames)
    context = shared_runtime().context
    assert context.variables.analytics_enabled is False
    assert context.progress_bars.globally is False
    assert context.progress_bars.metric_calculations is False
    assert shared_runtime() is shared_runtime()  # one context per process


def test_no_progress_output(frames, capfd):
    run(frames)
    captured = capfd.readouterr()
    assert "Calculating Metrics" not in captured.err + captured.out


def test_validated_frames_are_not_kept_by_gx(frames):
    """GX's execution engine caches every batch's frame for the life of the process; a
    backfill worker validates a year of months, so the cache is emptied after each run."""
    from opscadence.quality.gx_runtime import shared_runtime
    from opscadence.quality.suites import expectation_parameters

    runtime = shared_runtime()
    batch = runtime.batch_definitions["events"].get_batch(batch_parameters={"dataframe": frames["events"]})
    batch.validate(runtime.suites["events"], expectation_parameters=expectation_parameters(DS))
    cache = batch.data.execution_engine.batch_manager.batch_data_cache
    assert len(cache) >= 1  # GX on its own keeps the frame
    run(frames)
    assert cache == {}  # our validation leaves nothing behind
