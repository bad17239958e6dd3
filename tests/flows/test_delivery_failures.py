"""A run whose Slack fails: loud (exit 3, a Failed flow run, each message named), bounded, outboxed;
and a run killed with ``kill -9``: no Prefect server left behind, no message posted twice.

The CLI runs in-process where that suffices, and as a real subprocess (its own temporary
Prefect server) for the kills.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from flows.daily import daily_brief
from opscadence import warehouse
from opscadence.cli import main
from opscadence.core.errors import EXIT_DELIVERY

BIN = Path(sys.executable).parent / "opscadence"


def _posts_to(server, channel):
    channel_id = server.channel_id(channel)
    return [c for c in server.calls("chat.postMessage") if c.status == 200 and (c.response or {}).get("channel") == channel_id]


def _brief_rows(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(warehouse.briefs).order_by(warehouse.briefs.c.kind)).all()


def _latest_flow_run_state():
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        [run] = client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1)
    return run.state


def test_invalid_auth_fails_the_run_after_everything_is_outboxed(shop_env, slack_server, monkeypatch, capsys):
    shop, home, engine = shop_env
    ds = shop.payment_incident_day
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-revoked")

    assert main(["run", "daily", "--date", ds.isoformat()]) == EXIT_DELIVERY == 3

    out, err = capsys.readouterr()
    # One call: the token's error holds for the brief and both alerts of the run.
    assert [c.method for c in slack_server.requests] == ["chat.postMessage"]
    assert f"daily-brief for {ds} -> outbox" in out and "FAILED: invalid_auth" in out
    assert f"not delivered: daily-brief for {ds} to #ops-brief: invalid_auth" in err
    assert err.count("not delivered: alert-") == 2 and "xoxb-test-revoked" not in out + err
    state = _latest_flow_run_state()
    assert state.is_failed() and "not delivered to Slack" in state.message
    # Everything is recorded and in the outbox, alert files by the shop's period (not today's UTC date).
    rows = _brief_rows(engine)
    assert len(rows) == 3 and {r.status for r in rows} == {"pending"}
    assert all("invalid_auth" in r.last_error for r in rows)
    names = sorted(p.name for p in (home / "outbox").glob("*.json"))
    assert len(names) == 3 and all(n.endswith(f"-{ds}.json") for n in names)

    assert main(["outbox", "status"]) == 0
    status = capsys.readouterr().out
    assert "3 pending" in status and f"oldest pending period: {ds}" in status and "invalid_auth" in status

    # The token is fixed; the next brief (another day) says what is still waiting.
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    daily_brief(as_of=ds - timedelta(days=1))
    [brief] = _posts_to(slack_server, "#ops-brief")
    assert f"3 earlier message(s) not delivered to Slack (oldest: {ds})" in brief.body["text"]

    assert main(["outbox", "send"]) == 0
    assert main(["outbox", "status"]) == 0
    assert "outbox empty" in capsys.readouterr().out


def test_persistent_server_errors_end_in_exit_3_within_the_time_budget(shop_env, slack_server, monkeypatch, capsys):
    shop, home, engine = shop_env
    monkeypatch.setenv("OPSCADENCE_SLACK__MAX_DELIVERY_SECONDS", "3")
    slack_server.fail_next("chat.postMessage", status=500, times=1000)

    assert main(["run", "daily", "--date", shop.payment_incident_day.isoformat()]) == 3

    calls = slack_server.calls("chat.postMessage")
    assert {c.status for c in calls} == {500} and len(calls) >= 2  # retried, never answered ok
    assert calls[-1].at - calls[0].at < 3 + 1  # the run's 3 s for Slack (slack-sdk's back-off: 0.5, 1, 2 s)
    err = capsys.readouterr().err
    assert "not delivered: daily-brief" in err and "internal_error" in err
    assert {r.status for r in _brief_rows(engine)} == {"pending"}


def test_no_answer_costs_the_run_its_budget_not_thirty_seconds_a_message(shop_env, slack_server, monkeypatch, capsys):
    shop, home, engine = shop_env
    monkeypatch.setenv("OPSCADENCE_SLACK__MAX_DELIVERY_SECONDS", "4")
    monkeypatch.setenv("OPSCADENCE_SLACK__REQUEST_TIMEOUT_SECONDS", "1.5")
    slack_server.no_answer("chat.postMessage", seconds=30, times=100)

    assert main(["run", "daily", "--date", shop.payment_incident_day.isoformat()]) == 3

    requests = slack_server.requests
    # The last request starts within the 4 s budget and waits at most what is left of it.
    assert requests[-1].at - requests[0].at < 4
    assert "timeout" in capsys.readouterr().err
    brief_channel = slack_server.channel_id("#ops-brief")
    assert slack_server.messages.get(brief_channel, {}) == {}  # nothing was posted


def test_a_backfill_whose_summary_fails_exits_3_after_the_work(shop_env, slack_server, capsys):
    shop, home, engine = shop_env
    start, end = shop.end - timedelta(days=1), shop.end
    slack_server.fail_next("chat.postMessage", status=200, error="channel_not_found")

    assert main(["backfill", "daily", "--start", start.isoformat(), "--end", end.isoformat()]) == 3

    out, err = capsys.readouterr()
    assert "2 done, 0 skipped, 0 failed" in out  # the days were computed all the same
    assert f"not delivered: backfill-summary for {end} to #ops-alerts: channel_not_found" in err
    assert len(slack_server.calls("chat.postMessage")) == 1  # channel_not_found is not retried
    assert (home / "outbox" / f"backfill-summary-{end}.json").exists()


# --- kill -9 -----------------------------------------------------------------------------
def _cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test's environment for a real `opscadence` process: its own temporary Prefect server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", PYTHONUNBUFFERED="1", **extra)
    return env


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _uvicorn_child(pid: int) -> int | None:
    for child in _children(pid):
        try:
            if b"uvicorn" in Path(f"/proc/{child}/cmdline").read_bytes():
                return child
        except OSError:
            pass
    return None


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status  # a zombie has exited (only its parent entry is left)


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _start_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([str(BIN), *args], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _kill_and_check_the_server_goes(cli: subprocess.Popen, server_pid: int) -> None:
    cli.send_signal(signal.SIGKILL)
    cli.wait(timeout=10)
    _wait_for(lambda: not _alive(server_pid), 10, "the temporary Prefect server to exit after its parent's kill -9")


# The temporary server's death does not depend on the warehouse: SQLite only.
@pytest.mark.parametrize("shop_env", ["sqlite"], indirect=True)
def test_kill_9_of_the_cli_leaves_no_prefect_server(shop_env, tmp_path):
    shop, home, engine = shop_env
    cli = _start_cli(["run", "daily", "--date", shop.payment_incident_day.isoformat(), "--no-notify"],
                     _cli_env(tmp_path), tmp_path)
    try:
        server_pid = _wait_for(lambda: _uvicorn_child(cli.pid), 180, "the CLI's temporary Prefect server")
        _wait_for(lambda: cli.poll() is None and _alive(server_pid), 5, "the server to be up")
        _kill_and_check_the_server_goes(cli, server_pid)
    finally:
        if cli.poll() is None:
            cli.kill()


# SQLite here; the in-flight row's recovery runs on both warehouses in tests/unit/test_slack_failures.py.
@pytest.mark.parametrize("shop_env", ["sqlite"], indirect=True)
def test_a_run_killed_while_posting_is_rerun_without_a_second_message(shop_env, slack_server, tmp_path):
    shop, home, engine = shop_env
    ds = shop.payment_incident_day
    # Slack posts the brief, and the answer never comes: the run is killed while it waits.
    slack_server.fail_next("chat.postMessage", status=200, record=True, hang=300)
    env = _cli_env(tmp_path, OPSCADENCE_SLACK__REQUEST_TIMEOUT_SECONDS="240",
                   OPSCADENCE_SLACK__MAX_DELIVERY_SECONDS="300")
    cli = _start_cli(["run", "daily", "--date", ds.isoformat()], env, tmp_path)
    try:
        _wait_for(lambda: slack_server.messages.get(slack_server.channel_id("#ops-brief")), 240,
                  "the brief to reach Slack")
        server_pid = _uvicorn_child(cli.pid)
        assert server_pid is not None
        _kill_and_check_the_server_goes(cli, server_pid)
    finally:
        if cli.poll() is None:
            cli.kill()
    [row] = [r for r in _brief_rows(engine) if r.kind == "daily-brief"]
    assert row.status == "in_flight" and row.message_ts is None and row.in_flight_at is not None
    [posted_ts] = slack_server.messages[slack_server.channel_id("#ops-brief")]

    assert main(["run", "daily", "--date", ds.isoformat()]) == 0

    # Exactly one brief in the channel: the rerun found the killed run's post by its metadata.
    assert list(slack_server.messages[slack_server.channel_id("#ops-brief")]) == [posted_ts]
    assert [c.body["channel"] for c in slack_server.calls("chat.postMessage")].count("#ops-brief") == 1
    assert any(c.body.get("channel") == slack_server.channel_id("#ops-brief")
               for c in slack_server.calls("conversations.history"))
    [row] = [r for r in _brief_rows(engine) if r.kind == "daily-brief"]
    assert (row.status, row.message_ts) == ("sent", posted_ts)
