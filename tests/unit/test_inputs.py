"""Marts know their inputs: a checksum per raw partition and a digest of the definitions."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa

from opscadence import warehouse
from opscadence.analytics.daily import kpis
from opscadence.warehouse import input_checksums, record_inputs, stale_or_missing

D = date(2026, 11, 24)


def _orders(amounts: list[float], status: str = "paid") -> list[dict]:
    return [{"ds": D, "order_id": f"o{i}", "user_id": f"u{i}", "order_at": datetime(2026, 11, 24, 10, i),
             "amount": a, "status": status} for i, a in enumerate(amounts)]


def _land(engine, rows) -> None:
    with engine.begin() as conn:
        warehouse.replace_window(conn, warehouse.raw_orders, D, D + timedelta(days=1), rows)


def _checksum(engine) -> dict:
    with engine.connect() as conn:
        return input_checksums(conn, D, D + timedelta(days=1), ["orders"])[D]["orders"]


def test_checksum_counts_sums_lengths_and_timestamps(engine):
    _land(engine, _orders([10.5, 20.25]))
    c = _checksum(engine)
    # 2 rows; 10.5 + 20.25 = 30.75; ids "o0","o1" = 2 + 2 characters; statuses "paid" × 2 = 8
    assert c["rows"] == 2 and c["sum_amount"] == 30.75 and c["len_order_id"] == 4 and c["len_status"] == 8
    assert c["min_order_at"] == "2026-11-24 10:00:00" and c["max_order_at"] == "2026-11-24 10:01:00"


def test_identical_reload_keeps_the_checksum_and_a_correction_changes_it(engine):
    _land(engine, _orders([10.5, 20.25]))
    first = _checksum(engine)
    _land(engine, _orders([10.5, 20.25]))
    assert _checksum(engine) == first
    _land(engine, _orders([10.5, 20.35]))  # one amount corrected
    assert _checksum(engine) != first
    _land(engine, _orders([10.5, 20.25], status="refunded"))  # statuses changed, amounts not
    assert _checksum(engine) != first


def test_day_status_missing_current_changed(engine):
    _land(engine, _orders([10.0]))
    definitions = kpis.definitions_version("ecommerce")
    with engine.begin() as conn:
        assert stale_or_missing(conn, "daily", [D], definitions) == {D: "missing"}
        record_inputs(conn, "daily", D, input_checksums(conn, D, D + timedelta(days=1))[D], definitions)
        assert stale_or_missing(conn, "daily", [D], definitions) == {D: "current"}
        # the same inputs under other definitions (a switch of vertical) are not current
        assert stale_or_missing(conn, "daily", [D], kpis.definitions_version("social")) == {D: "changed"}
    _land(engine, _orders([10.0, 5.0]))
    with engine.begin() as conn:
        assert stale_or_missing(conn, "daily", [D], definitions) == {D: "changed"}
        # withdrawn marts forget their inputs
        kpis.clear_marts(conn, D)
        assert stale_or_missing(conn, "daily", [D], definitions) == {D: "missing"}
        assert conn.execute(sa.select(sa.func.count()).select_from(warehouse.mart_inputs)).scalar_one() == 0


def test_definitions_cover_vertical_and_sql():
    assert kpis.definitions_version("ecommerce") != kpis.definitions_version("social")
    assert len(kpis.definitions_version("ecommerce")) == 64
