"""The alert lifecycle: state machine in the warehouse, notifications through a real local Slack API.

The real ``SlackWebClient`` (slack_sdk.WebClient) talks HTTP to
``tests.slack_api_server.SlackApiServer``; nothing is mocked.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from slack_sdk.http_retry import FixedValueRetryIntervalCalculator

from opscadence import warehouse
from opscadence.core.config import SlackChannels
from opscadence.delivery.outbox import send_outbox
from opscadence.alerting.lifecycle import (
    FIRING,
    PENDING,
    RESOLVED,
    Observation,
    ack,
    apply_observations,
    check_escalations,
    fingerprint,
    list_alerts,
    next_state,
    notify,
    send_reminders,
    silence,
)
from opscadence.core.model import Alert
from opscadence.delivery.slack import SlackWebClient
from tests.slack_api_server import SlackApiServer

TOKEN = "xoxb-1234-5678-LifecycleTestToken"
T0 = datetime(2026, 11, 24, 9, 0)
D1, D2, D3, D4 = "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"
MENTION = "<!subteam^S0123>"
CHANNELS = SlackChannels(alerts="#ops-alerts", p1="#p1-pager")

# Named series used by the tests.
SERIES: dict[str, dict] = {
    "psr": dict(rule_id="payment_success_rate:below:0.95:all", metric="payment_success_rate", dimension="all",
                dimension_value="all", condition="below", threshold=0.95, severity="P1"),
    "ctr": dict(rule_id="ad_ctr:below:0.01:channel", metric="ad_ctr", dimension="channel",
                dimension_value="wechat", condition="below", threshold=0.01, severity="P3"),
    "dau": dict(rule_id="dau:drop_vs_last_week:0.15:all", metric="dau", dimension="all", dimension_value="all",
                condition="drop_vs_last_week", threshold=0.15, severity="P2"),
}
BREACH_VALUE = {"psr": 0.889, "ctr": 0.004, "dau": 7000.0}
OK_VALUE = {"psr": 0.97, "ctr": 0.02, "dau": 9900.0}


def _alert(name: str, value: float | None = None, baseline: float | None = None) -> Alert:
    spec = SERIES[name]
    if baseline is None and name == "dau":
        baseline = 10000.0
    return Alert(value=value, baseline=baseline, **spec)


def _obs(name: str, breached: bool, details: tuple[str, ...] = ()) -> Observation:
    value = BREACH_VALUE[name] if breached else OK_VALUE[name]
    return Observation(alert=_alert(name, value), breached=breached, details=details)


def _fp(name: str) -> str:
    s = SERIES[name]
    return fingerprint(s["rule_id"], s["metric"], s["dimension"], s["dimension_value"])


NAMES = {_fp(n): n for n in SERIES}


@pytest.fixture
def outbox(tmp_path) -> Path:
    return tmp_path / "outbox"


@pytest.fixture
def server():
    with SlackApiServer(token=TOKEN) as srv:
        yield srv


@pytest.fixture
def client(server) -> SlackWebClient:
    return SlackWebClient(
        TOKEN, base_url=server.url, max_retries=1, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
    )


def _row(engine, name: str) -> sa.Row | None:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(warehouse.alert_states).where(warehouse.alert_states.c.fingerprint == _fp(name))
        ).first()


def _states(engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(warehouse.alert_states.c.fingerprint, warehouse.alert_states.c.state)).all()
    return {NAMES[r.fingerprint]: r.state for r in rows}


def _apply(engine, period: str, breaches: dict[str, bool], *, now: datetime | None = None, pending_periods: int = 0,
           scope: str = "daily", covered=None, locale: str = "en", details: tuple[str, ...] = (),
           latest_complete: str | None = None):
    observations = [_obs(name, b, details) for name, b in breaches.items()]
    return apply_observations(engine, observations, scope=scope, period=period, now=now or T0,
                              pending_periods=pending_periods, covered=covered, locale=locale,
                              latest_complete=latest_complete)


def _posts(server) -> list:
    return [c for c in server.calls("chat.postMessage") if c.status == 200 and c.response and c.response["ok"]]


# --- fingerprints and the pure state machine ------------------------------------------------
def test_fingerprint_is_stable_short_hex_and_distinguishes_every_key_part():
    fp = fingerprint("payment_success_rate:below:0.95:all", "payment_success_rate", "all", "all")
    assert fp == "17c425da429cb30d"  # persisted in the warehouse: must never change
    assert fingerprint("r", "m", "d", "v") == fingerprint("r", "m", "d", "v")
    variants = {
        fingerprint("r", "m", "d", "v"),
        fingerprint("r2", "m", "d", "v"),
        fingerprint("r", "m2", "d", "v"),
        fingerprint("r", "m", "d2", "v"),
        fingerprint("r", "m", "d", "v2"),
        fingerprint("r", "m", "dv", ""),  # joining must not make ("d", "v") and ("dv", "") equal
    }
    assert len(variants) == 6
    assert all(len(v) == 16 and int(v, 16) >= 0 for v in variants)


@pytest.mark.parametrize(
    "before, count, breached, pending_periods, expected",
    [
        (None, 0, True, 0, (FIRING, 1)),
        (None, 0, True, 1, (PENDING, 1)),
        (PENDING, 1, True, 1, (FIRING, 2)),
        (PENDING, 1, True, 2, (PENDING, 2)),
        (FIRING, 2, True, 1, (FIRING, 2)),
        (RESOLVED, 0, True, 0, (FIRING, 1)),
        (PENDING, 1, False, 1, (RESOLVED, 0)),
        (FIRING, 1, False, 0, (RESOLVED, 0)),
        (RESOLVED, 0, False, 0, (RESOLVED, 0)),
        (None, 0, False, 0, (None, 0)),
    ],
)
def test_next_state(before, count, breached, pending_periods, expected):
    assert next_state(before, count, breached, pending_periods) == expected


# --- transitions, table-driven --------------------------------------------------------------
# Each step: (period, {series: breached}, options, expected [(series, before, after)], expected states).
SCENARIOS = {
    "none -> firing at once (pending_periods=0)": (0, [
        (D1, {"psr": True}, {}, [("psr", None, FIRING)], {"psr": FIRING}),
    ]),
    "pending for one period, fires on the second (pending_periods=1)": (1, [
        (D1, {"psr": True}, {}, [("psr", None, PENDING)], {"psr": PENDING}),
        (D2, {"psr": True}, {}, [("psr", PENDING, FIRING)], {"psr": FIRING}),
        (D3, {"psr": True}, {}, [], {"psr": FIRING}),  # firing -> firing is not a transition
    ]),
    "pending for two periods, fires on the third (pending_periods=2)": (2, [
        (D1, {"psr": True}, {}, [("psr", None, PENDING)], {"psr": PENDING}),
        (D2, {"psr": True}, {}, [], {"psr": PENDING}),
        (D3, {"psr": True}, {}, [("psr", PENDING, FIRING)], {"psr": FIRING}),
    ]),
    "firing -> resolved": (0, [
        (D1, {"psr": True}, {}, [("psr", None, FIRING)], {"psr": FIRING}),
        (D2, {"psr": False}, {}, [("psr", FIRING, RESOLVED)], {"psr": RESOLVED}),
    ]),
    "pending -> resolved (never fired)": (1, [
        (D1, {"psr": True}, {}, [("psr", None, PENDING)], {"psr": PENDING}),
        (D2, {"psr": False}, {}, [("psr", PENDING, RESOLVED)], {"psr": RESOLVED}),
        (D3, {"psr": True}, {}, [("psr", RESOLVED, PENDING)], {"psr": PENDING}),  # the count starts over
    ]),
    "no breach, no alert": (0, [
        (D1, {"psr": False}, {}, [], {}),
    ]),
    "same period twice: no transitions (reruns)": (0, [
        (D1, {"psr": True, "ctr": True}, {}, [("psr", None, FIRING), ("ctr", None, FIRING)],
         {"psr": FIRING, "ctr": FIRING}),
        (D1, {"psr": True, "ctr": True}, {}, [], {"psr": FIRING, "ctr": FIRING}),
        (D2, {"psr": False, "ctr": True}, {}, [("psr", FIRING, RESOLVED)], {"psr": RESOLVED, "ctr": FIRING}),
        (D2, {"psr": False, "ctr": True}, {}, [], {"psr": RESOLVED, "ctr": FIRING}),
    ]),
    "same period twice while pending: counted once, changed data ignored": (1, [
        (D1, {"psr": True}, {}, [("psr", None, PENDING)], {"psr": PENDING}),
        (D1, {"psr": True}, {}, [], {"psr": PENDING}),
        (D1, {"psr": False}, {}, [], {"psr": PENDING}),
        (D2, {"psr": True}, {}, [("psr", PENDING, FIRING)], {"psr": FIRING}),
    ]),
    "earlier period: no change (backfill of an old day)": (0, [
        (D2, {"psr": True}, {}, [("psr", None, FIRING)], {"psr": FIRING}),
        (D1, {"psr": False}, {}, [], {"psr": FIRING}),
        (D1, {"psr": True, "dau": True}, {}, [], {"psr": FIRING}),  # not even a new alert
    ]),
    # latest_complete: the key of the latest day that has ended (D2 here: D3 and later are partial/future)
    "a period after the latest complete one changes nothing and does not move the clock": (0, [
        (D1, {"psr": True}, {"latest_complete": D2}, [("psr", None, FIRING)], {"psr": FIRING}),
        (D4, {}, {"latest_complete": D2}, [], {"psr": FIRING}),  # would resolve psr: refused
        (D4, {"dau": True}, {"latest_complete": D2}, [], {"psr": FIRING}),  # nor opens one
        (D2, {"psr": True, "ctr": True}, {"latest_complete": D2}, [("ctr", None, FIRING)],
         {"psr": FIRING, "ctr": FIRING}),  # D2 is still the present: evaluated
    ]),
    "a row stored for a period not yet over does not hold the clock (rows written before periods were checked)": (0, [
        (D4, {"psr": False, "ctr": True}, {}, [("ctr", None, FIRING)], {"ctr": FIRING}),  # no check: the old behaviour
        (D1, {"psr": True}, {}, [], {"ctr": FIRING}),  # the old bug: D1 is "older" than D4, nothing moves
        (D1, {"psr": True}, {"latest_complete": D2}, [("psr", None, FIRING), ("ctr", FIRING, RESOLVED)],
         {"psr": FIRING, "ctr": RESOLVED}),  # with the clock on complete days D1 is the present
    ]),
    "absent but covered -> resolved": (0, [
        (D1, {"psr": True, "ctr": True}, {}, [("psr", None, FIRING), ("ctr", None, FIRING)],
         {"psr": FIRING, "ctr": FIRING}),
        (D2, {}, {}, [("psr", FIRING, RESOLVED), ("ctr", FIRING, RESOLVED)], {"psr": RESOLVED, "ctr": RESOLVED}),
    ]),
    "absent and not covered -> unchanged": (0, [
        (D1, {"psr": True, "ctr": True}, {}, [("psr", None, FIRING), ("ctr", None, FIRING)],
         {"psr": FIRING, "ctr": FIRING}),
        (D2, {}, {"covered": lambda row: row.metric == "payment_success_rate"}, [("psr", FIRING, RESOLVED)],
         {"psr": RESOLVED, "ctr": FIRING}),
    ]),
    "absent pending, covered -> resolved silently": (1, [
        (D1, {"psr": True}, {}, [("psr", None, PENDING)], {"psr": PENDING}),
        (D2, {}, {}, [("psr", PENDING, RESOLVED)], {"psr": RESOLVED}),
    ]),
    "another scope's alerts are never resolved by absence": (0, [
        (D1, {"psr": True}, {"scope": "watch"}, [("psr", None, FIRING)], {"psr": FIRING}),
        (D2, {"dau": True}, {"scope": "daily"}, [("dau", None, FIRING)], {"psr": FIRING, "dau": FIRING}),
        (D3, {}, {"scope": "daily"}, [("dau", FIRING, RESOLVED)], {"psr": FIRING, "dau": RESOLVED}),
    ]),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_transitions(engine, name):
    pending_periods, steps = SCENARIOS[name]
    for i, (period, breaches, options, expected, states) in enumerate(steps):
        now = T0 + timedelta(days=i)
        got = _apply(engine, period, breaches, now=now, pending_periods=pending_periods, **options)
        assert sorted((NAMES[t.fingerprint], t.before, t.after) for t in got) == sorted(expected), f"step {i}"
        assert _states(engine) == states, f"step {i}"


def test_firing_row_records_the_episode_and_the_alert(engine):
    [t] = _apply(engine, D1, {"psr": True}, details=("alipay on iOS: GATEWAY_TIMEOUT",))
    assert t.alert.value == BREACH_VALUE["psr"] and t.details == ["alipay on iOS: GATEWAY_TIMEOUT"]
    row = _row(engine, "psr")
    assert (row.state, row.scope, row.severity, row.kind, row.pending_count) == (FIRING, "daily", "P1", "threshold", 1)
    assert row.first_seen_at == T0 and row.fired_at == T0 and row.resolved_at is None
    assert (row.last_period, row.last_value, row.condition, row.threshold) == (D1, 0.889, "below", 0.95)
    assert row.summary == "Payment success rate 88.9%, below the 95.0% threshold"
    assert json.loads(row.details) == ["alipay on iOS: GATEWAY_TIMEOUT"]

    later = T0 + timedelta(days=1)
    [resolved] = _apply(engine, D2, {"psr": False}, now=later)
    assert resolved.alert.value == OK_VALUE["psr"]
    row = _row(engine, "psr")
    assert row.state == RESOLVED and row.resolved_at == later and row.fired_at == T0 and row.last_value == 0.97

    # Firing again opens a new episode: acknowledgement and message bookkeeping start over.
    ack_row = _row(engine, "psr")
    assert ack_row.acked_at is None
    again = T0 + timedelta(days=2)
    [t3] = _apply(engine, D3, {"psr": True}, now=again)
    assert (t3.before, t3.after) == (RESOLVED, FIRING)
    row = _row(engine, "psr")
    assert row.fired_at == again and row.first_seen_at == again and row.resolved_at is None


def test_duplicate_observations_in_one_evaluation_are_refused(engine):
    with pytest.raises(ValueError, match="two observations of the same alert"):
        apply_observations(engine, [_obs("psr", True), _obs("psr", False)], scope="daily", period=D1, now=T0)
    assert _states(engine) == {}


# --- notification through the local Slack API -----------------------------------------------
def _notify(engine, client, transitions, outbox, *, now=T0, locale="en", mention=None):
    return notify(engine, client, transitions, channels=CHANNELS, locale=locale, outbox_dir=outbox, now=now,
                  oncall_mention=mention)


def test_firing_posts_once_to_the_severity_channel_and_resolved_replies_in_its_thread(engine, server, client, outbox):
    details = ("mostly alipay on iOS <!channel> *GATEWAY_TIMEOUT*",)
    transitions = _apply(engine, D1, {"psr": True, "ctr": True}, details=details)
    outcomes = _notify(engine, client, transitions, outbox)

    assert sorted(o.status for o in outcomes) == ["posted", "posted"]
    posts = _posts(server)
    by_channel = {p.body["channel"]: p for p in posts}
    assert sorted(by_channel) == ["#ops-alerts", "#p1-pager"]  # P1 → p1 channel, P3 → alerts fallback
    p1 = by_channel["#p1-pager"]
    text = p1.body["text"]
    assert text.startswith("🔴 P1 firing: Payment success rate 88.9%, below the 95.0% threshold")
    assert "check payment gateway errors and latency" in text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text and "＊GATEWAY" in text
    assert _fp("psr") in text
    assert "thread_ts" not in p1.body
    assert by_channel["#ops-alerts"].body["text"].startswith("🟡 P3 firing: Ad CTR (channel: wechat)")

    row = _row(engine, "psr")
    firing_ts = p1.response["ts"]
    assert (row.channel, row.channel_id, row.thread_ts) == ("#p1-pager", server.channel_id("#p1-pager"), firing_ts)

    # A rerun of the same period has no transitions; a retried notify of the same ones posts nothing.
    assert _apply(engine, D1, {"psr": True, "ctr": True}, details=details) == []
    assert _notify(engine, client, [], outbox) == []
    assert [o.status for o in _notify(engine, client, transitions, outbox)] == ["unchanged", "unchanged"]
    assert len(server.calls("chat.postMessage")) == 2
    assert server.calls("chat.update") == []

    resolved = _apply(engine, D2, {"psr": False, "ctr": True}, now=T0 + timedelta(days=1))
    assert [(t.before, t.after) for t in resolved] == [(FIRING, RESOLVED)]
    [outcome] = _notify(engine, client, resolved, outbox, now=T0 + timedelta(days=1))
    assert outcome.status == "posted"
    posts = _posts(server)
    assert len(posts) == 3
    reply = posts[-1]
    assert reply.body["channel"] == "#p1-pager"
    assert reply.body["thread_ts"] == firing_ts
    assert reply.body["text"] == "✅ resolved: Payment success rate back to 97.0%"
    assert server.messages[server.channel_id("#p1-pager")][reply.response["ts"]]["thread_ts"] == firing_ts

    # Retried: still exactly one reply.
    assert [o.status for o in _notify(engine, client, resolved, outbox, now=T0 + timedelta(days=1))] == ["unchanged"]
    assert len(server.calls("chat.postMessage")) == 3


def test_messages_in_chinese(engine, server, client, outbox):
    _notify(engine, client, _apply(engine, D1, {"psr": True}, locale="zh-CN"), outbox, locale="zh-CN")
    _notify(engine, client, _apply(engine, D2, {"psr": False}, locale="zh-CN"), outbox, locale="zh-CN")
    firing, resolved = (p.body["text"] for p in _posts(server))
    assert firing.startswith("🔴 P1 告警触发：支付成功率 88.9%，低于阈值 95.0%")
    assert "建议：排查支付网关错误与延迟" in firing
    assert resolved == "✅ 已恢复：支付成功率 回到 97.0%"
    assert _row(engine, "psr").summary == "支付成功率 88.9%，低于阈值 95.0%"


def test_pending_and_silently_resolved_alerts_post_nothing(engine, server, client, outbox):
    first = _apply(engine, D1, {"psr": True}, pending_periods=1)
    assert [(t.before, t.after) for t in first] == [(None, PENDING)]
    assert _notify(engine, client, first, outbox) == []
    back = _apply(engine, D2, {"psr": False}, pending_periods=1)
    assert [(t.before, t.after) for t in back] == [(PENDING, RESOLVED)]
    assert _notify(engine, client, back, outbox) == []
    assert server.calls() == []


def test_silence_suppresses_firing_and_resolved(engine, server, client, outbox):
    _apply(engine, D1, {"psr": True}, pending_periods=1)
    silence(engine, _fp("psr"), until=T0 + timedelta(days=7), now=T0)

    fired = _apply(engine, D2, {"psr": True}, pending_periods=1, now=T0 + timedelta(days=1))
    assert [(t.before, t.after) for t in fired] == [(PENDING, FIRING)]  # the state change is recorded
    assert _notify(engine, client, fired, outbox, now=T0 + timedelta(days=1)) == []
    assert check_escalations(engine, client, channels=CHANNELS, oncall_mention=MENTION, locale="en",
                             outbox_dir=outbox, now=T0 + timedelta(days=1, hours=3)) == []
    resolved = _apply(engine, D3, {"psr": False}, pending_periods=1, now=T0 + timedelta(days=2))
    assert [(t.before, t.after) for t in resolved] == [(FIRING, RESOLVED)]
    assert _notify(engine, client, resolved, outbox, now=T0 + timedelta(days=2)) == []
    assert server.calls() == []
    assert _row(engine, "psr").state == RESOLVED


def test_alert_silenced_while_firing_resolves_without_a_reply(engine, server, client, outbox):
    _notify(engine, client, _apply(engine, D1, {"psr": True}), outbox)
    assert len(_posts(server)) == 1
    silence(engine, _fp("psr"), until=T0 + timedelta(days=3), now=T0 + timedelta(hours=1))
    resolved = _apply(engine, D2, {"psr": False}, now=T0 + timedelta(days=1))
    assert _notify(engine, client, resolved, outbox, now=T0 + timedelta(days=1)) == []
    assert len(server.calls("chat.postMessage")) == 1


def test_without_a_token_messages_go_to_the_outbox_and_replies_find_the_thread_later(engine, server, client, outbox):
    [outcome] = _notify(engine, None, _apply(engine, D1, {"psr": True}), outbox)
    assert outcome.status == "outbox" and outcome.ts is None
    payload = json.loads(outcome.path.read_text(encoding="utf-8"))
    assert payload["channel"] == "#p1-pager" and payload["text"].startswith("🔴 P1 firing:")
    assert outcome.path.name.startswith(f"alert-{_fp('psr')}") and outcome.path.name.endswith(f"-{D1}.json")
    row = _row(engine, "psr")
    assert (row.channel, row.thread_ts) == ("#p1-pager", None)
    assert server.calls() == []

    # The outbox is sent later; the resolved reply then lands in that message's thread.
    [sent] = send_outbox(engine, client, outbox)
    assert sent.status == "posted"
    resolved = _apply(engine, D2, {"psr": False}, now=T0 + timedelta(days=1))
    [reply] = _notify(engine, client, resolved, outbox, now=T0 + timedelta(days=1))
    assert reply.status == "posted"
    assert _posts(server)[-1].body["thread_ts"] == sent.ts


def test_without_a_token_the_resolved_reply_goes_to_the_outbox_unthreaded(engine, outbox):
    _notify(engine, None, _apply(engine, D1, {"psr": True}), outbox)
    resolved = _apply(engine, D2, {"psr": False}, now=T0 + timedelta(days=1))
    [outcome] = _notify(engine, None, resolved, outbox, now=T0 + timedelta(days=1))
    assert outcome.status == "outbox"
    payload = json.loads(outcome.path.read_text(encoding="utf-8"))
    assert payload["text"] == "✅ resolved: Payment success rate back to 97.0%"
    assert "thread_ts" not in payload
    assert len(list(outbox.glob("*.json"))) == 2


# --- escalation and reminders ---------------------------------------------------------------
def _escalate(engine, client, outbox, minutes: int):
    return check_escalations(engine, client, channels=CHANNELS, oncall_mention=MENTION, locale="en",
                             outbox_dir=outbox, now=T0 + timedelta(minutes=minutes), ack_minutes=30,
                             resolve_minutes=120)


def test_unacked_p1_escalates_once_then_once_more_when_unresolved(engine, server, client, outbox):
    _notify(engine, client, _apply(engine, D1, {"psr": True}), outbox, mention=MENTION)
    [firing] = _posts(server)
    firing_ts = firing.response["ts"]
    assert firing.body["text"].startswith(f"{MENTION} 🔴 P1 firing:")  # a P1 pages when it fires

    assert _escalate(engine, client, outbox, 29) == []
    [outcome] = _escalate(engine, client, outbox, 31)
    assert outcome.status == "posted"
    escalation = _posts(server)[-1]
    assert escalation.body["thread_ts"] == firing_ts and escalation.body["channel"] == "#p1-pager"
    assert escalation.body["text"].startswith(f"{MENTION} 🚨 P1 unacknowledged for 30 min: Payment success rate")
    assert _row(engine, "psr").escalated_at == T0 + timedelta(minutes=31)
    assert _escalate(engine, client, outbox, 32) == []
    assert _escalate(engine, client, outbox, 119) == []
    assert len(server.calls("chat.postMessage")) == 2

    [outcome] = _escalate(engine, client, outbox, 121)
    resolve_escalation = _posts(server)[-1]
    assert resolve_escalation.body["thread_ts"] == firing_ts
    assert resolve_escalation.body["text"].startswith(f"{MENTION} 🚨 P1 not resolved within 2 h:")
    assert _escalate(engine, client, outbox, 125) == []
    assert _escalate(engine, client, outbox, 600) == []
    assert len(server.calls("chat.postMessage")) == 3


def test_ack_before_the_deadline_prevents_the_ack_escalation(engine, server, client, outbox):
    _notify(engine, client, _apply(engine, D1, {"psr": True}), outbox)
    acked = ack(engine, _fp("psr"), by="alice", now=T0 + timedelta(minutes=10))
    assert acked["acked"] is True and acked["acked_by"] == "alice"
    assert _escalate(engine, client, outbox, 31) == []
    assert _escalate(engine, client, outbox, 100) == []
    assert len(server.calls("chat.postMessage")) == 1
    assert _row(engine, "psr").escalated_at is None
    # Acknowledged but still firing after 2 h: the resolve escalation still happens, once.
    [outcome] = _escalate(engine, client, outbox, 121)
    assert "not resolved within 2 h" in _posts(server)[-1].body["text"]
    assert _escalate(engine, client, outbox, 130) == []


def test_first_check_after_both_deadlines_sends_one_escalation(engine, server, client, outbox):
    _notify(engine, client, _apply(engine, D1, {"psr": True}), outbox)
    outcomes = _escalate(engine, client, outbox, 125)
    assert len(outcomes) == 1
    assert "not resolved within 2 h" in _posts(server)[-1].body["text"]
    row = _row(engine, "psr")
    assert row.escalated_at is not None and row.resolve_escalated_at is not None
    assert _escalate(engine, client, outbox, 200) == []


def test_p2_and_resolved_p1_never_escalate(engine, server, client, outbox):
    _notify(engine, client, _apply(engine, D1, {"dau": True, "ctr": True, "psr": True}), outbox)
    _notify(engine, client, _apply(engine, D2, {"dau": True, "ctr": True, "psr": False},
                                   now=T0 + timedelta(minutes=20)), outbox, now=T0 + timedelta(minutes=20))
    posted = len(server.calls("chat.postMessage"))
    assert posted == 4  # three firing messages and one resolved reply
    assert _escalate(engine, client, outbox, 31) == []
    assert _escalate(engine, client, outbox, 24 * 60) == []
    assert len(server.calls("chat.postMessage")) == posted


def test_daily_reminder_once_per_day_in_the_thread(engine, server, client, outbox):
    _notify(engine, client, _apply(engine, D1, {"dau": True}), outbox)
    firing_ts = _posts(server)[0].response["ts"]

    def remind(day: date, enabled: bool = True):
        return send_reminders(engine, client, today=day, channels=CHANNELS, locale="en", outbox_dir=outbox,
                              now=datetime.combine(day, datetime.min.time()) + timedelta(hours=9), enabled=enabled,
                              timezone=ZoneInfo("Asia/Shanghai"))

    assert remind(date(2026, 11, 24)) == []  # fired today: the firing message is the reminder
    assert remind(date(2026, 11, 25), enabled=False) == []
    [outcome] = remind(date(2026, 11, 25))
    reminder = _posts(server)[-1]
    assert reminder.body["thread_ts"] == firing_ts and reminder.body["channel"] == "#ops-alerts"
    # Fired 09:00 UTC (stored naive UTC), shown in the shop's time: 09:00 + 8 h = 17:00 UTC+08:00.
    assert reminder.body["text"].startswith("⏰ still firing (since 2026-11-24 17:00 UTC+08:00): DAU")
    assert remind(date(2026, 11, 25)) == []
    assert _row(engine, "dau").last_reminder_on == date(2026, 11, 25)
    assert len(remind(date(2026, 11, 26))) == 1
    assert len(server.calls("chat.postMessage")) == 3


# --- list, ack, silence ---------------------------------------------------------------------
def test_list_alerts(engine):
    _apply(engine, D1, {"psr": True, "ctr": True, "dau": True})
    _apply(engine, D2, {"psr": True, "ctr": True, "dau": False}, now=T0 + timedelta(days=1))
    everything = list_alerts(engine)
    assert [a["fingerprint"] for a in everything] == [_fp("psr"), _fp("ctr"), _fp("dau")]
    firing = list_alerts(engine, state="firing")
    assert [a["metric"] for a in firing] == ["payment_success_rate", "ad_ctr"]
    ctr = firing[1]
    assert ctr["dimension"] == "channel=wechat" and ctr["severity"] == "P3" and ctr["since"] == T0
    assert ctr["acked"] is False and ctr["silenced_until"] is None
    [resolved] = list_alerts(engine, state="resolved")
    assert resolved["metric"] == "dau" and resolved["since"] == T0 + timedelta(days=1)
    with pytest.raises(ValueError, match="unknown state"):
        list_alerts(engine, state="open")


def test_ack_accepts_a_unique_prefix_and_refuses_unknown_short_or_ambiguous_ones(engine):
    _apply(engine, D1, {"psr": True})
    result = ack(engine, _fp("psr")[:8].upper(), by="alice", now=T0)
    assert result["fingerprint"] == _fp("psr") and result["acked"] is True
    # A second ack keeps the first one.
    assert ack(engine, _fp("psr"), by="bob", now=T0 + timedelta(minutes=5))["acked_by"] == "alice"
    assert _row(engine, "psr").acked_at == T0

    with pytest.raises(ValueError, match="no alert with fingerprint 'ffffffffffffffff'"):
        ack(engine, "ffffffffffffffff", by="alice", now=T0)
    with pytest.raises(ValueError, match="no alert with fingerprint"):
        ack(engine, "not-a-fingerprint", by="alice", now=T0)
    with pytest.raises(ValueError, match="at least 6 characters"):
        ack(engine, _fp("psr")[:5], by="alice", now=T0)

    base = {c: v for c, v in _row(engine, "psr")._mapping.items() if c != "fingerprint"}
    with engine.begin() as conn:
        conn.execute(warehouse.alert_states.insert(), [
            {**base, "fingerprint": "abcdef0000000001", "acked_at": None, "acked_by": None},
            {**base, "fingerprint": "abcdef0000000002", "acked_at": None, "acked_by": None},
        ])
    with pytest.raises(ValueError, match="matches 2 alerts"):
        ack(engine, "abcdef", by="alice", now=T0)
    assert ack(engine, "abcdef0000000002", by="carol", now=T0)["acked_by"] == "carol"


def test_ack_of_a_resolved_alert_is_refused(engine):
    _apply(engine, D1, {"psr": True})
    _apply(engine, D2, {"psr": False}, now=T0 + timedelta(days=1))
    with pytest.raises(ValueError, match="resolved"):
        ack(engine, _fp("psr"), by="alice", now=T0 + timedelta(days=1))


def test_silence_must_end_in_the_future(engine):
    _apply(engine, D1, {"psr": True})
    with pytest.raises(ValueError, match="not in the future"):
        silence(engine, _fp("psr"), until=T0 - timedelta(minutes=1), now=T0)
    with pytest.raises(ValueError, match="not in the future"):
        silence(engine, _fp("psr"), until=T0, now=T0)
    assert _row(engine, "psr").silenced_until is None
    with pytest.raises(ValueError, match="no alert with fingerprint"):
        silence(engine, "0123456789abcdef", until=T0 + timedelta(hours=1), now=T0)
    result = silence(engine, _fp("psr")[:6], until=T0 + timedelta(hours=4), now=T0)
    assert result["silenced_until"] == T0 + timedelta(hours=4)
    assert _row(engine, "psr").silenced_until == T0 + timedelta(hours=4)
