"""Weekly RFM (opscadence.analytics.weekly.rfm): scores that keep ties, the R×F grid, R/F/M by hand,
paid orders only, migrations, the tag table, the callback export and what the brief may show."""

import json
import os
import re
import stat
from datetime import date, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from opscadence import warehouse
from opscadence.analytics.weekly import rfm
from opscadence.analytics.weekly.sections import WeeklyContext
from opscadence.core.errors import UserError
from opscadence.core.periods import Period
from opscadence.warehouse.schema import mart_customer_rfm

AS_OF = date(2026, 11, 29)  # a Sunday: the last day of ISO week 2026-W48


def orders_frame(rows):
    """(order_id, customer_id, day, amount, status) tuples as an orders frame."""
    frame = pd.DataFrame(rows, columns=["order_id", "customer_id", "order_day", "amount", "status"])
    frame["order_day"] = pd.to_datetime(frame["order_day"], format="ISO8601")
    return frame


# --- scores -------------------------------------------------------------------------------

def test_scores_without_ties_are_quintiles():
    # 10 distinct values, worst first at positions 0..9: 1 + floor(5p/10) = 1,1,2,2,3,3,4,4,5,5
    assert rfm.quintile_scores(np.arange(10)).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # recency: smaller is better, so 0 days gets 5 and 9 days gets 1
    assert rfm.quintile_scores(np.arange(10), higher_is_better=False).tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]


def test_equal_values_get_the_score_of_the_ties_first_position():
    # frequency 1 six times (positions 0-5), 2 twice (6-7), 3 (8), 4 (9); n = 10:
    # 1 -> 1 + floor(5*0/10) = 1; 2 -> 1 + floor(5*6/10) = 4; 3 -> 1 + floor(40/10) = 5; 4 -> 1 + floor(45/10) = 5
    frequency = np.array([2, 1, 1, 4, 1, 1, 3, 1, 2, 1])
    assert rfm.quintile_scores(frequency).tolist() == [4, 1, 1, 5, 1, 1, 5, 1, 4, 1]
    # the heavy tie at frequency 1 swallows scores 2 and 3: they are unused, never split by row order
    assert set(rfm.quintile_scores(frequency)) == {1, 4, 5}


def test_ties_stay_together_and_scores_never_go_against_the_values():
    rng = np.random.default_rng(3)
    values = rng.integers(0, 12, size=5_000)
    scores = rfm.quintile_scores(values)
    by_value = pd.Series(scores).groupby(values).nunique()
    assert (by_value == 1).all()  # one score per value
    per_value = pd.Series(scores).groupby(values).first().sort_index()
    assert per_value.is_monotonic_increasing and per_value.iloc[0] == 1
    # the same values in another row order get the same scores
    order = rng.permutation(values.size)
    assert (rfm.quintile_scores(values[order]) == scores[order]).all()
    assert rfm.quintile_scores(np.array([], dtype=float)).size == 0
    with pytest.raises(ValueError, match="missing"):
        rfm.quintile_scores(np.array([1.0, np.nan]))


# --- the R×F grid -----------------------------------------------------------------------

# The documented grid (module docstring), written as the seg_map regexes it comes from (R digit first):
DOCUMENTED_GRID = {
    r"[1-2][1-2]": "hibernating", r"[1-2][3-4]": "at_risk", r"[1-2]5": "cant_lose",
    r"3[1-2]": "about_to_sleep", r"33": "need_attention", r"[3-4][4-5]": "loyal_customers",
    r"41": "promising", r"51": "new_customers", r"[4-5][2-3]": "potential_loyalists", r"5[4-5]": "champions",
}


@pytest.mark.parametrize("r", range(1, 6))
@pytest.mark.parametrize("f", range(1, 6))
def test_every_cell_of_the_grid_maps_to_the_documented_segment(r, f):
    expected = [name for pattern, name in DOCUMENTED_GRID.items() if re.fullmatch(pattern, f"{r}{f}")]
    assert len(expected) == 1  # the documented map covers each cell once
    got = rfm.assign_segments(np.array([r]), np.array([f]), rfm.RfmConfig())
    assert list(got) == expected


def test_segments_have_both_labels_and_the_ten_usual_names():
    config = rfm.RfmConfig()
    assert [s.label_en for s in config.segments] == [
        "Champions", "Loyal Customers", "Potential Loyalists", "New Customers", "Promising", "Need Attention",
        "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating"]
    assert all(s.label_zh and s.action_zh and s.action_en for s in config.segments)


def _rules(**changes):
    rules = [s.model_dump() for s in rfm.DEFAULT_SEGMENTS]
    for key, change in changes.items():
        rule = next(r for r in rules if r["key"] == key)
        if change is None:
            rules.remove(rule)
        else:
            rule.update(change)
    return rules


def test_the_config_must_cover_the_grid_once():
    with pytest.raises(ValidationError, match=r"overlap at R3F3 \(need_attention and about_to_sleep\)"):
        rfm.RfmConfig(segments=_rules(about_to_sleep={"f": (1, 3)}))
    with pytest.raises(ValidationError, match=r"without a segment: R5F4, R5F5"):
        rfm.RfmConfig(segments=_rules(champions=None))
    with pytest.raises(ValidationError, match=r"used more than once"):
        rfm.RfmConfig(segments=[*_rules(), _rules()[0]])
    with pytest.raises(ValidationError, match=r"1 <= low <= high <= 5"):
        rfm.RfmConfig(segments=_rules(champions={"r": (5, 6)}))
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        rfm.RfmConfig(top_n=5)
    # a valid custom grid: champions take R4-5F4-5, loyal shrinks to R3F4-5
    custom = rfm.RfmConfig(segments=_rules(champions={"r": (4, 5)}, loyal_customers={"r": (3, 3)}))
    assert list(rfm.assign_segments(np.array([4, 3]), np.array([5, 5]), custom)) == ["champions", "loyal_customers"]


def test_settings_read_the_configuration_or_default():
    custom = rfm.RfmConfig(callback_top_n=7)
    assert rfm.settings(SimpleNamespace(weekly=SimpleNamespace(rfm=custom))) is custom
    assert rfm.settings(SimpleNamespace()) == rfm.RfmConfig()
    assert rfm.RfmConfig.model_validate({"segments": _rules(), "callback_top_n": 5}).callback_top_n == 5


# --- R, F, M by hand --------------------------------------------------------------------

TINY = [
    ("o1", "u1", "2026-11-29 10:00", 100.00, "paid"),
    ("o2", "u1", "2026-11-01 08:00", 50.50, "refunded"),  # paid, then refunded: a paid order
    ("o3", "u2", "2026-11-20", 30.00, "paid"),
    ("o4", "u2", "2026-11-27", 999.00, "cancelled"),  # not paid
    ("o5", "u3", "2026-10-30 09:00", 20.00, "paid"),
    ("o6", "u3", "2026-10-30 21:00", 20.00, "paid"),  # the same day: still two orders
    ("o7", "u4", "2026-11-15", 500.00, "created"),  # u4 never paid: not a customer
    ("o8", "u5", "2026-11-30 00:00", 70.00, "paid"),  # after as_of: left out
]


def test_recency_frequency_monetary_and_scores_by_hand():
    table = rfm.rfm_segments(orders_frame(TINY), AS_OF).set_index("customer_id")
    assert sorted(table.index) == ["u1", "u2", "u3"]
    # u1: last order 11-29 -> 0 days; o1 + o2 = 2 orders, 100.00 + 50.50 = 150.50
    # u2: last 11-20 -> 29 - 20 = 9 days; o3 only = 1 order, 30.00
    # u3: last 10-30 -> 1 day to 10-31 + 29 days of November = 30 days; 2 orders, 40.00
    assert table.loc["u1", ["recency_days", "frequency", "monetary"]].tolist() == [0, 2, 150.5]
    assert table.loc["u2", ["recency_days", "frequency", "monetary"]].tolist() == [9, 1, 30.0]
    assert table.loc["u3", ["recency_days", "frequency", "monetary"]].tolist() == [30, 2, 40.0]
    # n = 3. R, worst first: 30 (u3, p0) -> 1; 9 (u2, p1) -> 1 + floor(5/3) = 2; 0 (u1, p2) -> 1 + floor(10/3) = 4
    # F: 1 (u2, p0) -> 1; 2 (u1 and u3, first at p1) -> 2.  M: 30 -> 1, 40 -> 2, 150.5 -> 4
    assert table["r_score"].to_dict() == {"u1": 4, "u2": 2, "u3": 1}
    assert table["f_score"].to_dict() == {"u1": 2, "u2": 1, "u3": 2}
    assert table["m_score"].to_dict() == {"u1": 4, "u2": 1, "u3": 2}
    # R4F2 potential loyalist; R2F1 and R1F2 hibernating
    assert table["segment"].astype(str).to_dict() == {"u1": "potential_loyalists", "u2": "hibernating",
                                                      "u3": "hibernating"}


def test_without_a_status_column_every_order_counts():
    frame = orders_frame(TINY).drop(columns="status")
    raw = rfm.customer_rfm(frame, AS_OF).set_index("customer_id")
    # u2 now has o4 (11-27: 2 days, 30 + 999 = 1029) and u4 its order of 11-15 (14 days)
    assert raw.loc["u2"].tolist() == [2, 2, 1029.0]
    assert raw.loc["u4"].tolist() == [14, 1, 500.0]


def test_the_paid_rule_is_the_staging_sql(engine):
    assert rfm.paid_statuses() == {"paid", "refunded"}
    rows = [{"ds": datetime.fromisoformat(d).date(), "order_id": oid, "user_id": uid,
             "order_at": datetime.fromisoformat(d), "amount": amount, "status": status}
            for oid, uid, d, amount, status in TINY]
    with engine.begin() as conn:
        conn.execute(warehouse.raw_orders.insert(), rows)
    with engine.connect() as conn:
        loaded = rfm.load_paid_orders(conn, AS_OF)
    # the warehouse's paid orders up to as_of: o1, o2, o3, o5, o6 (o8 is the day after)
    assert sorted(loaded["order_id"]) == ["o1", "o2", "o3", "o5", "o6"]
    from_sql = rfm.rfm_segments(loaded, AS_OF).sort_values("customer_id").reset_index(drop=True)
    from_frame = rfm.rfm_segments(orders_frame(TINY), AS_OF).sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(from_sql, from_frame)


# --- migrations ---------------------------------------------------------------------------

def _table(rows):
    return pd.DataFrame(rows, columns=["customer_id", "segment", "monetary"])


def test_migrations_count_moves_and_flag_downgrades():
    config = rfm.RfmConfig()
    previous = _table([("a", "loyal_customers", 10), ("b", "loyal_customers", 20), ("c", "loyal_customers", 5),
                       ("d", "hibernating", 1), ("e", "at_risk", 7)])
    current = _table([("a", "at_risk", 10), ("b", "at_risk", 25), ("c", "loyal_customers", 5),
                      ("d", "hibernating", 1), ("e", "champions", 9), ("f", "new_customers", 3)])
    moves = rfm.segment_migrations(previous, current, config)
    got = {(m.from_segment, m.to_segment): (m.customers, m.monetary, m.downgrade) for m in moves.itertuples()}
    # a and b: loyal -> at risk (2 customers, 10 + 25 = 35 now; at risk is later in the list: a downgrade)
    # e: at risk -> champions (an upgrade); f: new; c and d stay and are not moves
    assert got == {("loyal_customers", "at_risk"): (2, 35.0, True), ("at_risk", "champions"): (1, 9.0, False),
                   (rfm.NEW, "new_customers"): (1, 3.0, False)}
    assert moves.iloc[0]["customers"] == 2  # most customers first


def test_the_report_recomputes_last_week_and_compares():
    rows = [(f"o{i}", f"u{i % 7}", (AS_OF - timedelta(days=3 * i)).isoformat(), 10.0 + i, "paid") for i in range(40)]
    rows.append(("late", "newbie", AS_OF.isoformat(), 5.0, "paid"))  # first order this week
    orders = orders_frame(rows)
    report = rfm.build_report(orders, AS_OF)
    before = rfm.rfm_segments(orders, AS_OF - timedelta(days=7)).set_index("customer_id")["segment"].astype(str)
    now = rfm.rfm_segments(orders, AS_OF).set_index("customer_id")["segment"].astype(str)
    # the moves, counted one customer at a time from the two tables
    expected: dict = {}
    for customer, segment in now.items():
        start = before.get(customer, rfm.NEW)
        if start != segment:
            expected[(start, segment)] = expected.get((start, segment), 0) + 1
    assert dict(zip(zip(report.migrations["from_segment"], report.migrations["to_segment"]),
                    report.migrations["customers"])) == expected
    assert (rfm.NEW, now["newbie"]) in expected
    assert report.previous_customers == len(before) == 7
    # orders on 11-23 .. 11-29: i = 0, 1, 2 (0, 3, 6 days back) and "late": 4 orders, 10 + 11 + 12 + 5 = 38
    assert (report.week_orders, report.week_revenue) == (4, 38.0)


# --- the callback list ------------------------------------------------------------------

def test_top_spenders_over_the_trailing_window():
    rows = [
        ("o1", "a", (AS_OF - timedelta(days=364)).isoformat(), 100.0, "paid"),  # the window's first day
        ("o2", "b", (AS_OF - timedelta(days=365)).isoformat(), 1000.0, "paid"),  # one day too early
        ("o3", "b", AS_OF.isoformat(), 50.0, "paid"),
        ("o4", "c", AS_OF.isoformat(), 100.0, "paid"),  # ties with a: ordered by id
        ("o5", "d", AS_OF.isoformat(), 10.0, "paid"),
        ("o6", "e", AS_OF.isoformat(), 900.0, "cancelled"),
    ]
    top = rfm.top_spenders(orders_frame(rows), AS_OF, n=3, window_days=365)
    # a 100 (o1), c 100 (o4), b 50 (o3 only); d 10 is fourth; e never paid
    assert top["customer_id"].tolist() == ["a", "c", "b"]
    assert top["spend"].tolist() == [100.0, 100.0, 50.0]
    assert top["last_order_day"].tolist() == [AS_OF - timedelta(days=364), AS_OF, AS_OF]


def test_callback_pseudonyms_are_the_privacy_module_s(tmp_path):
    # The key and the pseudonyms are opscadence.core.privacy's (tested in test_privacy), so a
    # customer has the same stand-in in the callback list and the unhappy-customer list.
    from opscadence.core.privacy import pseudonym, pseudonym_key

    key = pseudonym_key(tmp_path, environ={})
    names = rfm.pseudonyms(["cust-1", "cust-2", "cust-1"], key)
    assert names == [pseudonym("cust-1", key), pseudonym("cust-2", key), pseudonym("cust-1", key)]
    assert names[0] == names[2] != names[1] and re.fullmatch(r"C-[A-Z2-7]{6}", names[0])


# --- the weekly section: tag table, export, no ids --------------------------------------

def _seed_shop(engine, customers=12):
    rows = []
    n = 0
    for c in range(customers):
        for k in range(c % 4 + 1):  # 1-4 orders each
            day = AS_OF - timedelta(days=5 * c + 11 * k)
            n += 1
            rows.append({"ds": day, "order_id": f"ord-{n:04d}", "user_id": f"cust-{c:03d}",
                         "order_at": datetime(day.year, day.month, day.day, 12), "amount": 10.0 * (c + 1),
                         "status": "paid" if k != 3 else "refunded"})
    rows.append({"ds": AS_OF, "order_id": "ord-x", "user_id": "cust-999", "order_at": datetime(2026, 11, 29, 9),
                 "amount": 5000.0, "status": "cancelled"})
    with engine.begin() as conn:
        conn.execute(warehouse.raw_orders.insert(), rows)
    return [f"cust-{c:03d}" for c in range(customers)] + ["cust-999"]


def _context(engine, tmp_path, locale="en", **rfm_settings):
    cfg = SimpleNamespace(home=tmp_path / "home", weekly=SimpleNamespace(rfm=rfm.RfmConfig(**rfm_settings)))
    return WeeklyContext(engine=engine, cfg=cfg, period=Period.containing("week", AS_OF), locale=locale,
                         exports_dir=tmp_path / "home" / "exports")


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_weekly_section_writes_tags_and_a_private_export_and_shows_no_id(sqlite_engine, tmp_path, locale):
    ids = _seed_shop(sqlite_engine)
    ctx = _context(sqlite_engine, tmp_path, locale, callback_top_n=5)
    section = rfm.weekly_section(ctx)

    text = "\n".join([section.title, *section.lines, *section.findings, *(a.text for a in section.actions),
                      json.dumps(section.data, ensure_ascii=False)])
    assert not [i for i in ids if i in text], "a customer id in the brief"
    assert section.key == "rfm" and section.data["customers"] == 12  # cust-999 never paid

    export = tmp_path / "home" / "exports" / "rfm-callbacks-2026-W48.csv"
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    rows = pd.read_csv(export, encoding="utf-8-sig")
    # the 5 biggest 365-day spenders: cust-011 (4 orders x 120 = 480), cust-010 (3 x 110 = 330),
    # cust-007 (4 x 80 = 320), cust-006 (3 x 70 = 210), cust-009 (2 x 100 = 200); 480+330+320+210+200 = 1540
    assert rows["customer_id"].tolist() == ["cust-011", "cust-010", "cust-007", "cust-006", "cust-009"]
    assert rows["spend_365d"].tolist() == [480.0, 330.0, 320.0, 210.0, 200.0]
    assert section.data["callbacks"]["count"] == 5 and section.data["callbacks"]["spend"] == 1540.0
    assert rows["pseudonym"].tolist() == section.data["callbacks"]["pseudonyms"]
    assert any(str(export) in line for line in section.lines)  # where the export is
    assert any("1,540.00" in a.text for a in section.actions)

    with sqlite_engine.connect() as conn:
        tags = pd.read_sql(sa.select(mart_customer_rfm), conn)
    assert len(tags) == 12 and set(tags["as_of"].astype(str)) == {"2026-11-29"}
    assert set(tags["segment"]) <= set(rfm.RfmConfig().segment_keys)


def test_the_tag_table_is_replaced_per_as_of(engine):
    table = rfm.rfm_segments(orders_frame(TINY), AS_OF)
    earlier = rfm.rfm_segments(orders_frame(TINY), AS_OF - timedelta(days=7))
    with engine.begin() as conn:
        rfm.write_customer_rfm(conn, earlier, AS_OF - timedelta(days=7))
        rfm.write_customer_rfm(conn, table, AS_OF)
        rfm.write_customer_rfm(conn, table, AS_OF)  # a rerun
    with engine.connect() as conn:
        counts = dict(conn.execute(sa.select(mart_customer_rfm.c.as_of, sa.func.count())
                                   .group_by(mart_customer_rfm.c.as_of)).all())
        u1 = conn.execute(sa.select(mart_customer_rfm).where(mart_customer_rfm.c.as_of == AS_OF,
                                                             mart_customer_rfm.c.customer_id == "u1")).mappings().one()
    # as of 11-22: u1 (o2), u2 (o3), u3 (o5, o6) = 3; as of 11-29 the same 3 customers, once
    assert {warehouse.as_date(k): v for k, v in counts.items()} == {AS_OF - timedelta(days=7): 3, AS_OF: 3}
    assert (u1["recency_days"], u1["frequency"], float(u1["monetary"]), u1["segment"]) == (0, 2, 150.5,
                                                                                         "potential_loyalists")


def test_no_paid_orders_is_a_finding(sqlite_engine, tmp_path):
    section = rfm.weekly_section(_context(sqlite_engine, tmp_path))
    assert section.findings and "No paid orders up to 2026-11-29" in section.findings[0]
    assert section.lines == () and not (tmp_path / "home" / "exports").exists()


def test_a_quiet_week_is_stated_and_actions_name_their_numbers(tmp_path):
    # customers who bought often long ago and nothing this week
    rows = [(f"o{c}-{k}", f"c{c}", (AS_OF - timedelta(days=30 + 20 * c + k)).isoformat(), 10.0, "paid")
            for c in range(10) for k in range(c + 1)]
    report = rfm.build_report(orders_frame(rows), AS_OF)
    section = rfm.render_section(report, rfm.RfmConfig(), "en", export_path=tmp_path / "x.csv",
                                 callback_names=rfm.pseudonyms(report.callbacks["customer_id"], b"k" * 16))
    assert section.findings == ("No paid orders from 2026-11-23 to 2026-11-29: segments reflect older purchases "
                                "only (check this week's orders)",)
    # every action starts with the number it rests on
    assert section.actions and all(re.match(r"(\d[\d,]* customers?|Call the top \d+)", a.text) for a in section.actions)


def test_an_order_without_customer_or_amount_is_an_error():
    frame = orders_frame(TINY[:2])
    with pytest.raises(ValueError, match="no customer_id"):
        rfm.customer_rfm(frame.assign(customer_id=[None, "u1"]), AS_OF)
    with pytest.raises(ValueError, match="no amount"):
        rfm.customer_rfm(frame.assign(amount=[np.nan, 1.0]), AS_OF)
