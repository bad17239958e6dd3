"""Two runs of one day that provably overlap: the second waits on the period lock, then posts nothing.

The test holds the period lock while both runs start, so both are waiting before either
computes anything. Once it lets go, one run (the first) takes the lock and reaches Slack; the
local Slack server keeps that first post waiting, so the first run holds the lock for a known
while. The other run (the second) must do nothing in that while: no task of its own runs until
the post is let through, and when it gets the lock it finds the brief already sent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import opscadence
from opscadence import warehouse
from opscadence.core.locks import period_lock

BIN = Path(sys.executable).parent / "opscadence"
# The runs import the same opscadence as this test (a worktree's, not the installed one).
ROOT = Path(opscadence.__file__).resolve().parents[1]
STARTUP = 300.0  # seconds: a run's own Prefect server start-up, on a busy machine
HOLD = 5.0  # seconds the first run is kept inside the lock, at its first Slack post
TASK_LINE = "Task run '"  # Prefect logs one line per finished task


class Run:
    """One `opscadence run daily` process, its output lines timed as they arrive."""

    def __init__(self, cmd: list[str], cwd: Path, env: dict[str, str]):
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        self.lines: list[tuple[float, str]] = []
        self.ended: float | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line))
        self.proc.wait()
        self.ended = time.monotonic()

    @property
    def output(self) -> str:
        return "".join(line for _, line in self.lines)

    def first(self, text: str) -> float | None:
        """When the first line containing ``text`` arrived (None: not yet)."""
        return next((at for at, line in list(self.lines) if text in line), None)

    def wait(self, timeout: float) -> int:
        self._reader.join(timeout)
        if self._reader.is_alive():
            raise TimeoutError(f"run still going after {timeout:.0f} s:\n{self.output}")
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self._reader.join(10)


def wait_until(condition, timeout: float, what: str, runs: list[Run]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n" + "\n---\n".join(r.output for r in runs))
        if any(r.ended is not None for r in runs):
            raise AssertionError(f"a run ended while waiting for {what}:\n" + "\n---\n".join(r.output for r in runs))
        time.sleep(0.1)


# PostgreSQL, the production warehouse (an advisory lock); the SQLite file lock's waiting is
# proven on both warehouses in tests/unit/test_locks.py.
@pytest.mark.parametrize("shop_env", ["postgresql"], indirect=True)
def test_a_second_run_of_the_day_waits_for_the_first_and_posts_nothing(
    shop_env, slack_server, tmp_path, monkeypatch
):
    shop, home, engine = shop_env
    day = shop.payment_incident_day
    started_line = f"daily brief for {day.isoformat()}"  # logged just before the flow takes the lock

    # The local Slack server holds every chat.postMessage until `let_posts_through` is set.
    let_posts_through = threading.Event()
    held_posts: list[str] = []
    handle = slack_server._handle

    def gated_handle(method, body, headers):
        if method == "chat.postMessage" and not let_posts_through.is_set():
            held_posts.append(str(body.get("channel")))
            let_posts_through.wait(60)
        return handle(method, body, headers)

    monkeypatch.setattr(slack_server, "_handle", gated_handle)

    base_env = dict(os.environ)
    base_env.pop("PREFECT_API_URL", None)
    base_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [base_env.get("PYTHONPATH")])])
    base_env["PYTHONUNBUFFERED"] = "1"
    base_env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = str(int(STARTUP))
    cmd = [str(BIN), "run", "daily", "--date", day.isoformat()]

    runs: list[Run] = []
    try:
        # 1. Both runs start while the lock is held here: both reach it and wait.
        with period_lock(engine, f"daily:{day}", timeout=5):
            for name in ("a", "b"):
                env = dict(base_env, PREFECT_HOME=str(tmp_path / f"prefect-{name}"))  # a Prefect server each
                runs.append(Run(cmd, tmp_path, env))
            wait_until(lambda: all(r.first(started_line) for r in runs), STARTUP, "both runs to start", runs)
            time.sleep(1.0)
            assert [r.first(TASK_LINE) for r in runs] == [None, None], "a run went past the held lock"
            assert slack_server.calls() == []

        # 2. One run takes the lock and is held at its first Slack post; the other must wait.
        wait_until(lambda: held_posts, 120, "the first run's first Slack post", runs)
        time.sleep(HOLD)
        assert held_posts == ["#ops-brief"], "the second run posted while the first held the lock"
        progressed = [r for r in runs if r.first(TASK_LINE)]
        assert len(progressed) == 1, "both runs ran tasks at the same time"
        first, second = progressed[0], next(r for r in runs if r is not progressed[0])
        assert second.ended is None

        released = time.monotonic()
        let_posts_through.set()
        codes = [r.wait(STARTUP) for r in runs]
    finally:
        let_posts_through.set()
        for r in runs:
            r.kill()

    outputs = [r.output for r in runs]
    assert codes == [0, 0], outputs
    # The second run did nothing until the first was let go, and finished after it.
    assert second.first(TASK_LINE) > released, second.output
    assert second.ended > released and first.ended <= second.ended
    # Only the first run posted; the second found the brief and the alerts already sent.
    assert "-> posted" in first.output and "-> posted" not in second.output, outputs
    posts = [c for c in slack_server.calls("chat.postMessage") if c.status == 200]
    assert sorted(c.body["channel"] for c in posts) == ["#ops-alerts", "#ops-alerts", "#ops-brief"]
    with engine.connect() as conn:
        briefs = conn.execute(sa.select(warehouse.briefs.c.channel, warehouse.briefs.c.message_ts)).all()
        kpis = conn.execute(sa.select(sa.func.count()).select_from(warehouse.mart_daily_kpis)
                            .where(warehouse.mart_daily_kpis.c.ds == day)).scalar_one()
    assert len(briefs) == 3 and all(ts for _, ts in briefs)
    assert kpis > 0
