"""Every KPI formula against values computed by hand on the tiny shop (tests/fixtures/tiny_shop.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from opscadence import warehouse
from opscadence.analytics.daily import kpis
from opscadence.metrics.catalog import compute_metrics
from tests.fixtures import tiny_shop
from tests.fixtures.tiny_shop import D


@pytest.fixture
def measures(engine):
    tiny_shop.load(engine)
    with engine.connect() as conn:
        return kpis.compute_measures(conn, D)


def _values(measures, vertical="ecommerce", key=("all", "all")):
    rows = kpis.kpi_rows({key: measures[key]}, D, vertical)
    return {r["metric"]: r["value"] for r in rows}


def test_headline_kpis_match_hand_computation(measures):
    v = _values(measures)
    # Visitors active on D: v1, v2, v3, v4.
    assert v["dau"] == 4
    # Active in [D-29, D]: v1..v4 (D), v5 and v7 (D-7), v8 (D-10); v9 (D-40) is outside.
    assert v["mau"] == 7
    assert v["stickiness"] == pytest.approx(4 / 7)
    # Signups on D: u4, u5.
    assert v["new_users"] == 2
    assert v["registration_conversion"] == pytest.approx(2 / 4)
    # Paid orders on D: o1 (paid), o2 (paid), o4 (refunded after paying); o3 was cancelled.
    assert v["orders"] == 3
    assert v["gmv"] == pytest.approx(100.00 + 50.50 + 30.00)
    assert v["aov"] == pytest.approx(180.50 / 3)
    # Paying users: u1, u4; u1 had a paid order 30 days earlier, u4's earlier one is 100 days old.
    assert v["paying_users"] == 2
    assert v["paying_rate"] == pytest.approx(2 / 4)
    assert v["repurchase_rate"] == pytest.approx(1 / 2)
    # Sessions s1..s5; s2 and s4 have a single event.
    assert v["bounce_rate"] == pytest.approx(2 / 5)
    # Product viewers v1, v3, v4; cart adders v1, v4.
    assert v["add_to_cart_conversion"] == pytest.approx(2 / 3)
    # Attempts p1..p5, successes p1, p3, p5.
    assert v["payment_success_rate"] == pytest.approx(3 / 5)
    # Ads: 40 clicks of 3000 impressions, 150.00 spent.
    assert v["ad_ctr"] == pytest.approx(40 / 3000)
    assert v["ad_cost"] == pytest.approx(150.0)


def test_rates_keep_numerator_and_denominator(measures):
    rows = kpis.kpi_rows({("all", "all"): measures[("all", "all")]}, D, "ecommerce")
    row = next(r for r in rows if r["metric"] == "payment_success_rate")
    assert (row["numerator"], row["denominator"]) == (3, 5)


def test_split_by_platform_and_channel(measures):
    assert _values(measures, key=("platform", "ios"))["dau"] == 2  # v1, v4
    assert _values(measures, key=("platform", "android"))["dau"] == 1
    assert _values(measures, key=("channel", "direct"))["dau"] == 1  # v2 came without utm
    baidu = _values(measures, key=("channel", "baidu"))
    assert baidu["bounce_rate"] == pytest.approx(1 / 2)  # s3 has two events, s4 one
    assert _values(measures, key=("channel", "wechat"))["ad_ctr"] == pytest.approx(10 / 2000)
    assert _values(measures, key=("channel", "douyin"))["ad_ctr"] == pytest.approx(30 / 1000)
    by_method = kpis.kpi_rows({("payment_method", "alipay"): measures[("payment_method", "alipay")]}, D, "ecommerce")
    assert {r["metric"]: r["value"] for r in by_method}["payment_success_rate"] == pytest.approx(1 / 3)


def test_social_pack(measures):
    v = _values(measures, vertical="social")
    # 13 events on D, 10 s of engagement each, over 4 visitors; one visitor (v4) shared.
    assert v["avg_interaction_seconds"] == pytest.approx(130 / 4)
    assert v["share_rate"] == pytest.approx(1 / 4)
    assert "gmv" not in v  # the social pack has no shop metrics


def test_funnel_steps(measures):
    rows = [r for r in kpis.funnel_rows(measures, D) if r["dimension"] == "all"]
    assert [(r["step"], r["users"]) for r in rows] == [
        ("page_view", 4), ("product_view", 3), ("add_to_cart", 2), ("checkout", 2), ("payment", 2)
    ]


def test_marts_rewrite_is_idempotent(engine, measures):
    rows = kpis.kpi_rows(measures, D, "ecommerce")
    funnel = kpis.funnel_rows(measures, D)
    for _ in range(2):
        with engine.begin() as conn:
            kpis.write_marts(conn, D, rows, funnel)
    with engine.connect() as conn:
        stored = kpis.load_kpis(conn, D, D + timedelta(days=1))
    assert len(stored) == len(rows)
    assert stored[(D, "dau", "all", "all")] == 4


def test_compute_metrics_handles_zero_denominator():
    values = compute_metrics({"payment_successes": 0, "payment_attempts": 0, "active_visitors": 0}, "ecommerce")
    assert values["payment_success_rate"][0] is None
    assert values["dau"][0] == 0


def test_build_funnel_names_the_step_that_fell_most():
    today = [("page_view", 100), ("product_view", 50), ("add_to_cart", 10), ("checkout", 8), ("payment", 6)]
    last_week = [("page_view", 100), ("product_view", 50), ("add_to_cart", 20), ("checkout", 15), ("payment", 12)]
    funnel = kpis.build_funnel({D: today, D - timedelta(days=7): last_week}, D)
    # Conversions today vs last week: view 0.5 vs 0.5, cart 0.2 vs 0.4 (-50%),
    # checkout 0.8 vs 0.75 (+6.7%), payment 0.75 vs 0.8 (-6.25%).
    assert funnel.weakest_step == "add_to_cart"
    assert funnel.weakest_change == pytest.approx(-0.5)
    assert funnel.weakest_baseline == "last_week"
    assert funnel.steps[2].conversion == pytest.approx(0.2)
    assert funnel.steps[0].conversion is None


def test_split_by_campaign_and_region(measures):
    # Sessions with utm carry campaign c1: v1, v3, v4; v2 came without one.
    assert _values(measures, key=("campaign", "c1"))["dau"] == 3
    assert _values(measures, key=("campaign", "none"))["dau"] == 1
    # Regions come from raw_users: u1 and u4 are in 上海; v3's user u3 has no users row, v2 is anonymous.
    assert _values(measures, key=("region", "上海"))["dau"] == 2
    assert _values(measures, key=("region", "unknown"))["dau"] == 2
    # Signups on D: u4 (上海), u5 (北京); paid orders on D are all u1's and u4's (上海).
    assert _values(measures, key=("region", "北京"))["new_users"] == 1
    assert _values(measures, key=("region", "上海"))["orders"] == 3


# --- range computation: one set of queries for many days --------------------------------------

def test_mau_by_day_matches_a_per_day_distinct_count():
    """The running-sum MAU against the definition, counted day by day (an independent method)."""
    import random
    from datetime import date

    import pandas as pd

    rng = random.Random(5)
    start, end = date(2026, 3, 1), date(2026, 3, 21)
    first = start - timedelta(days=kpis.MAU_DAYS - 1)
    visits = []
    for n in range(400):
        day = first + timedelta(days=rng.randrange((end - first).days))
        # a few visitors on two platforms the same day, and duplicated summary rows
        visits.append({"ds": day, "visitor_id": f"v{rng.randrange(60)}",
                       "platform": rng.choice(["ios", "android"]), "channel": rng.choice(["direct", "wechat", "baidu"])})
    visits += visits[:20]
    frame = pd.DataFrame(visits)

    got = kpis.mau_by_day(frame, start, end)

    expected = {}
    day = start
    while day < end:
        window = [v for v in visits if day - timedelta(days=kpis.MAU_DAYS - 1) <= v["ds"] <= day]
        groups = {("all", "all"): {v["visitor_id"] for v in window}}
        for v in window:
            groups.setdefault(("platform", v["platform"]), set()).add(v["visitor_id"])
            groups.setdefault(("channel", v["channel"]), set()).add(v["visitor_id"])
        for (dimension, value), members in groups.items():
            expected[(day, dimension, value)] = len(members)
        day += timedelta(days=1)
    assert got == expected
    assert kpis.mau_by_day(frame.iloc[0:0], start, end) == {}


def test_mau_by_day_hand_case():
    from datetime import date

    import pandas as pd

    d = date(2026, 5, 31)
    visits = pd.DataFrame([
        {"ds": d - timedelta(days=29), "visitor_id": "a", "platform": "ios", "channel": "direct"},  # in d's window, not d+1's
        {"ds": d - timedelta(days=30), "visitor_id": "b", "platform": "ios", "channel": "direct"},  # in no window
        {"ds": d, "visitor_id": "c", "platform": "web", "channel": "direct"},
        {"ds": d + timedelta(days=1), "visitor_id": "a", "platform": "web", "channel": "direct"},  # a is back on d+1
    ])
    got = kpis.mau_by_day(visits, d, d + timedelta(days=2))
    assert got[(d, "all", "all")] == 2  # a, c
    assert got[(d + timedelta(days=1), "all", "all")] == 2  # c, a (again)
    assert got[(d, "platform", "ios")] == 1 and (d + timedelta(days=1), "platform", "ios") not in got
    assert got[(d + timedelta(days=1), "platform", "web")] == 2


def test_range_computation_equals_day_by_day(engine):
    """The backfill's chunked computation gives each day exactly what the daily flow computes."""
    from datetime import date

    from opscadence.demo import load_demo

    end = date(2026, 11, 24)
    load_demo(engine, users=400, days=40, seed=3, end_date=end)
    start = end - timedelta(days=9)
    with engine.begin() as conn:
        ranged = kpis.compute_measures_range(conn, start, end + timedelta(days=1))
    assert sorted(ranged) == [start + timedelta(days=n) for n in range(10)]
    for n in range(10):
        ds = start + timedelta(days=n)
        with engine.begin() as conn:
            single = kpis.compute_measures(conn, ds)
        assert single.keys() == ranged[ds].keys()
        for key, values in single.items():
            assert values == pytest.approx(ranged[ds][key]), (ds, key)
        # repurchase and MAU really look back across the range boundary
        assert single[("all", "all")]["mau_visitors"] > single[("all", "all")]["active_visitors"]
    assert any(ranged[ds][("all", "all")].get("repeat_paying_users", 0) > 0 for ds in ranged)


def test_withdraw_marts_empties_only_its_day(engine, measures):
    rows = kpis.kpi_rows(measures, D, "ecommerce")
    funnel = kpis.funnel_rows(measures, D)
    after = D + timedelta(days=1)
    with engine.begin() as conn:
        kpis.write_marts(conn, D, rows, funnel)
        kpis.write_marts(conn, after, kpis.kpi_rows(measures, after, "ecommerce"), kpis.funnel_rows(measures, after))
    kpis.withdraw_marts(engine, D)
    with engine.connect() as conn:
        assert not kpis.has_marts(conn, D)
        assert kpis.load_kpis(conn, D, after) == {}
        assert kpis.has_marts(conn, after)  # the next day is untouched
        stored = kpis.load_kpis(conn, after, after + timedelta(days=1))
        funnel_left = conn.execute(sa.select(warehouse.mart_daily_funnel.c.ds).distinct()).scalars().all()
    assert len(stored) == len(rows) and stored[(after, "dau", "all", "all")] == 4  # same measures, written for `after`
    assert [warehouse.as_date(d) for d in funnel_left] == [after]
