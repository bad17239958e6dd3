"""A shop whose exports have no events: the daily flow computes the order KPIs the exports allow
and the brief in Slack says which KPIs are unavailable and why."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from flows.daily import daily_brief
from opscadence import warehouse
from tests.flows.conftest import END
from tests.flows.test_csv_exports import frames, write_exports  # noqa: F401 - the module's fixture

NO_EVENTS = ["users", "orders", "payments", "ad_spend", "feedback"]


@pytest.fixture
def orders_only_env(tmp_path, monkeypatch, prefect_server, slack_server):
    home = tmp_path / "home"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPSCADENCE_HOME", str(home))
    monkeypatch.setenv("OPSCADENCE_LOCALE", "en")
    monkeypatch.setenv("OPSCADENCE_SOURCES", json.dumps(
        [{"kind": "csv", "path": str(tmp_path / "exports"), "tables": NO_EVENTS}]))
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    monkeypatch.setenv("SLACK_API_URL", slack_server.url)
    return tmp_path / "exports", home


def test_exports_without_events_give_order_kpis_and_say_what_is_unavailable(orders_only_env, frames, slack_server):
    root, home = orders_only_env
    days = [END - timedelta(days=n) for n in range(7, -1, -1)]
    write_exports(root, {t: f for t, f in frames.items() if t in NO_EVENTS}, days)  # no events.csv at all

    result = daily_brief(as_of=END)

    assert result["validation_passed"] is True
    engine = warehouse.create_engine(f"sqlite:///{home / 'warehouse.sqlite'}")
    k = warehouse.mart_daily_kpis
    with engine.connect() as conn:
        overall = dict(conn.execute(sa.select(k.c.metric, k.c.value).where(k.c.ds == END, k.c.dimension == "all")).all())
        events_landed = conn.execute(sa.select(sa.func.count()).select_from(warehouse.raw_events)).scalar_one()
    engine.dispose()
    orders = frames["orders"]
    paid = orders[(orders["ds"] == END) & orders["status"].isin(["paid", "refunded"])]
    assert overall["orders"] == len(paid)  # counted independently with pandas
    assert overall["gmv"] == pytest.approx(float(paid["amount"].astype(float).sum()))
    assert "dau" not in overall and "paying_rate" not in overall
    assert events_landed == 0

    posted = [c.body for c in slack_server.calls("chat.postMessage") if c.status == 200]
    brief = next(b for b in posted if b.get("text", "").startswith("📊 Daily brief"))
    text = brief["text"]
    assert "Not available: DAU, Stickiness (DAU/MAU), Paying rate, Bounce rate, Add-to-cart conversion, " \
           "the funnel (no source provides events)" in text
    # Yesterday's export was validated and computed as the baseline: orders have a day-over-day change.
    orders_line = next(line for line in text.splitlines() if line.startswith("• Orders"))
    assert "DoD n/a" not in orders_line and "WoW n/a" not in orders_line, orders_line
    assert "Funnel" not in text
