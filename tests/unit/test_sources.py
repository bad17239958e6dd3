"""Reading one day's raw partitions from CSV exports and the warehouse; landing a batch."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from opscadence import warehouse
from opscadence.sources import (
    CsvExportSource,
    PartitionSource,
    SourceError,
    WarehouseSource,
    load_partition,
)
from opscadence.quality.day import validate_partition
from opscadence.warehouse import RAW_TABLES

DS = date(2026, 11, 24)

# One clean export for DS, as a shop back office would write it.
CLEAN = {
    "users": (
        "user_id,signup_at,channel,platform,region\n"
        "u001,2026-11-24 08:00:00,douyin,ios,上海\n"
        "u002,2026-11-24T09:30:00,wechat,android,北京\n"
    ),
    "events": (
        "event_id,event_at,visitor_id,user_id,session_id,event_name,page,platform,utm_source,utm_medium,"
        "utm_campaign,engagement_seconds\n"
        "e001,2026-11-24 08:00:00,v1,,s1,page_view,/,ios,douyin,cpc,双11,12.5\n"
        "e002,2026-11-24 08:05:00,v1,u001,s1,signup,/signup,ios,,,,\n"
    ),
    "orders": (
        "order_id,user_id,order_at,amount,status,platform,channel\n"
        "o0001,u001,2026-11-24 10:00:00,99.00,paid,ios,douyin\n"
        "o0002,u002,2026-11-24 11:00:00,0,created,android,\n"
    ),
    "payments": (
        "attempt_id,order_id,attempt_at,status,method,platform,error_code\n"
        "p01,o0001,2026-11-24 10:01:00,success,alipay,ios,\n"
        "p02,o0002,2026-11-24 11:01:00,failed,wechat_pay,android,TIMEOUT\n"
    ),
    "ad_spend": (
        "channel,campaign,impressions,clicks,cost\n"
        "douyin,双11预热,10000,250,800.50\n"
        "wechat,朋友圈,5000,0,0\n"
    ),
    "feedback": (
        "feedback_id,source,created_at,rating,text,user_id\n"
        'f01,app_review,2026-11-24 12:00:00,2,"付款一直失败, 太慢了",u002\n'
        "f02,survey,2026-11-24 13:00:00,,,\n"
    ),
}


def write_export(root: Path, tables: dict[str, str] | None = None, *, encoding: str = "utf-8",
                 day: date = DS) -> Path:
    folder = root / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    for table, text in (tables or CLEAN).items():
        (folder / f"{table}.csv").write_bytes(text.encode(encoding))
    return folder


@pytest.fixture()
def engine(sqlite_engine):
    """These tests run on SQLite only (conftest's ``engine`` would add PostgreSQL)."""
    return sqlite_engine


# --- CSV: encodings ------------------------------------------------------------------------

def test_gbk_export_with_chinese_text_is_read(tmp_path):
    write_export(tmp_path, encoding="gbk")
    source = CsvExportSource(tmp_path)
    frames = source.read_partition(DS)
    assert source.encodings_used["feedback"] == "gb18030"
    assert frames["feedback"].loc[2, "text"] == "付款一直失败, 太慢了"
    assert frames["users"]["region"].tolist() == ["上海", "北京"]
    assert frames["ad_spend"]["campaign"].tolist() == ["双11预热", "朋友圈"]


def test_explicit_encoding_is_honoured(tmp_path):
    write_export(tmp_path, encoding="gbk")
    frames = CsvExportSource(tmp_path, encoding="gbk").read_partition(DS)
    assert frames["ad_spend"].loc[3, "campaign"] == "朋友圈"
    with pytest.raises(SourceError) as err:
        CsvExportSource(tmp_path, encoding="utf-8").read_partition(DS)
    assert "users.csv row 2" in str(err.value)
    assert "not valid utf-8" in str(err.value)


def test_utf8_with_bom(tmp_path):
    write_export(tmp_path, encoding="utf-8-sig")
    source = CsvExportSource(tmp_path)
    frames = source.read_partition(DS)
    assert source.encodings_used["ad_spend"] == "utf-8-sig"
    assert list(frames["ad_spend"].columns)[:2] == ["ds", "channel"]  # no "\ufeffchannel"
    assert frames["ad_spend"].loc[2, "channel"] == "douyin"
    assert source.warnings == []


# --- CSV: typing, line numbers, columns ----------------------------------------------------

def test_typed_columns_and_line_number_index(tmp_path):
    write_export(tmp_path)
    frames = CsvExportSource(tmp_path).read_partition(DS)
    orders = frames["orders"]
    assert orders.index.tolist() == [2, 3]
    assert pd.api.types.is_datetime64_any_dtype(orders["order_at"])
    assert orders.loc[2, "order_at"] == pd.Timestamp("2026-11-24 10:00:00")
    assert orders["amount"].dtype == "float64" and orders.loc[3, "amount"] == 0.0
    assert str(frames["ad_spend"]["impressions"].dtype) == "Int64"
    assert frames["users"].loc[3, "signup_at"] == pd.Timestamp("2026-11-24 09:30:00")  # ISO "T" form
    assert pd.isna(frames["orders"].loc[3, "channel"])  # empty cell → missing
    assert pd.isna(frames["feedback"].loc[3, "rating"])
    # ds added from the directory name
    assert (orders["ds"] == DS).all()


def test_line_numbers_follow_the_file_with_blank_lines_and_multiline_text(tmp_path):
    text = (
        "feedback_id,source,created_at,rating,text,user_id\n"
        'f01,app_review,2026-11-24 12:00:00,2,"line one\nline two",u1\n'   # lines 2-3
        "\n"                                                                 # line 4
        "f02,survey,2026-11-24 13:00:00,x,,\n"                             # line 5: bad rating
    )
    write_export(tmp_path, {"feedback": text})
    with pytest.raises(SourceError) as err:
        CsvExportSource(tmp_path).read_partition(DS)
    assert "feedback.csv row 5, column rating: 'x' is not a number" in str(err.value)
    text = text.replace(",x,", ",4,")
    write_export(tmp_path, {**CLEAN, "feedback": text})
    frame = CsvExportSource(tmp_path).read_partition(DS)["feedback"]
    assert frame.index.tolist() == [2, 5]
    assert frame.loc[2, "text"] == "line one\nline two"


def test_non_numeric_amount_names_file_row_and_column(tmp_path):
    orders = CLEAN["orders"] + "o0003,u001,2026-11-24 12:00:00,abc,paid,ios,douyin\n"  # line 4
    folder = write_export(tmp_path, {**CLEAN, "orders": orders})
    with pytest.raises(SourceError) as err:
        CsvExportSource(tmp_path).read_partition(DS)
    message = str(err.value)
    assert message == f"{folder / 'orders.csv'} row 4, column amount: 'abc' is not a number"
    assert (err.value.path, err.value.row, err.value.column) == (str(folder / "orders.csv"), 4, "amount")
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("table,column,bad,what", [
    ("orders", "order_at", "yesterday", "is not a timestamp"),
    ("ad_spend", "clicks", "2.5", "is not an integer"),
    ("ad_spend", "cost", "inf", "is not a number"),
])
def test_unconvertible_values(tmp_path, table, column, bad, what):
    header, first, *rest = CLEAN[table].splitlines()
    cells = first.split(",")
    cells[header.split(",").index(column)] = bad
    write_export(tmp_path, {**CLEAN, table: "\n".join([header, ",".join(cells), *rest]) + "\n"})
    with pytest.raises(SourceError, match=rf"{table}\.csv row 2, column {column}: '{bad}' {what}"):
        CsvExportSource(tmp_path).read_partition(DS)


def test_timestamps_with_utc_offset_need_the_shop_timezone(tmp_path):
    orders = CLEAN["orders"].replace("2026-11-24 10:00:00", "2026-11-24T02:00:00+00:00")
    write_export(tmp_path, {**CLEAN, "orders": orders})
    with pytest.raises(SourceError, match="row 2, column order_at: .* has a UTC offset"):
        CsvExportSource(tmp_path).read_partition(DS)
    frames = CsvExportSource(tmp_path, timezone="Asia/Shanghai").read_partition(DS)
    assert frames["orders"].loc[2, "order_at"] == pd.Timestamp("2026-11-24 10:00:00")


def test_wrong_field_count(tmp_path):
    write_export(tmp_path, {**CLEAN, "orders": CLEAN["orders"] + "o0003,u001\n"})
    with pytest.raises(SourceError, match=r"orders\.csv row 4: expected 7 fields as in the header, found 2"):
        CsvExportSource(tmp_path).read_partition(DS)


def test_unknown_columns_are_dropped_with_a_note(tmp_path):
    orders = CLEAN["orders"].replace("channel\n", "channel,coupon_code\n").replace("douyin\n", "douyin,SAVE10\n")
    orders = orders.replace("android,\n", "android,,\n")
    write_export(tmp_path, {**CLEAN, "orders": orders})
    source = CsvExportSource(tmp_path)
    frames = source.read_partition(DS)
    assert "coupon_code" not in frames["orders"].columns
    assert len(source.warnings) == 1
    assert "orders.csv" in source.warnings[0] and "coupon_code" in source.warnings[0]


def test_missing_columns_stay_missing_and_validation_reports_them(tmp_path):
    orders = "order_id,user_id,order_at,status\no0001,u001,2026-11-24 10:00:00,paid\n"
    folder = write_export(tmp_path, {**CLEAN, "orders": orders})
    source = CsvExportSource(tmp_path)
    frames = source.read_partition(DS)
    assert "amount" not in frames["orders"].columns
    report = validate_partition(frames, DS, describe=lambda t: source.describe(t, DS))
    assert not report.passed
    missing = {(f.column, f.severity) for f in report.failures}
    assert missing == {("amount", "critical"), ("platform", "warning"), ("channel", "warning")}
    assert report.critical_failures[0].detail == f"{folder / 'orders.csv'}: column amount is missing"


def test_missing_file_is_reported_as_a_missing_file_not_missing_columns(tmp_path):
    # Before: an empty frame, then validation reported payments' seven columns as missing.
    tables = {k: v for k, v in CLEAN.items() if k != "payments"}
    folder = write_export(tmp_path, tables)
    source = CsvExportSource(tmp_path)
    with pytest.raises(SourceError) as err:
        source.read_partition(DS)
    assert str(err.value) == f"payments.csv is missing in {folder}"
    assert err.value.check == "file_missing" and err.value.path == str(folder)
    # Two absent files are named in one line, in table order.
    (folder / "users.csv").unlink()
    with pytest.raises(SourceError, match=r"^users\.csv, payments\.csv are missing in "):
        source.read_partition(DS)
    with pytest.raises(SourceError, match=r"^payments\.csv is missing in "):
        source.read_table("payments", DS)


def test_clean_export_passes_validation(tmp_path):
    write_export(tmp_path, encoding="gbk")
    source = CsvExportSource(tmp_path)
    frames = source.read_partition(DS)
    report = validate_partition(frames, DS, describe=lambda t: source.describe(t, DS))
    assert report.passed and report.failures == [], [f.detail for f in report.failures]


def test_describe_and_protocol(tmp_path, engine):
    csv_source = CsvExportSource(tmp_path)
    assert csv_source.describe("orders", DS) == str(tmp_path / "2026-11-24" / "orders.csv")
    wh = WarehouseSource(engine)
    assert wh.describe("orders", DS) == "warehouse table raw_orders (ds=2026-11-24)"
    assert isinstance(csv_source, PartitionSource) and isinstance(wh, PartitionSource)


# --- landing a batch and reading it back ---------------------------------------------------

def _table_state(engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {
            key: sorted(tuple(row) for row in conn.execute(sa.select(table)))
            for key, table in RAW_TABLES.items()
        }


def test_load_partition_and_rerun_give_the_same_state(tmp_path, engine):
    write_export(tmp_path)
    frames = CsvExportSource(tmp_path).read_partition(DS)
    counts = load_partition(engine, DS, frames)
    assert counts == {"users": 2, "events": 2, "orders": 2, "payments": 2, "ad_spend": 2, "feedback": 2}
    first = _table_state(engine)
    assert load_partition(engine, DS, frames) == counts
    assert _table_state(engine) == first
    # another day is left alone
    next_day = DS + timedelta(days=1)
    other = {k: f.assign(ds=next_day) for k, f in frames.items()}
    for key, col in warehouse.PARTITION_TIME_COLUMN.items():
        if col:
            other[key][col] = other[key][col] + pd.Timedelta(days=1)
    load_partition(engine, next_day, other)
    load_partition(engine, DS, frames)
    assert sum(len(v) for v in _table_state(engine).values()) == 2 * sum(counts.values())


def test_load_partition_is_one_transaction(tmp_path, engine):
    write_export(tmp_path)
    frames = CsvExportSource(tmp_path).read_partition(DS)
    load_partition(engine, DS, frames)
    before = _table_state(engine)
    broken = dict(frames)
    broken["users"] = frames["users"].iloc[:1]  # would change users...
    broken["feedback"] = frames["feedback"].assign(ds=DS - timedelta(days=1))  # ...but feedback is outside the window
    with pytest.raises(ValueError):
        load_partition(engine, DS, broken)
    assert _table_state(engine) == before


def test_warehouse_source_reads_what_was_loaded(tmp_path, engine):
    write_export(tmp_path)
    loaded = CsvExportSource(tmp_path).read_partition(DS)
    load_partition(engine, DS, loaded)
    source = WarehouseSource(engine)
    frames = source.read_partition(DS)
    assert set(frames) == set(RAW_TABLES)
    orders = frames["orders"]
    assert orders.index.tolist() == [0, 1]
    assert list(orders.columns) == list(RAW_TABLES["orders"].c.keys())
    assert orders["ds"].tolist() == [DS, DS]
    assert pd.api.types.is_datetime64_any_dtype(orders["order_at"])
    assert orders["amount"].dtype == "float64"
    assert sorted(orders["amount"].tolist()) == [0.0, 99.0]
    assert str(frames["ad_spend"]["clicks"].dtype) == "Int64"
    assert frames["feedback"].sort_values("feedback_id")["text"].iloc[0] == "付款一直失败, 太慢了"
    assert frames["orders"].sort_values("order_id")["order_at"].tolist() == [
        pd.Timestamp(datetime(2026, 11, 24, 10)), pd.Timestamp(datetime(2026, 11, 24, 11))]
    report = validate_partition(frames, DS, describe=lambda t: source.describe(t, DS))
    assert report.passed and report.failures == [], [f.detail for f in report.failures]
    # only the requested day
    assert all(f.empty for f in source.read_partition(DS - timedelta(days=1)).values())


def test_warehouse_source_empty_day_has_typed_columns(engine):
    frames = WarehouseSource(engine).read_partition(DS)
    orders = frames["orders"]
    assert orders.empty and list(orders.columns) == list(RAW_TABLES["orders"].c.keys())
    report = validate_partition(frames, DS)
    assert report.passed  # no rows is not a column problem; row counts need history


def test_both_sources_say_what_they_can_do(tmp_path, engine):
    from datetime import date

    from opscadence.sources import CsvExportSource, PartitionSource, WarehouseSource

    day = date(2026, 11, 24)
    (tmp_path / "exports" / day.isoformat()).mkdir(parents=True)
    csv_source = CsvExportSource(tmp_path / "exports")
    warehouse_source = WarehouseSource(engine)
    for source in (csv_source, warehouse_source):
        assert isinstance(source, PartitionSource)
        assert source.tables == frozenset(["users", "events", "orders", "payments", "ad_spend", "feedback"])
    # a day's export folder is a partition; a day without one is not
    assert csv_source.has_partition(day) and not csv_source.has_partition(date(2026, 11, 23))
    assert csv_source.read_range(day, date(2026, 11, 25)) is None  # files: day by day
    assert not csv_source.validates_in_database()
    assert not warehouse_source.has_partition(day)  # an empty warehouse holds no day
    assert warehouse_source.validates_in_database() == (engine.dialect.name == "postgresql")


def test_missing_file_fails_validation_as_one_file_missing_check(tmp_path, engine):
    # The day's report has one critical failure naming the file, not payments' columns one by one.
    from opscadence.pipelines.daily import extract_day, validate_day

    folder = write_export(tmp_path, {k: v for k, v in CLEAN.items() if k != "payments"})
    source = CsvExportSource(tmp_path)
    report = validate_day(engine, source, extract_day(source, DS))
    [failure] = report.failures
    assert (failure.table, failure.expectation, failure.severity) == ("payments", "file_missing", "critical")
    assert failure.unexpected_count is None  # a file, not a count of rows
    assert failure.detail == f"payments.csv is missing in {folder}"
