"""Issue #9, items 1 and 2, as a user ran into them: periods not over, days without data, the home.

Each test replays the reproduction of the issue and asserts what happens now. The dates
are taken from the clock (today and later are not over), the demo shop ends 2026-11-24.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from flows.backfill import backfill
from flows.daily import daily_brief
from opscadence import warehouse
from opscadence.cli import main
from opscadence.core.periods import PeriodNotComplete, today_in

BIN = Path(sys.executable).parent / "opscadence"
TZ = "Asia/Shanghai"


def _alert_posts(server):
    channel_id = server.channel_id("#ops-alerts")
    return [c.body["text"] for c in server.calls("chat.postMessage")
            if c.status == 200 and c.response["channel"] == channel_id]


def _alert_states(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(warehouse.alert_states)).all()


def test_a_day_not_over_is_refused_a_partial_run_leaves_the_alert_clock_and_the_real_day_alerts(
        shop_env, slack_server, capsys):
    shop, home, engine = shop_env
    today = today_in(TZ)
    future = today + timedelta(days=181)  # the 2027-06-01, half a year ahead of 2026-12-02
    yesterday = today - timedelta(days=1)

    # 1. Today (not over) and a future day are refused before anything runs: exit 2, one line.
    for day in (today, future):
        assert main(["run", "daily", "--date", day.isoformat()]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (f"opscadence: {day} has not ended yet in {TZ}; the latest complete day is {yesterday} "
                       "(pass --allow-partial to run it anyway)")
    assert main(["backfill", "daily", "--start", shop.start.isoformat(), "--end", today.isoformat()]) == 2
    assert f"the latest complete day is {yesterday} (end the backfill there)" in capsys.readouterr().err
    # The flow refuses it too (a run started from the Prefect UI with as_of=that day).
    with pytest.raises(PeriodNotComplete, match=f"the latest complete day is {yesterday}"):
        daily_brief(as_of=future)
    with pytest.raises(PeriodNotComplete, match=f"^{today} has not ended yet"):
        backfill(cadence="daily", start=shop.start, end=today, notify=False)
    assert slack_server.calls("chat.postMessage") == [] and _alert_states(engine) == []

    # 2. --allow-partial runs it: no data for that day is a failed validation (not an all-clear),
    #    the brief says the day is not over, and the alert lifecycle is left alone.
    assert main(["run", "daily", "--date", future.isoformat(), "--allow-partial"]) == 1
    out = capsys.readouterr().out
    assert f"{future} has not ended yet ({TZ})" in out and "No alerts" not in out
    assert f"data validation FAILED for {future}" in out
    assert _alert_states(engine) == []  # before the fix: the future day's last_period held the clock
    assert _alert_posts(slack_server) == []

    # 3. The demo's payment-incident day is then the present: its P1 fires and is listed.
    assert main(["run", "daily", "--date", shop.payment_incident_day.isoformat()]) == 0
    capsys.readouterr()
    assert any("Payment success rate" in text and "P1" in text for text in _alert_posts(slack_server))
    assert main(["alerts", "list", "--state", "firing"]) == 0
    firing = capsys.readouterr().out
    assert any("payment_success_rate" in line and " P1 " in line for line in firing.splitlines())
    assert {r.last_period for r in _alert_states(engine)} == {shop.payment_incident_day.isoformat()}


def test_a_day_before_the_shop_existed_is_a_data_quality_failure_naming_tables_and_source(
        shop_env, slack_server, capsys):
    shop, home, engine = shop_env
    where = engine.url.render_as_string(hide_password=True)

    # Before the fix: a brief of "n/a" values, "No alerts", exit 0, the all-clear posted to Slack.
    assert main(["run", "daily", "--date", "2025-01-01"]) == 1
    out = capsys.readouterr().out

    assert "Data validation failed: numbers for 2025-01-01 are withheld" in out
    assert f"no users, events, orders, payments, ad_spend, feedback for 2025-01-01 in the warehouse {where}" in out
    assert "No alerts" not in out and "data validation FAILED for 2025-01-01" in out
    [post] = _alert_posts(slack_server)  # the data-quality alert fired
    assert "events" in post
    [state] = _alert_states(engine)
    assert (state.kind, state.state, state.last_period) == ("data_quality", "firing", "2025-01-01")


def test_every_working_directory_uses_the_same_home(tmp_path, monkeypatch, prefect_server, capsys):
    data = tmp_path / "data"  # the user's data directory (XDG_DATA_HOME on Linux)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSCADENCE_")}
    env["XDG_DATA_HOME"] = str(data)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    subprocess.run([str(BIN), "demo", "--users", "300", "--days", "14", "--seed", "3", "--end-date", "2026-11-24"],
                   cwd=tmp_path / "a", env=env, capture_output=True, text=True, timeout=300, check=True)
    home = data / "opscadence"
    assert (home / "warehouse.sqlite").is_file() and not (tmp_path / "a" / ".opscadence").exists()

    # `cd` elsewhere: the same warehouse, not a new empty one in the working directory.
    for name in [k for k in os.environ if k.startswith("OPSCADENCE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.setenv("OPSCADENCE_LOCALE", "en")
    monkeypatch.chdir(tmp_path / "b")
    assert main(["config"]) == 0
    assert json.loads(capsys.readouterr().out)["home"] == str(home)
    assert main(["run", "daily", "--date", "2026-11-24", "--no-notify"]) == 0
    out = capsys.readouterr().out
    assert "Payment success rate" in out and "Data validation failed" not in out
    assert not (tmp_path / "b" / ".opscadence").exists()
