"""Several sources, each owning some raw tables; KPIs computed from the tables there are.

A shop without an events source still gets its order KPIs, and the brief says which KPIs
are unavailable and why, instead of showing them as zeros or "n/a" without a reason.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from opscadence import warehouse
from opscadence.analytics.daily import kpis as kpi_module
from opscadence.core.config import ConfigError, load_config
from opscadence.core.sqlfiles import load_sql
from opscadence.metrics.catalog import CATALOG, MEASURE_TABLE, unavailable_metrics
from opscadence.pipelines import daily
from opscadence.quality.report import ValidationReport
from opscadence.reporting.slack.brief import render_daily_brief
from opscadence.sources import CsvExportSource, WarehouseSource, make_source
from opscadence.sources.composite import CompositeSource
from tests.fixtures import tiny_shop
from tests.unit.test_sources import CLEAN, DS, write_export

NO_EVENTS = ["users", "orders", "payments", "ad_spend", "feedback"]


def _config(tmp_path, text: str, **env):
    file = tmp_path / "opscadence.yaml"
    file.write_text(text, encoding="utf-8")
    return load_config(file, environ={"OPSCADENCE_HOME": str(tmp_path / "home"), **env})


# --- config ----------------------------------------------------------------------------------

def test_sources_each_own_tables(tmp_path):
    cfg = _config(tmp_path, f"""
sources:
  - kind: csv
    path: {tmp_path / 'exports'}
    tables: [users, orders, payments]
  - kind: warehouse
    tables: [events]
""")
    assert [s.kind for s in cfg.source_list] == ["csv", "warehouse"]
    assert cfg.provided_tables == {"users", "orders", "payments", "events"}


def test_a_table_with_two_sources_is_refused_naming_both(tmp_path):
    with pytest.raises(ConfigError, match=r"sources\.1\.tables|sources\[1\]\.tables") as err:
        _config(tmp_path, """
sources:
  - kind: warehouse
    tables: [orders, events]
  - kind: warehouse
    tables: [events]
""")
    assert "'events' is already provided by sources[0]" in str(err.value)


def test_unknown_table_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"sources\.0\.tables\.0"):
        _config(tmp_path, "sources:\n  - kind: warehouse\n    tables: [clicks]\n")


def test_single_source_key_still_works_and_owns_every_table(tmp_path):
    cfg = _config(tmp_path, "source:\n  kind: warehouse\n")
    assert cfg.provided_tables == set(warehouse.RAW_TABLES)
    assert len(cfg.source_list) == 1


# --- the composite source ----------------------------------------------------------------------

def test_composite_reads_each_table_from_its_owner_and_lands_one_batch(tmp_path, sqlite_engine):
    warehouse.init_schema(sqlite_engine)
    tiny_shop.load(sqlite_engine)  # events of tiny_shop.D in the warehouse
    write_export(tmp_path, {t: CLEAN[t] for t in NO_EVENTS}, day=tiny_shop.D)
    cfg = _config(tmp_path, f"""
sources:
  - kind: csv
    path: {tmp_path}
    tables: {NO_EVENTS}
  - kind: warehouse
    tables: [events]
""")
    source = make_source(cfg.source_list, sqlite_engine, timezone=cfg.timezone)
    assert isinstance(source, CompositeSource)
    assert source.tables == frozenset(warehouse.RAW_TABLES)
    assert not source.validates_in_database()  # the CSV part is validated in pandas
    assert source.describe("orders", tiny_shop.D).endswith("orders.csv")
    assert source.describe("events", tiny_shop.D).startswith("warehouse table raw_events")
    frames = source.read_partition(tiny_shop.D)
    assert len(frames["orders"]) == 2  # CLEAN's two orders, not tiny_shop's four
    assert len(frames["events"]) == len([e for e in tiny_shop.events() if e["ds"] == tiny_shop.D])  # 13
    source.land(sqlite_engine, tiny_shop.D, frames)
    with sqlite_engine.connect() as conn:
        order_ids = conn.execute(sa.select(warehouse.raw_orders.c.order_id)
                                 .where(warehouse.raw_orders.c.ds == tiny_shop.D)).scalars().all()
    assert sorted(order_ids) == ["o0001", "o0002"]  # the export replaced the day's orders


def test_a_csv_source_without_events_validates_without_an_events_file(tmp_path, sqlite_engine):
    warehouse.init_schema(sqlite_engine)
    write_export(tmp_path, {t: CLEAN[t] for t in NO_EVENTS})
    full = CsvExportSource(tmp_path, timezone="Asia/Shanghai")
    partial = CsvExportSource(tmp_path, timezone="Asia/Shanghai", tables=NO_EVENTS)
    # All six tables expected: the absent events.csv fails validation (the failure this fixes).
    assert not daily.validate_day(sqlite_engine, full, daily.extract_day(full, DS)).passed
    report = daily.validate_day(sqlite_engine, partial, daily.extract_day(partial, DS))
    assert report.passed, [r.detail for r in report.critical_failures]
    assert {r.table for r in report.results} == set(NO_EVENTS)  # no check on a table nobody provides


# --- KPIs from the tables there are -----------------------------------------------------------

def test_each_measure_query_reads_the_table_its_measures_are_counted_from(sqlite_engine):
    # The catalogue says which raw table each measure counts. Each measure query's columns,
    # as the SQL itself returns them (run on an empty warehouse), must come from SQL that reads
    # that table: a measure moved to another file or table fails here.
    warehouse.init_schema(sqlite_engine)
    params = kpi_module.range_params(tiny_shop.D, tiny_shop.D + timedelta(days=1))
    seen = set()
    with sqlite_engine.connect() as conn:
        for name in kpi_module.MEASURE_QUERIES:
            measures = set(conn.execute(load_sql(name), params).keys()) - {"ds", "dimension", "dimension_value"}
            assert measures, name
            for measure in measures:
                assert f"raw_{MEASURE_TABLE[measure]}" in load_sql(name).text, (name, measure)
            seen |= measures
    # Event measures come from session_facts, which reads raw_events (through the visitor mart).
    event_measures = {m for m, t in MEASURE_TABLE.items() if t == "events"}
    assert "raw_events" in load_sql("kpi/session_facts").text
    used = {m.numerator for m in CATALOG.values()} | {m.denominator for m in CATALOG.values() if m.denominator}
    assert used <= seen | event_measures


def test_without_events_order_kpis_are_computed_and_event_kpis_are_not(engine):
    warehouse.init_schema(engine)
    tiny_shop.load(engine)  # raw_events has rows, but no configured source provides events
    written = daily.compute_day(engine, tiny_shop.D, "ecommerce", frozenset(NO_EVENTS))
    with engine.connect() as conn:
        values = kpi_module.load_kpis(conn, tiny_shop.D, tiny_shop.D + timedelta(days=1))
        funnel = kpi_module.load_funnel(conn, tiny_shop.D, tiny_shop.D + timedelta(days=1))
    overall = {metric: v for (ds, metric, dim, val), v in values.items() if dim == "all"}
    # Paid orders on D: o1, o2, o4 (refunded after paying) = 3; GMV 100.00 + 50.50 + 30.00 = 180.50.
    assert overall["orders"] == 3 and overall["gmv"] == pytest.approx(180.50)
    assert overall["new_users"] == 2  # u4, u5 signed up on D
    assert overall["payment_success_rate"] == pytest.approx(3 / 5)  # p1, p3, p5 of five attempts
    # Everything that counts visitors needs events: not computed from rows nobody provides.
    for metric in ("dau", "stickiness", "paying_rate", "bounce_rate", "add_to_cart_conversion", "mau"):
        assert metric not in overall
    assert funnel == {}
    assert written == sum(1 for (ds, m, dim, val) in values)


def test_the_fingerprint_knows_which_tables_were_provided(engine):
    warehouse.init_schema(engine)
    tiny_shop.load(engine)
    daily.compute_day(engine, tiny_shop.D, "ecommerce", frozenset(NO_EVENTS))
    with engine.connect() as conn:
        assert kpi_module.day_status(conn, [tiny_shop.D], "ecommerce", NO_EVENTS)[tiny_shop.D] == "current"
        # An events source added later: the day's marts were built without it, so it is recomputed.
        assert kpi_module.day_status(conn, [tiny_shop.D], "ecommerce", warehouse.RAW_TABLES)[tiny_shop.D] == "changed"


def test_unavailable_metrics_name_the_missing_tables():
    missing = unavailable_metrics("ecommerce", NO_EVENTS)
    # paying_rate = paying_users (orders) / active_visitors (events): only events is missing.
    assert missing["paying_rate"] == ("events",)
    assert "orders" not in missing and "gmv" not in missing
    only_events = unavailable_metrics("ecommerce", ["events"])
    assert only_events["aov"] == ("orders",)  # gmv / paid_orders, both from orders
    assert only_events["registration_conversion"] == ("users",)
    assert unavailable_metrics("ecommerce", warehouse.RAW_TABLES) == {}


@pytest.mark.parametrize("locale, expected", [
    ("en", "⚪ Not available: DAU, Stickiness (DAU/MAU), Paying rate, Bounce rate, Add-to-cart conversion, "
           "the funnel (no source provides events)"),
    ("zh-CN", "⚪ 无法计算：日活 DAU、粘性 DAU/MAU、付费率、跳出率、加购转化率、转化漏斗（没有数据源提供 events）"),
])
def test_the_brief_says_which_kpis_are_unavailable_and_why(tmp_path, sqlite_engine, locale, expected):
    warehouse.init_schema(sqlite_engine)
    tiny_shop.load(sqlite_engine)
    cfg = _config(tmp_path, f"locale: {locale}\nsources:\n  - kind: warehouse\n    tables: {NO_EVENTS}\n")
    daily.compute_day(sqlite_engine, tiny_shop.D, "ecommerce", cfg.provided_tables)
    report = ValidationReport(ds=tiny_shop.D, results=[])
    brief = daily.assemble_brief(sqlite_engine, cfg, tiny_shop.D, report, [])
    assert [k.metric for k in brief.kpis] == ["new_users", "repurchase_rate", "orders", "gmv", "aov",
                                              "payment_success_rate"]
    text = render_daily_brief(brief, locale).text
    assert expected in text
    assert "DAU" not in text.replace(expected, "")  # not also shown as a value of "n/a"


def test_without_an_events_source_a_day_is_absent_only_when_no_provided_table_has_rows():
    from datetime import date

    from opscadence.quality.presence import NO_ROWS, presence_check

    day = date(2025, 1, 1)
    # Orders there, no events source: the day is present (events are not asked for).
    assert presence_check(day, {"orders": 4}, "exports", tables=NO_EVENTS) is None
    # Nothing in any provided table: absent, naming only the provided tables.
    found = presence_check(day, {"events": 9}, "exports", tables=NO_EVENTS)  # events: nobody's, not counted
    assert found is not None and found.expectation == NO_ROWS
    assert found.detail == "no users, orders, payments, ad_spend, feedback for 2025-01-01 in exports"
    # With an events source, events are what a day needs.
    assert presence_check(day, {"orders": 4}, "w", tables=warehouse.RAW_TABLES) is not None
