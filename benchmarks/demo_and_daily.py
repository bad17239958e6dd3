"""Benchmark: demo shop generation + load, and the daily pipeline's steps, at a given size.

Targets (issue #2): demo generation at default size (10k users, 60 days) under 60 s.
Usage: .venv/bin/python benchmarks/demo_and_daily.py [--users N] [--days N] [--json out.json] [--url URL]
The daily steps run without Prefect (plain functions), so the numbers are the pipeline's own cost.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

from opscadence import warehouse

from opscadence.pipelines import daily
from opscadence.sources import make_source
from opscadence.reporting.slack.brief import render_daily_brief
from opscadence.core.config import load_config
from opscadence.demo import load_demo


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--url", default=None, help="warehouse URL (default: a new SQLite file)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    end = date(2026, 11, 24)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/warehouse.sqlite"
        engine = warehouse.create_engine(url)
        if args.url:
            warehouse.metadata.drop_all(engine)
        shop, demo_seconds = _timed(load_demo, engine, users=args.users, days=args.days, seed=args.seed, end_date=end)
        cfg = load_config(environ={"OPSCADENCE_WAREHOUSE_URL": url, "OPSCADENCE_HOME": tmp})
        source = make_source(cfg.source_list, engine, timezone=cfg.timezone)

        _, baseline_seconds = _timed(daily.ensure_baselines, engine, source, end, cfg.vertical)
        extracted, extract_seconds = _timed(daily.extract_day, source, end)
        report, validate_seconds = _timed(daily.validate_day, engine, source, extracted)
        _, compute_seconds = _timed(daily.compute_day, engine, end, cfg.vertical)
        alerts, alert_seconds = _timed(daily.evaluate_day, engine, cfg, end, report)
        brief, assemble_seconds = _timed(daily.assemble_brief, engine, cfg, end, report, alerts)
        _, render_seconds = _timed(render_daily_brief, brief, cfg.locale)
        engine.dispose()

    day_seconds = extract_seconds + validate_seconds + compute_seconds + alert_seconds + assemble_seconds + render_seconds
    result = {
        "users": args.users,
        "days": args.days,
        "warehouse": url.split(":", 1)[0],
        "rows": shop.row_counts,
        "demo_generate_and_load_s": round(demo_seconds, 2),
        "demo_target_s": 60,
        "daily": {
            "baselines_s (2 comparison days, first run only)": round(baseline_seconds, 2),
            "extract_s": round(extract_seconds, 2),
            "validate_s (GX, 6 suites)": round(validate_seconds, 2),
            "compute_marts_s": round(compute_seconds, 2),
            "alerts_s": round(alert_seconds, 2),
            "assemble_s": round(assemble_seconds, 2),
            "render_s": round(render_seconds, 4),
            "one_day_total_s": round(day_seconds, 2),
        },
        "validation_passed": report.passed,
        "alerts": [f"{a.severity} {a.metric} {a.dimension}={a.dimension_value}" for a in alerts],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
