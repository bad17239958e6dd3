"""The social vertical end to end: ``opscadence demo --vertical social``, then the daily brief.

The brief's social pack, funnel and alert are checked against numbers recomputed here with SQL
on the raw events the demo wrote (on SQLite, and PostgreSQL when configured).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from flows.daily import daily_brief
from opscadence import warehouse
from opscadence.cli import main
from tests.conftest import WAREHOUSES
from tests.flows.conftest import END, TOKEN, empty_warehouse_env

DEMO_ARGS = ["--users", "1500", "--days", "21", "--seed", "11", "--end-date", END.isoformat()]
SOCIAL_KPIS = ("DAU", "Stickiness (DAU/MAU)", "New users", "Bounce rate", "Avg interaction time per DAU", "Share rate")
SHOP_KPIS = ("GMV", "Orders", "Paying rate", "Payment success rate", "Add-to-cart conversion")


@pytest.fixture(params=WAREHOUSES)
def env(request, tmp_path, monkeypatch, slack_server, prefect_server):
    """An empty warehouse configured through the environment (English brief, local Slack)."""
    url = empty_warehouse_env(request.param, tmp_path, monkeypatch)
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_API_URL", slack_server.url)
    engine = warehouse.create_engine(url)
    yield engine
    engine.dispose()


def _funnel_by_sql(engine, ds: date) -> dict[str, int]:
    """Distinct visitors of the day, and those with each step's events."""
    query = sa.text("""
        select
            count(distinct visitor_id) as visit,
            count(distinct case when event_name in ('like', 'comment', 'follow', 'post', 'share')
                  then visitor_id end) as interact,
            count(distinct case when event_name = 'post' then visitor_id end) as post,
            count(distinct case when event_name = 'share' then visitor_id end) as share
        from raw_events where ds = :ds""")
    with engine.connect() as conn:
        return dict(conn.execute(query, {"ds": ds}).mappings().one())


def _kpi_line(text: str, label: str) -> str:
    line = next((ln for ln in text.splitlines() if ln.startswith(f"• {label}: ")), None)
    assert line is not None, f"no KPI line for {label} in:\n{text}"
    return line


def _assert_social_brief(text: str, engine) -> None:
    for label in SOCIAL_KPIS:
        line = _kpi_line(text, label)
        # a value and both changes (rates in percentage points): the comparison days hold the social pack too
        change = r"(?:[▲▼] [+-]|)\d+\.\d(?:%| pp)"
        assert re.search(rf"\(DoD {change}, WoW {change}\)$", line), line
        assert "n/a" not in line, line
    for label in SHOP_KPIS:
        assert f"• {label}:" not in text
    steps = _funnel_by_sql(engine, END)
    # visit → interact → post → share, each with its conversion from the step before
    assert f"\nVisit {steps['visit']:,}\n" in text
    assert f"\nInteract {steps['interact']:,} ({steps['interact'] / steps['visit']:.1%} conversion)\n" in text
    assert f"\nPost {steps['post']:,} ({steps['post'] / steps['interact']:.1%} conversion)\n" in text
    assert f"\nShare {steps['share']:,} ({steps['share'] / steps['post']:.1%} conversion)\n" in text
    assert "Product view" not in text and "Add to cart" not in text


def test_social_demo_then_daily_brief_shows_the_social_pack_funnel_and_share_alert(env, slack_server, capsys,
                                                                                    monkeypatch):
    monkeypatch.setenv("OPSCADENCE_VERTICAL", "social")
    assert main(["demo", "--vertical", "social", *DEMO_ARGS]) == 0
    out, err = capsys.readouterr()
    assert "demo social app written to" in out and "orders 0, payments 0" in out
    assert f"share rate more than 15% below the same weekday last week on {END}" in out
    assert "warning" not in err  # the configuration's vertical is the demo's

    result = daily_brief(as_of=END)
    assert result["validation_passed"] is True  # no orders or payments, and nothing missing
    text = result["text"]
    _assert_social_brief(text, env)
    # the planted story: sharing fails on ios; the share rate breaks the default drop rule
    assert "P2 share_rate all=all" in result["alerts"]
    with env.connect() as conn:
        rates = dict(conn.execute(sa.text("""
            select ds, 1.0 * count(distinct case when event_name = 'share' then visitor_id end)
                       / count(distinct visitor_id) as rate
            from raw_events where ds in (:end, :week) group by ds"""),
            {"end": END, "week": END - timedelta(days=7)}).all())
    rate, last_week = (rates[k] for k in sorted(rates, key=str, reverse=True))
    assert rate / last_week - 1 < -0.15
    # a rate's change in percentage points: (last week − today) × 100, e.g. (18.1% − 12.3%) = 5.8 pp
    assert (f"Share rate {rate:.1%}, down {(last_week - rate) * 100:.1f} pp vs same weekday last week "
            f"({last_week:.1%})") in text
    assert "platform=ios" in text  # the root cause names the platform
    posted = [c.body for c in slack_server.calls("chat.postMessage") if c.body["channel"] == "#ops-brief"]
    assert len(posted) == 1 and posted[0]["text"] == text


def test_switching_an_ecommerce_shop_to_social_recomputes_the_comparison_days(env, capsys, monkeypatch):
    assert main(["demo", *DEMO_ARGS]) == 0  # the e-commerce shop, computed as e-commerce
    ecommerce = daily_brief(as_of=END - timedelta(days=1), notify=False)
    assert "• GMV:" in ecommerce["text"]
    capsys.readouterr()

    monkeypatch.setenv("OPSCADENCE_VERTICAL", "social")
    result = daily_brief(as_of=END, notify=False)
    # yesterday (computed above as e-commerce) and the same weekday last week are rebuilt as social
    assert (END - timedelta(days=1)).isoformat() in result["recomputed"]
    for label in ("DAU", "Avg interaction time per DAU", "Share rate"):
        line = _kpi_line(result["text"], label)
        assert "DoD n/a" not in line and "WoW n/a" not in line, line
    assert "\nVisit " in result["text"] and "• GMV:" not in result["text"]
    with env.connect() as conn:
        steps = set(conn.execute(sa.select(warehouse.mart_daily_funnel.c.step).where(
            warehouse.mart_daily_funnel.c.ds == END - timedelta(days=1))).scalars())
    assert steps == {"visit", "interact", "post", "share"}


def test_demo_warns_when_the_configuration_reads_another_vertical_and_history_is_the_demos(env, capsys):
    assert main(["demo", "--vertical", "social", "--history", *DEMO_ARGS]) == 0
    out, err = capsys.readouterr()
    assert "history prepared: 20 days validated and computed" in out
    assert "the configuration's vertical is ecommerce, this demo's is social" in err
    assert "OPSCADENCE_VERTICAL=social" in err
    with env.connect() as conn:
        metrics = set(conn.execute(sa.select(warehouse.mart_daily_kpis.c.metric).distinct()).scalars())
    assert {"share_rate", "avg_interaction_seconds"} <= metrics and "gmv" not in metrics
