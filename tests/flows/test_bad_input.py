"""Bad input, command by command: one line on stderr, no traceback, the exit code, the warehouse unchanged.

A corpus in the style of a fuzz test: every case runs the ``opscadence`` console script as a
user would (its own process, a clean environment). Every case fails before a flow starts, so
no Prefect server is needed.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from opscadence import warehouse
from tests.conftest import POSTGRES_URL, WAREHOUSES

BIN = Path(sys.executable).parent / "opscadence"
REPO = Path(__file__).resolve().parents[2]
FINGERPRINT = "abcdef0123456789abcdef0123456789abcdef01"  # the one alert in the warehouse
# Nothing listens on port 1: refused at once. The password must never be printed.
UNREACHABLE = "postgresql+psycopg://opscadence:s3cret-pw@127.0.0.1:1/shop"
UNREACHABLE_MASKED = "postgresql+psycopg://opscadence:***@127.0.0.1:1/shop"
UNREACHABLE_SHOWN = re.escape(UNREACHABLE_MASKED)
TOKEN = "xoxb-1111-2222-bad-input"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"
GOOD_CSV = b"ds,metric,value\n2026-09-01,dau,100\n"


@dataclass
class Case:
    id: str
    argv: list[str]
    error: str  # a regex the whole stderr line must match (after "opscadence: ")
    exit_code: int = 2
    files: dict[str, bytes] = field(default_factory=dict)  # written into the working directory
    env: dict[str, str] = field(default_factory=dict)  # "{tmp}" is the working directory
    warehouse: bool = False  # reaches the warehouse: run on PostgreSQL too


CASES = [
    # --- demo --------------------------------------------------------------------------------
    Case("demo-users-0", ["demo", "--users", "0"], r"users must be at least 100 \(got 0\)"),
    Case("demo-days-0", ["demo", "--days", "0"], r"days must be at least 10 \(got 0\)"),  # MIN_DAYS = 10
    Case("demo-seed-negative", ["demo", "--seed", "-1"], r"argument --seed: must be at least 0: '-1' \(see: opscadence demo --help\)"),
    Case("demo-users-garbage", ["demo", "--users", "many"], r"argument --users: invalid int value: 'many' .*"),
    Case("demo-end-date-feb-30", ["demo", "--end-date", "2026-02-30"], r"argument --end-date: not a date \(YYYY-MM-DD\): '2026-02-30' .*"),
    Case("demo-unreachable-pg", ["demo", "--days", "14", "--users", "100"],
         rf"cannot connect to the warehouse {UNREACHABLE_SHOWN}: .*Connection refused",
         env={"OPSCADENCE_WAREHOUSE_URL": UNREACHABLE}),
    # --- run ---------------------------------------------------------------------------------
    Case("run-date-garbage", ["run", "daily", "--date", "garbage"], r"argument --date: not a date \(YYYY-MM-DD\): 'garbage' \(see: opscadence run --help\)"),
    Case("run-at-garbage", ["run", "watch", "--at", "noon"], r"argument --at: not a time \(ISO 8601, e.g. 2026-11-24T14:15\): 'noon' .*"),
    Case("run-unknown-cadence", ["run", "hourly"], r"argument cadence: invalid choice: 'hourly' .*"),
    Case("run-unreachable-pg", ["run", "daily", "--date", "2026-11-24", "--no-notify"],
         rf"cannot connect to the warehouse {UNREACHABLE_SHOWN}: .*Connection refused",
         env={"OPSCADENCE_WAREHOUSE_URL": UNREACHABLE}),
    Case("run-warehouse-is-a-folder", ["run", "daily", "--no-notify"],
         r"cannot open the warehouse .*/wh.sqlite: unable to open database file",
         files={"wh.sqlite/keep": b""}, env={"OPSCADENCE_WAREHOUSE_URL": "sqlite:///{tmp}/wh.sqlite"}),
    # --- backfill ----------------------------------------------------------------------------
    Case("backfill-end-before-start", ["backfill", "daily", "--start", "2026-11-20", "--end", "2026-11-10"],
         r"--end 2026-11-10 is before --start 2026-11-20"),
    # 2016-01-01 .. 2026-01-01: 10 years of 365 days + 3 leap days (2016, 2020, 2024) = 3653, + 1 inclusive
    Case("backfill-over-5-years", ["backfill", "daily", "--start", "2016-01-01", "--end", "2026-01-01"],
         r"--start 2016-01-01 \.\. --end 2026-01-01 is 3654 days, more than 1830 \(5 years\): .*"),
    Case("backfill-start-garbage", ["backfill", "daily", "--start", "yesterday", "--end", "2026-11-10"],
         r"argument --start: not a date \(YYYY-MM-DD\): 'yesterday' .*"),
    Case("backfill-no-end", ["backfill", "daily", "--start", "2026-11-10"], r"the following arguments are required: --end .*"),
    Case("backfill-concurrency-0", ["backfill", "daily", "--start", "2026-11-10", "--end", "2026-11-11", "--concurrency", "0"],
         r"argument --concurrency: invalid choice: 0 .*"),
    Case("backfill-unreachable-pg", ["backfill", "daily", "--start", "2026-11-10", "--end", "2026-11-11", "--no-notify"],
         rf"cannot connect to the warehouse {UNREACHABLE_SHOWN}: .*Connection refused",
         env={"OPSCADENCE_WAREHOUSE_URL": UNREACHABLE}),
    # --- detect ------------------------------------------------------------------------------
    Case("detect-dev-null", ["detect", "--input", "/dev/null"], r"/dev/null: empty file \(need a header ds,metric,value\[,denominator\]\)"),
    # PNG: b"\x89PNG\r\n\x1a\n" holds two newlines, so the NUL at offset 8 is on line 3
    Case("detect-png", ["detect", "--input", "logo.png"], r"logo\.png line 3: not a text CSV \(a NUL byte at offset 8: binary data\)",
         files={"logo.png": PNG}),
    # "ds,metric,value\n" 16 bytes + "2026-09-01,dau,100\n" 19 bytes: the 0xff is at offset 35, line 3
    Case("detect-garbled", ["detect", "--input", "garbled.csv"],
         r"garbled\.csv line 3: neither UTF-8 nor GB18030 text \(byte 0xff at offset 35\)",
         files={"garbled.csv": GOOD_CSV + b"\xff\xfe\x81,\n"}),
    Case("detect-ragged-row", ["detect", "--input", "ragged.csv"], r"ragged\.csv: cannot read as CSV: Expected 3 fields in line 3, saw 5",
         files={"ragged.csv": GOOD_CSV + b"2026-09-02,dau,1,2,3\n"}),
    Case("detect-bad-number", ["detect", "--input", "num.csv"], r"num\.csv line 3, column value: '1O0' is not a number",
         files={"num.csv": GOOD_CSV + b"2026-09-02,dau,1O0\n"}),
    Case("detect-input-missing", ["detect", "--input", "missing.csv"], r"missing\.csv: cannot read: No such file or directory"),
    Case("detect-input-is-a-folder", ["detect", "--input", "."], r"\.: cannot read: Is a directory"),
    Case("detect-no-input", ["detect"], r"the following arguments are required: --input .*"),
    Case("detect-out-missing-folder", ["detect", "--input", "ok.csv", "--out", "/nonexistent/x.csv"],
         r"--out /nonexistent/x\.csv: the folder /nonexistent does not exist", files={"ok.csv": GOOD_CSV}),
    # --- alerts ------------------------------------------------------------------------------
    Case("ack-unknown-fingerprint", ["alerts", "ack", "ffffffffffff"], r"no alert with fingerprint 'ffffffffffff'", warehouse=True),
    Case("silence-unknown-fingerprint", ["alerts", "silence", "ffffffffffff", "--until", "2h"],
         r"no alert with fingerprint 'ffffffffffff'", warehouse=True),
    # 2020-01-01 00:00 in Asia/Shanghai (UTC+8) = 2019-12-31 16:00 UTC
    Case("silence-until-past", ["alerts", "silence", FINGERPRINT, "--until", "2020-01-01T00:00"],
         r"silence end 2019-12-31 16:00:00 UTC is not in the future", warehouse=True),
    Case("silence-until-garbage", ["alerts", "silence", FINGERPRINT, "--until", "soon"],
         r"argument --until: not a time \(ISO 8601 or 30m/2h/1d\): 'soon' \(see: opscadence alerts silence --help\)"),
    Case("silence-until-with-bad-config", ["alerts", "silence", FINGERPRINT, "--until", "2026-12-01T00:00"],
         r"argument --until: invalid configuration \(.*/tz\.yaml.*\): timezone: Value error, unknown IANA timezone 'Mars/Base' .*",
         files={"tz.yaml": b"timezone: Mars/Base\n"}, env={"OPSCADENCE_CONFIG": "{tmp}/tz.yaml"}),
    Case("list-bad-state", ["alerts", "list", "--state", "burning"], r"argument --state: invalid choice: 'burning' .*"),
    Case("list-unreachable-pg", ["alerts", "list"], rf"cannot connect to the warehouse {UNREACHABLE_SHOWN}: .*Connection refused",
         env={"OPSCADENCE_WAREHOUSE_URL": UNREACHABLE}),
    Case("list-sqlite-not-a-database", ["alerts", "list"], r"cannot open the warehouse .*/notes\.txt: file is not a database",
         files={"notes.txt": b"this is not a database, " * 100}, env={"OPSCADENCE_WAREHOUSE_URL": "sqlite:///{tmp}/notes.txt"}),
    # --- outbox ------------------------------------------------------------------------------
    Case("outbox-send-no-token", ["outbox", "send"], r"SLACK_BOT_TOKEN is not set: nothing can be sent", warehouse=True),
    Case("outbox-send-unreachable-pg", ["outbox", "send"], rf"cannot connect to the warehouse {UNREACHABLE_SHOWN}: .*Connection refused",
         env={"OPSCADENCE_WAREHOUSE_URL": UNREACHABLE, "SLACK_BOT_TOKEN": TOKEN}),
    # --- config (and the same file seen by another command) ------------------------------------
    # "timezone: Asia/Shanghai\n" is 24 bytes, "locale: " 8 more: the GBK bytes of 中文 start at offset 32, line 2
    Case("config-gbk-bytes", ["config"],
         r"invalid configuration \(.*/gbk\.yaml\): must be UTF-8; byte 0xd6 at offset 32 \(line 2\) is not \(save the file as UTF-8\)",
         files={"gbk.yaml": "timezone: Asia/Shanghai\nlocale: 中文\n".encode("gbk")}, env={"OPSCADENCE_CONFIG": "{tmp}/gbk.yaml"}),
    Case("config-invalid-yaml", ["config"], r"invalid configuration \(.*/bad\.yaml\): not valid YAML at line 3, column 3: .*",
         files={"bad.yaml": b"locale: en\nthresholds: [\n  - metric: dau\n"}, env={"OPSCADENCE_CONFIG": "{tmp}/bad.yaml"}),
    Case("config-unknown-key", ["config"], r"invalid configuration \(.*/typo\.yaml.*\): localle: Extra inputs are not permitted",
         files={"typo.yaml": b"localle: en\n"}, env={"OPSCADENCE_CONFIG": "{tmp}/typo.yaml"}),
    Case("config-two-bad-keys", ["config"],
         r"invalid configuration \(.*/two\.yaml.*\): timezone: Value error, unknown IANA timezone 'Mars/Base'; localle: Extra inputs are not permitted",
         files={"two.yaml": b"timezone: Mars/Base\nlocalle: en\n"}, env={"OPSCADENCE_CONFIG": "{tmp}/two.yaml"}),
    Case("config-missing-file", ["config"], r"configuration file not found: .*/missing\.yaml", env={"OPSCADENCE_CONFIG": "{tmp}/missing.yaml"}),
    Case("config-is-a-folder", ["config"], r"cannot read the configuration file .*/conf\.d: Is a directory",
         files={"conf.d/keep": b""}, env={"OPSCADENCE_CONFIG": "{tmp}/conf.d"}),
    Case("config-secret-in-file", ["config"], r"invalid configuration \(.*\): slack\.bot_token holds a secret; secrets are read from .*",
         files={"s.yaml": f"slack:\n  bot_token: {TOKEN}\n".encode()}, env={"OPSCADENCE_CONFIG": "{tmp}/s.yaml"}),
    Case("alerts-list-bad-config", ["alerts", "list"], r"invalid configuration \(.*/typo\.yaml.*\): localle: Extra inputs are not permitted",
         files={"typo.yaml": b"localle: en\n"}, env={"OPSCADENCE_CONFIG": "{tmp}/typo.yaml"}),
    # --- the command itself -------------------------------------------------------------------
    Case("no-command", [], r"the following arguments are required: command \(see: opscadence --help\)"),
    Case("unknown-command", ["deploy"], r"argument command: invalid choice: 'deploy' .*"),
    Case("unknown-flag", ["config", "--verbose"], r"unrecognized arguments: --verbose \(see: opscadence --help\)"),
]

# Commands that cannot reach the warehouse never touch it, so one backend is enough for them.
PARAMS = [pytest.param(case, backend, id=f"{case.id}-{backend}")
          for case in CASES for backend in (WAREHOUSES if case.warehouse else ["sqlite"])]


def _counts(engine: sa.engine.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in warehouse.metadata.sorted_tables}


def _snapshot(url: str, path: Path | None) -> tuple[dict[str, int], str | None]:
    engine = warehouse.create_engine(url)
    try:
        counts = _counts(engine)
    finally:
        engine.dispose()  # the last connection closes: SQLite folds its WAL into the file
    return counts, hashlib.sha256(path.read_bytes()).hexdigest() if path else None


@pytest.fixture
def shop_warehouse(request, tmp_path):
    """A warehouse with the schema, one firing alert and one raw row; returns (url, SQLite path or None)."""
    backend = request.param
    if backend == "sqlite":
        path = tmp_path / "home" / "warehouse.sqlite"
        url = f"sqlite:///{path}"
    else:
        path, url = None, POSTGRES_URL
    engine = warehouse.create_engine(url)
    if backend != "sqlite":
        warehouse.metadata.drop_all(engine)
    warehouse.init_schema(engine)
    now = datetime(2026, 11, 24, 8, 0)
    with engine.begin() as conn:
        conn.execute(warehouse.alert_states.insert().values(
            fingerprint=FINGERPRINT, rule_id="payment_success_rate:below:0.95:all", metric="payment_success_rate",
            dimension="all", dimension_value="all", kind="threshold", severity="P1", state="firing", scope="daily",
            first_seen_at=now, fired_at=now, last_period="2026-11-24"))
        conn.execute(warehouse.raw_ad_spend.insert().values(
            ds=now.date(), channel="wechat", campaign="c1", impressions=1000, clicks=5, cost=12.5))
    engine.dispose()
    return url, path


def _run(argv: list[str], tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPSCADENCE_", "SLACK_", "PREFECT_API"))}
    clean.update(PYTHONPATH=str(REPO), OPSCADENCE_HOME=str(tmp_path / "home"), OPSCADENCE_LOCALE="en", **env)
    return subprocess.run([str(BIN), *argv], cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("case", "shop_warehouse"), PARAMS, indirect=["shop_warehouse"])
def test_bad_input_is_one_line_and_changes_nothing(case, shop_warehouse, tmp_path):
    url, path = shop_warehouse
    for name, content in case.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    env = {"OPSCADENCE_WAREHOUSE_URL": url}
    env.update({k: v.replace("{tmp}", str(tmp_path)) for k, v in case.env.items()})
    before = _snapshot(url, path)

    result = _run(case.argv, tmp_path, env)

    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert re.fullmatch(r"opscadence: " + case.error, lines[0]), lines[0]
    assert result.returncode == case.exit_code, result.stderr
    assert result.stdout == ""
    for secret in ("s3cret-pw", TOKEN):
        assert secret not in result.stderr
    assert _snapshot(url, path) == before
    assert before[0]["alert_states"] == 1 and before[0]["raw_ad_spend"] == 1  # the snapshot saw the rows


@pytest.mark.parametrize("argv", [
    ["--debug", "alerts", "list"],
    ["alerts", "list", "--debug"],
    ["alerts", "--debug", "list"],
])
def test_debug_flag_before_or_after_the_subcommand_shows_the_traceback(argv, tmp_path):
    result = _run(argv, tmp_path, {"OPSCADENCE_WAREHOUSE_URL": UNREACHABLE})
    assert result.returncode == 1  # an uncaught exception: Python's own exit code
    assert "Traceback (most recent call last)" in result.stderr
    # the connection error itself, and the line it was turned into
    assert "psycopg.OperationalError" in result.stderr
    assert f"UserError: cannot connect to the warehouse {UNREACHABLE_MASKED}" in result.stderr


def test_debug_from_the_environment(tmp_path):
    result = _run(["alerts", "list"], tmp_path, {"OPSCADENCE_WAREHOUSE_URL": UNREACHABLE, "OPSCADENCE_DEBUG": "1"})
    assert result.returncode == 1 and "Traceback (most recent call last)" in result.stderr
    quiet = _run(["alerts", "list"], tmp_path, {"OPSCADENCE_WAREHOUSE_URL": UNREACHABLE, "OPSCADENCE_DEBUG": "0"})
    assert quiet.returncode == 2 and len(quiet.stderr.splitlines()) == 1
