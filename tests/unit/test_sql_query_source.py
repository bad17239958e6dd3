"""The SQL source against a real second database whose tables and columns are not the project's:
a second SQLite file always, a second PostgreSQL database (``<db>_bi``) when configured."""

from __future__ import annotations

import os
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from opscadence.core.config import ConfigError, SourceConfig, load_config
from opscadence.core.errors import EXIT_USAGE, UserError
from opscadence.sources import SourceError, SqlQuerySource, make_source
from tests.conftest import POSTGRES_URL, sibling_database

BI = sa.MetaData()
dw_order = sa.Table(
    "dw_order", BI,
    sa.Column("order_no", sa.String(32), primary_key=True),
    sa.Column("buyer", sa.String(32), nullable=False),
    sa.Column("paid_time", sa.DateTime, nullable=False),
    sa.Column("pay_amount", sa.Numeric(12, 2), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # PAID | CLOSED | REFUND
    sa.Column("terminal", sa.String(16)),
)

ORDERS_SQL = """-- grain: one row per order of the BI warehouse paid or closed in [:start, :end)
select
    order_no as order_id,
    buyer as user_id,
    paid_time as order_at,
    pay_amount as amount,
    case state when 'PAID' then 'paid' when 'REFUND' then 'refunded' else 'cancelled' end as status,
    terminal as platform
from dw_order
where paid_time >= :start and paid_time < :end
order by paid_time, order_no;
"""

ROWS = [
    # order_no, buyer, paid_time, pay_amount, state, terminal
    ("N1", "b1", datetime(2026, 11, 23, 23, 59, 59), Decimal("10.00"), "PAID", "ios"),
    ("N2", "b2", datetime(2026, 11, 24, 0, 0, 0), Decimal("25.50"), "PAID", None),
    ("N3", "b1", datetime(2026, 11, 24, 9, 30, 0), Decimal("99.90"), "REFUND", "web"),
    ("N4", "b3", datetime(2026, 11, 24, 23, 59, 59), Decimal("5.00"), "CLOSED", "android"),
    ("N5", "b4", datetime(2026, 11, 26, 8, 0, 0), Decimal("7.00"), "PAID", "ios"),
]
DAY = date(2026, 11, 24)


def _bi_postgres_url() -> str:
    return sibling_database(POSTGRES_URL, f"{sa.engine.make_url(POSTGRES_URL).database}_bi")


@pytest.fixture(params=["sqlite"] + (["postgresql"] if POSTGRES_URL else []))
def bi(request, tmp_path):
    """(url, folder for query files) of a BI database holding ``ROWS`` in ``dw_order``."""
    url = f"sqlite:///{tmp_path}/bi.sqlite" if request.param == "sqlite" else _bi_postgres_url()
    engine = sa.create_engine(url)
    BI.drop_all(engine)
    BI.create_all(engine)
    with engine.begin() as conn:
        conn.execute(dw_order.insert(), [dict(zip(dw_order.c.keys(), row)) for row in ROWS])
    engine.dispose()
    folder = tmp_path / "queries"
    folder.mkdir()
    yield url, folder
    engine = sa.create_engine(url)
    BI.drop_all(engine)
    engine.dispose()


def source_for(url: str, folder, sql: str = ORDERS_SQL) -> SqlQuerySource:
    (folder / "orders.sql").write_text(sql, encoding="utf-8")
    return SqlQuerySource(url, {"orders": folder / "orders.sql"}, timezone="Asia/Shanghai")


def test_rows_through_the_query_equal_the_source_rows(bi):
    url, folder = bi
    source = source_for(url, folder)

    frames = source.read_partition(DAY)

    assert set(frames) == {"orders"} and source.tables == {"orders"}
    # N2, N3, N4 are paid on 2026-11-24 (N1 one second before midnight, N5 two days later);
    # states mapped by the query's CASE, channel not returned: null.
    expected = pd.DataFrame({
        "ds": [DAY, DAY, DAY],
        "order_id": ["N2", "N3", "N4"],
        "user_id": ["b2", "b1", "b3"],
        "order_at": pd.to_datetime(["2026-11-24 00:00:00", "2026-11-24 09:30:00", "2026-11-24 23:59:59"]),
        "amount": [25.50, 99.90, 5.00],
        "status": ["paid", "refunded", "cancelled"],
        "platform": [None, "web", "android"],
        "channel": [None, None, None],
    }, index=pd.RangeIndex(1, 4, name="row"))
    got = frames["orders"]
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(_plain(got), _plain(expected))
    assert got["amount"].dtype == "float64" and str(got["order_at"].dtype).startswith("datetime64")

    # A range in one query per table: [11-23, 11-27) holds all five, ordered by ds.
    ranged = source.read_range(date(2026, 11, 23), date(2026, 11, 27))["orders"]
    assert list(ranged["order_id"]) == ["N1", "N2", "N3", "N4", "N5"]
    assert list(ranged["ds"]) == [date(2026, 11, 23), DAY, DAY, DAY, date(2026, 11, 26)]


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Values as Python objects, missing as None (pandas' text dtypes differ between builds)."""
    return frame.astype(object).where(frame.notna(), None)


def test_a_day_without_rows_is_absent_not_zero(bi):
    url, folder = bi
    source = source_for(url, folder)

    assert source.has_partition(DAY) is True
    assert source.has_partition(date(2026, 11, 25)) is False  # nothing paid on 11-25
    assert source.read_partition(date(2026, 11, 25))["orders"].empty
    assert source.is_empty() is False
    with sa.create_engine(url).begin() as conn:
        conn.execute(dw_order.delete())
    assert source.is_empty() is True


def test_a_bad_value_names_the_query_file_row_and_column(bi):
    url, folder = bi
    bad = ORDERS_SQL.replace("pay_amount as amount",
                             "case when order_no = 'N3' then 'twelve' else cast(pay_amount as varchar(20)) end as amount")
    source = source_for(url, folder, bad)

    with pytest.raises(SourceError) as caught:
        source.read_partition(DAY)

    # N3 is the 2nd row of the day's result (N2 00:00, N3 09:30, N4 23:59)
    assert str(caught.value) == f"SQL source query {folder / 'orders.sql'} row 2, column amount: 'twelve' is not a number"
    assert (caught.value.path, caught.value.row, caught.value.column) == (str(folder / "orders.sql"), 2, "amount")


def test_a_missing_column_names_the_file_and_the_columns_it_returned(bi):
    url, folder = bi
    source = source_for(url, folder, ORDERS_SQL.replace("    pay_amount as amount,\n", ""))

    with pytest.raises(SourceError) as caught:
        source.read_partition(DAY)

    assert str(caught.value) == (
        f"SQL source query {folder / 'orders.sql'} returns no column amount (required for raw table orders); "
        "it returned: order_id, user_id, order_at, status, platform"
    )


def test_rows_outside_the_days_asked_for_are_an_error_not_dropped(bi):
    url, folder = bi
    source = source_for(url, folder, ORDERS_SQL.replace(
        "where paid_time >= :start and paid_time < :end", "where :start is not null and :end is not null"))

    with pytest.raises(SourceError, match=r"row 1, column order_at: '2026-11-23 23:59:59' is outside the days "
                                          r"asked for, \[2026-11-24, 2026-11-25\)"):
        source.read_partition(DAY)


def test_a_query_without_the_bound_days_is_refused(bi):
    url, folder = bi
    source = source_for(url, folder, "select order_no as order_id from dw_order")
    with pytest.raises(SourceError, match=r"orders.sql does not use :end and :start"):
        source.read_partition(DAY)


def test_a_failed_connection_names_the_source_without_its_password(tmp_path, monkeypatch):
    monkeypatch.setenv("BI_PASSWORD", "hunter2-very-secret")
    (tmp_path / "orders.sql").write_text(ORDERS_SQL, encoding="utf-8")
    # port 1: nothing listens there
    source = SqlQuerySource("postgresql+psycopg://bi:${BI_PASSWORD}@127.0.0.1:1/dw", {"orders": tmp_path / "orders.sql"})

    with pytest.raises(SourceError) as caught:
        source.has_partition(DAY)

    message = str(caught.value)
    assert isinstance(caught.value, UserError) and caught.value.exit_code == EXIT_USAGE  # one line, exit 2
    assert message.startswith("SQL source postgresql+psycopg://bi:***@127.0.0.1:1/dw: cannot connect: ")
    assert "hunter2" not in message and "\n" not in message

    missing_dir = SqlQuerySource(f"sqlite:///{tmp_path}/no/such/dir/bi.sqlite", {"orders": tmp_path / "orders.sql"})
    with pytest.raises(SourceError, match=r"^SQL source sqlite:///.*/no/such/dir/bi.sqlite: cannot connect: "):
        missing_dir.read_partition(DAY)

    monkeypatch.delenv("BI_PASSWORD")
    unset = SqlQuerySource("postgresql+psycopg://bi:${BI_PASSWORD}@127.0.0.1:1/dw", {"orders": tmp_path / "orders.sql"})
    with pytest.raises(SourceError, match=r"^SQL source postgresql\+psycopg://bi:\*\*\*@127.0.0.1:1/dw: environment "
                                          r"variable BI_PASSWORD is not set"):
        unset.has_partition(DAY)


# -- configuration ---------------------------------------------------------------------------

def test_config_sql_source_tables_are_the_query_keys_and_paths_come_from_the_file_folder(tmp_path):
    (tmp_path / "cfg").mkdir()
    file = tmp_path / "cfg" / "opscadence.yaml"
    file.write_text(
        "sources:\n"
        "  - kind: sql\n"
        "    url: postgresql+psycopg://bi:${BI_PASSWORD}@bi-host/dw\n"
        "    queries: {orders: bi/orders.sql, users: /abs/users.sql}\n"
        "  - {kind: warehouse, tables: [events, payments, ad_spend, feedback]}\n",
        encoding="utf-8",
    )
    cfg = load_config(file, environ={})
    sql = cfg.source_list[0]
    assert sql.owned_tables() == ("users", "orders")
    assert sql.queries == {"orders": tmp_path / "cfg" / "bi" / "orders.sql", "users": Path("/abs/users.sql")}
    assert "BI_PASSWORD" not in repr(sql)  # the URL is kept out of repr
    source = make_source(cfg.source_list, sa.create_engine("sqlite://"), timezone=cfg.timezone)
    assert source.tables == {"users", "orders", "events", "payments", "ad_spend", "feedback"}


@pytest.mark.parametrize("body, key, problem", [
    ("{kind: sql, url: 'postgresql://bi:pw123@h/dw', queries: {orders: o.sql}}", "source",
     "url: postgresql://bi:***@h/dw holds a password; write it as a reference to an environment variable"),
    ("{kind: sql, queries: {orders: o.sql}}", "source", "url: required when kind is 'sql'"),
    ("{kind: sql, url: 'sqlite:///bi.db'}", "source", "queries: required when kind is 'sql'"),
    ("{kind: sql, url: 'sqlite:///bi.db', queries: {orders: o.sql}, tables: [orders]}", "source",
     "tables: not used when kind is 'sql'; its tables are the keys of queries"),
    ("{kind: sql, url: 'sqlite:///bi.db', queries: {order: o.sql}}", "source.queries.order.[key]", "Input should be 'users'"),
    ("{kind: sql, url: 'sqlite:///bi.db', queries: {orders: o.txt}}", "source", "queries.orders: "),
    ("{kind: csv, path: x, url: 'sqlite:///bi.db'}", "source", "url: only used when kind is 'sql'"),
])
def test_config_refuses_a_bad_sql_source_naming_the_key(tmp_path, body, key, problem):
    file = tmp_path / "opscadence.yaml"
    file.write_text(f"source: {body}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(file, environ={})
    message = str(caught.value)
    assert f"  {key}: " in message and problem in message, message
    assert "pw123" not in message


def test_source_config_sql_is_valid_with_an_env_reference():
    config = SourceConfig(kind="sql", url="mysql+pymysql://bi:${BI_PW}@h/dw", queries={"orders": "o.sql"})
    assert config.owned_tables() == ("orders",)
    assert os.environ.get("BI_PW") is None  # nothing read at load time


def test_a_failing_or_missing_query_file_is_one_line_naming_it(bi):
    url, folder = bi
    failing = source_for(url, folder, "select order_no as order_id from dw_nothing where :start < :end")
    with pytest.raises(SourceError) as caught:
        failing.read_partition(DAY)
    assert str(caught.value).startswith(f"SQL source query {folder / 'orders.sql'} failed on ")
    assert "dw_nothing" in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, UserError)  # from has_partition too: the command stops with this line

    missing = SqlQuerySource(url, {"orders": folder / "absent.sql"})
    with pytest.raises(SourceError, match=r"^SQL source query .*absent.sql cannot be read: No such file"):
        missing.has_partition(DAY)
