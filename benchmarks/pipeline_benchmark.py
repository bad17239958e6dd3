"""Benchmark: the daily pipeline and backfills on shops of size S, M and L ("run it like production").

Sizes (``load_demo_chunked``: generated and loaded a week at a time, deterministic per seed):

  S  10,000 users,  60 days      M  50,000 users, 180 days      L  200,000 users, 365 days (~26M events)

For each size and warehouse (SQLite file; PostgreSQL with ``--url``) it measures, each phase in
its own subprocess under ``/usr/bin/time -v`` (wall clock and "Maximum resident set size" of the
whole process, Python start-up included; Prefect is involved in the backfill phase only):

* ``generate``   generate + load the shop;
* ``daily``      the daily pipeline for the last day (baselines, extract, validate (GX), compute
                 marts, alerts, brief, render) on the full history, first run (cold: no marts yet)
                 and rerun (steady state: earlier days already computed, as in production);
* ``daily_h30``  the same on a copy holding only the last 30 days of raw data;
* ``backfill``   the ``backfill`` flow over every day of the shop (365 for L), concurrency 1 and 2:
                 chunks as Prefect task runs on Prefect's process pool (``"runner": "dask"``: a
                 local Dask cluster); Prefect's temporary server start-up is included; each
                 phase's JSON carries the validate/compute/evaluate split
                 (``--backfill-days N`` limits it to the last N days; the JSON says so).

Every figure is also reported in machine reference units (``machine_reference``: a 5M-row
SQLite group-by plus a numpy kernel, timed at the start and the end of the run), so that runs on
different days and machines compare: ``seconds_in_units`` = seconds / reference seconds.

Targets: daily pipeline on L <= 10 s, 365-day backfill <= 3 min, peak RSS <= 1.5 GB.
RFM and attribution have their own benchmarks (rfm_benchmark.py, attribution_benchmark.py).

Usage:
  .venv/bin/python benchmarks/pipeline_benchmark.py phase backfill '{"url": "sqlite:////tmp/opscadence_L.sqlite",
      "start": "2025-11-25", "end": "2026-11-24", "concurrency": 2}'     (one phase, measured)
  .venv/bin/python benchmarks/pipeline_benchmark.py --sizes S,M [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]
      [--reuse /tmp/opscadence_L.sqlite] [--backfill-days N] [--no-sqlite] [--json out.json]
``--url`` names a PostgreSQL server/database; the benchmark creates and drops its own databases
``<db>_bench_<size>`` and ``<db>_bench_<size>_h30`` on that server. ``--reuse PATH`` keeps the
generated SQLite file of L at PATH and reuses it when it exists (generation is then not re-measured).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

SIZES = {"S": (10_000, 60), "M": (50_000, 180), "L": (200_000, 365)}
END = date(2026, 11, 24)
SEED = 7
TARGETS = {"daily_L_s": 10, "backfill_365_s": 180, "peak_rss_mb": 1536}
ELSEWHERE = {
    "rfm_1m_orders": "benchmarks/rfm_benchmark.py (against lifetimes, same run)",
    "attribution_100k_paths": "benchmarks/attribution_benchmark.py (against ChannelAttribution, same run)",
}
ROOT = Path(__file__).resolve().parent.parent


# --- phases (run in a child process) ---------------------------------------------------------

def _engine(url: str):
    from opscadence import warehouse

    engine = warehouse.create_engine(url)
    warehouse.init_schema(engine)
    return engine


def phase_generate(url: str, users: int, days: int) -> dict:
    from opscadence import warehouse
    from opscadence.demo import load_demo_chunked

    engine = warehouse.create_engine(url)
    start = time.perf_counter()
    shop = load_demo_chunked(engine, users=users, days=days, seed=SEED, end_date=END)
    return {"rows": shop.row_counts, "seconds": round(time.perf_counter() - start, 2)}


def phase_copy_recent(src: str, dst: str, days: int) -> dict:
    """Copy the last ``days`` days of raw data into an empty warehouse (the 30-day-history case)."""
    import pandas as pd
    import sqlalchemy as sa

    from opscadence import warehouse

    source, target = _engine(src), _engine(dst)
    start = time.perf_counter()
    rows = 0
    for offset in range(days - 1, -1, -1):
        ds = END - timedelta(days=offset)
        with source.connect() as conn:
            frames = {}
            for key, table in warehouse.RAW_TABLES.items():
                result = conn.execute(sa.select(table).where(table.c.ds == ds))
                frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
                frame["ds"] = [d if isinstance(d, date) else date.fromisoformat(str(d)[:10]) for d in frame["ds"]]
                for column in table.columns:
                    if isinstance(column.type, sa.DateTime) and len(frame):
                        frame[column.name] = pd.to_datetime(frame[column.name])
                frames[key] = frame
        with target.begin() as conn:
            for key, table in warehouse.RAW_TABLES.items():
                rows += warehouse.replace_window(conn, table, ds, ds + timedelta(days=1), frames[key])
    return {"rows": rows, "seconds": round(time.perf_counter() - start, 2)}


def _config(url: str, home: str):
    from opscadence.core.config import load_config

    return load_config(environ={"OPSCADENCE_WAREHOUSE_URL": url, "OPSCADENCE_HOME": home})


def phase_daily(url: str, ds: date) -> dict:
    from opscadence.pipelines import daily
    from opscadence.sources import make_source
    from opscadence.reporting.slack.brief import render_daily_brief

    engine = _engine(url)
    with tempfile.TemporaryDirectory() as home:
        cfg = _config(url, home)
        source = make_source(cfg.source_list, engine, timezone=cfg.timezone)
        steps = {}

        def timed(name, fn, *args):
            t = time.perf_counter()
            value = fn(*args)
            steps[name] = round(time.perf_counter() - t, 3)
            return value

        total = time.perf_counter()
        prepared = timed("baselines", daily.ensure_baselines, engine, source, ds, cfg.vertical)
        extracted = timed("extract", daily.extract_day, source, ds)
        report = timed("validate", daily.validate_day, engine, source, extracted)
        timed("compute", daily.compute_day, engine, ds, cfg.vertical)
        alerts = timed("alerts", daily.evaluate_day, engine, cfg, ds, report)
        brief = timed("assemble", daily.assemble_brief, engine, cfg, ds, report, alerts)
        timed("render", render_daily_brief, brief, cfg.locale)
        seconds = time.perf_counter() - total
    return {
        "seconds": round(seconds, 2),
        "seconds_without_baselines": round(seconds - steps["baselines"], 2),
        "steps": steps,
        "baseline_days_prepared": [d.isoformat() for d in prepared],
        "day_rows": {k: len(v) for k, v in extracted.frames.items()},
        "validation_passed": report.passed,
        "alerts": [f"{a.severity} {a.metric} {a.dimension}={a.dimension_value}" for a in alerts],
    }


def phase_backfill(url: str, start: date, end: date, concurrency: int, runner: str = "process") -> dict:
    """The backfill flow itself: chunks as Prefect task runs on its task runner (the process
    pool, or a local Dask cluster), with Prefect's temporary server; seconds are the flow's."""
    from opscadence.core.config import load_config

    from flows.backfill import backfill

    with tempfile.TemporaryDirectory() as home:
        os.environ.update({"OPSCADENCE_WAREHOUSE_URL": url, "OPSCADENCE_HOME": home})
        load_config()
        t = time.perf_counter()
        result = backfill(cadence="daily", start=start, end=end, force=True, concurrency=concurrency,
                          notify=False, runner=runner)
        seconds = time.perf_counter() - t
    days = (end - start).days + 1
    return {
        "runner": runner,
        "seconds": round(seconds, 2),
        "days": days,
        "seconds_per_day": round(seconds / days, 3),
        "done": len(result["done"]),
        "failed": dict(list(result["failed"].items())[:5]),
        "failed_count": len(result["failed"]),
        "stage_seconds": result.get("stage_seconds"),
    }


PHASES = {
    "generate": phase_generate,
    "copy_recent": phase_copy_recent,
    "daily": phase_daily,
    "backfill": phase_backfill,
}


def _child(argv: list[str]) -> None:
    name, payload = argv[0], json.loads(argv[1])
    for key, value in list(payload.items()):
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            payload[key] = date.fromisoformat(value)
    result = PHASES[name](**payload)
    print("RESULT " + json.dumps(result, ensure_ascii=False), flush=True)


# --- the machine reference ------------------------------------------------------------------

REFERENCE_ROWS = 5_000_000


def machine_reference() -> dict:
    """Seconds of two fixed jobs, so that runs on different days (machines here differ ~2x) compare.

    ``sqlite``: a 5M-row in-memory SQLite table (built by a recursive CTE, not timed) grouped by
    1,000 keys with count/sum; ``numpy``: a seeded 5M-element float array sorted, then a 2048² matrix
    product. A phase's figure in reference units is its seconds / (sqlite + numpy) seconds.
    """
    import sqlite3

    import numpy as np

    con = sqlite3.connect(":memory:")
    con.execute("create table t as with recursive n(i) as (select 0 union all select i + 1 from n where i < ?) "
                "select i % 1000 as k, (i * 7919) % 10007 as v from n", (REFERENCE_ROWS - 1,))
    t0 = time.perf_counter()  # the group-by only (building the table is not timed)
    rows = con.execute("select k, count(*), sum(v) from t group by k").fetchall()
    sqlite_s = time.perf_counter() - t0
    con.close()
    assert len(rows) == 1000
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    np.sort(rng.random(REFERENCE_ROWS))
    a = rng.random((2048, 2048))
    float((a @ a).trace())
    numpy_s = time.perf_counter() - t0
    return {"sqlite_s": round(sqlite_s, 3), "numpy_s": round(numpy_s, 3), "unit_s": round(sqlite_s + numpy_s, 3)}


def in_units(seconds: float | None, unit_s: float) -> float | None:
    return None if seconds is None else round(seconds / unit_s, 1)


# --- the parent: run phases under /usr/bin/time -v -------------------------------------------

def _parse_elapsed(text: str) -> float:
    parts = [float(p) for p in text.split(":")]
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + p
    return seconds


def run_phase(name: str, **payload) -> dict:
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    arg = json.dumps({k: (v.isoformat() if isinstance(v, date) else v) for k, v in payload.items()})
    cmd = ["/usr/bin/time", "-v", sys.executable, str(Path(__file__).resolve()), "_phase", name, arg]
    print(f"  … {name} {arg}", file=sys.stderr, flush=True)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, cwd=ROOT, env=env)
        tree_peak = 0
        while child.poll() is None:  # the whole process tree: backfill worker processes included
            tree_peak = max(tree_peak, _tree_rss_kb(child.pid))
            time.sleep(0.2)
        out.seek(0)
        err.seek(0)
        proc = subprocess.CompletedProcess(cmd, child.returncode, out.read(), err.read())
    result: dict = {}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", proc.stderr)
    result["process_wall_s"] = round(_parse_elapsed(wall.group(1)), 2) if wall else None
    result["peak_rss_mb"] = round(int(rss.group(1)) / 1024, 1) if rss else None  # the largest process
    result["peak_rss_tree_mb"] = round(tree_peak / 1024, 1)  # all processes together, sampled every 0.2 s
    if proc.returncode != 0:
        result["error"] = proc.stderr.strip().splitlines()[-25:]
    print(f"    {name}: {json.dumps({k: v for k, v in result.items() if k in ('seconds', 'process_wall_s', 'peak_rss_mb', 'error')})}",
          file=sys.stderr, flush=True)
    return result


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants (from /proc), in kB."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as fh:
                total += next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def _pg_url(base: str, dbname: str) -> str:
    return base.rsplit("/", 1)[0] + "/" + dbname


def _pg_recreate(base: str, dbname: str) -> str:
    import sqlalchemy as sa

    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{dbname}"')
    admin.dispose()
    return _pg_url(base, dbname)


def bench_one(size: str, backend: str, args, workdir: Path) -> dict:
    users, days = SIZES[size]
    out: dict = {"size": size, "users": users, "days": days, "backend": backend}
    if backend == "sqlite":
        path = Path(args.reuse) if (args.reuse and size == "L") else workdir / f"{size}.sqlite"
        url = f"sqlite:///{path}"
        h30 = workdir / f"{size}_h30.sqlite"
        for p in (h30, Path(f"{h30}-wal"), Path(f"{h30}-shm")):
            p.unlink(missing_ok=True)
        url30 = f"sqlite:///{h30}"
        if path.exists() and args.reuse and size == "L":
            out["generate"] = {"reused": str(path)}
        else:
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                p.unlink(missing_ok=True)
            out["generate"] = run_phase("generate", url=url, users=users, days=days)
    else:
        dbname = args.url.rsplit("/", 1)[1].split("?")[0]
        url = _pg_recreate(args.url, f"{dbname}_bench_{size.lower()}")
        url30 = _pg_recreate(args.url, f"{dbname}_bench_{size.lower()}_h30")
        out["generate"] = run_phase("generate", url=url, users=users, days=days)
    out["daily_first"] = run_phase("daily", url=url, ds=END)
    out["daily_rerun"] = run_phase("daily", url=url, ds=END)
    out["copy_recent_30"] = run_phase("copy_recent", src=url, dst=url30, days=30)
    out["daily_h30_first"] = run_phase("daily", url=url30, ds=END)
    out["daily_h30_rerun"] = run_phase("daily", url=url30, ds=END)
    if not args.no_backfill:
        bf_days = min(days, args.backfill_days or days)
        bf_start = END - timedelta(days=bf_days - 1)
        for c in (1, 2):
            result = run_phase("backfill", url=url, start=bf_start, end=END, concurrency=c)
            if bf_days < days:
                result["partial"] = f"last {bf_days} of {days} days"
                result["extrapolated_full_s"] = round(result.get("seconds", 0) / bf_days * days, 1)
            out[f"backfill_c{c}"] = result
    return out


def _fmt(value, unit="") -> str:
    return "—" if value is None else f"{value}{unit}"


def table(results: list[dict]) -> str:
    head = ("| size | warehouse | rows (events / orders) | generate s | daily 365d hist: first / rerun s | "
            "daily 30d hist: first / rerun s | backfill c1 s | backfill c2 s | peak RSS MB (max phase) |")
    lines = [head, "|" + "---|" * 9]
    for r in results:
        gen = r.get("generate", {})
        rows = gen.get("rows") or {}
        peak = max((v.get("peak_rss_mb") or 0) for v in r.values() if isinstance(v, dict))

        def d(key):
            v = r.get(key) or {}
            return _fmt(v.get("seconds_without_baselines") if key.endswith("rerun") else v.get("seconds"))

        def b(key):
            v = r.get(key)
            if not v:
                return "not run"
            s = _fmt(v.get("seconds"))
            if v.get("partial"):
                s += f" ({v['partial']}; ≈{v['extrapolated_full_s']} full)"
            return s

        lines.append(
            f"| {r['size']} ({r['users']:,}u/{r['days']}d) | {r['backend']} | "
            f"{_fmt(rows.get('events'))} / {_fmt(rows.get('orders'))} | {_fmt(gen.get('seconds'), '') if 'seconds' in gen else 'reused'} | "
            f"{d('daily_first')} / {d('daily_rerun')} | {d('daily_h30_first')} / {d('daily_h30_rerun')} | "
            f"{b('backfill_c1')} | {b('backfill_c2')} | {peak} |"
        )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_phase":
        _child(sys.argv[2:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "phase":  # one phase measured: phase NAME 'JSON'
        payload = json.loads(sys.argv[3])
        before = machine_reference()
        result = run_phase(sys.argv[2], **payload)
        after = machine_reference()
        unit = (before["unit_s"] + after["unit_s"]) / 2
        result["machine_reference"] = {"before": before, "after": after, "unit_s": round(unit, 3)}
        result["seconds_in_units"] = in_units(result.get("seconds"), unit)
        for stage, sec in (result.get("stage_seconds") or {}).items():
            result.setdefault("stage_units", {})[stage] = in_units(sec, unit)
        print(json.dumps(result, ensure_ascii=False))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "reference":  # the machine reference alone
        print(json.dumps(machine_reference()))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="S,M,L")
    parser.add_argument("--url", default=None, help="PostgreSQL URL (server + base database name)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--reuse", default=None, help="SQLite file for L, reused when it exists")
    parser.add_argument("--backfill-days", type=int, default=None, help="backfill only the last N days")
    parser.add_argument("--no-backfill", action="store_true")
    parser.add_argument("--workdir", default="/tmp/opscadence_bench")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not Path("/usr/bin/time").exists():
        sys.exit("needs /usr/bin/time (apt-get install -y time)")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    backends = ([] if args.no_sqlite else ["sqlite"]) + (["postgresql"] if args.url else [])
    results = []
    before = machine_reference()  # start and end of the run: the machine may change in between
    for size in [s.strip().upper() for s in args.sizes.split(",") if s.strip()]:
        for backend in backends:
            print(f"== {size} on {backend}", file=sys.stderr, flush=True)
            results.append(bench_one(size, backend, args, workdir))
    after = machine_reference()
    unit = (before["unit_s"] + after["unit_s"]) / 2
    for r in results:
        for phase in r.values():
            if isinstance(phase, dict) and "seconds" in phase:
                phase["seconds_in_units"] = in_units(phase.get("seconds"), unit)
    reference = {"before": before, "after": after, "unit_s": round(unit, 3)}
    report = {"end_date": END.isoformat(), "seed": SEED, "targets": TARGETS, "machine_reference": reference,
              "results": results, **ELSEWHERE}
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    print()
    print(table(results))
    print(f"\nmachine reference: {unit:.2f} s per unit (5M-row SQLite group-by {before['sqlite_s']} / "
          f"{after['sqlite_s']} s, numpy kernel {before['numpy_s']} / {after['numpy_s']} s, start / end); "
          "seconds_in_units in the JSON = seconds / unit")
    print()
    for key, value in ELSEWHERE.items():
        print(f"- {key}: {value}")


if __name__ == "__main__":
    main()
