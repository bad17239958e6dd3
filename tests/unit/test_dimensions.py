"""The dimension registry against the marts, the schema and the SQL it describes."""

from __future__ import annotations

import re

import pytest

from opscadence import warehouse
from opscadence.analytics.daily import kpis
from opscadence.core.sqlfiles import load_sql
from opscadence.metrics import dimensions
from tests.fixtures import tiny_shop
from tests.fixtures.tiny_shop import D

# The rows each family is counted from, and the SQL file that reads them (visitors: MAU reads
# mart_daily_visitors, which kpis.fill_visitor_mart fills from raw_events).
FAMILY_ROWS = {
    "events": ("raw_events", "kpi/session_facts"),
    "visitors": ("raw_events", None),
    "orders": ("raw_orders", "kpi/order_measures"),
    "payments": ("raw_payments", "kpi/payment_measures"),
    "ads": ("raw_ad_spend", "kpi/ad_measures"),
    "signups": ("raw_users", "kpi/signup_measures"),
}


def test_each_family_is_split_by_exactly_its_registry_dimensions(engine):
    tiny_shop.load(engine)
    with engine.connect() as conn:
        measures = kpis.compute_measures(conn, D)
    split = {}
    for (dimension, _value), values in measures.items():
        for measure in values:
            split.setdefault(measure, set()).add(dimension)
    # What the marts held before the registry (read off the SQL of each family then):
    expected = {
        "active_visitors": {"all", "platform", "channel", "campaign", "region"},  # events
        "mau_visitors": {"all", "platform", "channel"},  # visitors (MAU)
        "paid_orders": {"all", "platform", "channel", "region"},  # orders
        "payment_attempts": {"all", "platform", "payment_method"},  # payments
        "ad_cost": {"all", "channel"},  # ads
        "new_users": {"all", "platform", "channel", "region"},  # signups
    }
    assert {measure: split[measure] for measure in expected} == expected
    families = dict(zip(expected, ("events", "visitors", "orders", "payments", "ads", "signups")))
    for measure, family in families.items():
        assert {dimensions.ALL, *dimensions.names(family)} == expected[measure], family
    # Payments by method (stg_payment_attempts): card p1, p5 both succeeded; alipay p2 failed,
    # p3 succeeded, p4 failed; all five on ios.
    assert measures[("payment_method", "card")] == {"payment_attempts": 2, "payment_successes": 2}
    assert measures[("payment_method", "alipay")] == {"payment_attempts": 3, "payment_successes": 1}
    assert measures[("platform", "ios")]["payment_successes"] == 3
    # MAU by channel: every visit without utm_source reads the channel's missing value 'direct':
    # v2 on D, v1..v5 and v7 on D-7, v8 on D-10 -> 7 visitors (v9, D-40, is outside the window).
    assert measures[("channel", dimensions.BY_NAME["channel"].missing)]["mau_visitors"] == 7


def test_every_source_is_a_column_of_the_family_rows_or_reached_through_them():
    tables = warehouse.metadata.tables
    assert set(FAMILY_ROWS) == set(dimensions.FAMILIES)
    for dimension in dimensions.DIMENSIONS:
        assert set(dimension.sources) <= set(dimensions.FAMILIES), dimension.name
        for family, source in dimension.sources.items():
            rows = FAMILY_ROWS[family][0]
            assert source.column in tables[source.table].c, (dimension.name, family)
            if source.via is None:
                assert source.table == rows, (dimension.name, family)
            else:  # a value of the row's user: joined by a key of the family's rows
                assert source.via in tables[rows].c and source.via in tables[source.table].c


@pytest.mark.parametrize("family", [f for f, (_, sql) in FAMILY_ROWS.items() if sql])
def test_the_sql_names_each_dimension_column_after_it_and_fills_missing_values(family):
    sql = str(load_sql(FAMILY_ROWS[family][1]))  # with its staging includes
    for dimension in dimensions.of_family(family):
        source = dimension.sources[family]
        if warehouse.metadata.tables[source.table].c[source.column].nullable:
            pattern = rf"coalesce\((\w+\.)?{source.column}, '{dimension.missing}'\) as {dimension.name}\b"
        else:  # e.g. raw_ad_spend.channel: never null
            pattern = rf"\b{source.column}\b"
        assert re.search(pattern, sql), (family, dimension.name, pattern)


def test_names_are_the_mart_keys_and_unknown_families_fail():
    names = dimensions.names()
    assert names == ("platform", "channel", "campaign", "region", "payment_method")
    assert all(re.fullmatch(r"[a-z][a-z_]*", name) for name in names) and dimensions.ALL not in names
    assert dimensions.breakdowns("ads") == (("all", None), ("channel", "channel"))
    with pytest.raises(KeyError, match="unknown measure family 'social'; known: events, visitors"):
        dimensions.of_family("social")


@pytest.mark.parametrize("vertical", ["ecommerce", "social"])
def test_metric_dimensions_are_the_dimensions_the_kpi_mart_holds(engine, vertical):
    # The config refuses a rule by a dimension the mart lacks (opscadence.analytics.daily.availability);
    # that answer must be what the marts really get from the tiny shop, which has rows in every family.
    from opscadence.analytics.daily.availability import metric_dimensions
    from opscadence.metrics.catalog import metrics_for

    tiny_shop.load(engine)
    with engine.connect() as conn:
        rows = kpis.kpi_rows(kpis.compute_measures(conn, D), D, vertical)
    held: dict[str, set[str]] = {}
    for row in rows:
        held.setdefault(row["metric"], set()).add(row["dimension"])
    for metric in metrics_for(vertical):
        assert set(metric_dimensions(metric.name)) == held[metric.name], metric.name
    assert metric_dimensions("ad_ctr") == ("all", "channel")  # ads are split by channel only
