"""The intraday watch: P1 on the first run after bad data lands, one resolve reply, rate floor, late data."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from flows.watch import watch
from opscadence import warehouse
from tests.flows.conftest import TOKEN

TODAY = date(2026, 11, 25)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute)


def local(hour: int, minute: int = 0) -> datetime:
    return at(TODAY, hour, minute).replace(tzinfo=SHANGHAI)


class Shop:
    """Writes raw rows for today and the same weekday last week, spread evenly over hours."""

    def __init__(self, engine):
        self.engine = engine
        self.n = 0

    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n:07d}"

    def payments(self, day, start_hour, end_hour, ok, failed):
        total = ok + failed
        span = (end_hour - start_hour) * 3600
        rows = [{"ds": day, "attempt_id": self._id("p"), "order_id": self._id("o"),
                 "attempt_at": at(day, start_hour) + timedelta(seconds=span * i / total),
                 "status": "success" if i % total < ok else "failed", "method": "alipay", "platform": "ios",
                 "error_code": None} for i in range(total)]
        self._insert(warehouse.raw_payments, rows)

    def orders(self, day, count, end_hour=14):
        rows = [{"ds": day, "order_id": self._id("o"), "user_id": f"u{i}", "amount": 10,
                 "order_at": at(day, 0) + timedelta(seconds=end_hour * 3600 * i / count), "status": "paid",
                 "platform": "ios", "channel": "direct"} for i in range(count)]
        self._insert(warehouse.raw_orders, rows)

    def events(self, day, start_hour, end_hour, count):
        span = (end_hour - start_hour) * 3600
        rows = [{"ds": day, "event_id": self._id("e"), "event_at": at(day, start_hour) + timedelta(seconds=span * i / count),
                 "visitor_id": f"v{i}", "user_id": None, "session_id": f"s{i}", "event_name": "page_view",
                 "page": "/", "platform": "ios", "utm_source": None, "utm_medium": None, "utm_campaign": None,
                 "engagement_seconds": 5.0} for i in range(count)]
        self._insert(warehouse.raw_events, rows)

    def feedback(self, day, hour, text):
        self._insert(warehouse.raw_feedback, [{"ds": day, "feedback_id": self._id("f"), "source": "app_review",
                                                "created_at": at(day, hour), "rating": 1, "text": text,
                                                "user_id": None}])

    def _insert(self, table, rows):
        with self.engine.begin() as conn:
            conn.execute(table.insert(), rows)


@pytest.fixture
def watch_env(tmp_path, monkeypatch, prefect_server, slack_server):
    home = tmp_path / "home"
    url = f"sqlite:///{home / 'warehouse.sqlite'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPSCADENCE_HOME", str(home))
    monkeypatch.setenv("OPSCADENCE_LOCALE", "en")
    monkeypatch.setenv("OPSCADENCE_SLACK__ONCALL_MENTION", "<!subteam^S0ONCALL>")
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_API_URL", slack_server.url)
    engine = warehouse.create_engine(url)
    warehouse.init_schema(engine)
    shop = Shop(engine)
    last_week = TODAY - timedelta(days=7)
    for day in (TODAY, last_week):
        shop.orders(day, 100)
        shop.events(day, 0, 23, 2000)
    yield shop, engine
    engine.dispose()


def posts(server):
    return [c for c in server.calls("chat.postMessage") if c.status == 200]


def test_payment_failures_page_once_and_resolve_with_one_reply(watch_env, slack_server):
    shop, engine = watch_env
    shop.payments(TODAY, 0, 14, ok=340, failed=60)  # 85% of 400 attempts
    shop.feedback(TODAY, 13, "支付失败了三次，联系我 13812345678")

    first = watch(as_of=local(14, 0))

    assert set(first["breached"]) == {"watch:payment_success_rate", "watch:urgent_feedback"}
    sent = posts(slack_server)
    assert len(sent) == 2 and {p.body["channel"] for p in sent} == {"#ops-alerts"}
    payment = next(p for p in sent if "Payment success rate" in p.body["text"])
    assert "P1" in payment.body["text"] and "340/400" in payment.body["text"]
    urgent = next(p for p in sent if "urgent user feedback" in p.body["text"])
    assert "13812345678" not in urgent.body["text"] and "[phone]" in urgent.body["text"]

    watch(as_of=local(14, 0))  # the same run again: nothing new
    assert len(posts(slack_server)) == 2

    shop.payments(TODAY, 14, 15, ok=3000, failed=0)  # the gateway recovered
    later = watch(as_of=local(15, 0))

    assert "watch:payment_success_rate" not in later["breached"]
    in_thread = [p for p in posts(slack_server) if p.body.get("thread_ts") == payment.response["ts"]]
    assert len(in_thread) == 1 and "resolved" in in_thread[0].body["text"].lower()
    assert not any("firing" in p.body["text"] for p in posts(slack_server)[2:])  # nothing fired again


def test_low_volume_failures_page_nobody(watch_env, slack_server):
    shop, engine = watch_env
    shop.payments(TODAY, 1, 3, ok=17, failed=3)  # 3 failures out of 20 at night

    result = watch(as_of=local(3, 0))

    assert result["breached"] == [] and posts(slack_server) == []


def test_orders_far_below_last_week_page(watch_env, slack_server):
    shop, engine = watch_env
    with engine.begin() as conn:  # two thirds of today's orders never happened
        ids = conn.execute(sa.select(warehouse.raw_orders.c.order_id).where(warehouse.raw_orders.c.ds == TODAY)
                           .order_by(warehouse.raw_orders.c.order_id)).scalars().all()
        conn.execute(warehouse.raw_orders.delete().where(warehouse.raw_orders.c.order_id.in_(ids[:67])))

    result = watch(as_of=local(14, 0))

    assert result["breached"] == ["watch:orders_so_far"]
    assert result["numbers"]["orders_so_far"] == 33 and result["numbers"]["orders_last_week"] == 100
    assert "Orders 33, down 67.0% vs same weekday last week (100)" in posts(slack_server)[0].body["text"]


def test_late_data_raises_one_data_quality_alert_and_no_kpi_alert(watch_env, slack_server):
    shop, engine = watch_env
    with engine.begin() as conn:  # today's events stop at 12:00
        conn.execute(warehouse.raw_events.delete().where(warehouse.raw_events.c.ds == TODAY,
                                                         warehouse.raw_events.c.event_at >= at(TODAY, 12)))
        conn.execute(warehouse.raw_orders.delete().where(warehouse.raw_orders.c.ds == TODAY))  # and so do orders

    result = watch(as_of=local(14, 0))

    assert result["data_late"] is True
    assert result["breached"] == ["watch:data_late"]  # not the orders drop: the data is late, not the shop
    assert len(posts(slack_server)) == 1 and "Data quality" in posts(slack_server)[0].body["text"]


def test_unacknowledged_p1_escalates_once_at_its_deadline(watch_env, slack_server):
    shop, engine = watch_env
    shop.payments(TODAY, 0, 14, ok=340, failed=60)
    watch(as_of=local(14, 0))
    assert len(posts(slack_server)) == 1

    watch(as_of=local(14, 15))  # before the 30-minute deadline: nothing
    assert len(posts(slack_server)) == 1
    watch(as_of=local(14, 31))
    watch(as_of=local(14, 45))

    sent = posts(slack_server)
    assert len(sent) == 2
    assert "<!subteam^S0ONCALL>" in sent[1].body["text"] and sent[1].body["thread_ts"] == sent[0].response["ts"]


def test_run_watch_command(watch_env, slack_server, capsys):
    from opscadence.cli import main

    shop, engine = watch_env
    shop.payments(TODAY, 0, 14, ok=340, failed=60)

    assert main(["run", "watch", "--at", "2026-11-25T14:00"]) == 0

    out = capsys.readouterr().out
    assert "intraday watch at 2026-11-25T14:00" in out
    assert "payment_attempts 400" in out and "breached: watch:payment_success_rate" in out
    assert "watch:payment_success_rate: None -> firing" in out
    assert len(posts(slack_server)) == 1
