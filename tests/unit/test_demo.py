"""The demo shop: deterministic, clean, and with its planted stories where the brief says.

Every expected fact is recomputed here, independently of the generator, with pandas on the
frames or with SQL on the loaded SQLite warehouse.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from opscadence import warehouse
from opscadence.demo import DemoShop, generate_demo_frames, load_demo, load_demo_chunked

END = date(2026, 11, 24)
SIZE = {"users": 1500, "days": 21, "seed": 11, "end_date": END}


@pytest.fixture(scope="module")
def demo():
    return generate_demo_frames(**SIZE)


@pytest.fixture(scope="module")
def frames(demo):
    return demo[0]


@pytest.fixture(scope="module")
def shop(demo) -> DemoShop:
    return demo[1]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "w.sqlite"
    engine = warehouse.create_engine(f"sqlite:///{path}")
    shop = load_demo(engine, **SIZE)
    yield engine, shop
    engine.dispose()


def _sql(engine, query: str, **params) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(sa.text(query), params).mappings().all())


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _vs_last_week(series: pd.Series) -> dict[date, float]:
    """Relative change of each day vs the same weekday one week earlier (where it exists)."""
    values = {_as_date(k): float(v) for k, v in series.items()}
    return {d: v / values[d - timedelta(days=7)] - 1 for d, v in values.items() if d - timedelta(days=7) in values}


# --- shape ---------------------------------------------------------------------------------

def test_frames_have_exactly_the_raw_table_columns(frames, shop):
    assert set(frames) == set(warehouse.RAW_TABLES)
    for key, table in warehouse.RAW_TABLES.items():
        assert list(frames[key].columns) == [c.name for c in table.columns], key
        assert all(type(d) is date for d in frames[key]["ds"]), key
        assert frames[key]["ds"].min() == shop.start and frames[key]["ds"].max() == shop.end, key
    assert shop.row_counts == {k: len(v) for k, v in frames.items()}
    assert shop.end == END and shop.start == END - timedelta(days=20)
    assert shop.payment_incident_day == shop.end
    assert shop.dau_drop_day == shop.end - timedelta(days=9)
    planted = {shop.end, shop.end - timedelta(days=7), shop.dau_drop_day, shop.dau_drop_day - timedelta(days=7)}
    assert shop.start + timedelta(days=7) <= shop.promo_day < shop.end and shop.promo_day not in planted


def test_same_arguments_give_identical_frames_and_another_seed_does_not(frames):
    again, _ = generate_demo_frames(**SIZE)
    for key in frames:
        pd.testing.assert_frame_equal(frames[key], again[key], check_exact=True)
    other, _ = generate_demo_frames(**{**SIZE, "seed": 12})
    assert not frames["events"].equals(other["events"])
    assert not frames["orders"]["amount"].equals(other["orders"]["amount"])


# --- integrity -----------------------------------------------------------------------------

def test_every_timestamp_lies_inside_its_partition(frames):
    for key, column in warehouse.PARTITION_TIME_COLUMN.items():
        if column is None:
            continue
        frame = frames[key]
        assert frame[column].notna().all(), key
        assert (frame[column].dt.date == frame["ds"]).all(), key


@pytest.mark.parametrize("key,column", [("users", "user_id"), ("events", "event_id"), ("orders", "order_id"),
                                        ("payments", "attempt_id"), ("feedback", "feedback_id")])
def test_ids_are_unique(frames, key, column):
    ids = frames[key][column]
    assert ids.notna().all() and ids.is_unique


def test_amounts_and_counts_are_non_negative(frames):
    orders, ads = frames["orders"], frames["ad_spend"]
    assert (orders["amount"] > 0).all()
    assert (orders["amount"].round(2) == orders["amount"]).all()
    assert (ads["cost"] >= 0).all() and (ads["clicks"] >= 0).all()
    assert (ads["impressions"] >= ads["clicks"]).all()
    assert not ads.duplicated(["ds", "channel", "campaign"]).any()
    assert (frames["events"]["engagement_seconds"] >= 0).all()


def test_statuses_and_categories_are_from_the_allowed_sets(frames):
    ev, orders, pay, fb = frames["events"], frames["orders"], frames["payments"], frames["feedback"]
    platforms = {"ios", "android", "web", "miniprogram"}
    assert set(ev["event_name"]) == {"page_view", "product_view", "add_to_cart", "checkout", "payment", "share"}
    assert set(ev["platform"]) == platforms and set(frames["users"]["platform"]) <= platforms
    assert set(orders["status"]) == {"created", "paid", "cancelled", "refunded"}
    assert set(pay["status"]) == {"success", "failed"}
    assert set(pay["method"]) <= {"alipay", "wechat_pay", "card", "unionpay"}
    assert pay.loc[pay["status"] == "success", "error_code"].isna().all()
    assert pay.loc[pay["status"] == "failed", "error_code"].notna().all()
    assert set(fb["source"]) <= {"app_review", "customer_service", "survey", "social"}
    assert fb["rating"].between(1, 5).all()
    assert set(ev["utm_source"].dropna()) <= {"douyin", "baidu", "wechat", "xiaohongshu", "google"}


def test_sessions_start_with_a_page_view_and_carry_one_source(frames):
    ev = frames["events"].sort_values(["event_at", "event_id"])
    first = ev.groupby("session_id")["event_name"].first()
    assert (first == "page_view").all()
    per_session = ev.groupby("session_id")[["visitor_id", "platform", "utm_source", "utm_medium", "utm_campaign"]]
    assert (per_session.nunique(dropna=False) == 1).all().all()
    direct = ev[ev["utm_source"].isna()]
    assert direct["utm_medium"].isna().all() and direct["utm_campaign"].isna().all()
    bounce_rate = (ev.groupby("session_id").size() == 1).mean()
    assert 0.30 <= bounce_rate <= 0.40
    assert ev["utm_campaign"].str.contains("[\u4e00-\u9fff]", regex=True).any()  # Chinese campaign names


def test_users_visitors_and_orders_fit_together(frames):
    users = frames["users"].set_index("user_id")
    ev = frames["events"]
    logged_in = ev[ev["user_id"].notna()]
    assert (logged_in.groupby("user_id")["visitor_id"].nunique() == 1).all()  # stable device id per user
    assert (logged_in.groupby("visitor_id")["user_id"].nunique() == 1).all()
    first_day = logged_in.groupby("user_id")["ds"].min()
    assert (first_day == users.loc[first_day.index, "ds"]).all()  # events start on the signup day
    assert set(users.index) == set(first_day.index)
    assert ev.loc[ev["user_id"].isna(), "visitor_id"].nunique() > 0  # visitors who never register
    orders = frames["orders"]
    assert orders["user_id"].isin(users.index).all()
    assert (orders["ds"].to_numpy() >= users.loc[orders["user_id"], "ds"].to_numpy()).all()
    pay = frames["payments"]
    assert pay["order_id"].isin(orders["order_id"]).all()
    paid_ids = set(pay.loc[pay["status"] == "success", "order_id"])
    assert set(orders.loc[orders["status"].isin(["paid", "refunded"]), "order_id"]) == paid_ids
    fb_users = frames["feedback"]["user_id"].dropna()
    assert fb_users.isin(users.index).all()


def test_no_personal_data(frames):
    assert frames["users"]["user_id"].str.fullmatch(r"u\d{8}").all()
    assert frames["events"]["visitor_id"].str.fullmatch(r"v[0-9a-f]{12}").all()
    assert not frames["events"]["visitor_id"].str.contains(r"\d{6}", regex=True).any()
    assert frames["orders"]["order_id"].str.fullmatch(r"o\d{13}").all()
    phone = re.compile(r"(?<![0-9])1[3-9]\d{9}(?![0-9])")  # mainland mobile
    email = re.compile(r"[\w.+-]+@[\w-]+\.\w+")
    for key, frame in frames.items():
        for column in frame.columns:
            values = frame[column].dropna()
            if values.dtype == object or pd.api.types.is_string_dtype(values):
                text = "\n".join(map(str, values.unique()))
                assert not email.search(text), (key, column)
                assert not phone.search(text), (key, column)


# --- planted stories, checked with SQL on the loaded warehouse --------------------------------

def test_payment_incident_on_the_latest_day_only(loaded):
    engine, shop = loaded
    rate = _sql(engine, """
        select ds, avg(case when status = 'success' then 1.0 else 0.0 end) as rate, count(*) as attempts
        from raw_payments group by ds order by ds""")
    by_day = {_as_date(r.ds): r.rate for r in rate.itertuples()}
    assert set(by_day) == {shop.start + timedelta(days=i) for i in range(21)}
    assert by_day[shop.end] < 0.95
    assert all(v >= 0.95 for d, v in by_day.items() if d != shop.end)
    # concentrated in one method × platform, so a drill-down can find it
    failed = _sql(engine, """
        select method, platform, error_code, count(*) as n from raw_payments
        where ds = :ds and status = 'failed' group by method, platform, error_code order by n desc""", ds=shop.end)
    top = failed.iloc[0]
    assert (top.method, top.platform, top.error_code) == ("alipay", "ios", "GATEWAY_TIMEOUT")
    assert top.n >= 0.6 * failed["n"].sum()


def test_dau_drop_on_the_planted_day_only(loaded):
    engine, shop = loaded
    dau = _sql(engine, "select ds, count(distinct visitor_id) as dau from raw_events group by ds")
    change = _vs_last_week(dau.set_index("ds")["dau"])
    assert -0.35 <= change[shop.dau_drop_day] < -0.15
    others = {d: c for d, c in change.items() if d != shop.dau_drop_day}
    assert others and min(others.values()) > -0.10


def test_promo_day_lifts_gmv_not_dau(frames, shop):
    ev, orders = frames["events"], frames["orders"]
    dau = _vs_last_week(ev.groupby("ds")["visitor_id"].nunique())
    paid = orders[orders["status"].isin(["paid", "refunded"])]
    gmv = _vs_last_week(paid.groupby("ds")["amount"].sum())
    aov = _vs_last_week(paid.groupby("ds")["amount"].mean())
    assert 0 < dau[shop.promo_day] <= 0.08
    assert gmv[shop.promo_day] >= 0.5
    assert aov[shop.promo_day] > 0.1


def test_one_channel_has_a_low_ctr_every_day(loaded):
    engine, shop = loaded
    ctr = _sql(engine, """
        select ds, channel, 1.0 * sum(clicks) / sum(impressions) as ctr
        from raw_ad_spend group by ds, channel""")
    assert ctr["ds"].nunique() == 21
    low = ctr[ctr["channel"] == shop.low_ctr_channel]["ctr"]
    rest = ctr[ctr["channel"] != shop.low_ctr_channel]["ctr"]
    assert len(low) == 21 and (low < 0.01).all()
    assert rest.nunique() > 1 and (rest > 0.01).all()


def test_repeat_buyers_exist(loaded):
    engine, _ = loaded
    repeat = _sql(engine, """
        select count(*) as n from (
            select user_id from raw_orders where status in ('paid', 'refunded')
            group by user_id having count(distinct ds) >= 2) as r""")
    one_time = _sql(engine, """
        select count(*) as n from (
            select user_id from raw_orders where status in ('paid', 'refunded')
            group by user_id having count(distinct ds) = 1) as r""")
    assert repeat["n"][0] > 0 and one_time["n"][0] > repeat["n"][0]


def test_feedback_has_urgent_complaints_and_more_on_the_incident_day(frames, shop):
    fb = frames["feedback"]
    payment_words = fb["text"].str.contains("支付失败|付款失败|payment failed|Payment failed|timing out|超时", regex=True)
    urgent = fb["text"].isin(["支付失败", "付款失败了，钱扣了订单没有", "账号被封", "payment failed twice",
                              "my account was banned"])
    assert urgent.sum() >= 3
    per_day = payment_words.groupby(fb["ds"]).sum()
    assert per_day[shop.end] > per_day.drop(shop.end).max()
    assert fb["text"].str.contains("[\u4e00-\u9fff]", regex=True).any()
    assert fb["text"].str.contains("[A-Za-z]{4,}", regex=True).any()


def test_loading_twice_is_idempotent(loaded):
    engine, shop = loaded
    again = load_demo(engine, **SIZE)
    assert again == shop
    with engine.connect() as conn:
        counts = {key: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                  for key, t in warehouse.RAW_TABLES.items()}
    assert counts == shop.row_counts


def test_too_few_days_is_refused():
    with pytest.raises(ValueError):
        generate_demo_frames(users=1500, days=5, end_date=END)


# --- the same seed, the same shop, before and after the generator was split into steps -------
# sha256 of each frame's CSV (``to_csv(index=False)``), computed on the generator as it was at
# b23834f (one 1019-line module): the in-memory shop of SIZE and a chunked shop of 500 users.
# Floating-point order matters here, so any change to a draw or a sum shows as a new hash.

IN_MEMORY_SHA256 = {
    "users": "774e77dc28b0c3f9d0e66a68a7f3a0353f312f339333315df24f4b0968663345",
    "events": "108ab0491ba54da1c50414d59ba91122171e7711375533fa4b0acc299f48a991",
    "orders": "6b7fb9c71e9b384947b52d7ad17f65339b37685d1da171237e9053063d0f0182",
    "payments": "191d233ed0327d0be1443ec98dcc77b3cd225a99c08f1c98981f7017f2fd8936",
    "ad_spend": "29ccd0f2b23f01e93cf581fd7aeb7edbf078250061643f0bb75a4c5c4e056415",
    "feedback": "b14b942faf64755fb92b2817dfd6fb0ca07585b946fb7a4d2d284d5f0aea3bf1",
}
CHUNKED = {"users": 500, "days": 12, "seed": 3, "end_date": END}
CHUNKED_SHA256 = {
    "users": "31882508bb26bc21521535aa89791dd1d7654400bc041270e2c96d76a78b28b7",
    "events": "d4f51c06686d6bda093d4fa32de8849d0a365041c2a3d9c96a068061c1ed043d",
    "orders": "83f3dc58318b001aae46e2f02556a98f84b139a9de31cfce75eab21645dbfef0",
    "payments": "8b6a563ffcbc4638c71aa26ba332b23e2818207b3d0e0c8f19aad70c5f0be9ae",
    "ad_spend": "e80212877c79c6557d09b8164957a0400d0d898853360ff63e76983ed65c49e3",
    "feedback": "62a4a74a8c5866577eda189d086c3e9a326e3ba676a11ebd16946362c71f5aad",
}


def _sha256(frame: pd.DataFrame) -> str:
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def _chunked_frames(monkeypatch, tmp_path, chunk_days: int) -> tuple[dict[str, pd.DataFrame], DemoShop]:
    """The frames load_demo_chunked writes, per raw table, in the order it writes them."""
    written: dict[str, list[pd.DataFrame]] = {}

    def capture(conn, table, start, stop, frame):
        written.setdefault(table.name, []).append(frame.copy())
        return len(frame)

    monkeypatch.setattr("opscadence.demo.load.replace_window", capture)
    engine = warehouse.create_engine(f"sqlite:///{tmp_path}/chunked-{chunk_days}.sqlite")
    shop = load_demo_chunked(engine, chunk_days=chunk_days, **CHUNKED)
    engine.dispose()
    return {key: pd.concat(written[t.name], ignore_index=True) for key, t in warehouse.RAW_TABLES.items()}, shop


def test_the_in_memory_shop_is_the_one_the_seed_always_gave(frames, shop):
    assert {key: _sha256(frame) for key, frame in frames.items()} == IN_MEMORY_SHA256
    assert shop.row_counts == {"users": 1500, "events": 21759, "orders": 690, "payments": 663,
                               "ad_spend": 222, "feedback": 147}


def test_the_chunked_shop_is_the_one_the_seed_always_gave_whatever_the_chunk(monkeypatch, tmp_path):
    by_week, shop = _chunked_frames(monkeypatch, tmp_path, 5)
    assert {key: _sha256(frame) for key, frame in by_week.items()} == CHUNKED_SHA256
    assert shop.row_counts == {key: len(frame) for key, frame in by_week.items()}
    assert shop.row_counts["events"] == 3171 and shop.dau_drop_day == END - timedelta(days=9)
    whole, again = _chunked_frames(monkeypatch, tmp_path, 12)  # every day has its own random stream
    for key in by_week:
        pd.testing.assert_frame_equal(by_week[key], whole[key], check_exact=True)
    assert again == shop


def test_in_memory_and_chunked_shops_are_alike_but_not_the_same_rows(monkeypatch, tmp_path):
    # Not meant to be equal (one random stream vs one per day, ids numbered over the window vs
    # per day): both keep their own rows. What they share is the shape of the shop.
    chunked, chunked_shop = _chunked_frames(monkeypatch, tmp_path, 12)
    memory, memory_shop = generate_demo_frames(**{**CHUNKED})
    assert memory["events"]["event_id"].iloc[0] == "e0000000001"
    assert chunked["events"]["event_id"].iloc[0] == f"e{CHUNKED['end_date'] - timedelta(days=11):%Y%m%d}0000001"
    assert (memory_shop.promo_day, memory_shop.dau_drop_day) == (chunked_shop.promo_day, chunked_shop.dau_drop_day)
    for key in warehouse.RAW_TABLES:
        assert list(memory[key].columns) == list(chunked[key].columns), key
