"""Slack delivery through a real local HTTP server speaking the Slack Web API.

The real ``SlackWebClient`` (slack_sdk.WebClient + slack-sdk's retry handlers) talks HTTP
to ``tests.slack_api_server.SlackApiServer``; nothing is mocked.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from slack_sdk import WebClient
from slack_sdk.http_retry import FixedValueRetryIntervalCalculator

from opscadence import warehouse
from opscadence.delivery.outbox import (
    NO_CLIENT_ERROR,
    content_hash,
    deliver,
    outbox_paths,
    send_outbox,
)
from opscadence.core.model import Message
from opscadence.delivery.slack import (
    RecordingSlackClient,
    SlackClient,
    SlackDeliveryError,
    SlackWebClient,
    client_from_env,
    slack_api_url,
)
from tests.slack_api_server import SlackApiServer

TOKEN = "xoxb-1234-5678-SeCrEtToKeNvalue"
DS = date(2024, 5, 14)
KIND = "daily"
CHANNEL = "#ops-brief"


def _message(text: str = "Daily brief 2024-05-14: GMV 12,345 (+4%)") -> Message:
    return Message(
        text=text,
        blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": "Daily brief"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        ],
    )


@pytest.fixture
def server():
    with SlackApiServer(token=TOKEN) as srv:
        yield srv


@pytest.fixture
def outbox(tmp_path) -> Path:
    return tmp_path / "outbox"


def _client(srv: SlackApiServer, token: str = TOKEN, max_retries: int = 2) -> SlackWebClient:
    # Fixed tiny back-off for 5xx/connection retries; 429 still sleeps for Retry-After.
    return SlackWebClient(
        token,
        base_url=srv.url,
        max_retries=max_retries,
        interval_calculator=FixedValueRetryIntervalCalculator(0.01),
    )


def _rows(engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.select(warehouse.briefs).order_by(warehouse.briefs.c.channel)).all()


def _deliver(engine, client, outbox, message=None, channel=CHANNEL, **kw):
    return deliver(
        engine, client, kind=KIND, ds=DS, channel=channel, message=message or _message(), outbox_dir=outbox, **kw
    )


# --- the happy path and idempotent reruns --------------------------------------------------
def test_first_delivery_posts_once_and_records_the_channel_id(server, engine, outbox):
    outcome = _deliver(engine, _client(server), outbox)

    assert outcome.status == "posted" and outcome.error is None and outcome.path is None
    calls = server.calls()
    assert [c.method for c in calls] == ["chat.postMessage"]
    body = calls[0].body
    assert body["channel"] == CHANNEL
    assert body["text"] == _message().text
    assert body["blocks"] == _message().blocks
    assert body["unfurl_links"] is False and body["unfurl_media"] is False
    assert calls[0].headers["authorization"] == f"Bearer {TOKEN}"

    channel_id = server.channel_id(CHANNEL)
    assert outcome.ts in server.messages[channel_id]
    [row] = _rows(engine)
    assert (row.kind, row.ds, row.channel, row.status) == (KIND, DS, CHANNEL, "sent")
    assert (row.channel_id, row.message_ts) == (channel_id, outcome.ts)
    assert row.content_hash == content_hash(_message())
    assert json.loads(row.payload) == {"channel": CHANNEL, "text": _message().text, "blocks": _message().blocks}
    assert not outbox.exists() or not any(outbox.iterdir())


def test_rerun_with_same_content_calls_nothing(server, engine, outbox):
    client = _client(server)
    first = _deliver(engine, client, outbox)
    second = _deliver(engine, client, outbox)

    assert second.status == "unchanged" and second.ts == first.ts
    assert len(server.requests) == 1
    assert len(_rows(engine)) == 1


def test_rerun_with_changed_content_updates_the_same_message(server, engine, outbox):
    client = _client(server)
    first = _deliver(engine, client, outbox)
    changed = _message("Daily brief 2024-05-14: GMV 12,400 (+5%) [late orders]")
    second = _deliver(engine, client, outbox, message=changed)

    assert second.status == "updated" and second.ts == first.ts
    assert [c.method for c in server.calls()] == ["chat.postMessage", "chat.update"]
    update = server.calls("chat.update")[0].body
    channel_id = server.channel_id(CHANNEL)
    assert update["channel"] == channel_id  # the id from postMessage, not the name
    assert update["ts"] == first.ts
    assert update["text"] == changed.text and update["blocks"] == changed.blocks
    assert server.messages[channel_id][first.ts]["text"] == changed.text
    assert len(server.messages[channel_id]) == 1
    [row] = _rows(engine)
    assert row.content_hash == content_hash(changed) and row.message_ts == first.ts and row.status == "sent"

    third = _deliver(engine, client, outbox, message=changed)
    assert third.status == "unchanged" and len(server.requests) == 2


# --- slack-sdk's retry handlers against real HTTP failures ---------------------------------
def test_rate_limited_then_success_is_delivered_once(server, engine, outbox):
    server.fail_next("chat.postMessage", status=429, retry_after=1)
    outcome = _deliver(engine, _client(server), outbox)

    assert outcome.status == "posted"
    calls = server.calls("chat.postMessage")
    assert [c.status for c in calls] == [429, 200]
    assert sum(len(m) for m in server.messages.values()) == 1
    assert _rows(engine)[0].status == "sent"


def test_server_errors_twice_then_success_is_delivered(server, engine, outbox):
    server.fail_next("chat.postMessage", status=502)
    server.fail_next("chat.postMessage", status=503)
    outcome = _deliver(engine, _client(server, max_retries=3), outbox)

    assert outcome.status == "posted"
    # 502 is retried too (slack-sdk's own handler stops at 500/503).
    assert [c.status for c in server.calls("chat.postMessage")] == [502, 503, 200]
    assert sum(len(m) for m in server.messages.values()) == 1


def test_persistent_server_error_goes_to_the_outbox_then_send_outbox_posts_once(server, engine, outbox):
    server.fail_next("chat.postMessage", status=500, times=50)
    client = _client(server, max_retries=2)
    message = _message()
    outcome = _deliver(engine, client, outbox, message=message)

    assert outcome.status == "outbox"
    assert "500" in outcome.error and TOKEN not in outcome.error
    assert len(server.calls("chat.postMessage")) == 3  # first try + 2 retries
    json_path, md_path = outbox_paths(outbox, KIND, DS, CHANNEL)
    assert outcome.path == json_path
    assert json.loads(json_path.read_text(encoding="utf-8")) == {
        "channel": CHANNEL,
        "text": message.text,
        "blocks": message.blocks,
    }
    assert md_path.read_text(encoding="utf-8") == message.text + "\n"
    [row] = _rows(engine)
    assert row.status == "pending" and row.message_ts is None and row.content_hash == content_hash(message)

    # A rerun while Slack is still down rewrites the same files, keeps one row.
    again = _deliver(engine, client, outbox, message=message)
    assert again.status == "outbox"
    assert sorted(p.name for p in outbox.iterdir()) == [f"{KIND}-{DS}.json", f"{KIND}-{DS}.md"]
    assert len(_rows(engine)) == 1

    server.clear_faults()
    before = len(server.requests)
    outcomes = send_outbox(engine, client, outbox)

    assert [o.status for o in outcomes] == ["posted"]
    new_calls = server.requests[before:]
    assert [(c.method, c.status) for c in new_calls] == [("chat.postMessage", 200)]
    assert new_calls[0].body["blocks"] == message.blocks
    assert not json_path.exists() and not md_path.exists()
    [row] = _rows(engine)
    assert row.status == "sent" and row.message_ts == outcomes[0].ts

    assert send_outbox(engine, client, outbox) == []
    assert len(server.requests) == before + 1


def test_failed_update_stays_pending_and_send_outbox_updates_instead_of_duplicating(server, engine, outbox):
    client = _client(server, max_retries=1)
    first = _deliver(engine, client, outbox)
    server.fail_next("chat.update", status=500, times=10)
    changed = _message("corrected brief")
    outcome = _deliver(engine, client, outbox, message=changed)

    assert outcome.status == "outbox" and outcome.ts == first.ts
    [row] = _rows(engine)
    assert row.status == "pending" and row.message_ts == first.ts  # where the message is, is kept

    server.clear_faults()
    [sent] = send_outbox(engine, client, outbox)
    assert sent.status == "updated" and sent.ts == first.ts
    assert len(server.calls("chat.postMessage")) == 1
    assert server.messages[server.channel_id(CHANNEL)][first.ts]["text"] == "corrected brief"


def test_deleted_message_is_posted_again(server, engine, outbox):
    client = _client(server)
    first = _deliver(engine, client, outbox)
    server.reset()  # the server forgets the message: chat.update answers message_not_found
    outcome = _deliver(engine, client, outbox, message=_message("v2"))

    assert outcome.status == "posted" and outcome.ts != first.ts
    assert [(c.method, c.response["ok"]) for c in server.calls()] == [("chat.update", False), ("chat.postMessage", True)]
    assert _rows(engine)[0].message_ts == outcome.ts


def test_several_channels_share_the_kind_ds_files_but_not_the_rows(server, engine, outbox):
    for channel in ("#product", "#tech"):
        outcome = _deliver(engine, None, outbox, channel=channel)
        assert outcome.status == "outbox"
    json_path, md_path = outbox_paths(outbox, KIND, DS)
    assert sorted(p.name for p in outbox.iterdir()) == [json_path.name, md_path.name]
    payload = json.loads(json_path.read_text(encoding="utf-8"))
    assert payload["channels"] == ["#product", "#tech"] and payload["text"] == _message().text
    assert [(r.channel, r.status) for r in _rows(engine)] == [("#product", "pending"), ("#tech", "pending")]

    outcomes = send_outbox(engine, _client(server), outbox)
    assert sorted(o.channel for o in outcomes if o.status == "posted") == ["#product", "#tech"]
    assert len(server.calls("chat.postMessage")) == 2
    assert not json_path.exists() and not md_path.exists()


def test_thread_ts_is_passed_and_kept_in_the_outbox(server, engine, outbox):
    client = _client(server)
    parent = _deliver(engine, client, outbox)
    reply = deliver(engine, None, kind="alerts", ds=DS, channel=CHANNEL, message=_message("P1 alert"),
                    outbox_dir=outbox, thread_ts=parent.ts)
    assert json.loads(reply.path.read_text(encoding="utf-8"))["thread_ts"] == parent.ts

    [sent] = send_outbox(engine, client, outbox)
    assert sent.kind == "alerts" and sent.status == "posted"
    assert server.calls("chat.postMessage")[-1].body["thread_ts"] == parent.ts
    assert server.messages[server.channel_id(CHANNEL)][sent.ts]["thread_ts"] == parent.ts


# --- no token, bad token, no server: outbox, and the token never leaks ----------------------
def test_no_token_means_no_client_and_the_outbox(engine, outbox):
    assert client_from_env({}) is None
    assert client_from_env({"SLACK_BOT_TOKEN": "  "}) is None
    first = _deliver(engine, None, outbox)
    second = _deliver(engine, None, outbox)

    assert first.status == second.status == "outbox"
    assert first.error == NO_CLIENT_ERROR
    assert sorted(p.name for p in outbox.iterdir()) == [f"{KIND}-{DS}.json", f"{KIND}-{DS}.md"]
    assert [r.status for r in _rows(engine)] == ["pending"]


def test_client_from_env_uses_token_and_api_url(server, engine, outbox):
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": server.url.rstrip("/")}
    assert slack_api_url(env) == server.url
    assert slack_api_url({}) == WebClient.BASE_URL == "https://slack.com/api/"
    client = client_from_env(env, max_retries=1)
    assert isinstance(client, SlackWebClient) and isinstance(client, SlackClient)
    assert client_from_env({}, token=TOKEN) is not None  # e.g. a Prefect Secret block's value
    assert _deliver(engine, client, outbox).status == "posted"
    assert TOKEN not in repr(client)


def test_the_token_never_appears_in_errors(server, engine, outbox):
    wrong = _client(server, token="xoxb-9999-wrong-TokenValue")
    with pytest.raises(SlackDeliveryError) as info:
        wrong.post_message(CHANNEL, _message())
    assert info.value.error == "invalid_auth"
    assert "xoxb-9999-wrong-TokenValue" not in str(info.value) and "xoxb-" not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__

    outcome = _deliver(engine, wrong, outbox)
    assert outcome.status == "outbox" and "invalid_auth" in outcome.error and "xoxb-" not in outcome.error

    server.fail_next("chat.postMessage", status=500, times=10)
    outcome = _deliver(engine, _client(server), outbox, channel="#tech")
    assert outcome.status == "outbox" and TOKEN not in outcome.error

    # Nothing listening any more: connection errors, retried, then the outbox.
    with SlackApiServer(token=TOKEN) as gone:
        url = gone.url
    dead = SlackWebClient(TOKEN, base_url=url, max_retries=1,
                          interval_calculator=FixedValueRetryIntervalCalculator(0.01))
    with pytest.raises(SlackDeliveryError) as info:
        dead.post_message(CHANNEL, _message())
    assert TOKEN not in str(info.value)
    outcome = _deliver(engine, dead, outbox, channel="#marketing")
    assert outcome.status == "outbox" and TOKEN not in outcome.error
    for row in _rows(engine):
        assert TOKEN not in row.payload


# --- the in-memory double behaves the same -------------------------------------------------
def test_recording_client_follows_the_same_rules(engine, outbox):
    client = RecordingSlackClient()
    assert isinstance(client, SlackClient)
    first = _deliver(engine, client, outbox)
    assert first.status == "posted" and len(client.posts) == 1
    assert _deliver(engine, client, outbox).status == "unchanged" and len(client.calls) == 1
    updated = _deliver(engine, client, outbox, message=_message("v2"))
    assert updated.status == "updated" and client.updates[0].ts == first.ts
    assert client.updates[0].channel == client.channel_id(CHANNEL)

    client.fail_next()
    failed = _deliver(engine, client, outbox, message=_message("v3"))
    assert failed.status == "outbox" and failed.error and len(client.failures) == 1
    assert [o.status for o in send_outbox(engine, client, outbox)] == ["updated"]
    assert client.messages[(client.channel_id(CHANNEL), first.ts)].text == "v3"
    assert send_outbox(engine, client, outbox) == []
    assert len(client.posts) == 1


# --- the server itself ---------------------------------------------------------------------
def test_server_accepts_form_bodies_and_checks_auth(server):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "form"}}]
    form = urllib.parse.urlencode({"channel": "ops-brief", "text": "form", "blocks": json.dumps(blocks)}).encode()

    def post(method, data, headers):
        req = urllib.request.Request(server.url + method, data=data, headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    form_headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert post("chat.postMessage", form, form_headers) == {"ok": False, "error": "not_authed"}
    assert post("chat.postMessage", form, {**form_headers, "Authorization": "Bearer nope"})["error"] == "invalid_auth"
    answer = post("chat.postMessage", form, {**form_headers, "Authorization": f"Bearer {TOKEN}"})
    assert answer["ok"] and answer["channel"] == server.channel_id("#ops-brief")  # with or without '#'
    assert server.calls("chat.postMessage")[-1].body["blocks"] == blocks

    web = WebClient(token=TOKEN, base_url=server.url)
    assert web.auth_test()["ok"] is True
    later = web.chat_postMessage(channel="#ops-brief", text="second")
    assert float(later["ts"]) > float(answer["ts"])
    missing = post("chat.update", json.dumps({"channel": answer["channel"], "ts": "1.0", "text": "x"}).encode(),
                   {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    assert missing == {"ok": False, "error": "message_not_found"}


def test_content_hash_is_canonical():
    a = Message(text="t", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}])
    b = Message(text="t", blocks=[{"text": {"text": "x", "type": "mrkdwn"}, "type": "section"}])
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash(Message(text="t2", blocks=a.blocks))
    assert len(content_hash(a)) == 64


def test_outbox_markdown_is_plain_text_and_the_payload_stays_escaped(engine, outbox):
    # Before: the .md file held the Slack fallback as is, "&lt;" entities and all.
    # The data "<!channel> & a&lt;b" escaped for Slack is "&lt;!channel&gt; &amp; a&amp;lt;b";
    # the .md decodes it once, back to the data.
    message = _message("channel=&lt;!channel&gt; &amp; a&amp;lt;b: -¥5,000.00")
    outcome = _deliver(engine, None, outbox, message=message)
    json_path, md_path = outbox_paths(outbox, KIND, DS)
    assert outcome.status == "outbox"
    assert md_path.read_text(encoding="utf-8") == "channel=<!channel> & a&lt;b: -¥5,000.00\n"
    payload = json.loads(json_path.read_text(encoding="utf-8"))
    assert payload["text"] == message.text  # what Slack gets is still escaped
    assert payload["blocks"][1]["text"]["text"] == "channel=&lt;!channel&gt; &amp; a&amp;lt;b: -¥5,000.00"
