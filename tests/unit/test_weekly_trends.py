"""Weekly marts and trends: distinct counts from raw data (checked against a brute-force pandas
count), ratios recomputed from the week's sums, the usual range, missing history said."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from opscadence import warehouse
from opscadence.analytics.weekly import marts, trends
from opscadence.core.periods import Period
from opscadence.core.sqlfiles import read_sql_frame

WEEK = Period("week", date(2026, 11, 16))  # 2026-W47, Monday 16 .. Sunday 22 November
PLATFORMS = ["ios", "android", None]
CHANNELS = ["douyin", "wechat", None]


def _raw_week(seed: int = 3):
    """Events of 40 visitors (half of them registered) over the week and the day before it, and
    paid/cancelled orders of the registered ones from 100 days before the week to its end."""
    rng = np.random.default_rng(seed)
    users = [{"ds": date(2026, 8, 1), "user_id": f"u{i}", "signup_at": datetime(2026, 8, 1, 9),
              "channel": "wechat", "platform": "ios", "region": ["east", "west"][i % 2]} for i in range(20)]
    events, n = [], 0
    for _ in range(600):
        day = WEEK.start + timedelta(days=int(rng.integers(-1, 7)))  # -1: the Sunday before, outside
        v = int(rng.integers(0, 40))
        n += 1
        events.append({
            "ds": day, "event_id": f"e{n}", "event_at": datetime.combine(day, datetime.min.time()) + timedelta(hours=9),
            "visitor_id": f"v{v}", "user_id": f"u{v}" if v < 20 else None, "session_id": f"s{v}-{day}",
            "event_name": str(rng.choice(["page_view", "product_view", "add_to_cart", "checkout", "share"])),
            "page": "/", "platform": PLATFORMS[int(rng.integers(0, 3))], "utm_source": CHANNELS[int(rng.integers(0, 3))],
            "utm_medium": None, "utm_campaign": None, "engagement_seconds": 5.0,
        })
    orders = []
    for n in range(120):
        day = WEEK.start + timedelta(days=int(rng.integers(-100, 7)))
        orders.append({
            "ds": day, "order_id": f"o{n}", "user_id": f"u{int(rng.integers(0, 20))}",
            "order_at": datetime.combine(day, datetime.min.time()) + timedelta(hours=12), "amount": 10,
            "status": str(rng.choice(["paid", "paid", "refunded", "cancelled"])),
            "platform": PLATFORMS[int(rng.integers(0, 3))], "channel": CHANNELS[int(rng.integers(0, 3))],
        })
    # a first-time buyer: two paid orders this week, nothing before (repeat only on the second day)
    for n, day in ((200, WEEK.start + timedelta(days=2)), (201, WEEK.start + timedelta(days=4))):
        orders.append({"ds": day, "order_id": f"o{n}", "user_id": "u-new", "amount": 10, "status": "paid",
                       "order_at": datetime.combine(day, datetime.min.time()), "platform": "ios", "channel": None})
    # and one with a single paid order this week
    orders.append({"ds": WEEK.start, "order_id": "o202", "user_id": "u-once", "amount": 10, "status": "paid",
                   "order_at": datetime.combine(WEEK.start, datetime.min.time()), "platform": "ios", "channel": None})
    return users, events, orders


@pytest.fixture
def week_shop(engine):
    users, events, orders = _raw_week()
    with engine.begin() as conn:
        conn.execute(warehouse.raw_users.insert(), users)
        conn.execute(warehouse.raw_events.insert(), events)
        conn.execute(warehouse.raw_orders.insert(), orders)
        warehouse.ensure_calendar(conn, WEEK.start, WEEK.end)
    return engine, pd.DataFrame(users), pd.DataFrame(events), pd.DataFrame(orders)


def test_weekly_distinct_counts_equal_a_brute_force_count_of_the_raw_rows(week_shop):
    engine, users, events, orders = week_shop
    with engine.connect() as conn:
        measured = marts.visitor_measures(read_sql_frame(conn, "weekly/visitor_facts", start=WEEK.start, end=WEEK.end))
        buyers = marts.buyer_measures(read_sql_frame(conn, "weekly/buyer_measures", start=WEEK.start, end=WEEK.end))

    # Brute force: the week's rows, each visitor counted once per value, whatever its days.
    week = events[(events["ds"] >= WEEK.start) & (events["ds"] < WEEK.end)].copy()
    week["platform"] = week["platform"].fillna("unknown")
    week["channel"] = week["utm_source"].fillna("direct")
    week["region"] = week["user_id"].map(dict(zip(users["user_id"], users["region"]))).fillna("unknown")
    expected = {("all", "all"): week["visitor_id"].nunique()}
    for dim in ("platform", "channel", "region"):
        expected.update({(dim, value): n for value, n in week.groupby(dim)["visitor_id"].nunique().items()})
    assert {k: measured[k]["active_visitors"] for k in expected} == {k: float(v) for k, v in expected.items()}
    # A visitor seen on several days is one visitor: the week counts fewer than its days added up.
    assert week.groupby("ds")["visitor_id"].nunique().sum() > expected[("all", "all")]
    carts = week[week["event_name"] == "add_to_cart"]
    assert measured[("all", "all")]["cart_adders"] == carts["visitor_id"].nunique()
    assert measured[("platform", "ios")]["cart_adders"] == carts[carts["platform"] == "ios"]["visitor_id"].nunique()

    paid = orders[orders["status"].isin(["paid", "refunded"])].copy()
    paid["platform"] = paid["platform"].fillna("unknown")
    in_week = paid[(paid["ds"] >= WEEK.start) & (paid["ds"] < WEEK.end)]
    assert buyers[("all", "all")]["paying_users"] == in_week["user_id"].nunique()
    for value, group in in_week.groupby("platform"):
        assert buyers[("platform", value)]["paying_users"] == group["user_id"].nunique()

    # A repeat buyer had a paid order on an earlier day within the 90 days before one of the week's order days.
    def repeat(user: str, day: date) -> bool:
        earlier = paid[(paid["user_id"] == user) & (paid["ds"] < day) & (paid["ds"] >= day - timedelta(days=90))]
        return not earlier.empty

    repeaters = {u for u, d in zip(in_week["user_id"], in_week["ds"]) if repeat(u, d)}
    assert buyers[("all", "all")]["repeat_paying_users"] == len(repeaters)
    assert "u-new" in repeaters and "u-once" not in repeaters  # Wednesday's order, then Friday's


def test_weekly_ratios_are_recomputed_from_the_weeks_sums_not_averaged():
    # Two days of the whole shop: Monday 10 orders for ¥1,000 (AOV ¥100), Tuesday 30 for ¥1,500 (AOV ¥50).
    # Weekly AOV = (1,000 + 1,500) / (10 + 30) = ¥62.50, not the mean of the days' AOVs (¥75).
    # Payment success: Monday 45/50, Tuesday 10/50 → (45 + 10) / (50 + 50) = 55%, not (90% + 20%) / 2.
    rows = []
    for day, (orders, gmv, successes, attempts, visitors) in {
        WEEK.start: (10, 1000.0, 45, 50, 200), WEEK.start + timedelta(days=1): (30, 1500.0, 10, 50, 300),
    }.items():
        common = {"ds": day, "dimension": "all", "dimension_value": "all"}
        rows += [
            {**common, "metric": "orders", "value": orders, "numerator": None, "denominator": None},
            {**common, "metric": "gmv", "value": gmv, "numerator": None, "denominator": None},
            {**common, "metric": "aov", "value": gmv / orders, "numerator": gmv, "denominator": orders},
            {**common, "metric": "payment_success_rate", "value": successes / attempts, "numerator": successes,
             "denominator": attempts},
            {**common, "metric": "dau", "value": visitors, "numerator": None, "denominator": None},
        ]
    measures = marts.summed_measures(marts.daily_measures(rows), WEEK.last_day)
    measures[("all", "all")]["days"] = 7.0
    values = {r["metric"]: r for r in marts.kpi_rows(measures, WEEK, "ecommerce")}
    assert values["aov"]["value"] == pytest.approx(62.5)
    assert (values["aov"]["numerator"], values["aov"]["denominator"]) == (2500.0, 40.0)
    assert values["payment_success_rate"]["value"] == pytest.approx(0.55)
    assert values["orders"]["value"] == 40 and values["gmv"]["value"] == 2500.0
    assert values["dau"]["value"] == pytest.approx(500 / 7)  # the week's mean DAU: (200 + 300) / 7 days
    assert "paying_rate" not in values  # no distinct buyers or visitors in the input: no rate made up


def test_the_usual_range_is_median_plus_minus_k_mad_with_a_floor():
    # values 10, 12, 11, 13, 100: median 12, |x − 12| = 2, 0, 1, 1, 88 → MAD 1 → σ ≈ 1.4826;
    # k = 3 → 12 ± 4.4478 (the outlier 100 barely moves it)
    band = trends.usual_range([10, 12, 11, 13, 100, None])
    assert (band.low, band.high) == (pytest.approx(12 - 3 * 1.4826), pytest.approx(12 + 3 * 1.4826))
    assert band.weeks == 5 and band.outside(17) == 1 and band.outside(12) == 0 and band.outside(7) == -1
    flat = trends.usual_range([50, 50, 50, 50])  # MAD 0: the floor, 1 % of the median
    assert (flat.low, flat.high) == (pytest.approx(49.5), pytest.approx(50.5))
    assert trends.usual_range([1, 2, 3]) is None  # fewer than 4 weeks: no range


def test_missing_history_is_said_not_zero():
    previous = WEEK.previous()
    totals = {WEEK: {"gmv": 1200.0, "paying_rate": 0.2}, previous: {"gmv": 1000.0, "paying_rate": 0.25}}
    built = trends.build_trends(totals, WEEK, ["gmv", "paying_rate"])
    gmv = next(t for t in built.trends if t.metric == "gmv")
    assert gmv.last_year is None and gmv.change == pytest.approx(0.2)  # (1,200 − 1,000) / 1,000
    assert not built.has_last_year and built.last_year == Period("week", date(2025, 11, 17))  # 2025-W47
    lines = trends.trend_lines(built, "en")
    assert lines[0] == "• *GMV* ¥1,200.00 · WoW ▲ +20.0% · YoY no data (2025-W47)"
    assert "WoW ▼ -5.0 pp" in lines[1]  # a rate's change in percentage points: 20% − 25%
    findings = trends.trend_findings(built, "zh-CN")
    assert any("去年同周（2025年第47周）没有周数据" in f for f in findings)
