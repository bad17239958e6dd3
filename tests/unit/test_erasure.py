"""`opscadence forget` and `opscadence purge` (opscadence.warehouse.erasure), and the pseudonym
key's production mode. Warehouse rows are built by hand; every expected count is counted below."""

from __future__ import annotations

import json
import os
import stat
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from opscadence import warehouse
from opscadence.cli import main
from opscadence.core.errors import UserError
from opscadence.core.privacy import PSEUDONYM_KEY_ENV, pseudonym, pseudonym_key
from opscadence.warehouse import schema
from opscadence.warehouse.erasure import forget_customer, purge, purge_targets
from opscadence.warehouse.inputs import input_checksums, record_inputs, stale_or_missing

KEY = b"k" * 32
D3, D4, D5 = date(2026, 11, 3), date(2026, 11, 4), date(2026, 11, 5)
NICK_ID = pseudonym("小明", KEY, length=16)  # what an import stores for the nickname 小明


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour)


def seed(engine) -> None:
    """Customer U1 (to forget) and U2 (to keep), and NICK_ID (a hashed nickname)."""
    with engine.begin() as conn:
        conn.execute(schema.raw_users.insert(), [
            {"ds": D3, "user_id": "U1", "signup_at": at(D3), "channel": "ads"},
            {"ds": D3, "user_id": "U2", "signup_at": at(D3), "channel": "ads"},
            {"ds": D3, "user_id": NICK_ID, "signup_at": at(D3), "channel": "ads"},
        ])
        conn.execute(schema.raw_orders.insert(), [
            {"ds": D3, "order_id": "O1", "user_id": "U1", "order_at": at(D3), "amount": 10, "status": "paid"},
            {"ds": D4, "order_id": "O2", "user_id": "U1", "order_at": at(D4), "amount": 20, "status": "paid"},
            {"ds": D5, "order_id": "O3", "user_id": "U2", "order_at": at(D5), "amount": 30, "status": "paid"},
        ])
        conn.execute(schema.raw_payments.insert(), [
            {"ds": D3, "attempt_id": "P1", "order_id": "O1", "attempt_at": at(D3), "status": "failed"},
            {"ds": D3, "attempt_id": "P2", "order_id": "O1", "attempt_at": at(D3, 11), "status": "success"},
            {"ds": D4, "attempt_id": "P3", "order_id": "O2", "attempt_at": at(D4), "status": "success"},
            {"ds": D5, "attempt_id": "P4", "order_id": "O3", "attempt_at": at(D5), "status": "success"},
        ])
        event = {"session_id": "S", "event_name": "page_view"}
        conn.execute(schema.raw_events.insert(), [
            # E1: U1's device before login
            {**event, "ds": D3, "event_id": "E1", "event_at": at(D3), "visitor_id": "V1", "user_id": None},
            {**event, "ds": D3, "event_id": "E2", "event_at": at(D3), "visitor_id": "V1", "user_id": "U1"},
            {**event, "ds": D4, "event_id": "E3", "event_at": at(D4), "visitor_id": "V1", "user_id": "U1"},
            {**event, "ds": D5, "event_id": "E4", "event_at": at(D5), "visitor_id": "V2", "user_id": "U2"},
            {**event, "ds": D5, "event_id": "E5", "event_at": at(D5), "visitor_id": "V3", "user_id": None},
        ])
        conn.execute(schema.raw_feedback.insert(), [
            {"ds": D4, "feedback_id": "F1", "source": "survey", "created_at": at(D4), "rating": 1,
             "text": "快递太慢了，电话 13812345678", "user_id": "U1"},
            {"ds": D5, "feedback_id": "F2", "source": "survey", "created_at": at(D5), "rating": 2,
             "text": "包装破了", "user_id": "U2"},
        ])
        rfm = {"segment": "loyal", "recency_days": 1, "frequency": 1, "monetary": 10,
               "r_score": 5, "f_score": 1, "m_score": 1, "as_of": date(2026, 11, 8)}
        conn.execute(schema.mart_customer_rfm.insert(), [
            {**rfm, "customer_id": "U1"}, {**rfm, "customer_id": "U2"}, {**rfm, "customer_id": NICK_ID}])
        conn.execute(schema.mart_weekly_active_users.insert(), [
            {"ds": D3, "user_id": "U1"}, {"ds": D4, "user_id": "U1"}, {"ds": D5, "user_id": "U2"}])
        pain = {"week": date(2026, 11, 2), "rank": 1, "change_rank": 1, "count": 2, "urgent": False,
                "linked_alerts": "[]"}
        conn.execute(schema.mart_weekly_painpoints.insert(), [
            # the quote of F1 as representative_quotes makes it (phone masked), and one of F2
            {**pain, "category": "logistics", "quotes": json.dumps(["快递太慢了，电话 [phone]", "包装破了"],
                                                                  ensure_ascii=False)},
            {**pain, "category": "other", "rank": 2, "quotes": json.dumps(["包装破了"], ensure_ascii=False)},
        ])


def count(engine, table: sa.Table, where=None) -> int:
    query = sa.select(sa.func.count()).select_from(table)
    with engine.connect() as conn:
        return conn.scalar(query if where is None else query.where(where))


# U1's rows, counted from seed(): payments P1 P2 P3; orders O1 O2; events E2 E3 (user) + E1 (its
# device V1 before login); one user row, one feedback, one RFM row, two active-user days; one
# pain-point row whose quotes held F1's text.
U1_COUNTS = {"raw_payments": 3, "raw_orders": 2, "raw_events": 3, "raw_users": 1, "raw_feedback": 1,
             "mart_customer_rfm": 1, "mart_weekly_active_users": 2, "mart_weekly_painpoints": 1}


def test_forget_deletes_the_customers_rows_everywhere_and_keeps_the_others(engine):
    seed(engine)
    result = forget_customer(engine, "U1", KEY)
    assert result.ids == 1
    assert result.rows == U1_COUNTS
    # what is left: seed() minus U1_COUNTS
    assert count(engine, schema.raw_orders) == 1 and count(engine, schema.raw_payments) == 1
    assert count(engine, schema.raw_events) == 2  # E4 (U2) and E5 (V3, anonymous, another device)
    assert count(engine, schema.raw_users) == 2 and count(engine, schema.raw_feedback) == 1
    assert count(engine, schema.mart_customer_rfm) == 2 and count(engine, schema.mart_weekly_active_users) == 1
    for table, column in [(schema.raw_orders, "user_id"), (schema.raw_events, "user_id"),
                          (schema.mart_customer_rfm, "customer_id")]:
        assert count(engine, table, table.c[column] == "U1") == 0
    with engine.connect() as conn:
        quotes = dict(conn.execute(sa.select(schema.mart_weekly_painpoints.c.category,
                                             schema.mart_weekly_painpoints.c.quotes)).all())
    assert json.loads(quotes["logistics"]) == ["包装破了"]  # F1's quote gone, U2's kept
    assert json.loads(quotes["other"]) == ["包装破了"]
    # a second time: nothing held any more
    again = forget_customer(engine, "U1", KEY)
    assert again.ids == 0 and again.total == 0


def test_forget_by_the_report_pseudonym_or_the_hashed_raw_value(engine):
    seed(engine)
    by_pseudonym = forget_customer(engine, pseudonym("U2", KEY), KEY)  # C-XXXXXX, as a brief shows it
    # U2: payment P4, order O3, event E4, user, feedback F2, RFM, one active day; the two quotes
    # "包装破了" (F2's text) in both pain-point rows
    assert by_pseudonym.rows == {"raw_payments": 1, "raw_orders": 1, "raw_events": 1, "raw_users": 1,
                                 "raw_feedback": 1, "mart_customer_rfm": 1, "mart_weekly_active_users": 1,
                                 "mart_weekly_painpoints": 2}
    by_nickname = forget_customer(engine, "小明", KEY)  # the raw nickname an import hashed into NICK_ID
    assert by_nickname.ids == 1
    assert by_nickname.rows["raw_users"] == 1 and by_nickname.rows["mart_customer_rfm"] == 1
    assert count(engine, schema.raw_users) == 1  # U1 only
    # without the key a pseudonym names nobody
    assert forget_customer(engine, pseudonym("U1", KEY), None).ids == 0


def test_forget_marks_the_days_it_changed_and_only_those(engine):
    seed(engine)
    with engine.begin() as conn:
        for day in (D3, D4, D5):
            record_inputs(conn, "daily", day, input_checksums(conn, day, day + timedelta(days=1))[day], "defs")
        assert set(stale_or_missing(conn, "daily", [D3, D4, D5], "defs").values()) == {"current"}
    forget_customer(engine, "U1", KEY)
    with engine.connect() as conn:
        # U1 had rows on D3 and D4, none on D5
        assert stale_or_missing(conn, "daily", [D3, D4, D5], "defs") == {D3: "changed", D4: "changed", D5: "current"}


def test_forget_removes_the_customers_lines_from_the_exports(engine, tmp_path):
    seed(engine)
    exports = tmp_path / "exports"
    exports.mkdir()
    rfm = exports / "rfm-callbacks-2026-W45.csv"
    rfm.write_bytes("\ufeffcustomer_id,pseudonym,segment_label\nU1,C-AAAAAA,忠诚\nU2,C-BBBBBB,忠诚\n".encode())
    unhappy = exports / "unhappy-customers-2026-W45.csv"
    unhappy.write_text("customer_id,pseudonym,feedback_ids\nU2,C-BBBBBB,F2\n", encoding="utf-8")
    result = forget_customer(engine, "U1", KEY, exports)
    assert result.files == {"rfm-callbacks-2026-W45.csv": 1}  # the unhappy list never held U1
    assert rfm.read_bytes() == "\ufeffcustomer_id,pseudonym,segment_label\nU2,C-BBBBBB,忠诚\n".encode()
    assert stat.S_IMODE(rfm.stat().st_mode) == 0o600
    assert unhappy.read_text(encoding="utf-8") == "customer_id,pseudonym,feedback_ids\nU2,C-BBBBBB,F2\n"


def test_purge_empties_every_table_and_deletes_the_homes_files(engine, tmp_path):
    seed(engine)
    home = tmp_path / "home"
    (home / "outbox").mkdir(parents=True)
    (home / "outbox" / "daily.md").write_text("brief")
    (home / "exports").mkdir()
    (home / "exports" / "rfm-callbacks-2026-W45.csv").write_text("customer_id\nU1\n")
    pseudonym_key(home)  # makes the key file
    (home / "keep.txt").write_text("not ours")
    result = purge(engine, home)
    # seed(): 3 users, 3 orders, 4 payments, 5 events, 2 feedback, 3 RFM, 3 active days, 2 pain points
    assert sum(result.rows.values()) == 3 + 3 + 4 + 5 + 2 + 3 + 3 + 2
    assert set(result.removed) == {home / "outbox", home / "exports", home / "pseudonym.key"}
    assert sorted(p.name for p in home.iterdir()) == ["keep.txt"]
    inspector = sa.inspect(engine)
    for table in schema.metadata.sorted_tables:
        assert inspector.has_table(table.name)  # the schema stays, empty
        assert count(engine, table) == 0


def test_purge_deletes_the_sqlite_warehouse_in_the_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    engine = warehouse.create_engine(f"sqlite:///{home}/warehouse.sqlite")
    warehouse.init_schema(engine)
    seed(engine)
    targets = purge_targets(engine, home)  # the file, and its -wal/-shm while a connection is open
    assert targets[0] == home / "warehouse.sqlite"
    assert {p.name for p in targets} <= {"warehouse.sqlite", "warehouse.sqlite-wal", "warehouse.sqlite-shm"}
    purge(engine, home)
    assert list(home.iterdir()) == []


def _cli_env(monkeypatch, tmp_path, **extra):
    monkeypatch.setenv("OPSCADENCE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OPSCADENCE_CONFIG", str(tmp_path / "none.yaml"))
    (tmp_path / "none.yaml").write_text("{}\n")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


def test_cli_forget_prints_counts_never_the_value(monkeypatch, tmp_path, capsys):
    _cli_env(monkeypatch, tmp_path)
    from opscadence.core.config import load_config

    cfg = load_config()
    engine = warehouse.create_engine(cfg.resolved_warehouse_url)
    warehouse.init_schema(engine)
    seed(engine)
    engine.dispose()
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, KEY.decode())
    assert main(["forget", "--customer", "小明"]) == 0
    out = capsys.readouterr().out
    assert "raw_users: 1 rows deleted" in out and "mart_customer_rfm: 1 rows deleted" in out
    assert "小明" not in out and NICK_ID not in out
    assert main(["forget", "--customer", "13812345678"]) == 0
    out = capsys.readouterr().out
    assert out == "no row of that customer is held: nothing deleted\n"


def test_cli_purge_asks_and_refuses_without_a_terminal(monkeypatch, tmp_path, capsys):
    _cli_env(monkeypatch, tmp_path)
    home = tmp_path / "home"
    (home / "outbox").mkdir(parents=True)
    monkeypatch.setattr("sys.stdin", open(os.devnull))
    assert main(["purge"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert (home / "outbox").exists()
    assert main(["purge", "--yes"]) == 0
    assert not (home / "outbox").exists() and not (home / "warehouse.sqlite").exists()


# --- production mode: the key from the environment only --------------------------------------------


def test_production_mode_needs_the_key_from_the_environment(tmp_path):
    with pytest.raises(UserError, match=f"^{PSEUDONYM_KEY_ENV} is not set: privacy.mode is production"):
        pseudonym_key(tmp_path, {}, production=True)
    assert not (tmp_path / "pseudonym.key").exists()  # no key file made in production
    assert pseudonym_key(tmp_path, {PSEUDONYM_KEY_ENV: "x" * 20}, production=True) == b"x" * 20
    # demo: the key file, made once
    first = pseudonym_key(tmp_path, {})
    assert len(first) == 32 and pseudonym_key(tmp_path, {}) == first


@pytest.mark.parametrize("argv", [["forget", "--customer", "U1"], ["run", "daily", "--date", "2026-11-03"],
                                  ["backfill", "daily", "--start", "2026-11-03", "--end", "2026-11-04"]])
def test_cli_in_production_mode_without_the_key_is_one_line_exit_2(monkeypatch, tmp_path, capsys, argv):
    _cli_env(monkeypatch, tmp_path, OPSCADENCE_PRIVACY__MODE="production")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"opscadence: {PSEUDONYM_KEY_ENV} is not set") and err.count("\n") == 1
    assert not (tmp_path / "home" / "pseudonym.key").exists()


def test_cli_import_in_production_mode_without_the_key(monkeypatch, tmp_path, capsys):
    _cli_env(monkeypatch, tmp_path, OPSCADENCE_PRIVACY__MODE="production")
    orders = tmp_path / "orders.csv"
    orders.write_text("订单编号,买家昵称,下单时间,实付金额,订单状态\nT1,小明,2026-11-03 14:05,10,交易成功\n", encoding="utf-8")
    assert main(["import", "orders", str(orders)]) == 2
    assert PSEUDONYM_KEY_ENV in capsys.readouterr().err
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, KEY.decode())
    assert main(["import", "orders", str(orders)]) == 0
    capsys.readouterr()
    engine = warehouse.create_engine(f"sqlite:///{tmp_path}/home/warehouse.sqlite")
    with engine.connect() as conn:
        assert conn.scalar(sa.select(schema.raw_orders.c.user_id)) == NICK_ID  # hashed with the env key
    engine.dispose()
