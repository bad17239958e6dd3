"""No secret reaches any output: every command, run as a user runs it, with known secrets set.

Each ``opscadence`` command runs in a subprocess with a warehouse URL whose password is
``s3cr3t-pw-123`` (the local PostgreSQL trusts every connection, so any password works) and a
known Slack bot token; its stdout and stderr, every file written under the home (outbox,
Prefect's database and logs, CSVs), the messages the local Slack server received and the
warehouse's output tables are then scanned for both values. Without PostgreSQL the warehouse is
SQLite and only the token (and a password-bearing URL in a failing command) is checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from opscadence import warehouse
from tests.conftest import POSTGRES_URL
from tests.slack_api_server import SlackApiServer

BIN = Path(sys.executable).parent / "opscadence"
PASSWORD = "s3cr3t-pw-123"
TOKEN = "xoxb-known-secret-4242-abcdEFGH"
SECRETS = (PASSWORD, TOKEN)
END = date(2026, 11, 24)
OUTPUT_TABLES = ("briefs", "alert_states", "alerts", "dq_results")


def _with_password(url: str) -> str:
    return sa.engine.make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)


@pytest.fixture
def secret_env(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    if POSTGRES_URL:
        url = _with_password(POSTGRES_URL)
        engine = warehouse.create_engine(url)
        warehouse.metadata.drop_all(engine)
        engine.dispose()
    else:
        url = f"sqlite:///{home / 'warehouse.sqlite'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSCADENCE_", "PREFECT_", "SLACK_"))}
    env.update({
        "OPSCADENCE_HOME": str(home),
        "OPSCADENCE_WAREHOUSE_URL": url,
        "OPSCADENCE_LOCALE": "en",
        "PREFECT_HOME": str(home / "prefect"),  # the ephemeral server's database and logs: scanned too
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_LOGGING_LEVEL": "DEBUG",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "false",
    })
    with SlackApiServer(token=TOKEN) as server:
        env["SLACK_API_URL"] = server.url
        yield tmp_path, home, url, env, server


def _run(cwd: Path, env: dict[str, str], *args: str, token: bool = True) -> subprocess.CompletedProcess:
    run_env = dict(env)
    if token:
        run_env["SLACK_BOT_TOKEN"] = TOKEN
    return subprocess.run([str(BIN), *args], cwd=cwd, env=run_env, capture_output=True, text=True, timeout=900)


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def test_no_command_prints_logs_writes_or_posts_a_secret(secret_env):
    cwd, home, url, env, server = secret_env
    day = END.isoformat()
    csv = cwd / "series.csv"
    csv.write_text("ds,metric,value\n" + "".join(
        f"{END - timedelta(days=i)},orders,{100 + (i % 7)}\n" for i in range(30, -1, -1)), encoding="utf-8")
    bad_port = sa.engine.make_url(url).set(drivername="postgresql+psycopg", host="127.0.0.1", port=1,
                                           username="ops", password=PASSWORD, database="shop")
    commands: list[tuple[tuple[str, ...], dict, set[int]]] = [
        (("demo", "--users", "300", "--days", "21", "--seed", "5", "--end-date", day), {}, {0}),
        (("config",), {}, {0}),
        (("run", "daily", "--date", day), {"token": False}, {0}),  # no token: into the outbox
        (("outbox", "send"), {}, {0}),
        (("backfill", "daily", "--start", (END - timedelta(days=3)).isoformat(),
          "--end", (END - timedelta(days=1)).isoformat()), {}, {0, 1}),
        (("run", "watch", "--no-notify", "--at", f"{day}T12:00:00"), {}, {0}),
        (("alerts", "list"), {}, {0}),
        (("detect", "--input", str(csv), "--out", str(home / "anomalies.csv")), {}, {0}),
    ]
    outputs = []
    seen: set[Path] = set()
    leaking: set[str] = set()

    def scan_files() -> None:
        # Every file under the home (outbox, Prefect's database and logs, CSVs, the SQLite
        # warehouse), after each command: the outbox's files are removed once they are sent.
        for path in home.rglob("*"):
            if path.is_file():
                seen.add(path)
                if any(s.encode() in path.read_bytes() for s in SECRETS):
                    leaking.add(str(path))

    for args, options, codes in commands:
        done = _run(cwd, env, *args, **options)
        assert done.returncode in codes, (args, done.returncode, done.stderr[-3000:])
        outputs.append((args, done.stdout + done.stderr))
        scan_files()
    # The config shows where the warehouse is, its password masked.
    config_out = dict(outputs)[("config",)]
    if POSTGRES_URL:
        assert f"{sa.engine.make_url(url).username or ''}:***@" in config_out
    # Failing commands: a URL SQLAlchemy cannot use, and a server that is not there.
    for failing in (bad_port.set(drivername="postgresqlx").render_as_string(hide_password=False),
                    bad_port.render_as_string(hide_password=False)):
        done = _run(cwd, {**env, "OPSCADENCE_WAREHOUSE_URL": failing}, "alerts", "list")
        assert done.returncode != 0, failing
        outputs.append((("alerts", "list", failing.split(":")[0]), done.stdout + done.stderr))
    assert [_leaks(out) for _, out in outputs] == [[] for _ in outputs], [a for a, out in outputs if _leaks(out)]

    scan_files()
    assert leaking == set()
    assert any(p.parent.name == "outbox" for p in seen)  # the run without a token wrote there
    assert any(p.parent.name == "prefect" or "prefect" in p.parts for p in seen)  # Prefect's files were scanned

    # What Slack received (the outbox send posted the brief and the alerts).
    posts = server.calls("chat.postMessage")
    assert posts and all(not _leaks(str(call.body)) for call in posts)

    # What the warehouse stored for people to read.
    engine = warehouse.create_engine(url)
    with engine.connect() as conn:
        for name in OUTPUT_TABLES:
            rows = conn.execute(sa.select(warehouse.metadata.tables[name])).all()
            assert not _leaks(repr(rows)), name
    engine.dispose()
