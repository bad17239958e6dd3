"""Retention by signup cohort, on a cohort computed by hand."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from opscadence import warehouse
from opscadence.analytics.weekly import marts, retention
from opscadence.core.periods import Period

WEEK = Period("week", date(2026, 11, 16))  # the reviewed week, 2026-W47; its last day is Sunday 22 November
W45 = Period("week", date(2026, 11, 2))
W46 = Period("week", date(2026, 11, 9))


def _frames():
    # W45 cohort (Mon 2 .. Sun 8 November): a signs up Monday 2, b Wednesday 4, c Sunday 8, d Sunday 8.
    # W46 cohort: e Monday 9, f Tuesday 10.
    signups = pd.DataFrame({"user_id": ["a", "b", "c", "d", "e", "f"],
                            "signup_ds": [date(2026, 11, d) for d in (2, 4, 8, 8, 9, 10)]})
    active = [
        ("a", 3), ("a", 3), ("a", 9),   # a: D1 (the 3rd, twice: one day), D7 (the 9th)
        ("b", 5), ("b", 11),            # b: D1, D7
        ("c", 8),                       # c: the signup day only (D0 counts for nothing)
        ("d", 9), ("d", 20),            # d: D1; the 20th is D12, in W47 (2 weeks after W45)
        ("e", 16),                      # e: D7 (the 16th), in W47 (1 week after W46)
        ("f", 11), ("f", 12),           # f: D1 and D2
    ]
    activity = pd.DataFrame({"user_id": [u for u, _ in active], "ds": [date(2026, 11, d) for _, d in active]})
    return signups, activity


def test_a_hand_computed_cohort():
    signups, activity = _frames()
    table = retention.retention_table(signups, activity, WEEK, n=3)
    by_week = {row.cohort: row for row in table}
    assert list(by_week) == [W45, W46]  # W47 has no signups: left out
    w45, w46 = by_week[W45], by_week[W46]
    assert (w45.users, w46.users) == (4, 2)
    # W45 D1: a, b, d of 4 = 75%; D7: a (9th), b (11th) = 50% (c and d's D7 is the 15th: observable,
    # since the last signup (8th) + 7 = 15th ≤ 22nd); D30 not observable (8th + 30 > 22nd).
    assert w45.days == {1: 0.75, 7: 0.5, 30: None}
    # W45 week-N: W46 (9..15): a (9th), b (11th), d (9th) = 75%; W47 (16..22): d (20th) = 25%.
    assert w45.weeks == {1: 0.75, 2: 0.25}
    # W46 D1: f (11th) of e, f = 50%; D7: e (16th) = 50% (last signup 10th + 7 = 17th ≤ 22nd);
    # W1 (W47): e = 50%; W2 would be W48, not over: absent.
    assert w46.days == {1: 0.5, 7: 0.5, 30: None}
    assert w46.weeks == {1: 0.5}


def test_week_over_week_change_compares_the_latest_observable_cohort_with_the_one_before():
    signups, activity = _frames()
    table = retention.retention_table(signups, activity, WEEK, n=3)
    changes = {c.mark: c for c in retention.changes(table)}
    assert set(changes) == {"D1", "D7", "W1"}  # D30 observable for no cohort
    assert (changes["D1"].cohort, changes["D1"].previous_cohort) == (W46, W45)
    assert changes["D1"].delta == pytest.approx(0.5 - 0.75)  # -25 pp
    assert changes["W1"].delta == pytest.approx(0.5 - 0.75)
    assert changes["D7"].delta == pytest.approx(0.0)
    actions = retention.retention_actions(table, "en")
    assert [a.priority for a in actions] == [2]  # W1 fell 25 pp; D7 did not move; D1 is not an action
    assert "W1 retention fell 25.0 pp (2026-W46: 50.0%, the cohort before 75.0%)" in actions[0].text


def test_a_cohort_not_yet_observed_shows_a_dash_not_a_zero():
    signups, activity = _frames()
    table = retention.retention_table(signups, activity, WEEK, n=3)
    lines = retention.retention_lines(table, "en")
    assert "• 2026-W46 · 2 users · D1 50.0% · D7 50.0% · D30 — · W1 50.0% · W2 — · W4 —" in lines
    assert retention.section_from_retention([], "zh-CN").findings  # no cohorts: said


def test_the_sql_reads_signups_and_active_days_from_events_and_paid_orders(sqlite_engine):
    signups, activity = _frames()
    users = [{"ds": d, "user_id": u, "signup_at": datetime.combine(d, datetime.min.time()), "channel": None,
              "platform": None, "region": None} for u, d in zip(signups["user_id"], signups["signup_ds"])]
    # a's D1 as an event; e's D7 as a paid order, a cancelled order of f is no activity
    events = [{"ds": date(2026, 11, 3), "event_id": "e1", "event_at": datetime(2026, 11, 3, 9), "visitor_id": "v-a",
               "user_id": "a", "session_id": "s1", "event_name": "page_view", "page": "/", "platform": None,
               "utm_source": None, "utm_medium": None, "utm_campaign": None, "engagement_seconds": None}]
    orders = [{"ds": date(2026, 11, 16), "order_id": "o1", "user_id": "e", "order_at": datetime(2026, 11, 16, 9),
               "amount": 5, "status": "paid", "platform": None, "channel": None},
              {"ds": date(2026, 11, 11), "order_id": "o2", "user_id": "f", "order_at": datetime(2026, 11, 11, 9),
               "amount": 5, "status": "cancelled", "platform": None, "channel": None}]
    with sqlite_engine.begin() as conn:
        conn.execute(warehouse.raw_users.insert(), users)
        conn.execute(warehouse.raw_events.insert(), events)
        conn.execute(warehouse.raw_orders.insert(), orders)
        for week in (W45, W46):  # the weekly marts write each week's active users; W47 has none yet
            marts.compute_week(conn, week, "ecommerce")
    loaded = retention.load_retention(sqlite_engine, WEEK, n=3)
    by_week = {row.cohort: row for row in loaded.table}
    assert by_week[W45].days[1] == 0.25  # a only, of a, b, c, d
    # f's cancelled order is no activity: D1 0 of 2; e's D7 (the 16th) falls in W47, which has no marts: unknown
    assert by_week[W46].days == {1: 0.0, 7: None, 30: None}
    assert loaded.unobserved == [WEEK] and by_week[W45].weeks == {1: 0.0, 2: None}
    with sqlite_engine.begin() as conn:
        marts.compute_week(conn, WEEK, "ecommerce")
    by_week = {row.cohort: row for row in retention.load_retention(sqlite_engine, WEEK, n=3).table}
    assert by_week[W46].days == {1: 0.0, 7: 0.5, 30: None}  # e's paid order on D7
    assert by_week[W46].cohort.start - timedelta(days=7) == W45.start


def test_a_cell_needing_a_week_without_marts_is_unknown_not_zero():
    signups, activity = _frames()
    table = retention.retention_table(signups, activity, WEEK, n=3, observed={W45, WEEK})  # W46 unobserved
    by_week = {row.cohort: row for row in table}
    # W45's D1 (3rd..9th) and D7 (9th..15th) reach into W46; its W1 is W46; its W2 (W47) is observed: 25%
    assert by_week[W45].days == {1: None, 7: None, 30: None} and by_week[W45].weeks == {1: None, 2: 0.25}
    assert by_week[W46].days[7] == 0.5  # the 16th and 17th: W47
    finding = retention.section_from_retention(table, "en", n=3, unobserved=[W46]).findings[0]
    assert finding.startswith("1 week(s) without weekly numbers (2026-W46)")
