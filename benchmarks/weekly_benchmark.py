"""Time the weekly review's pipeline (without Prefect) on a generated shop, 12 vs 53 weeks of history.

For each history length a shop of ``--size`` users is generated (``load_demo_chunked``, seed 7,
ending Sunday 2026-11-22, so the reviewed week 2026-W47 is whole) and the daily marts the weekly
run reads are backfilled first (not timed as part of the weekly run: in production the daily
cadence has written them): the 12 weeks of the charts and, when the history has it, the same
ISO week last year. Then the weekly steps run as the flow runs them, twice:

* ``first``: no weekly marts yet — the reviewed week, last week and last year's week are computed,
  and the charts' 9 earlier weeks filled from their daily marts;
* ``rerun``: every week current — nothing recomputed (a rerun of the same week);
* ``new_week``: the earlier weeks current, the reviewed week's marts new — what a scheduled
  Monday run does in production once the history is there.

Without a Slack token the brief and its chart go to the outbox. The weekly run reads a fixed
window (the reviewed week, its comparison weeks, 12 weeks of charts and retention cohorts), so
its time should follow the size of a week's data, not the length of the history.

    .venv/bin/python benchmarks/weekly_benchmark.py --size M --weeks 12,53 --json /tmp/weekly_m.json
    .venv/bin/python benchmarks/weekly_benchmark.py --size L --reuse   # keeps /tmp/opscadence_weekly/*.sqlite
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = {"S": 10_000, "M": 50_000, "L": 200_000}
END = date(2026, 11, 22)  # a Sunday: the reviewed week 2026-W47 ends on it


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _configure(db: Path, home: Path) -> None:
    os.environ["OPSCADENCE_WAREHOUSE_URL"] = f"sqlite:///{db}"
    os.environ["OPSCADENCE_HOME"] = str(home)
    os.environ.pop("SLACK_BOT_TOKEN", None)


def prepare_shop(users: int, weeks: int, workdir: Path, reuse: bool) -> dict:
    """Generate the shop and backfill the daily marts the weekly run reads."""
    from opscadence import warehouse
    from opscadence.core.config import load_config
    from opscadence.core.periods import Period
    from opscadence.demo.load import load_demo_chunked
    from opscadence.pipelines.backfill import run_backfill
    from opscadence.sources import make_source

    db = workdir / f"shop_{users}_{weeks}w.sqlite"
    _configure(db, workdir / f"home_{users}_{weeks}w")
    out: dict = {"db": str(db)}
    if not (reuse and db.exists()):
        db.unlink(missing_ok=True)
        engine = warehouse.create_engine(f"sqlite:///{db}")
        started = time.perf_counter()
        shop = load_demo_chunked(engine, users=users, days=7 * weeks, seed=7, end_date=END)
        out["generate_s"] = round(time.perf_counter() - started, 1)
        out["rows"] = shop.row_counts
        engine.dispose()
    cfg = load_config()
    engine = warehouse.create_engine(cfg.resolved_warehouse_url)
    warehouse.init_schema(engine)
    source = make_source(cfg.source_list, engine, timezone=cfg.timezone)
    week = Period.containing("week", END)
    ranges = [(week.shift(-11).start, week.last_day)]
    last_year = week.same_period_last_year()
    if last_year.start >= END - timedelta(days=7 * weeks - 1):
        ranges.append((last_year.start, last_year.last_day))
    started = time.perf_counter()
    for start, end in ranges:
        summary = run_backfill(engine, cfg, source, "daily", start, end)
        if summary.failed:
            raise SystemExit(f"daily backfill failed: {summary.failed}")
    out["daily_backfill_s"] = round(time.perf_counter() - started, 1)
    out["daily_days"] = sum((e - s).days + 1 for s, e in ranges)
    engine.dispose()
    return out


def weekly_run() -> dict:
    """The flow's steps, timed one by one (Prefect left out)."""
    from opscadence import warehouse
    from opscadence.analytics.weekly.sections import WeeklyContext, provider
    from opscadence.core.config import load_config
    from opscadence.core.periods import Period
    from opscadence.pipelines import weekly
    from opscadence.sources import make_source

    cfg = load_config()
    engine = warehouse.create_engine(cfg.resolved_warehouse_url)
    source = make_source(cfg.source_list, engine, timezone=cfg.timezone)
    week = Period.containing("week", END)
    steps: dict[str, float] = {}
    total = time.perf_counter()

    def timed(name, fn, *args, **kwargs):
        started = time.perf_counter()
        value = fn(*args, **kwargs)
        steps[name] = round(time.perf_counter() - started, 2)
        return value

    prepared = timed("prepare_weeks", weekly.prepare_weeks, engine, cfg, source, week)
    filled = timed("fill_history", weekly.fill_history, engine, cfg, week)
    ctx = WeeklyContext(engine, cfg, week, cfg.locale, cfg.home / "exports")
    sections = [timed(spec.rpartition(":")[2], provider(spec), ctx) for spec in weekly.section_specs()]
    brief = weekly.assemble_brief(cfg, week, sections, weekly.week_notes(prepared, cfg.locale),
                                  chart_file=weekly.chart_location(None, week))
    message, key = timed("render", weekly.render, brief, cfg.locale)
    deliveries = timed("deliver_brief", weekly.deliver_brief, engine, None, cfg, week, message, key)
    timed("chart", weekly.deliver_chart, engine, None, cfg, week, deliveries, cfg.locale)
    engine.dispose()
    return {"total_s": round(time.perf_counter() - total, 2), "steps": steps,
            "weeks": {k: p.status for k, p in prepared.items()}, "history_filled": len(filled)}


def reset_weekly_marts(only_reviewed_week: bool = False) -> None:
    """Forget every weekly mart (or only the reviewed week's), so that the next run computes them."""
    from opscadence import warehouse
    from opscadence.core.config import load_config
    from opscadence.warehouse.schema import mart_inputs, mart_weekly_funnel, mart_weekly_kpis

    engine = warehouse.create_engine(load_config().resolved_warehouse_url)
    if only_reviewed_week:
        from opscadence.analytics.weekly import marts
        from opscadence.core.periods import Period

        with engine.begin() as conn:
            marts.withdraw_week(conn, Period.containing("week", END))
        engine.dispose()
        return
    with engine.begin() as conn:
        conn.execute(mart_weekly_kpis.delete())
        conn.execute(mart_weekly_funnel.delete())
        conn.execute(mart_inputs.delete().where(mart_inputs.c.cadence == "weekly"))
        conn.execute(warehouse.briefs.delete().where(warehouse.briefs.c.kind.in_(["weekly-brief", "weekly-chart"])))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="M")
    # 53 weeks: a year and the reviewed week, so that the same ISO week last year is in the history
    parser.add_argument("--weeks", default="12,53", help="history lengths in weeks, comma-separated")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/opscadence_weekly"))
    parser.add_argument("--reuse", action="store_true", help="keep a generated shop of the same size and length")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for weeks in [int(w) for w in args.weeks.split(",")]:
        setup = prepare_shop(SIZES[args.size], weeks, args.workdir, args.reuse)
        reset_weekly_marts()
        first = weekly_run()
        rerun = weekly_run()
        reset_weekly_marts(only_reviewed_week=True)
        new_week = weekly_run()
        result = {"size": args.size, "users": SIZES[args.size], "history_weeks": weeks, "setup": setup,
                  "first": first, "rerun": rerun, "new_week": new_week, "peak_rss_mb": _peak_rss_mb()}
        results.append(result)
        print(json.dumps(result, indent=1, default=str), flush=True)
    print()
    print("| shop | history | first run s | new week s | rerun s | new week's steps s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        steps = ", ".join(f"{k.removesuffix('_section')} {v}" for k, v in r["new_week"]["steps"].items() if v >= 0.05)
        print(f"| {r['size']} {r['users'] // 1000}k | {r['history_weeks']} weeks | {r['first']['total_s']} | "
              f"{r['new_week']['total_s']} | {r['rerun']['total_s']} | {steps} | {r['peak_rss_mb']} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
