"""The golden scenario: the demo shop through backfill, daily brief and intraday watch.

:func:`run_scenario` builds the demo shop in a fresh warehouse (a SQLite file, or the
PostgreSQL database given), then runs the :data:`STEPS` through the Prefect flows, against
a local Slack Web API server (:class:`tests.slack_api_server.SlackApiServer`):

1. a backfill of every demo day but the last (``notify=False``);
2. the daily brief of the last day, the payment incident day (``notify=True``, zh-CN);
3. the intraday watch of that day at 14:00, at 22:00 (the incident's urgent payment
   complaints page), and the next morning at 09:00 (no data yet: data late; the complaint
   alert resolves with a reply in its thread);
4. the daily brief again, in English: the brief's Slack message is updated in place.

It returns a snapshot: every row of every warehouse table that is not raw input (small
tables in full, big ones as row counts and sha256 of their sorted rows per day, plus the
last day in full), every Slack request in order, and the flows' return values, with the
fields that differ between two runs of the same code replaced by placeholders (see
:class:`Normaliser`). The flows need a Prefect API: :func:`prefect_harness`, or the
``prefect_server`` fixture in tests.

    python -m tests.golden.snapshot record   # rewrite tests/golden/demo_<warehouse>.json
    python -m tests.golden.snapshot check    # run the scenario again and diff against them

PostgreSQL is included when ``OPSCADENCE_TEST_POSTGRES_URL`` is set (its database is
emptied). ``tests/flows/test_golden.py`` is the test comparing against the stored files.
"""

from __future__ import annotations

import os

# Telemetry off before any library reads it (as tests/conftest.py does for pytest).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, date, datetime, timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

import sqlalchemy as sa  # noqa: E402

# --- everything the scenario takes from the project: after a reorganisation, fix these ---
from opscadence.warehouse import ALL_RAW_TABLES, create_engine, metadata  # noqa: E402
from opscadence.demo import load_demo  # noqa: E402
from flows.backfill import backfill  # noqa: E402
from flows.daily import daily_brief  # noqa: E402
from flows.watch import watch  # noqa: E402
from tests.slack_api_server import SlackApiServer  # noqa: E402
# ----------------------------------------------------------------------------------------

GOLDEN_DIR = Path(__file__).resolve().parent
WAREHOUSE_KINDS = ("sqlite", "postgresql")
POSTGRES_URL_ENV = "OPSCADENCE_TEST_POSTGRES_URL"

# The scenario (changing any of these needs a new recording).
USERS = 1500
DAYS = 60
SEED = 11
END = date(2026, 11, 24)
START = END - timedelta(days=DAYS - 1)
TIMEZONE = "Asia/Shanghai"  # the default shop timezone
TOKEN = "xoxb-golden-token"


def shop_time(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(TIMEZONE))


@dataclass(frozen=True)
class Step:
    name: str
    locale: str  # OPSCADENCE_LOCALE for this step
    flow: Callable[..., Any]
    kwargs: dict[str, Any]

    def run(self) -> Any:
        return self.flow(**self.kwargs)

    def describe(self) -> str:
        def show(v: Any) -> str:
            return repr(v.isoformat()) if isinstance(v, date) else repr(v)

        args = ", ".join(f"{k}={show(v)}" for k, v in self.kwargs.items())
        return f"{getattr(self.flow, 'fn', self.flow).__name__}({args}) [OPSCADENCE_LOCALE={self.locale}]"


# In order, each on the warehouse the one before left. At this size the demo's incident day has
# only 21 payment attempts (11 by 14:00), under the watch's 50-attempt minimum, so the watch
# payment rule gives no verdict; the incident's urgent payment complaints (20:17, 20:33, 21:58,
# 22:22) page instead. The next morning has no data yet: the watch says the data is late and
# resolves the complaint alert (a reply in its thread). The English rerun of the brief changes
# its content: the Slack message is updated in place, and no alert is sent again.
STEPS = (
    Step("backfill", "zh-CN", backfill,
         dict(cadence="daily", start=START, end=END - timedelta(days=1), notify=False)),
    Step("daily", "zh-CN", daily_brief, dict(as_of=END, notify=True)),
    Step("watch_1400", "zh-CN", watch, dict(as_of=shop_time(END, 14), notify=True)),
    Step("watch_2200", "zh-CN", watch, dict(as_of=shop_time(END, 22), notify=True)),
    Step("watch_next_0900", "zh-CN", watch, dict(as_of=shop_time(END + timedelta(days=1), 9), notify=True)),
    Step("daily_rerun_en", "en", daily_brief, dict(as_of=END, notify=True)),
)

# Tables stored in full; the others as counts and hashes per day (plus the last day in full).
FULL_TABLES = ("alerts", "alert_states", "briefs", "dim_calendar")
HASHED_TABLES = ("mart_daily_kpis", "mart_daily_funnel", "mart_daily_visitors", "dq_results")
LAST_DAY_IN_FULL = ("mart_daily_kpis", "mart_daily_funnel", "dq_results")
FLOAT_DIGITS = 9

WALL_CLOCK = "<wall-clock>"
WALL_CLOCK_DATE = "<wall-clock-date>"
WALL_CLOCK_HMS = "<wall-clock-HHMMSS>"

_SLACK_TS = re.compile(r"^\d{10}\.\d{6}$")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_LOCAL_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?")


def golden_path(kind: str) -> Path:
    return GOLDEN_DIR / f"demo_{kind}.json"


def available_warehouses() -> list[str]:
    return ["sqlite"] + (["postgresql"] if os.environ.get(POSTGRES_URL_ENV) else [])


@contextlib.contextmanager
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect server for the flows (what the ``prefect_server`` fixture does)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


# ---------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------


def round_float(value: float) -> float | str:
    """``FLOAT_DIGITS`` significant digits (float noise across warehouses and runs); NaN/inf as text."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    rounded = float(f"{value:.{FLOAT_DIGITS}g}")
    return 0.0 if rounded == 0 else rounded  # no -0.0


class Normaliser:
    """Turns values into plain JSON, with what differs between two runs of the same code replaced.

    * bookkeeping timestamps taken from the wall clock (``alert_states.first_seen_at`` ...,
      ``briefs.updated_at``): any datetime inside the scenario's wall-clock window becomes
      ``<wall-clock>``; the watch's timestamps derive from its ``as_of`` and stay as they are;
    * the firing time embedded in an alert message's delivery kind (``alert-<fp>-<HHMMSS>``),
      and the ``briefs.ds`` of such a message (the firing day), when that firing time is a
      wall-clock one;
    * Slack ``ts`` values: ``ts#1``, ``ts#2`` ... in order of first appearance (so threads
      are still checked);
    * local URLs (the Prefect UI link in the brief) and UUIDs (flow run ids): placeholders;
    * the scenario's temporary directory: ``<tmp>``.
    """

    def __init__(self, wall_start: datetime, wall_end: datetime, tmp_dir: Path | None = None):
        self.wall_start = wall_start - timedelta(seconds=1)
        self.wall_end = wall_end + timedelta(seconds=1)
        self.tmp_dirs = [str(p) for p in {str(tmp_dir), str(Path(tmp_dir).resolve())}] if tmp_dir else []
        self.tmp_dirs.sort(key=len, reverse=True)
        self.ts: dict[str, str] = {}
        self.text_replacements: dict[str, str] = {}

    def is_wall_clock(self, value: datetime) -> bool:
        naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        return self.wall_start <= naive <= self.wall_end

    def slack_ts(self, value: str) -> str:
        return self.ts.setdefault(value, f"ts#{len(self.ts) + 1}")

    def learn_alert_states(self, rows: list[dict[str, Any]]) -> None:
        """Firing times from the wall clock appear in delivery kinds as HHMMSS: replace them."""
        for row in rows:
            fired = row.get("fired_at")
            if isinstance(fired, datetime) and self.is_wall_clock(fired):
                key = f"-{row['fingerprint']}-{fired:%H%M%S}"
                self.text_replacements[key] = f"-{row['fingerprint']}-{WALL_CLOCK_HMS}"

    def text(self, value: str) -> str:
        if _SLACK_TS.match(value):
            return self.slack_ts(value)
        for tmp in self.tmp_dirs:
            value = value.replace(tmp, "<tmp>")
        for old, new in self.text_replacements.items():
            value = value.replace(old, new)
        value = _LOCAL_URL.sub("<local-url>", value)
        return _UUID.sub("<uuid>", value)

    def value(self, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return round_float(value)
        if isinstance(value, Decimal):
            return round_float(float(value))
        if isinstance(value, datetime):
            return WALL_CLOCK if self.is_wall_clock(value) else value.isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Path):
            return self.text(str(value))
        if isinstance(value, dict):
            return {str(k): self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        if hasattr(value, "item"):  # numpy scalars
            return self.value(value.item())
        return self.text(str(value))


# ---------------------------------------------------------------------------------------
# Reading the warehouse
# ---------------------------------------------------------------------------------------


def output_tables() -> list[sa.Table]:
    """Every table of the schema that is not raw input, by name."""
    raw = {t.name for t in ALL_RAW_TABLES.values()}
    return sorted((t for t in metadata.sorted_tables if t.name not in raw), key=lambda t: t.name)


def _sort_key(row: list[Any]) -> tuple:
    return tuple((v is None, json.dumps(v, ensure_ascii=False, sort_keys=True)) for v in row)


def _canonical(rows: list[list[Any]]) -> str:
    return json.dumps(rows, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _sha256(rows: list[list[Any]]) -> str:
    return hashlib.sha256(_canonical(rows).encode("utf-8")).hexdigest()


def _read(engine: sa.engine.Engine, table: sa.Table) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table))]


def _briefs_rows(rows: list[dict[str, Any]], norm: Normaliser) -> list[dict[str, Any]]:
    """briefs: the payload as parsed JSON; an alert message's firing day when it is wall-clock."""
    out = []
    for row in rows:
        row = dict(row)
        kind = norm.text(row["kind"])
        if kind != row["kind"] and WALL_CLOCK_HMS in kind:
            row["ds"] = WALL_CLOCK_DATE  # ds = the (wall-clock) firing day of the alert
        row["kind"] = kind
        try:
            row["payload"] = json.loads(row["payload"])
        except (TypeError, ValueError):
            pass
        out.append(row)
    return out


def _alert_states_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        row = dict(row)
        try:
            row["details"] = json.loads(row["details"]) if row["details"] is not None else None
        except ValueError:
            pass
        out.append(row)
    return out


def _dq_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        row = dict(row)
        for key in ("sample", "detail"):
            value = row.get(key)
            if isinstance(value, str) and value[:1] in "[{":
                try:
                    row[key] = json.loads(value)
                except ValueError:
                    pass
        out.append(row)
    return out


def table_snapshot(engine: sa.engine.Engine, norm: Normaliser) -> dict[str, Any]:
    raw = {t.name: _read(engine, t) for t in output_tables()}
    norm.learn_alert_states(raw.get("alert_states", []))
    prepare = {"briefs": lambda r: _briefs_rows(r, norm), "alert_states": _alert_states_rows, "dq_results": _dq_rows}
    snap: dict[str, Any] = {}
    for table in output_tables():
        columns = [c.name for c in table.columns]
        rows = prepare.get(table.name, lambda r: r)(raw[table.name])
        values = sorted(([norm.value(r[c]) for c in columns] for r in rows), key=_sort_key)
        entry: dict[str, Any] = {"columns": columns, "count": len(values)}
        if table.name in HASHED_TABLES:
            per_day: dict[str, list[list[Any]]] = {}
            ds_at = columns.index("ds")
            for row in values:
                per_day.setdefault(str(row[ds_at]), []).append(row)
            entry["per_day"] = {ds: {"count": len(r), "sha256": _sha256(r)} for ds, r in sorted(per_day.items())}
            if table.name == "dq_results":
                ok_at = columns.index("success")
                entry["failures"] = [r for r in values if r[ok_at] is not True]
            if table.name in LAST_DAY_IN_FULL:
                entry["last_day"] = {"ds": END.isoformat(), "rows": per_day.get(END.isoformat(), [])}
        else:
            entry["rows"] = values
        snap[table.name] = entry
    unknown = set(raw) - set(FULL_TABLES) - set(HASHED_TABLES)
    if unknown:  # a new table: stored in full above; say so in the snapshot too
        snap["_tables_not_classified"] = sorted(unknown)
    return snap


# ---------------------------------------------------------------------------------------
# Slack and the outbox
# ---------------------------------------------------------------------------------------


def slack_requests(requests: list[Any], norm: Normaliser) -> list[dict[str, Any]]:
    """Each request in order: method, HTTP status, the body sent, and the gist of the answer."""
    out = []
    for req in requests:
        body = norm.value(dict(req.body))
        payload = (body.get("metadata") or {}).get("event_payload") if isinstance(body.get("metadata"), dict) else None
        if isinstance(payload, dict) and WALL_CLOCK_HMS in str(payload.get("kind")):
            payload["ds"] = WALL_CLOCK_DATE  # the message metadata's ds: the (wall-clock) firing day, as in briefs
        response = None
        if isinstance(req.response, dict):
            response = {k: norm.value(req.response[k]) for k in ("ok", "channel", "ts", "error") if k in req.response}
        out.append({"method": req.method, "status": req.status, "body": body, "response": response})
    return out


def outbox_files(outbox: Path, norm: Normaliser) -> dict[str, Any]:
    if not outbox.exists():
        return {}
    files = {}
    for path in sorted(p for p in outbox.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            content: Any = json.loads(text)
        except ValueError:
            content = text
        files[norm.text(str(path.relative_to(outbox)))] = norm.value(content)
    return files


# ---------------------------------------------------------------------------------------
# The scenario
# ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _isolated_env(workdir: Path, values: dict[str, str]) -> Iterator[None]:
    """Only ``values`` of the OPSCADENCE_* and SLACK_* variables, cwd ``workdir``; both restored after."""
    def ours(name: str) -> bool:
        return (name.startswith("OPSCADENCE_") and name != POSTGRES_URL_ENV) or name.startswith("SLACK_")

    saved = {name: value for name, value in os.environ.items() if ours(name)}
    cwd = os.getcwd()
    for name in saved:
        del os.environ[name]
    os.environ.update(values)
    os.chdir(workdir)
    try:
        yield
    finally:
        os.chdir(cwd)
        for name in [n for n in os.environ if ours(n)]:
            del os.environ[name]
        os.environ.update(saved)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def run_scenario(kind: str, workdir: Path, postgres_url: str | None = None) -> tuple[dict[str, Any], dict[str, float]]:
    """Run the golden scenario on a fresh ``kind`` warehouse; ``(snapshot, seconds per step)``.

    ``workdir`` is an empty scratch directory (the SQLite file and OPSCADENCE_HOME live
    there). PostgreSQL needs ``postgres_url`` and empties that database first. The flows
    need a Prefect API (:func:`prefect_harness` or the ``prefect_server`` fixture).
    """
    if kind not in WAREHOUSE_KINDS:
        raise ValueError(f"unknown warehouse {kind!r}")
    workdir = Path(workdir)
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        url = f"sqlite:///{home / 'warehouse.sqlite'}"
    else:
        if not postgres_url:
            raise ValueError(f"PostgreSQL needs a URL ({POSTGRES_URL_ENV})")
        url = postgres_url
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    wall_start = _utc_now()
    engine = create_engine(url)
    try:
        if kind == "postgresql":
            metadata.drop_all(engine)
        shop = load_demo(engine, users=USERS, days=DAYS, seed=SEED, end_date=END)
    finally:
        engine.dispose()
    if (shop.start, shop.end, shop.payment_incident_day) != (START, END, END):
        raise AssertionError(f"unexpected demo window {shop.start}..{shop.end}")
    seconds["demo"], clock = time.perf_counter() - clock, time.perf_counter()

    results: dict[str, Any] = {}
    slack_by_step: dict[str, list[Any]] = {}
    with SlackApiServer(token=TOKEN) as slack:
        env = {
            "OPSCADENCE_HOME": str(home),
            "OPSCADENCE_WAREHOUSE_URL": url,
            "OPSCADENCE_TIMEZONE": TIMEZONE,
            "OPSCADENCE_LOCALE": STEPS[0].locale,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": slack.url,
        }
        with _isolated_env(workdir, env):
            for step in STEPS:
                os.environ["OPSCADENCE_LOCALE"] = step.locale
                before = len(slack.requests)
                results[step.name] = step.run()
                slack_by_step[step.name] = slack.requests[before:]
                seconds[step.name], clock = time.perf_counter() - clock, time.perf_counter()
    wall_end = _utc_now()

    norm = Normaliser(wall_start, wall_end, tmp_dir=workdir)
    # The alerts' wall-clock firing times first: message metadata in Slack carries their kinds.
    engine = create_engine(url)
    try:
        norm.learn_alert_states(_read(engine, metadata.tables["alert_states"]))
    finally:
        engine.dispose()
    snapshot: dict[str, Any] = {
        "scenario": {
            "warehouse": kind,
            "demo": {"users": USERS, "days": DAYS, "seed": SEED, "start": START.isoformat(), "end": END.isoformat()},
            "timezone": TIMEZONE,
            "steps": {step.name: step.describe() for step in STEPS},
        },
        # Slack first: ts#1, ts#2 ... number the messages in the order Slack saw them.
        "slack": {name: slack_requests(reqs, norm) for name, reqs in slack_by_step.items()},
    }
    engine = create_engine(url)
    try:
        snapshot["tables"] = table_snapshot(engine, norm)
    finally:
        engine.dispose()
    snapshot["flow_results"] = norm.value(results)
    for result in snapshot["flow_results"].values():  # a backfill's wall time per pass: a measurement
        if isinstance(result, dict) and isinstance(result.get("stage_seconds"), dict):
            result["stage_seconds"] = {name: WALL_CLOCK for name in result["stage_seconds"]}
    snapshot["outbox"] = outbox_files(home / "outbox", norm)
    seconds["snapshot"] = time.perf_counter() - clock
    # exactly what a JSON round trip gives (tuples become lists ...), so it compares with a file
    return json.loads(json.dumps(snapshot, ensure_ascii=False)), seconds


# ---------------------------------------------------------------------------------------
# Storage and comparison
# ---------------------------------------------------------------------------------------


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list))


def dumps(value: Any, indent: int = 0) -> str:
    """Pretty JSON, but a list of scalars (a table row) stays on one line."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if all(_is_scalar(v) for v in value):
            return json.dumps(value, ensure_ascii=False)
        return "[\n" + ",\n".join(inner + dumps(v, indent + 1) for v in value) + "\n" + pad + "]"
    return json.dumps(value, ensure_ascii=False)


def write_golden(kind: str, snapshot: dict[str, Any]) -> Path:
    path = golden_path(kind)
    path.write_text(dumps(snapshot) + "\n", encoding="utf-8")
    return path


def load_golden(kind: str) -> dict[str, Any]:
    return json.loads(golden_path(kind).read_text(encoding="utf-8"))


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def _is_rows(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(r, list) and all(map(_is_scalar, r)) for r in value)


def _string_difference(exp: str, act: str, where: str) -> str:
    at = next((i for i, (e, a) in enumerate(zip(exp, act)) if e != a), min(len(exp), len(act)))
    lo = max(0, at - 60)
    return (f"{where}: text differs at character {at} (of {len(exp)} expected, {len(act)} found):\n"
            f"    expected ...{_short(exp[lo:at + 80])}\n    actual   ...{_short(act[lo:at + 80])}")


def _rows_difference(exp: list[list[Any]], act: list[list[Any]], where: str) -> str:
    def count(rows: list[list[Any]]) -> Counter:
        return Counter(json.dumps(r, ensure_ascii=False) for r in rows)

    missing, extra = count(exp) - count(act), count(act) - count(exp)
    lines = [f"{where}: {sum(missing.values())} row(s) of {len(exp)} missing, {sum(extra.values())} unexpected"]
    lines += [f"    missing    {_short(json.loads(r))}" for r in list(missing)[:3]]
    lines += [f"    unexpected {_short(json.loads(r))}" for r in list(extra)[:3]]
    return "\n".join(lines)


def differences(expected: Any, actual: Any, path: str = "$", limit: int = 8) -> list[str]:
    """The first ``limit`` differences, each with its path and both values (shortened).

    Table rows (lists of lists) are compared as multisets: rows missing and rows unexpected.
    """
    out: list[str] = []

    def walk(exp: Any, act: Any, where: str) -> None:
        if len(out) >= limit or exp == act:
            return
        if isinstance(exp, dict) and isinstance(act, dict):
            for key in exp.keys() - act.keys():
                if len(out) < limit:
                    out.append(f"{where}.{key}: missing (expected {_short(exp[key])})")
            for key in act.keys() - exp.keys():
                if len(out) < limit:
                    out.append(f"{where}.{key}: unexpected {_short(act[key])}")
            for key in exp:
                if key in act:
                    walk(exp[key], act[key], f"{where}.{key}")
            return
        if isinstance(exp, list) and isinstance(act, list):
            if (exp or act) and _is_rows(exp) and _is_rows(act):
                if len(exp) == len(act) and sum(e != a for e, a in zip(exp, act)) == 1:
                    i = next(i for i, (e, a) in enumerate(zip(exp, act)) if e != a)
                    out.append(f"{where}[{i}]:\n    expected {_short(exp[i])}\n    actual   {_short(act[i])}")
                else:
                    out.append(_rows_difference(exp, act, where))
                return
            if not (all(map(_is_scalar, exp)) and all(map(_is_scalar, act))):
                for i, (e, a) in enumerate(zip(exp, act)):
                    walk(e, a, f"{where}[{i}]")
                if len(exp) != len(act) and len(out) < limit:
                    n = min(len(exp), len(act))
                    extra = exp[n] if len(exp) > n else act[n]
                    out.append(f"{where}: {len(exp)} items expected, {len(act)} found; first unmatched: {_short(extra)}")
                return
        if isinstance(exp, str) and isinstance(act, str) and len(exp) + len(act) > 200:
            out.append(_string_difference(exp, act, where))
            return
        out.append(f"{where}:\n    expected {_short(exp)}\n    actual   {_short(act)}")

    walk(expected, actual, path)
    return out


def describe_mismatch(kind: str, expected: dict[str, Any], actual: dict[str, Any]) -> str:
    diffs = differences(expected, actual)
    lines = [f"the {kind} run differs from {golden_path(kind).name} (first {len(diffs)} differences):"]
    lines += [f"  {d}" for d in diffs]
    lines.append("If the change is intended, re-record: python -m tests.golden.snapshot record")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def _run_all(kinds: list[str]) -> dict[str, tuple[dict[str, Any], dict[str, float]]]:
    out = {}
    with prefect_harness():
        for kind in kinds:
            with tempfile.TemporaryDirectory(prefix=f"golden-{kind}-") as tmp:
                out[kind] = run_scenario(kind, Path(tmp), os.environ.get(POSTGRES_URL_ENV))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.golden.snapshot", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["record", "check"])
    parser.add_argument("--warehouse", choices=WAREHOUSE_KINDS, action="append",
                        help="only this warehouse (repeatable; default: sqlite, and postgresql when configured)")
    args = parser.parse_args(argv)
    kinds = args.warehouse or available_warehouses()
    if "postgresql" in kinds and not os.environ.get(POSTGRES_URL_ENV):
        parser.error(f"postgresql needs {POSTGRES_URL_ENV}")
    status = 0
    for kind, (snapshot, seconds) in _run_all(kinds).items():
        timing = ", ".join(f"{k} {v:.1f}s" for k, v in seconds.items())
        if args.command == "record":
            path = write_golden(kind, snapshot)
            print(f"{kind}: wrote {path} ({path.stat().st_size:,} bytes; {timing})")
        elif not golden_path(kind).exists():
            print(f"{kind}: no golden file {golden_path(kind)}")
            status = 1
        else:
            expected = load_golden(kind)
            if expected == snapshot:
                print(f"{kind}: identical to {golden_path(kind).name} ({timing})")
            else:
                print(describe_mismatch(kind, expected, snapshot))
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
