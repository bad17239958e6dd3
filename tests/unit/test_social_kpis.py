"""The social pack and funnel against values computed by hand on a tiny social app (below),
on SQLite and PostgreSQL.

Day D = 2026-11-24 (a Tuesday); the app has no orders or payments. Each event's engagement
seconds are given; the arithmetic of every expected value is in the comments.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from opscadence import warehouse
from opscadence.analytics.daily import kpis
from opscadence.metrics.catalog import headline_metrics, required_tables
from opscadence.pipelines.daily import compute_days

D = date(2026, 11, 24)
PREV = D - timedelta(days=1)

# visitor, user, session, platform, [(event, engagement seconds)], day
SESSIONS = [
    ("v1", "u1", "s1", "ios", [("session_start", 20), ("post_view", 30), ("like", 2), ("post", 60), ("share", 8)], D),
    ("v1", "u1", "s2", "ios", [("session_start", 10)], D),  # a bounce
    ("v2", "u2", "s3", "android", [("session_start", 15), ("post_view", 25), ("comment", 20)], D),
    ("v3", None, "s4", "web", [("session_start", None)], D),  # anonymous, a bounce, no engagement recorded
    ("v4", "u4", "s5", "android", [("session_start", 12), ("post_view", 18), ("follow", 3), ("post", 47)], D),
    ("v5", "u5", "s6", "ios", [("session_start", 9), ("post_view", 21), ("share", 10)], D),  # shares, no post
    # the day before: v1 opens the feed and shares; v2 only opens it
    ("v1", "u1", "p1", "ios", [("session_start", 40), ("share", 20)], PREV),
    ("v2", "u2", "p2", "android", [("session_start", 40)], PREV),
]


def events() -> list[dict]:
    rows, n = [], 0
    for visitor, user, session, platform, names, day in SESSIONS:
        for name, seconds in names:
            n += 1
            rows.append({
                "ds": day, "event_id": f"e{n}", "event_at": datetime(day.year, day.month, day.day, 10, n),
                "visitor_id": visitor, "user_id": user, "session_id": session, "event_name": name,
                "page": "/feed", "platform": platform, "utm_source": None, "utm_medium": None, "utm_campaign": None,
                "engagement_seconds": seconds,
            })
    return rows


def users() -> list[dict]:
    def user(user_id, day):
        return {"ds": day, "user_id": user_id, "signup_at": datetime(day.year, day.month, day.day, 9),
                "channel": "direct", "platform": "ios", "region": "上海"}
    return [user("u1", D - timedelta(days=20)), user("u2", D - timedelta(days=20)), user("u5", D - timedelta(days=3)),
            user("u4", D)]


def load(engine) -> None:
    with engine.begin() as conn:
        warehouse.replace_window(conn, warehouse.raw_events, date(2000, 1, 1), date(2100, 1, 1), events())
        warehouse.replace_window(conn, warehouse.raw_users, date(2000, 1, 1), date(2100, 1, 1), users())


@pytest.fixture
def measures(engine):
    load(engine)
    with engine.connect() as conn:
        return kpis.compute_measures(conn, D)


def _values(measures, key=("all", "all")):
    return {r["metric"]: r["value"] for r in kpis.kpi_rows({key: measures[key]}, D, "social")}


def test_social_pack_matches_hand_computation(measures):
    v = _values(measures)
    # Visitors on D: v1..v5.
    assert v["dau"] == 5
    # Engagement: s1 20+30+2+60+8 = 120, s2 10, s3 15+25+20 = 60, s4 none (0), s5 12+18+3+47 = 80,
    # s6 9+21+10 = 40; 120+10+60+0+80+40 = 310 seconds over 5 visitors.
    assert v["avg_interaction_seconds"] == pytest.approx(310 / 5)
    # Sharers: v1 (s1) and v5 (s6).
    assert v["share_rate"] == pytest.approx(2 / 5)
    # Sessions s1..s6; s2 and s4 have a single event.
    assert v["bounce_rate"] == pytest.approx(2 / 6)
    # Signups on D: u4.
    assert v["new_users"] == 1
    # No shop metric in the social pack (and no orders to compute them from).
    assert not {"gmv", "orders", "paying_rate", "payment_success_rate", "add_to_cart_conversion"} & set(v)


def test_social_pack_by_platform(measures):
    ios = _values(measures, ("platform", "ios"))
    # ios: v1 (s1 120 + s2 10) and v5 (s6 40): 170 seconds over 2 visitors; both shared.
    assert ios["avg_interaction_seconds"] == pytest.approx(170 / 2)
    assert ios["share_rate"] == pytest.approx(2 / 2)
    android = _values(measures, ("platform", "android"))
    # android: v2 (60) and v4 (80): 140 / 2; neither shared.
    assert android["avg_interaction_seconds"] == pytest.approx(140 / 2)
    assert android["share_rate"] == 0


def test_social_funnel_counts(measures):
    rows = [r for r in kpis.funnel_rows(measures, D, "social") if r["dimension"] == "all"]
    # visit: v1..v5 = 5; interact (like, comment, follow, post or share): v1, v2 (comment), v4 (follow),
    # v5 (share) = 4, v3 only opened the feed; post: v1, v4 = 2; share: v1, v5 = 2 (a share needs no post).
    assert [(r["step_index"], r["step"], r["users"]) for r in rows] == [
        (0, "visit", 5), (1, "interact", 4), (2, "post", 2), (3, "share", 2)
    ]
    ios = [r["users"] for r in kpis.funnel_rows(measures, D, "social") if r["dimension_value"] == "ios"]
    assert ios == [2, 2, 1, 2]  # v1, v5 visit and interact; v1 posted; both shared


def test_required_tables_of_the_social_vertical_leave_out_orders():
    # social: DAU, sessions, shares (events), new users (users), ad CTR/spend (ad_spend), feedback
    assert set(required_tables("social")) == {"users", "events", "ad_spend", "feedback"}
    assert set(required_tables("ecommerce")) == set(warehouse.RAW_TABLES)


def test_computed_marts_compare_with_the_day_before_and_switching_vertical_recomputes(engine):
    load(engine)
    compute_days(engine, [PREV, D], "social")
    with engine.connect() as conn:
        values = kpis.load_kpis(conn, PREV, D + timedelta(days=1))
        funnel = kpis.build_funnel(kpis.load_funnel(conn, PREV, D + timedelta(days=1)), D)
        status = {v: kpis.day_status(conn, [PREV, D], v) for v in ("social", "ecommerce")}
    headline = {k.metric: k for k in kpis.headline_kpis(values, D, [m.name for m in headline_metrics("social")])}
    # The day before: v1 (40 + 20) and v2 (40) = 100 seconds over 2 visitors; v1 shared: 1 / 2.
    assert headline["avg_interaction_seconds"].previous_day == pytest.approx(100 / 2)
    assert headline["share_rate"].previous_day == pytest.approx(1 / 2)
    assert headline["share_rate"].value == pytest.approx(2 / 5)
    assert headline["dau"].previous_day == 2
    # The funnel: D 5 → 4 → 2 → 2; the day before 2 → 1 (v1's share) → 0 → 1.
    assert [(s.step, s.users) for s in funnel.steps] == [("visit", 5), ("interact", 4), ("post", 2), ("share", 2)]
    assert funnel.steps[1].conversion == pytest.approx(4 / 5)
    assert funnel.steps[1].conversion_previous_day == pytest.approx(1 / 2)
    assert funnel.steps[2].conversion_previous_day == 0  # 0 posters of 1 interactor
    # Built as social: current for social, another pack and funnel for e-commerce.
    assert status["social"] == {PREV: "current", D: "current"}
    assert status["ecommerce"] == {PREV: "changed", D: "changed"}


def test_a_social_funnel_cause_names_the_step_before_it():
    from opscadence.alerting.rootcause import RootCause, root_cause_lines

    cause = RootCause("share_rate", 0.06, 0.09, -0.03, [], "share")
    # the step before share in the social funnel is post (its label in each locale)
    assert root_cause_lines(cause, "en") == ["funnel: Post → Share conversion fell most"]
    assert root_cause_lines(cause, "zh-CN") == ["漏斗：发帖→分享 转化下降最多"]
