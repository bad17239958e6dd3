"""A team's playbook from the configuration reaches both the brief and the firing alert message."""

from __future__ import annotations

import json

from flows.daily import daily_brief


def _posts(server, channel):
    channel_id = server.channel_id(channel)
    return [c for c in server.calls("chat.postMessage") if c.status == 200 and c.response["channel"] == channel_id]


def test_configured_playbook_text_replaces_the_built_in_one(shop_env, slack_server, monkeypatch):
    shop, _, _ = shop_env
    playbook = [{"metric": "payment_success_rate", "zh-CN": "先看支付渠道状态页", "en": "check the PSP status page first"}]
    monkeypatch.setenv("OPSCADENCE_PLAYBOOK", json.dumps(playbook, ensure_ascii=False))

    daily_brief(as_of=shop.payment_incident_day)

    brief = json.dumps(_posts(slack_server, "#ops-brief")[0].body["blocks"], ensure_ascii=False)
    assert "→ Suggested: check the PSP status page first" in brief
    assert "payment gateway" not in brief  # the built-in payment text
    payment = next(p.body["text"] for p in _posts(slack_server, "#ops-alerts") if "Payment success rate" in p.body["text"])
    assert "→ Suggested: check the PSP status page first" in payment and "payment gateway" not in payment
    # The Ad CTR alert has no team entry: its built-in text stays.
    assert "change the creative or pause the channel" in brief
