"""A shop's GBK export with Chinese headers, imported through the command, then validated and
computed by a backfill like any other day: the marts' numbers are the file's, worked by hand."""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa

from opscadence import warehouse
from opscadence.cli import main
from tests.conftest import WAREHOUSES
from tests.flows.conftest import empty_warehouse_env

DAY = date(2026, 11, 24)
EXPORT = (
    "订单编号,买家昵称,收货人,手机号,下单时间,实付金额,订单状态,商品名称\n"
    'T1,小明,张三,13812345678,2026-11-24 10:00,"￥1,299.00",交易成功,"=HYPERLINK(""http://x"")"\n'
    "T2,小红,李四,13912345678,2026/11/24 11:30:00,￥88.50,已发货,杯子\n"
    "T2,小红,李四,13912345678,2026/11/24 11:30:00,￥88.50,已发货,杯子\n"  # an identical duplicate
    "T3,小刚,王五,13712345678,2026年11月24日 12:00,1000元,已退款,碗\n"
    "T4,小丽,赵六,13612345678,2026-11-24 13:00,500,交易关闭,盘\n"
    "T5,小明,张三,13812345678,2026-11-24T02:00:00Z,66.00,待付款,勺\n"
    "T6,小强,钱七,13512345678,2026-11-23T17:30:00Z,200,已完成,筷\n"  # 01:30 on the 24th in Shanghai
    "T7,小红,李四,13912345678,2026-11-23 20:00,50,交易成功,碗\n"
)
# The 24th in Asia/Shanghai: T1 paid 1299, T2 paid 88.50, T3 refunded 1000 (a paid order that was
# refunded: it counts, as in sql/staging/stg_paid_orders.sql), T4 cancelled and T5 unpaid (they do
# not), T6 paid 200 (17:30 UTC on the 23rd = 01:30 on the 24th). T7 is on the 23rd.
# orders = 4 (T1, T2, T3, T6); GMV = 1299 + 88.50 + 1000 + 200 = 2587.50; buyers 4 (小明, 小红, 小刚, 小强).
ORDERS, GMV = 4, 2587.50


@pytest.fixture(params=WAREHOUSES)
def import_env(request, tmp_path, monkeypatch, prefect_server):
    url = empty_warehouse_env(request.param, tmp_path, monkeypatch)
    # the shop brings its order exports only: the other tables have no source
    monkeypatch.setenv("OPSCADENCE_SOURCES", json.dumps([{"kind": "warehouse", "tables": ["orders"]}]))
    engine = warehouse.create_engine(url)
    yield tmp_path, engine
    engine.dispose()


def _kpis(engine, day: date) -> dict[str, float]:
    k = warehouse.mart_daily_kpis
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(k.c.metric, k.c.value).where(k.c.ds == day, k.c.dimension == "all")).all())


def _orders(engine) -> list[tuple]:
    o = warehouse.raw_orders
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(o).order_by(o.c.order_id))]


def _backfill(capsys) -> str:
    assert main(["backfill", "daily", "--start", DAY.isoformat(), "--end", DAY.isoformat(), "--no-notify"]) == 0
    return capsys.readouterr().out


def test_a_gbk_export_imports_and_its_day_is_computed_from_it(import_env, capsys):
    folder, engine = import_env
    export = folder / "订单导出.csv"
    export.write_bytes(EXPORT.encode("gbk"))

    assert main(["import", "orders", str(export)]) == 0
    out = capsys.readouterr().out
    assert "imported 7 rows into raw_orders from 1 file(s) in one transaction: 7 new, 0 changed" in out
    assert "personal data hashed (keyed hash): 买家昵称 → user_id" in out
    assert "personal data dropped (not read): 收货人, 手机号" in out
    assert "duplicates ignored: 1 row(s) identical to an earlier one" in out
    assert "rows per day (2 day(s)): 2026-11-23 1, 2026-11-24 6" in out
    for value in ("小明", "张三", "13812345678"):
        assert value not in out
    # nothing copied: beside the export only the home, which holds the warehouse and the hash key
    assert sorted(folder.iterdir()) == sorted([folder / "home", export])
    assert {p.name for p in (folder / "home").rglob("*")} <= {
        "warehouse.sqlite", "warehouse.sqlite-wal", "warehouse.sqlite-shm", "pseudonym.key"}

    assert "1 done, 0 skipped, 0 failed" in _backfill(capsys)
    kpis = _kpis(engine, DAY)
    assert kpis["orders"] == ORDERS
    assert kpis["gmv"] == pytest.approx(GMV)
    assert kpis["aov"] == pytest.approx(GMV / ORDERS)  # 646.875
    stored = _orders(engine)

    # the same file again: nothing added, the day's inputs unchanged, so the backfill skips it
    assert main(["import", "orders", str(export)]) == 0
    assert "0 new, 0 changed (replacing the row with their key), 7 already there unchanged" in capsys.readouterr().out
    assert _orders(engine) == stored
    assert "0 done, 1 skipped, 0 failed" in _backfill(capsys)

    # a broken file: exit 2, one line naming file, row and column, nothing written
    broken = folder / "broken.csv"
    broken.write_bytes(EXPORT.replace("T1,", "T9,").replace("￥88.50", "￥88.5O").encode("gbk"))
    assert main(["import", "orders", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"opscadence: {broken} row 3, column 实付金额 (amount): '￥88.5O' is not an amount")
    assert err.count("\n") == 1
    assert _orders(engine) == stored

    # a corrected amount changes the day's inputs: the next backfill recomputes it
    fixed = folder / "fixed.csv"
    fixed.write_bytes(EXPORT.replace("500,交易关闭", "500,交易成功").encode("gbk"))  # T4 was paid after all
    assert main(["import", "orders", str(fixed)]) == 0
    assert ": 0 new, 1 changed" in capsys.readouterr().out
    out = _backfill(capsys)
    assert "1 done, 0 skipped, 0 failed" in out and "1 recomputed: inputs changed" in out
    kpis = _kpis(engine, DAY)
    assert kpis["orders"] == ORDERS + 1 and kpis["gmv"] == pytest.approx(GMV + 500)  # 3087.50
