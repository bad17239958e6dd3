"""A shop whose orders and users live in its own BI warehouse (other tables, other column names):
configured as a SQL source next to the warehouse source, a backfill lands them and computes the
marts, and paid orders and GMV are the hand-computed ones."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from flows.backfill import backfill
from opscadence import warehouse
from tests.conftest import WAREHOUSES
from tests.flows.conftest import empty_warehouse_env

BI = sa.MetaData()
dw_member = sa.Table(
    "dw_member", BI,
    sa.Column("member_id", sa.String(16), primary_key=True),
    sa.Column("reg_time", sa.DateTime, nullable=False),
    sa.Column("src", sa.String(16)),
    sa.Column("terminal", sa.String(16)),
)
dw_order = sa.Table(
    "dw_order", BI,
    sa.Column("order_no", sa.String(16), primary_key=True),
    sa.Column("buyer", sa.String(16), nullable=False),
    sa.Column("paid_time", sa.DateTime, nullable=False),
    sa.Column("pay_amount", sa.Numeric(12, 2), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # PAID | REFUNDED | CLOSED | WAIT
)

MEMBERS = [
    ("m1", datetime(2026, 11, 20, 10, 0), "wechat", "ios"),
    ("m2", datetime(2026, 11, 21, 12, 0), "douyin", "android"),
    ("m3", datetime(2026, 11, 22, 9, 0), None, "web"),
]
ORDERS = [
    ("A0", "m1", datetime(2026, 11, 21, 23, 59, 59), "500.00", "PAID"),  # the day before the range
    ("A1", "m1", datetime(2026, 11, 22, 8, 0), "100.00", "PAID"),
    ("A2", "m2", datetime(2026, 11, 22, 13, 0), "50.50", "CLOSED"),
    ("A3", "m3", datetime(2026, 11, 22, 23, 59, 59), "20.00", "PAID"),
    # nothing on 2026-11-23
    ("B1", "m1", datetime(2026, 11, 24, 0, 0, 0), "199.00", "PAID"),
    ("B2", "m2", datetime(2026, 11, 24, 11, 11), "88.80", "REFUNDED"),
    ("B3", "m3", datetime(2026, 11, 24, 15, 0), "12.34", "WAIT"),
    ("B4", "m1", datetime(2026, 11, 24, 21, 0), "1.00", "PAID"),
    ("C1", "m2", datetime(2026, 11, 25, 0, 0, 0), "700.00", "PAID"),  # the day after
]

ORDERS_SQL = """-- grain: one row per BI order paid in [:start, :end)
select order_no as order_id,
       buyer as user_id,
       paid_time as order_at,
       pay_amount as amount,
       case state when 'PAID' then 'paid' when 'REFUNDED' then 'refunded'
                  when 'CLOSED' then 'cancelled' else 'created' end as status
from dw_order
where paid_time >= :start and paid_time < :end
"""
USERS_SQL = """-- grain: one row per member who signed up in [:start, :end)
select member_id as user_id, reg_time as signup_at, src as channel, terminal as platform
from dw_member
where reg_time >= :start and reg_time < :end
"""


@pytest.fixture(params=WAREHOUSES)
def bi_shop(request, tmp_path, monkeypatch, prefect_server, slack_server):
    """An empty warehouse; orders and users in a BI SQLite file, the other tables (empty) the warehouse's."""
    bi_url = f"sqlite:///{tmp_path / 'bi.sqlite'}"
    bi = sa.create_engine(bi_url)
    BI.create_all(bi)
    with bi.begin() as conn:
        conn.execute(dw_member.insert(), [dict(zip(dw_member.c.keys(), r)) for r in MEMBERS])
        conn.execute(dw_order.insert(), [dict(zip(dw_order.c.keys(), r)) for r in ORDERS])
    bi.dispose()
    (tmp_path / "orders.sql").write_text(ORDERS_SQL, encoding="utf-8")
    (tmp_path / "users.sql").write_text(USERS_SQL, encoding="utf-8")

    url = empty_warehouse_env(request.param, tmp_path, monkeypatch, home_dir=False)
    monkeypatch.setenv("OPSCADENCE_SOURCES", json.dumps([
        {"kind": "sql", "url": bi_url,
         "queries": {"orders": str(tmp_path / "orders.sql"), "users": str(tmp_path / "users.sql")}},
        {"kind": "warehouse", "tables": ["payments", "ad_spend", "feedback"]},
    ]))
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    monkeypatch.setenv("SLACK_API_URL", slack_server.url)
    engine = warehouse.create_engine(url)
    warehouse.init_schema(engine)
    yield engine
    engine.dispose()


def test_a_backfill_from_the_bi_warehouse_computes_paid_orders_and_gmv(bi_shop):
    engine = bi_shop

    result = backfill(cadence="daily", start=date(2026, 11, 22), end=date(2026, 11, 24), notify=False)

    # 11-23 has no order and no signup in the BI warehouse: absent, not a day of zeros.
    assert sorted(result["done"]) == ["2026-11-22", "2026-11-24"], result
    assert list(result["failed"]) == ["2026-11-23"]
    assert result["failed"]["2026-11-23"] == "validation failed: users.expect_partition_to_have_rows"

    k = warehouse.mart_daily_kpis
    with engine.connect() as conn:
        def overall(ds):
            return dict(conn.execute(sa.select(k.c.metric, k.c.value).where(k.c.ds == ds, k.c.dimension == "all")).all())
        day22, day24 = overall(date(2026, 11, 22)), overall(date(2026, 11, 24))
        assert overall(date(2026, 11, 23)) == {}
        landed = conn.execute(sa.select(warehouse.raw_orders.c.order_id, warehouse.raw_orders.c.ds)
                              .order_by(warehouse.raw_orders.c.order_id)).all()
        absent = conn.execute(sa.select(warehouse.dq_results.c.detail).where(
            warehouse.dq_results.c.ds == date(2026, 11, 23), warehouse.dq_results.c.success.is_(False))).scalars().all()
        users = conn.execute(sa.select(warehouse.raw_users.c.user_id, warehouse.raw_users.c.channel)).all()

    # the warehouse's tables are empty too; the message names where the day was looked for
    assert len(absent) == 1, absent
    assert absent[0].startswith("no users, orders, payments, ad_spend, feedback for 2026-11-23 in the SQL source "
                                "sqlite:///"), absent
    assert "orders.sql" in absent[0] and "users.sql" in absent[0] and "; the warehouse " in absent[0], absent
    # landed: the range's orders only (A0 is 11-21, C1 11-25), each on the shop-local day of paid_time
    assert [(o, d.isoformat() if isinstance(d, date) else d) for o, d in landed] == [
        ("A1", "2026-11-22"), ("A2", "2026-11-22"), ("A3", "2026-11-22"),
        ("B1", "2026-11-24"), ("B2", "2026-11-24"), ("B3", "2026-11-24"), ("B4", "2026-11-24")]
    assert users == [("m3", None)]  # the only signup in the range (11-22)
    # 11-22: paid = A1 + A3 (A2 closed) = 2 orders; GMV = 100.00 + 20.00 = 120.00
    assert day22["orders"] == 2 and day22["gmv"] == pytest.approx(120.00)
    # 11-24: paid = B1, B2 (refunded after paying counts), B4; B3 waits = 3 orders;
    # GMV = 199.00 + 88.80 + 1.00 = 288.80; AOV = 288.80 / 3 = 96.2667
    assert day24["orders"] == 3 and day24["gmv"] == pytest.approx(288.80)
    assert day24["aov"] == pytest.approx(288.80 / 3)
