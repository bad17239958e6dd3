"""Attribution models, the exact Markov removal effects, journeys, ROI and the budget shift
(opscadence.analytics.weekly.attribution), and the weekly section on a small warehouse."""

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from opscadence.analytics.weekly import attribution as a
from opscadence.analytics.weekly.sections import WeeklyContext
from opscadence.core.periods import Period
from opscadence.warehouse.schema import raw_ad_spend, raw_events, raw_orders

# The hand table: (path, conversions, value)
#   P1  a > b > c   2  30
#   P2  b > b       1  10
#   P3  c           1   5
#   P4  a > direct  1  20
HAND = a.encode_paths([["a", "b", "c"], ["b", "b"], ["c"], ["a", "direct"]], [2, 1, 1, 1], [30, 10, 5, 20])


def by_label(paths, conversions, value=None):
    out = {str(k): round(float(v), 9) for k, v in zip(paths.labels, conversions)}
    if value is None:
        return out
    return out, {str(k): round(float(v), 9) for k, v in zip(paths.labels, value)}


def test_first_touch_by_hand():
    conversions, value = a.heuristic(HAND, "first")
    # a: P1 2 + P4 1 = 3 (value 30 + 20); b: P2 1 (10); c: P3 1 (5); direct never first
    assert by_label(HAND, conversions, value) == ({"a": 3, "b": 1, "c": 1, "direct": 0},
                                                  {"a": 50, "b": 10, "c": 5, "direct": 0})


def test_last_touch_plain_and_ignoring_direct_by_hand():
    conversions, _ = a.heuristic(HAND, "last")
    # plain: c: P1 2 + P3 1 = 3; b: P2 1; direct: P4 1
    assert by_label(HAND, conversions) == {"a": 0, "b": 1, "c": 3, "direct": 1}
    ignore = HAND.labels == "direct"
    conversions, value = a.heuristic(HAND, "last", ignore=ignore)
    # P4's final direct visit gives way to its earlier a
    assert by_label(HAND, conversions, value) == ({"a": 1, "b": 1, "c": 3, "direct": 0},
                                                  {"a": 20, "b": 10, "c": 35, "direct": 0})
    only_direct = a.encode_paths([["direct", "direct"]], [1])
    conversions, _ = a.heuristic(only_direct, "last", ignore=only_direct.labels == "direct")
    assert by_label(only_direct, conversions) == {"direct": 1}  # nothing else to credit


def test_linear_by_hand():
    conversions, value = a.heuristic(HAND, "linear")
    # P1: 2/3 each; P2: b 1/2 + 1/2 = 1; P3: c 1; P4: a 1/2, direct 1/2
    # a = 2/3 + 1/2 = 7/6, b = 2/3 + 1 = 5/3, c = 2/3 + 1 = 5/3, direct = 1/2
    # value: a = 30/3 + 20/2 = 20, b = 10 + 10 = 20, c = 10 + 5 = 15, direct = 10
    expected = {"a": 7 / 6, "b": 5 / 3, "c": 5 / 3, "direct": 0.5}
    assert by_label(HAND, conversions) == {k: round(v, 9) for k, v in expected.items()}
    assert by_label(HAND, value) == {"a": 20, "b": 20, "c": 15, "direct": 10}


def test_position_based_by_hand():
    conversions, _ = a.heuristic(HAND, "position")
    # P1 (3 touches, 2 conversions): a 0.4*2 = 0.8, b 0.2*2 = 0.4, c 0.8
    # P2 (2 touches): 50/50, both b: 1;  P3 (1 touch): c 1;  P4: a 0.5, direct 0.5
    expected = {"a": 0.8 + 0.5, "b": 0.4 + 1, "c": 0.8 + 1, "direct": 0.5}
    assert by_label(HAND, conversions) == {k: round(v, 9) for k, v in expected.items()}
    five = a.encode_paths([["a", "b", "c", "d", "e"]], [1])
    conversions, _ = a.heuristic(five, "position")
    # 40% first, 40% last, 20% over the 3 between: 0.2/3 each
    assert by_label(five, conversions) == {k: round(v, 9) for k, v in
                                           {"a": 0.4, "b": 0.2 / 3, "c": 0.2 / 3, "d": 0.2 / 3, "e": 0.4}.items()}


def test_time_decay_by_hand():
    paths = a.Paths(labels=np.array(["a", "b", "c"], dtype=object), codes=np.array([0, 1, 2]),
                    starts=np.array([0, 3]), conversions=np.array([2.0]), value=np.array([70.0]),
                    nulls=np.array([0.0]), ages=np.array([14.0, 7.0, 0.0]))
    conversions, value = a.heuristic(paths, "time_decay", half_life_days=7)
    # weights 2^(-14/7) = 0.25, 2^(-7/7) = 0.5, 2^0 = 1; sum 1.75 -> shares 1/7, 2/7, 4/7
    # conversions 2 * (1/7, 2/7, 4/7); value 70 * (...) = 10, 20, 40
    assert by_label(paths, conversions) == {"a": round(2 / 7, 9), "b": round(4 / 7, 9), "c": round(8 / 7, 9)}
    assert by_label(paths, value) == {"a": 10, "b": 20, "c": 40}
    conversions, _ = a.heuristic(paths, "time_decay", half_life_days=14)
    # half-life 14: 0.5, 2^-0.5, 1
    w = np.array([0.5, 2 ** -0.5, 1.0])
    assert np.allclose(conversions, 2 * w / w.sum())
    with pytest.raises(ValueError, match="time decay needs"):
        a.heuristic(HAND, "time_decay")


# A chain small enough to solve by hand:
#   "a > b"  1 conversion, 1 null, value 10;  "a"  0, 1;  "b"  1, 0, value 4
# transitions (weight conversions + nulls): start->a 2 + 1 = 3, start->b 1; a->b 2, a->null 1;
# b->conv 1 + 1 = 2, b->null 1.  P(start->a) = 3/4, P(a->b) = 2/3, P(b->conv) = 2/3.
# P(conv) = 3/4 * 2/3 * 2/3 + 1/4 * 2/3 = 1/3 + 1/6 = 1/2
# without a: 1/4 * 2/3 = 1/6 -> removal effect 1 - (1/6)/(1/2) = 2/3;  without b: 0 -> 1
# conversions (2) shared 2/3 : 1 -> a 0.8, b 1.2; every conversion ends in b (mean value 14/2 = 7),
# so value (14) is shared the same way: a 5.6, b 8.4
SMALL = a.encode_paths([["a", "b"], ["a"], ["b"]], [1, 0, 1], [10, 0, 4], [1, 1, 0])


def test_markov_removal_effects_by_hand():
    result = a.markov(SMALL)
    assert list(result.labels) == ["a", "b"]
    assert result.p_conversion == pytest.approx(0.5)
    assert result.removal_effect == pytest.approx([2 / 3, 1.0])
    assert result.conversions == pytest.approx([0.8, 1.2])
    assert result.removal_effect_value == pytest.approx([2 / 3, 1.0])
    assert result.value == pytest.approx([5.6, 8.4])


def test_markov_collapses_repeats():
    repeated = a.encode_paths([["a", "a", "b", "b", "b"], ["a", "a"], ["b"]], [1, 0, 1], [10, 0, 4], [1, 1, 0])
    # a > a > b > b > b is a > b for the chain: the same removal effects as SMALL
    assert a.markov(repeated).removal_effect == pytest.approx(a.markov(SMALL).removal_effect)


# A chain with loops (a > b > a), where removal effects are not countable by hand.
LOOPY = a.encode_paths(
    [["a", "b", "a", "c"], ["b", "a"], ["c"], ["a", "c", "b"], ["b", "c", "a", "b"], ["c", "a"]],
    [3, 1, 2, 1, 2, 0], [90, 40, 30, 10, 60, 0], [2, 4, 3, 2, 1, 5])


def removal_by_redirecting(paths):
    """Removal effects by the definition: for each channel, send every step into it to (null)
    and solve the absorption probabilities B = (I - Q)^-1 R of that chain, channel by channel."""
    counts = a.transition_counts(paths)
    n = len(paths.labels)
    p = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-300)

    def p_conversion(matrix):
        q, r = matrix[: n + 1, : n + 1], matrix[: n + 1, n + 1]
        return np.linalg.solve(np.eye(n + 1) - q, r)[0]

    base = p_conversion(p)
    effects = []
    for c in range(1, n + 1):
        removed = p.copy()
        removed[:, n + 2] += removed[:, c]  # into c: now into (null)
        removed[:, c] = 0.0
        effects.append(1 - p_conversion(removed) / base)
    return np.array(effects)


def simulate_removal(paths, walks=200_000, seed=11):
    """Removal effects by simulating the chain: the share of converting walks that visit each channel."""
    counts = a.transition_counts(paths)
    n = len(paths.labels)
    p = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-300)
    cumulative = np.cumsum(p, axis=1)
    rng = np.random.default_rng(seed)
    state = np.zeros(walks, dtype=np.int64)
    visited = np.zeros((walks, n + 3), dtype=bool)
    alive = np.ones(walks, dtype=bool)
    for _ in range(200):
        if not alive.any():
            break
        u = rng.random(alive.sum())
        nxt = (u[:, None] > cumulative[state[alive]]).sum(axis=1)
        state[alive] = nxt
        visited[np.flatnonzero(alive), nxt] = True
        alive &= state <= n
    converted = state == n + 1
    return visited[converted][:, 1: n + 1].mean(axis=0), converted.mean()


def test_markov_matches_the_definition_and_a_simulation_on_a_chain_with_loops():
    result = a.markov(LOOPY)
    # the same numbers as removing each channel in turn and solving again
    assert result.removal_effect == pytest.approx(removal_by_redirecting(LOOPY), abs=1e-12)
    simulated, p_conversion = simulate_removal(LOOPY)
    # 200k walks, ~1/3 convert: standard error of a share ≈ sqrt(0.25 / 66k) ≈ 0.002; 0.01 is 5 of them
    assert result.removal_effect == pytest.approx(simulated, abs=0.01)
    assert result.p_conversion == pytest.approx(p_conversion, abs=0.01)


def test_every_model_conserves_the_totals():
    rng = np.random.default_rng(3)
    channels = np.array(["a", "b", "c", "direct", "e"], dtype=object)
    paths_list = [list(rng.choice(channels, size=rng.integers(1, 7))) for _ in range(300)]
    conversions = rng.integers(0, 4, 300)
    conversions[0] = 1
    value = conversions * rng.uniform(5, 50, 300)
    paths = a.encode_paths(paths_list, conversions, value, rng.integers(0, 5, 300))
    paths = a.Paths(**{**paths.__dict__, "ages": rng.uniform(0, 30, len(paths.codes))})
    for model in a.MODELS:
        frame = a.attribute_paths(paths, model, ignore=paths.labels == "direct")
        assert frame["conversions"].sum() == pytest.approx(conversions.sum()), model
        assert frame["value"].sum() == pytest.approx(value.sum()), model
        assert (frame["conversions"] >= -1e-12).all(), model


def test_split_paths_reads_channelattribution_paths_and_names_an_empty_channel():
    paths = a.split_paths(["a > b", " b>a ", "c"], [1, 2, 3])
    assert list(paths.labels) == ["a", "b", "c"]
    assert list(paths.codes) == [0, 1, 1, 0, 2] and list(paths.starts) == [0, 2, 4, 5]
    with pytest.raises(a.EmptyChannel) as caught:
        a.split_paths(["a > b", "a >  > b"], [1, 1])
    assert (caught.value.row, caught.value.touch, caught.value.touches) == (1, 2, 3)


# --- journeys -----------------------------------------------------------------------------

ORDER_AT = datetime(2026, 11, 24, 12, 0)


def touchpoints(rows):
    return pd.DataFrame(rows, columns=["user_id", "session_id", "session_at", "utm_source", "utm_medium", "utm_campaign"])


def conversions(rows):
    return pd.DataFrame(rows, columns=["order_id", "user_id", "order_at", "amount"])


def test_lookback_window_and_untouched_orders():
    sessions = touchpoints([
        ("u1", "s_old", ORDER_AT - timedelta(days=30, seconds=1), "baidu", "cpc", "x"),  # just outside
        ("u1", "s_edge", ORDER_AT - timedelta(days=30), "douyin", "paid_social", "y"),  # exactly 30 days: in
        ("u1", "s_last", ORDER_AT - timedelta(hours=1), None, None, None),  # direct
        ("u1", "s_after", ORDER_AT + timedelta(minutes=5), "wechat", None, None),  # after the order
    ])
    orders = conversions([("o1", "u1", ORDER_AT, 80.0), ("o2", "u2", ORDER_AT, 20.0)])
    journeys = a.build_journeys(sessions, orders, lookback_days=30)
    first = journeys[journeys["conversion"] == 0]
    assert list(first["channel"]) == ["douyin", "direct"]
    assert list(first["campaign"]) == ["y", "none"]
    assert first["days_before"].tolist() == pytest.approx([30.0, 1 / 24])
    second = journeys[journeys["conversion"] == 1]
    assert list(second["channel"]) == ["direct"] and not second["touched"].any()  # no session: one direct touch
    shorter = a.build_journeys(sessions, orders, lookback_days=7)
    assert list(shorter[shorter["conversion"] == 0]["channel"]) == ["direct"]


def test_direct_handling_in_the_weekly_models():
    sessions = touchpoints([
        ("u1", "s1", ORDER_AT - timedelta(days=3), "douyin", "paid_social", "c1"),
        ("u1", "s2", ORDER_AT - timedelta(days=1), "", None, ""),  # blank tags are no tags: direct
    ])
    journeys = a.build_journeys(sessions, conversions([("o1", "u1", ORDER_AT, 50.0)]))
    assert list(journeys["channel"]) == ["douyin", "direct"]
    ga_like = a.attribute(journeys, a.AttributionConfig(models=("last",)))
    assert dict(zip(ga_like["channel"], ga_like["conversions"])) == {"douyin": 1.0, "direct": 0.0}
    plain = a.attribute(journeys, a.AttributionConfig(models=("last",), last_touch_ignores_direct=False))
    assert dict(zip(plain["channel"], plain["conversions"])) == {"douyin": 0.0, "direct": 1.0}
    by_campaign = a.attribute(journeys, a.AttributionConfig(models=("first",)), ("channel", "campaign"))
    assert by_campaign[["channel", "campaign", "conversions"]].values.tolist() == [
        ["douyin", "c1", 1.0], ["direct", "none", 0.0]]


# --- ROI and the shift --------------------------------------------------------------------


def test_roi_table():
    attributed = pd.DataFrame({"channel": ["x", "direct", "y"], "conversions": [5.0, 3.0, 0.0],
                               "value": [250.0, 90.0, 0.0]})
    spend = pd.DataFrame({"channel": ["x", "y", "z", "x"], "cost": [60.0, 30.0, 10.0, 40.0]})
    table = a.roi_table(attributed, spend).set_index("channel")
    # x: cost 60 + 40 = 100, CPA 100 / 5 = 20, ROAS 250 / 100 = 2.5, ROI 2.5 - 1 = 1.5
    assert table.loc["x", ["cost", "cpa", "roas", "roi"]].tolist() == pytest.approx([100, 20, 2.5, 1.5])
    # direct: no spend, no ratios
    assert table.loc["direct", "cost"] == 0 and table.loc["direct", ["cpa", "roas", "roi"]].isna().all()
    # y: spend without conversions: no CPA, ROAS 0, ROI -100%; z: spend, no touch at all
    assert np.isnan(table.loc["y", "cpa"]) and table.loc["y", "roas"] == 0 and table.loc["y", "roi"] == -1
    assert table.loc["z", ["conversions", "value", "roi"]].tolist() == [0, 0, -1]


def roi(rows):
    frame = pd.DataFrame(rows, columns=["channel", "cost", "value"])
    frame["roas"] = frame["value"] / frame["cost"]
    return frame


def test_budget_shift_caps_and_expected_effect():
    table = roi([("A", 100.0, 400.0), ("B", 100.0, 100.0), ("C", 50.0, 100.0)])
    shift = a.budget_shift(table, max_shift=0.2, returns_exponent=0.5)
    plan = shift.plan.set_index("channel")
    # average ROAS (400 + 100 + 100) / 250 = 2.4: A (4) takes, B (1) and C (2) give
    # A can take 20% of 100 = 20; B and C could give 20 + 10 = 30: 20 move, the worst (B) first
    assert shift.average_roas == pytest.approx(2.4)
    assert plan["change"].to_dict() == pytest.approx({"A": 20.0, "B": -20.0, "C": 0.0})
    assert shift.moved == pytest.approx(20)
    # constant ROAS: 20 * 4 - 20 * 1 = +60
    assert shift.revenue_if_constant == pytest.approx(60)
    # revenue ∝ spend^0.5: A 400 * (1.2^0.5 - 1) = 38.178; B 100 * (0.8^0.5 - 1) = -10.557
    assert shift.revenue_if_diminishing == pytest.approx(400 * (1.2 ** 0.5 - 1) + 100 * (0.8 ** 0.5 - 1))
    assert list(shift.plan["channel"]) == ["A", "C", "B"]  # best ROAS first
    tighter = a.budget_shift(table, max_shift=0.1).plan.set_index("channel")["change"]
    assert tighter.to_dict() == pytest.approx({"A": 10.0, "B": -10.0, "C": 0.0})
    # givers short: two takers can absorb 40, the one giver gives at most 20% of 50 = 10
    few = a.budget_shift(roi([("A", 100.0, 400.0), ("B", 100.0, 300.0), ("C", 50.0, 10.0)]))
    assert few.plan.set_index("channel")["change"].to_dict() == pytest.approx({"A": 10.0, "B": 0.0, "C": -10.0})
    for result in (shift, few):
        assert result.plan["change"].sum() == pytest.approx(0)  # the total budget stays
        assert (result.plan["change"].abs() <= 0.2 * result.plan["cost"] + 1e-9).all()


def test_no_shift_without_two_different_roas():
    assert a.budget_shift(roi([("A", 100.0, 200.0), ("B", 50.0, 100.0)])).moved == 0  # both ROAS 2
    assert a.budget_shift(roi([("A", 100.0, 200.0)])).moved == 0
    with pytest.raises(ValueError):
        a.budget_shift(roi([("A", 100.0, 200.0)]), max_shift=0)


def test_config_is_strict():
    assert a.AttributionConfig().models[0] == "markov"
    with pytest.raises(ValidationError):
        a.AttributionConfig(lookback=30)
    with pytest.raises(ValidationError):
        a.AttributionConfig(models=("last", "last"))
    with pytest.raises(ValidationError):
        a.AttributionConfig(max_shift=1.5)
    with pytest.raises(ValidationError):
        a.AttributionConfig(models=("shapley",))


# --- the weekly section on a warehouse -----------------------------------------------------

WEEK = Period("week", date(2026, 11, 23))


def _event(n, at, visitor, user, session, source=None, campaign=None):
    return {"ds": at.date(), "event_id": f"e{n}", "event_at": at, "visitor_id": visitor, "user_id": user,
            "session_id": session, "event_name": "page_view", "page": "/", "platform": "ios",
            "utm_source": source, "utm_medium": "cpc" if source else None, "utm_campaign": campaign,
            "engagement_seconds": None}


def _order(n, at, user, amount, status="paid"):
    return {"ds": at.date(), "order_id": f"o{n}", "user_id": user, "order_at": at, "amount": amount,
            "status": status, "platform": "ios", "channel": None}


def _spend(day, channel, campaign, cost):
    return {"ds": day, "channel": channel, "campaign": campaign, "impressions": 1000, "clicks": 10, "cost": cost}


def load_small_week(engine):
    events = [
        # u1: a douyin session (its landing event tagged, the next one not), then a direct one
        _event(1, datetime(2026, 11, 20, 9), "v1", "u1", "s1", "douyin", "d1"),
        _event(2, datetime(2026, 11, 20, 9, 5), "v1", "u1", "s1"),
        _event(3, datetime(2026, 11, 24, 11), "v1", "u1", "s2"),
        # u1, fetched (from 30 days before the week) but outside the order's own 30 days
        _event(4, datetime(2026, 10, 24, 10), "v1", "u1", "s0", "wechat", "w1"),
        # u2: an anonymous baidu session on the device u2 later logs in on
        _event(5, datetime(2026, 11, 10, 8), "v2", None, "s3", "baidu", "b1"),
        _event(6, datetime(2026, 11, 25, 8), "v2", "u2", "s4", "baidu", "b1"),
        # a visitor who never buys
        _event(7, datetime(2026, 11, 25, 9), "v9", "u9", "s9", "wechat", "w1"),
    ]
    orders = [
        _order(1, datetime(2026, 11, 24, 12), "u1", 100),
        _order(2, datetime(2026, 11, 25, 9), "u2", 50),
        _order(3, datetime(2026, 11, 26, 10), "u3", 30),  # no session at all: direct
        _order(4, datetime(2026, 11, 26, 11), "u9", 999, status="cancelled"),  # not paid: no conversion
    ]
    spend = [_spend(date(2026, 11, 24), "douyin", "d1", 40), _spend(date(2026, 11, 25), "baidu", "b1", 100),
             _spend(date(2026, 11, 25), "wechat", "w1", 20), _spend(date(2026, 11, 16), "baidu", "b1", 500)]
    with engine.begin() as conn:
        conn.execute(raw_events.insert(), events)
        conn.execute(raw_orders.insert(), orders)
        conn.execute(raw_ad_spend.insert(), spend)


class _Cfg:
    class weekly:  # noqa: N801 - stands in for the configuration's weekly block
        attribution = a.AttributionConfig(models=("last", "first", "markov"))


def test_weekly_section_on_a_small_warehouse(engine, tmp_path):
    load_small_week(engine)
    inputs = a.load_week(engine, WEEK.start, WEEK.end, 30)
    assert sorted(inputs.touchpoints["session_id"]) == ["s0", "s1", "s2", "s3", "s4"]
    landing = inputs.touchpoints.set_index("session_id")
    assert landing.loc["s1", "utm_source"] == "douyin" and pd.isna(landing.loc["s2", "utm_source"])
    assert landing.loc["s3", "user_id"] == "u2"  # the anonymous session belongs to its device's buyer

    section = a.weekly_section(WeeklyContext(engine=engine, cfg=_Cfg, period=WEEK, locale="en", exports_dir=tmp_path))
    data = section.data
    # last non-direct touch: o1 douyin (100, its final direct visit skipped), o2 baidu (50), o3 direct (30)
    assert (data["orders"], data["revenue"], data["untouched"]) == (3, 180.0, 1)
    rows = {r["channel"]: r for r in data["channels"]}
    # douyin: ROAS 100 / 40 = 2.5, ROI +150%; baidu: 50 / 100 = 0.5, -50%; wechat: spend 20, nothing: -100%
    assert rows["douyin"]["roas"] == pytest.approx(2.5) and rows["douyin"]["cpa"] == pytest.approx(40)
    assert rows["baidu"]["roi"] == pytest.approx(-0.5) and rows["wechat"]["roi"] == pytest.approx(-1)
    assert rows["direct"]["cost"] == 0 and rows["direct"]["roas"] is None
    assert (data["best"], data["worst"]) == ("douyin", "wechat")
    # average ROAS 150 / 160 = 0.9375; douyin takes 20% of 40 = 8; wechat (worst) gives 4, baidu 4
    # constant ROAS: 8 * 2.5 - 4 * 0 - 4 * 0.5 = +18
    assert data["shift"]["moved"] == pytest.approx(8)
    assert data["shift"]["revenue_if_constant"] == pytest.approx(18)
    text = "\n".join(section.lines)
    assert "Best ROI: douyin (+150%); worst: wechat (-100%)" in text
    assert "douyin +¥8.00, baidu -¥4.00, wechat -¥4.00" in text and "+¥18.00 if ROAS holds" in text
    assert section.findings == ("1 orders had no session in their lookback window: counted as direct",)
    assert [x.priority for x in section.actions] == sorted(x.priority for x in section.actions)
    assert any("wechat" in x.text and "0 attributed conversions" in x.text for x in section.actions)
    assert any("Move ¥8.00" in x.text and "+¥18.00" in x.text for x in section.actions)
    for model in ("last", "first", "markov"):  # every model of the config, totals kept
        of_model = [r for r in data["models"] if r["model"] == model]
        assert sum(r["conversions"] for r in of_model) == pytest.approx(3)
        assert sum(r["value"] for r in of_model) == pytest.approx(180)

    zh = a.weekly_section(WeeklyContext(engine=engine, cfg=_Cfg, period=WEEK, locale="zh-CN", exports_dir=tmp_path))
    assert zh.title == "渠道归因与 ROI" and "ROI 最高: douyin (+150%); 最低: wechat (-100%)" in "\n".join(zh.lines)
    assert "直接访问: 无广告花费" in "\n".join(zh.lines)
    assert zh.data["shift"] == data["shift"]


def test_a_week_without_orders_is_a_finding(sqlite_engine, tmp_path):
    section = a.weekly_section(WeeklyContext(engine=sqlite_engine, cfg=None, period=WEEK, locale="zh-CN",
                                             exports_dir=tmp_path))
    assert section.findings == ("本周没有支付订单: 没有可归因的转化",) and section.lines == ()


def test_section_reads_a_mapping_config():
    class Cfg:
        class weekly:  # noqa: N801
            attribution = {"lookback_days": 14}

    assert a.section_config(Cfg).lookback_days == 14
    assert a.section_config(object()) == a.AttributionConfig()


def test_a_week_without_ad_spend_says_so():
    sessions = touchpoints([("u1", "s1", ORDER_AT - timedelta(days=2), "douyin", "paid_social", "c1")])
    spend = pd.DataFrame(columns=["channel", "campaign", "impressions", "clicks", "cost"]).astype({"cost": float})
    week = a.analyse_week(a.WeekInputs(sessions, conversions([("o1", "u1", ORDER_AT, 50.0)]), spend))
    section = a.render_section(week, "en")
    assert section.findings == ("No ad spend recorded this week: ROI, ROAS and CPA cannot be judged",)
    assert "• douyin: no ad spend · conversions 1.0 (last non-direct touch 1.0) · revenue ¥50.00" in section.lines
    assert section.data["shift"]["moved"] == 0 and section.actions == ()
