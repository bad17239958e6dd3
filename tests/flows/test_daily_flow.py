"""The daily flow end to end: demo shop → validation → KPIs → alerts → Slack (a real local HTTP server)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import sqlalchemy as sa

from flows.daily import daily_brief
from opscadence import warehouse
from opscadence.reporting.i18n import plain_text


def _posts(server, channel):
    channel_id = server.channel_id(channel)
    return [c for c in server.calls("chat.postMessage") if c.status == 200 and c.response["channel"] == channel_id]


def _table(engine, table, ds):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table).where(table.c.ds == ds))]


def _snapshot(engine):
    """Every mart/alert/brief row, for comparing the state after two runs."""
    tables = [warehouse.mart_daily_kpis, warehouse.mart_daily_funnel, warehouse.alerts, warehouse.dq_results]
    with engine.connect() as conn:
        state = {t.name: sorted(map(repr, conn.execute(sa.select(t)).all())) for t in tables}
        state["briefs"] = sorted(
            repr(r) for r in conn.execute(sa.select(warehouse.briefs.c.kind, warehouse.briefs.c.ds,
                                                    warehouse.briefs.c.channel, warehouse.briefs.c.message_ts))
        )
    return state


def test_brief_names_the_payment_breach_and_a_rerun_posts_nothing_new(shop_env, slack_server):
    shop, home, engine = shop_env
    ds = shop.payment_incident_day

    result = daily_brief(as_of=ds)

    assert result["validation_passed"] is True
    assert any(a.startswith("P1 payment_success_rate all=all") for a in result["alerts"])
    briefs = _posts(slack_server, "#ops-brief")
    assert len(briefs) == 1
    body = briefs[0].body
    blocks_json = json.dumps(body["blocks"], ensure_ascii=False)
    assert "Payment success rate" in blocks_json and "below the 95.0% threshold" in blocks_json
    assert "payment gateway" in blocks_json  # the first suggested action
    # Each firing alert is posted once to its severity's channel (all default to #ops-alerts).
    alert_posts = _posts(slack_server, "#ops-alerts")
    assert len(alert_posts) == 2
    payment = next(p.body["text"] for p in alert_posts if "Payment success rate" in p.body["text"])
    assert "P1" in payment and "payment gateway" in payment
    # The root cause: the demo concentrates the failures on alipay and iOS; the lines show one of those
    # overlapping dimensions (payment method explains most), labelled, not both added up.
    assert "payment method=alipay: " in payment and "platform=ios" not in payment
    assert any("Ad CTR" in p.body["text"] and "wechat" in p.body["text"] for p in alert_posts)
    stored = _table(engine, warehouse.briefs, ds)
    assert {r["status"] for r in stored} == {"sent"} and all(r["message_ts"] for r in stored)
    # The alert rows carry value and rule.
    alert_rows = {r["metric"]: r for r in _table(engine, warehouse.alerts, ds) if r["dimension"] == "all"}
    assert alert_rows["payment_success_rate"]["value"] < 0.95 and alert_rows["payment_success_rate"]["severity"] == "P1"
    first_state = _snapshot(engine)

    rerun = daily_brief(as_of=ds)

    # Only the link to the Prefect run differs, and that is not a content change.
    assert rerun["text"].split("View run")[0] == result["text"].split("View run")[0]
    assert len(_posts(slack_server, "#ops-brief")) == 1  # no duplicate message
    assert len(_posts(slack_server, "#ops-alerts")) == 2  # still firing: no repeat
    assert slack_server.calls("chat.update") == []  # same content: left alone
    assert _snapshot(engine) == first_state  # the same state after the rerun


def test_changed_content_updates_the_earlier_message(shop_env, slack_server, monkeypatch):
    shop, home, engine = shop_env
    ds = shop.payment_incident_day
    daily_brief(as_of=ds)
    monkeypatch.setenv("OPSCADENCE_LOCALE", "zh-CN")  # same day, different rendering

    daily_brief(as_of=ds)

    assert len(_posts(slack_server, "#ops-brief")) == 1
    updates = [c for c in slack_server.calls("chat.update") if c.status == 200]
    brief_ts = _posts(slack_server, "#ops-brief")[0].response["ts"]
    assert brief_ts in {u.body["ts"] for u in updates}
    assert any("支付成功率" in u.body["text"] for u in updates)


def test_dau_drop_day_names_the_drop(shop_env, slack_server):
    shop, home, engine = shop_env

    result = daily_brief(as_of=shop.dau_drop_day)

    assert any(a.startswith("P2 dau all=all") for a in result["alerts"])
    assert "DAU" in result["text"] and "vs same weekday last week" in result["text"]
    row = next(r for r in _table(engine, warehouse.alerts, shop.dau_drop_day) if r["metric"] == "dau")
    assert row["value"] < 0.85 * row["baseline"]


def test_without_a_token_the_brief_goes_to_the_outbox(shop_env, slack_server, monkeypatch):
    shop, home, engine = shop_env
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    ds = shop.payment_incident_day

    result = daily_brief(as_of=ds)

    assert slack_server.calls("chat.postMessage") == []
    payload = json.loads((home / "outbox" / f"daily-brief-{ds}.json").read_text(encoding="utf-8"))
    # The payload is Slack's (escaped); the terminal text and the .md file are its plain text.
    assert plain_text(payload["text"]) == result["text"]
    assert (home / "outbox" / f"daily-brief-{ds}.md").read_text(encoding="utf-8").strip() == result["text"].strip()
    assert {d["status"] for d in result["deliveries"]} == {"outbox"}


def _assert_no_kpi_alerts_and_no_numbers(engine, ds, result):
    assert result["validation_passed"] is False
    alert_rows = _table(engine, warehouse.alerts, ds)
    assert [r["kind"] for r in alert_rows] == ["data_quality"]
    assert _table(engine, warehouse.mart_daily_kpis, ds) == []  # no numbers built on bad data
    assert "Data validation failed" in result["text"]
    assert "Payment success rate" not in result["text"].split("Data validation failed")[1].split("Alerts")[0]


def test_negative_amount_and_duplicate_order_id_take_the_data_quality_path(shop_env, slack_server):
    shop, home, engine = shop_env
    ds = shop.payment_incident_day
    orders = warehouse.raw_orders
    with engine.begin() as conn:
        first, second = conn.execute(
            sa.select(orders.c.order_id).where(orders.c.ds == ds).order_by(orders.c.order_id).limit(2)
        ).scalars()
        conn.execute(orders.update().where(orders.c.order_id == first).values(amount=-5))
        conn.execute(orders.update().where(orders.c.order_id == second).values(order_id=first))

    result = daily_brief(as_of=ds)

    _assert_no_kpi_alerts_and_no_numbers(engine, ds, result)
    failed = {(r["expectation"], r["column_name"]) for r in _table(engine, warehouse.dq_results, ds) if not r["success"]}
    assert ("expect_column_values_to_be_between", "amount") in failed
    assert ("expect_column_values_to_be_unique", "order_id") in failed
    assert first in result["text"]  # a sample id names the bad row
    briefs = _posts(slack_server, "#ops-brief")
    assert len(briefs) == 1 and "Payment success rate" not in json.dumps(briefs[0].body["blocks"])


def test_timestamp_outside_its_partition_is_caught(shop_env, slack_server):
    shop, home, engine = shop_env
    ds = shop.payment_incident_day
    events = warehouse.raw_events
    with engine.begin() as conn:
        event_id = conn.execute(sa.select(events.c.event_id).where(events.c.ds == ds).limit(1)).scalar_one()
        conn.execute(events.update().where(events.c.event_id == event_id)
                     .values(event_at=datetime.combine(ds + timedelta(days=1), datetime.min.time())))

    result = daily_brief(as_of=ds)

    _assert_no_kpi_alerts_and_no_numbers(engine, ds, result)
    failed = [r for r in _table(engine, warehouse.dq_results, ds) if not r["success"]]
    assert [(r["table_name"], r["column_name"], r["unexpected_count"]) for r in failed] == [("events", "event_at", 1)]


def test_an_alert_fires_once_and_resolves_with_one_reply_in_its_thread(shop_env, slack_server):
    shop, home, engine = shop_env
    drop_day = shop.dau_drop_day

    daily_brief(as_of=drop_day)
    firing = [p for p in _posts(slack_server, "#ops-alerts") if "DAU" in p.body["text"]]
    assert len(firing) == 1 and firing[0].body.get("thread_ts") is None

    daily_brief(as_of=drop_day)  # a rerun of the same day raises nothing new
    daily_brief(as_of=drop_day + timedelta(days=1))  # DAU is back to normal the next day

    dau_posts = [p for p in _posts(slack_server, "#ops-alerts") if "DAU" in p.body["text"]]
    assert len(dau_posts) == 2
    reply = dau_posts[1]
    assert reply.body["thread_ts"] == firing[0].response["ts"]
    assert "resolved" in reply.body["text"].lower()
    with engine.connect() as conn:
        states = {r.metric: r.state for r in conn.execute(sa.select(warehouse.alert_states)).all()
                  if r.dimension == "all"}
    assert states["dau"] == "resolved"

    daily_brief(as_of=drop_day + timedelta(days=1))  # and resolving is not repeated either
    assert len([p for p in _posts(slack_server, "#ops-alerts") if "DAU" in p.body["text"]]) == 2


def test_the_seasonal_detector_catches_a_drop_no_threshold_rule_covers(shop_env, slack_server):
    shop, home, engine = shop_env
    from flows.backfill import backfill

    day = shop.end - timedelta(days=2)
    events = warehouse.raw_events
    with engine.begin() as conn:
        cart_events = conn.execute(sa.select(events.c.event_id).where(events.c.ds == day,
                                   events.c.event_name == "add_to_cart").order_by(events.c.event_id)).scalars().all()
        # Two thirds of the day's add-to-cart events are gone (say, a broken cart button).
        conn.execute(events.delete().where(events.c.event_id.in_(cart_events[: 2 * len(cart_events) // 3])))
    backfill(cadence="daily", start=shop.start, end=day - timedelta(days=1), notify=False)

    result = daily_brief(as_of=day)

    assert any(a.startswith("P2 add_to_cart_conversion all=all") for a in result["alerts"])
    row = next(r for r in _table(engine, warehouse.alerts, day) if r["metric"] == "add_to_cart_conversion")
    assert row["kind"] == "anomaly" and row["condition"] == "anomaly_drop"
    assert row["value"] < 0.6 * row["baseline"]
    assert "below the expected" in result["text"]
    firing = [p for p in _posts(slack_server, "#ops-alerts") if "Add-to-cart conversion" in p.body["text"]]
    assert len(firing) == 1
    assert "funnel: Product view → Add to cart" in firing[0].body["text"]  # the step that broke, by its label
