"""Absence is a finding: a day the source holds no rows for fails validation and says where it looked."""

from __future__ import annotations

from datetime import date, timedelta

from opscadence.core.model import DailyBrief
from opscadence.pipelines.daily import extract_day, validate_day, validate_days
from opscadence.quality.presence import NO_ROWS, presence_check
from opscadence.reporting.slack.brief import render_daily_brief
from opscadence.sources import CsvExportSource, WarehouseSource
from tests.fixtures import tiny_shop
from tests.fixtures.tiny_shop import D

BEFORE = date(2025, 1, 1)  # long before the tiny shop's first row (D - 50 days)


def _location(engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def test_presence_check_names_every_table_without_rows():
    assert presence_check(D, {"events": 3}, "x") is None  # events present: other tables may be empty
    found = presence_check(BEFORE, {"users": 2}, "the warehouse sqlite:///w.sqlite")
    assert (found.table, found.expectation, found.severity, found.success) == ("events", NO_ROWS, "critical", False)
    # RAW_TABLES order, users left out (2 rows)
    assert found.detail == "no events, orders, payments, ad_spend, feedback for 2025-01-01 in the warehouse sqlite:///w.sqlite"
    empty = presence_check(BEFORE, {}, "the warehouse sqlite:///w.sqlite", source_empty=True)
    assert empty.detail.startswith("no users, events, orders, payments, ad_spend, feedback for 2025-01-01: "
                                   "the warehouse sqlite:///w.sqlite holds no data at all")


def test_a_new_warehouse_fails_validation_and_says_where_it_looked(engine):
    source = WarehouseSource(engine)

    report = validate_day(engine, source, extract_day(source, BEFORE))

    # Before: every suite passes on zero rows (no trailing history to judge the count by).
    assert [r.expectation for r in report.critical_failures] == [NO_ROWS]
    assert not report.passed
    detail = report.critical_failures[0].detail
    assert f"the warehouse {_location(engine)} holds no data at all" in detail
    assert "no users, events, orders, payments, ad_spend, feedback for 2025-01-01" in detail
    assert "password" not in detail.lower() and (engine.url.password is None or engine.url.password not in detail)


def test_a_day_before_the_shop_existed_names_the_tables_and_the_source(engine):
    tiny_shop.load(engine)
    source = WarehouseSource(engine)

    report = validate_day(engine, source, extract_day(source, BEFORE))

    [failure] = report.critical_failures
    assert failure.detail == (f"no users, events, orders, payments, ad_spend, feedback for 2025-01-01 "
                              f"in the warehouse {_location(engine)}")
    # The day with data has events: no absence finding.
    assert all(r.expectation != NO_ROWS for r in validate_day(engine, source, extract_day(source, D)).results)


def test_a_range_validation_flags_each_day_without_rows(engine):
    tiny_shop.load(engine)
    source = WarehouseSource(engine)
    # D-8 has no rows at all, D-7 has the six page views, D-6 nothing again (tiny_shop.events)
    days = [D - timedelta(days=8), D - timedelta(days=7), D - timedelta(days=6)]

    reports = validate_days(engine, source, days)

    flagged = {ds for ds, r in reports.items() if any(c.expectation == NO_ROWS for c in r.critical_failures)}
    assert flagged == {D - timedelta(days=8), D - timedelta(days=6)}


def test_an_export_folder_without_the_day_names_the_folder(tmp_path, sqlite_engine):
    (tmp_path / "exports" / "2026-11-23").mkdir(parents=True)
    (tmp_path / "exports" / "2026-11-23" / "events.csv").write_text("ds\n", encoding="utf-8")
    source = CsvExportSource(tmp_path / "exports", timezone="Asia/Shanghai")

    report = validate_day(sqlite_engine, source, extract_day(source, BEFORE))

    absent = [r for r in report.critical_failures if r.expectation == NO_ROWS]
    assert [r.detail for r in absent] == [
        f"no users, events, orders, payments, ad_spend, feedback for 2025-01-01 in {tmp_path / 'exports' / '2025-01-01'}"
    ]
    assert CsvExportSource(tmp_path / "nothing-here").is_empty() and not source.is_empty()


def _absent_brief(engine, locale):
    source = WarehouseSource(engine)
    report = validate_day(engine, source, extract_day(source, BEFORE))
    brief = DailyBrief(ds=BEFORE, timezone="Asia/Shanghai", vertical="ecommerce", kpis=[], alerts=[], funnel=None,
                       dq_passed=report.passed, dq_issues=report.issues())
    return render_daily_brief(brief, locale).text


def test_the_brief_shows_the_absence_in_its_locale_never_an_all_clear(sqlite_engine):
    where = _location(sqlite_engine)
    en, zh = _absent_brief(sqlite_engine, "en"), _absent_brief(sqlite_engine, "zh-CN")
    assert "Data validation failed" in en and "No alerts" not in en
    assert f"the warehouse {where} holds no data at all" in en
    assert "数据校验未通过" in zh and "无告警" not in zh
    assert f"{where} 中没有任何数据" in zh and "没有 2025-01-01 的 users, events" in zh
