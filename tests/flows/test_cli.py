"""The `opscadence` command, as a user runs it."""

from __future__ import annotations

import re

import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from flows.daily import daily_brief
from opscadence import warehouse
from opscadence.cli import main

BIN = Path(sys.executable).parent / "opscadence"


def test_demo_command_works_from_any_directory(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSCADENCE_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")  # the default home: the user's data directory
    out = subprocess.run(
        [str(BIN), "demo", "--users", "300", "--days", "14", "--seed", "3", "--end-date", "2026-11-24"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    assert "payment success below 95% on 2026-11-24" in out
    assert "DAU more than 15% below the same weekday last week on 2026-11-15" in out
    database = tmp_path / "data" / "opscadence" / "warehouse.sqlite"
    assert f"demo shop written to sqlite:///{database}" in out
    engine = warehouse.create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        days = conn.execute(sa.select(sa.func.count(sa.distinct(warehouse.raw_events.c.ds)))).scalar_one()
    assert days == 14
    engine.dispose()


def test_bad_config_is_a_clear_error_without_a_traceback(tmp_path, monkeypatch, capsys):
    (tmp_path / "opscadence.yaml").write_text("locale: fr\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert "locale" in err and "Traceback" not in err


def test_config_command_prints_no_secrets(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["timezone"] == "Asia/Shanghai" and "xoxb-very-secret" not in out


def test_outbox_send_delivers_what_was_pending_once(shop_env, slack_server, monkeypatch, capsys):
    shop, home, engine = shop_env
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    daily_brief(as_of=shop.payment_incident_day)  # no token: brief and alerts go to the outbox
    assert slack_server.calls("chat.postMessage") == []
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")

    assert main(["outbox", "send"]) == 0
    assert main(["outbox", "send"]) == 0

    posted = [c for c in slack_server.calls("chat.postMessage") if c.status == 200]
    # The brief and the two firing alerts (payment success P1, wechat CTR P3).
    assert sorted(c.body["channel"] for c in posted) == ["#ops-alerts", "#ops-alerts", "#ops-brief"]
    assert "3 sent, 0 still pending" in capsys.readouterr().out
    with engine.connect() as conn:
        assert set(conn.execute(sa.select(warehouse.briefs.c.status)).scalars()) == {"sent"}


def test_alerts_list_ack_and_silence(shop_env, slack_server, capsys):
    shop, home, engine = shop_env
    daily_brief(as_of=shop.payment_incident_day)
    capsys.readouterr()

    assert main(["alerts", "list", "--state", "firing"]) == 0
    listing = capsys.readouterr().out.splitlines()
    payment = next(line for line in listing if "payment_success_rate" in line)
    assert " firing " in payment and " P1 " in payment
    # Times in the shop's timezone (Asia/Shanghai) with the offset; they were naive UTC.
    assert re.search(r" since \d{4}-\d\d-\d\d \d\d:\d\d UTC\+08:00$", payment), payment
    fingerprint = payment.split()[0]

    assert main(["alerts", "ack", fingerprint[:8], "--by", "oncall-amy"]) == 0
    assert main(["alerts", "silence", fingerprint, "--until", "2h"]) == 0
    confirmations = capsys.readouterr().out.splitlines()
    assert re.search(r" at \d{4}-\d\d-\d\d \d\d:\d\d UTC\+08:00$", confirmations[0]), confirmations
    assert re.search(r"^silenced \w+ until \d{4}-\d\d-\d\d \d\d:\d\d UTC\+08:00$", confirmations[1]), confirmations
    assert main(["alerts", "list"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(fingerprint))
    assert "acked" in line and re.search(r"silenced until \d{4}-\d\d-\d\d \d\d:\d\d UTC\+08:00", line)
    with engine.connect() as conn:
        row = conn.execute(sa.select(warehouse.alert_states)
                           .where(warehouse.alert_states.c.fingerprint == fingerprint)).one()
    assert row.acked_by == "oncall-amy" and row.silenced_until is not None

    assert main(["alerts", "ack", "ffffffffffff"]) == 2
    assert "no alert with fingerprint" in capsys.readouterr().err
    assert main(["alerts", "silence", fingerprint, "--until", "2020-01-01T00:00"]) == 2
