"""Shop exports as CSV (UTF-8 and GBK): a good batch lands, a bad batch is reported and never written."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from flows.daily import daily_brief
from opscadence import warehouse
from opscadence.demo.generator import generate_demo_frames
from tests.flows.conftest import END


@pytest.fixture(scope="module")
def frames():
    return generate_demo_frames(users=1500, days=21, seed=11, end_date=END)[0]


def write_exports(root, frames, days, *, encoding="utf-8", drop=None):
    """One folder per day, one CSV per table, as a shop backend would export them."""
    for day in days:
        folder = root / day.isoformat()
        folder.mkdir(parents=True)
        for table, frame in frames.items():
            part = frame[frame["ds"] == day].drop(columns=["ds"])
            if drop and drop[0] == table and day == drop[1]:
                part = part.drop(columns=[drop[2]])
            part.to_csv(folder / f"{table}.csv", index=False, encoding=encoding, date_format="%Y-%m-%d %H:%M:%S")


@pytest.fixture
def csv_env(tmp_path, monkeypatch, prefect_server, slack_server):
    home = tmp_path / "home"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPSCADENCE_HOME", str(home))
    monkeypatch.setenv("OPSCADENCE_LOCALE", "en")
    monkeypatch.setenv("OPSCADENCE_SOURCE__KIND", "csv")
    monkeypatch.setenv("OPSCADENCE_SOURCE__PATH", str(tmp_path / "exports"))
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    monkeypatch.setenv("SLACK_API_URL", slack_server.url)
    return tmp_path / "exports", home


def _count(engine, table, ds):
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(table.c.ds == ds)).scalar_one()


def test_gbk_exports_land_and_give_the_same_kpis(csv_env, frames):
    root, home = csv_env
    days = [END - timedelta(days=n) for n in range(7, -1, -1)]
    write_exports(root, frames, days, encoding="gbk")  # feedback and campaigns contain Chinese

    result = daily_brief(as_of=END)

    assert result["validation_passed"] is True
    engine = warehouse.create_engine(f"sqlite:///{home / 'warehouse.sqlite'}")
    events = frames["events"]
    todays = events[events["ds"] == END]
    assert _count(engine, warehouse.raw_events, END) == len(todays)
    with engine.connect() as conn:
        dau = conn.execute(sa.select(warehouse.mart_daily_kpis.c.value).where(
            warehouse.mart_daily_kpis.c.ds == END, warehouse.mart_daily_kpis.c.metric == "dau",
            warehouse.mart_daily_kpis.c.dimension == "all")).scalar_one()
        campaigns = set(conn.execute(sa.select(warehouse.raw_ad_spend.c.campaign)).scalars())
    assert dau == todays["visitor_id"].nunique()  # computed independently with pandas
    assert campaigns == set(frames["ad_spend"]["campaign"][frames["ad_spend"]["ds"].isin(days)])
    assert any(a.startswith("P1 payment_success_rate") for a in result["alerts"])
    engine.dispose()


def test_missing_column_is_reported_and_the_batch_is_not_written(csv_env, frames):
    root, home = csv_env
    days = [END - timedelta(days=n) for n in range(7, -1, -1)]
    write_exports(root, frames, days, drop=("orders", END, "amount"))

    result = daily_brief(as_of=END)

    assert result["validation_passed"] is False
    assert "orders" in result["text"] and "amount" in result["text"]
    engine = warehouse.create_engine(f"sqlite:///{home / 'warehouse.sqlite'}")
    # Nothing of the failing day's batch was written, not even its valid tables...
    for table in warehouse.RAW_TABLES.values():
        assert _count(engine, table, END) == 0
    # ...while the comparison days that passed were loaded.
    assert _count(engine, warehouse.raw_orders, END - timedelta(days=1)) > 0
    with engine.connect() as conn:
        kinds = conn.execute(sa.select(warehouse.alerts.c.kind).where(warehouse.alerts.c.ds == END)).scalars().all()
        dq = conn.execute(sa.select(warehouse.dq_results).where(
            warehouse.dq_results.c.ds == END, warehouse.dq_results.c.success.is_(False))).mappings().all()
    assert kinds == ["data_quality"]  # no KPI alert from bad data
    assert [(r["table_name"], r["column_name"]) for r in dq] == [("orders", "amount")]
    engine.dispose()


def test_unparseable_value_names_file_row_and_column(csv_env, frames):
    root, home = csv_env
    days = [END - timedelta(days=n) for n in range(7, -1, -1)]
    write_exports(root, frames, days)
    orders_csv = root / END.isoformat() / "orders.csv"
    lines = orders_csv.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[3].split(",")
    cells[header.index("amount")] = "12,5元"  # quoted below so the row keeps its shape
    cells[header.index("amount")] = '"12,5元"'
    lines[3] = ",".join(cells)
    orders_csv.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = daily_brief(as_of=END)

    assert result["validation_passed"] is False
    assert "orders.csv row 4, column amount" in result["text"]
    engine = warehouse.create_engine(f"sqlite:///{home / 'warehouse.sqlite'}")
    assert _count(engine, warehouse.raw_orders, END) == 0
    engine.dispose()
