"""The ``opscadence`` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from datetime import date, datetime, timedelta, timezone
from typing import Sequence

from opscadence.core.config import ConfigError, load_config
from opscadence.core.errors import EXIT_DELIVERY, UserError


def _prefect_defaults() -> None:
    # Telemetry off for everything this command starts (the Prefect server included).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _cmd_demo(args: argparse.Namespace) -> int:
    from opscadence import warehouse
    from opscadence.core.periods import last_complete
    from opscadence.demo import load_demo

    cfg = load_config()
    end = args.end_date or last_complete("day", cfg.timezone).start
    engine = warehouse.create_engine(cfg.resolved_warehouse_url)
    shop = load_demo(engine, users=args.users, days=args.days, seed=args.seed, end_date=end)
    if args.history:
        _prepare_history(engine, cfg, shop.start, shop.end - timedelta(days=1))
    engine.dispose()
    print(f"demo shop written to {cfg.resolved_warehouse_url}")
    print(f"  days {shop.start} .. {shop.end} ({args.days} days, {args.users} users, seed {args.seed})")
    print("  rows: " + ", ".join(f"{table} {count:,}" for table, count in shop.row_counts.items()))
    print("  planted incidents:")
    print(f"    payment success below 95% on {shop.payment_incident_day}")
    print(f"    DAU more than 15% below the same weekday last week on {shop.dau_drop_day}")
    print(f"    promotion day {shop.promo_day}; channel with CTR under 1%: {shop.low_ctr_channel}")
    return 0


def _prepare_history(engine, cfg, start: date, end: date) -> None:
    """Validate and compute every day but the last, so the detector has history (no messages)."""
    from tqdm import tqdm

    from opscadence.pipelines.backfill import progress_steps, run_backfill
    from opscadence.sources import make_source

    # two steps per day: validated, then computed (a day already done: both at once)
    with tqdm(total=progress_steps("daily") * ((end - start).days + 1), unit="step", desc="history",
              file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
        summary = run_backfill(engine, cfg, make_source(cfg.source, engine, timezone=cfg.timezone), "daily", start, end,
                               progress=lambda _period, _status: bar.update(1))
    print(f"  history prepared: {len(summary.done)} days validated and computed, "
          f"{len(summary.skipped)} already done, {len(summary.failed)} failed"
          + (f"; {len(summary.recomputed)} recomputed: inputs changed" if summary.recomputed else ""))


def _cmd_run(args: argparse.Namespace) -> int:
    _prefect_defaults()
    load_config()  # fail fast with a clear message before Prefect starts
    if args.cadence == "watch":
        return _run_watch(args)
    from opscadence.core.periods import get_cadence

    from flows.server import die_with_this_process
    from opscadence.delivery.outbox import DeliveryFailed

    die_with_this_process()
    flow = get_cadence(args.cadence).flow_function()
    try:
        result, undelivered = flow(as_of=args.date, notify=not args.no_notify), None
    except DeliveryFailed as exc:  # everything was recorded; the messages wait in the outbox
        result, undelivered = exc.result, exc
    period = result["period"]
    if result.get("text"):
        print()
        print(result["text"])
        print()
    if result.get("recomputed"):
        print(f"{len(result['recomputed'])} day(s) recomputed: inputs changed ({', '.join(result['recomputed'])})")
    if result.get("validation_passed") is False:
        print(f"data validation FAILED for {period}: KPIs withheld, see the data-quality section")
    for d in result.get("deliveries", []):
        where = str(Path(d["path"]).resolve()) if d.get("path") else f"Slack {d['channel']}"
        failed = f" (FAILED: {d['error_code']}, Slack {d['channel']})" if d.get("error_code") else ""
        print(f"{d['kind']} for {d.get('period') or period} -> {d['status']}: {where}{failed}")
    return _undelivered(undelivered)


def _undelivered(exc) -> int:
    """Name the failed deliveries on standard error; EXIT_DELIVERY when there are any."""
    if exc is None:
        return 0
    for o in exc.failures:
        print(f"opscadence: not delivered: {o.kind} for {o.period or o.ds} to {o.channel}: "
              f"{o.error_code or 'error'} ({o.error})", file=sys.stderr)
    print(f"opscadence: {exc}", file=sys.stderr)
    return exc.exit_code


def _run_watch(args: argparse.Namespace) -> int:
    from flows.server import die_with_this_process
    from flows.watch import watch
    from opscadence.delivery.outbox import DeliveryFailed

    die_with_this_process()
    try:
        result, undelivered = watch(as_of=args.at, notify=not args.no_notify), None
    except DeliveryFailed as exc:
        result, undelivered = exc.result, exc
    print(f"intraday watch at {result['at']}" + (" (data late)" if result["data_late"] else ""))
    print("  " + ", ".join(f"{k} {v:g}" for k, v in result["numbers"].items()))
    print("  breached: " + (", ".join(result["breached"]) or "nothing"))
    for t in result["transitions"]:
        print(f"  {t}")
    for d in result["deliveries"]:
        failed = f" (FAILED: {d['error_code']})" if d.get("error_code") else ""
        print(f"  {d['kind']} -> {d['status']}: {d['channel']}{failed}")
    return _undelivered(undelivered)


def _cmd_backfill(args: argparse.Namespace) -> int:
    _prefect_defaults()
    load_config()
    from flows.backfill import backfill
    from flows.server import die_with_this_process
    from opscadence.delivery.outbox import DeliveryFailed

    die_with_this_process()
    try:
        result, undelivered = backfill(cadence=args.cadence, start=args.start, end=args.end, force=args.force,
                                       concurrency=args.concurrency, notify=not args.no_notify), None
    except DeliveryFailed as exc:
        result, undelivered = exc.result, exc
    print(f"backfill {args.cadence} {args.start}..{args.end}: {len(result['done'])} done, "
          f"{len(result['skipped'])} skipped, {len(result['failed'])} failed")
    if result["recomputed"]:
        print(f"  {len(result['recomputed'])} recomputed: inputs changed")
    for ds, why in sorted(result["failed"].items()):
        print(f"  {ds}: {why}")
    if result["summary_delivery"]:
        print(f"summary -> {result['summary_delivery']['status']}: {result['summary_delivery']['channel']}")
    if undelivered is not None:
        return _undelivered(undelivered)
    return 1 if result["failed"] else 0


def _engine():
    from opscadence import warehouse

    cfg = load_config()
    engine = warehouse.create_engine(cfg.resolved_warehouse_url)
    warehouse.init_schema(engine)
    return engine


def _when(value: str) -> datetime:
    """An absolute time (ISO 8601, shop timezone when no offset) or a duration like 30m, 2h, 1d."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if value[-1:] in units and value[:-1].isdigit():
        return datetime.now(timezone.utc) + timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time (ISO 8601 or 30m/2h/1d): {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=load_config().tz)
    return moment


def _cmd_alerts(args: argparse.Namespace) -> int:
    from opscadence.alerting import lifecycle

    engine = _engine()
    now = datetime.now(timezone.utc)
    try:
        if args.alerts_command == "list":
            rows = lifecycle.list_alerts(engine, state=args.state)
            if not rows:
                print("no alerts")
            for r in rows:
                flags = (" acked" if r["acked"] else "") + (f" silenced until {r['silenced_until']}" if r["silenced_until"] else "")
                print(f"{r['fingerprint']}  {r['state']:<8} {r['severity']}  {r['metric']} {r['dimension']}  "
                      f"since {r['since']}{flags}")
        elif args.alerts_command == "ack":
            row = lifecycle.ack(engine, args.fingerprint, by=args.by, now=now)
            print(f"acknowledged {row['fingerprint']} ({row['metric']} {row['dimension']})")
        elif args.alerts_command == "silence":
            row = lifecycle.silence(engine, args.fingerprint, until=args.until, now=now)
            print(f"silenced {row['fingerprint']} until {row['silenced_until']} UTC")
    except ValueError as exc:
        print(f"opscadence: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


def _cmd_detect(args: argparse.Namespace) -> int:
    from opscadence.detection.anomalies import calendars, policies
    from opscadence.detection.detector import detect_long, read_series_csv

    cfg = load_config()
    try:
        frame = read_series_csv(args.input)
    except ValueError as exc:
        print(f"opscadence: {exc}", file=sys.stderr)
        return 2
    known = policies(cfg)
    result = detect_long(frame, policies=known, calendar=calendars(cfg), min_history=cfg.detection.min_history)
    columns = ["ds", "metric", "value", "expected", "lower", "upper", "is_anomaly", "direction", "score"]
    result = result[columns]
    if args.out:
        result.to_csv(args.out, index=False)
        print(f"{int(result['is_anomaly'].sum())} anomalies in {len(result)} rows -> {args.out}", file=sys.stderr)
    else:
        result.to_csv(sys.stdout, index=False)
    return 0


def _cmd_outbox_status(_args: argparse.Namespace) -> int:
    from opscadence.delivery.outbox import outbox_health

    engine = _engine()
    try:
        health = outbox_health(engine)
    finally:
        engine.dispose()
    if not health.undelivered:
        print("outbox empty: every message was delivered")
        return 0
    in_flight = f" ({health.in_flight} in flight: outcome unknown, looked for in Slack before any repost)" \
        if health.in_flight else ""
    print(f"{health.undelivered} pending{in_flight}")
    print(f"oldest pending period: {health.oldest_period}")
    print(f"last error: {health.last_error or 'none'}")
    return 0


def _cmd_outbox_send(_args: argparse.Namespace) -> int:
    from opscadence import warehouse
    from opscadence.delivery.outbox import send_outbox
    from opscadence.delivery.slack import client_from_env

    cfg = load_config()
    client = client_from_env(timeout=cfg.slack.request_timeout_seconds,
                             max_delivery_seconds=cfg.slack.max_delivery_seconds)
    if client is None:
        print("SLACK_BOT_TOKEN is not set: nothing can be sent", file=sys.stderr)
        return 2
    engine = warehouse.create_engine(cfg.resolved_warehouse_url)
    warehouse.init_schema(engine)
    outcomes = send_outbox(engine, client, cfg.outbox_dir)
    for o in outcomes:
        print(f"{o.kind} {o.ds} {o.channel}: {o.status}" + (f" ({o.error})" if o.error else ""))
    print(f"{sum(o.status in ('posted', 'updated') for o in outcomes)} sent, "
          f"{sum(o.status == 'outbox' for o in outcomes)} still pending")
    return EXIT_DELIVERY if any(o.status == "outbox" for o in outcomes) else 0


def _cmd_config(_args: argparse.Namespace) -> int:
    cfg = load_config()
    print(cfg.model_dump_json(indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opscadence", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="generate a deterministic demo shop into the warehouse")
    demo.add_argument("--users", type=int, default=10_000)
    demo.add_argument("--days", type=int, default=60)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--end-date", type=_iso_date, default=None, help="last day (default: yesterday in the shop's timezone)")
    demo.add_argument("--history", action="store_true",
                      help="also validate and compute every day but the last (the detector's history; no messages)")
    demo.set_defaults(func=_cmd_demo)

    from opscadence.core.periods import cadence_names

    run = sub.add_parser("run", help="run a cadence's flow locally")
    run.add_argument("cadence", choices=[*cadence_names(), "watch"])
    run.add_argument("--date", type=_iso_date, default=None,
                     help="a day of the period to run (default: the period that just ended in the shop's timezone)")
    run.add_argument("--at", type=datetime.fromisoformat, default=None,
                     help="watch: the moment to judge, ISO time in the shop's timezone (default: now)")
    run.add_argument("--no-notify", action="store_true", help="record results but send nothing")
    run.set_defaults(func=_cmd_run)

    backfill = sub.add_parser("backfill", help="run a cadence for every period in a range (one summary message)")
    backfill.add_argument("cadence", choices=cadence_names())
    backfill.add_argument("--start", type=_iso_date, required=True)
    backfill.add_argument("--end", type=_iso_date, required=True)
    backfill.add_argument("--force", action="store_true", help="redo periods that are already complete")
    backfill.add_argument("--concurrency", type=int, default=1, choices=range(1, 9), metavar="N",
                          help="worker processes, each taking a 16-day chunk at a time (1-8; about the number of cores)")
    backfill.add_argument("--no-notify", action="store_true", help="no summary message")
    backfill.set_defaults(func=_cmd_backfill)

    detect = sub.add_parser("detect", help="run the anomaly detector on any long-format CSV (ds,metric,value[,denominator])")
    detect.add_argument("--input", type=Path, required=True)
    detect.add_argument("--out", type=Path, default=None, help="output CSV (default: standard output)")
    detect.set_defaults(func=_cmd_detect)

    alerts = sub.add_parser("alerts", help="the alert lifecycle: list, acknowledge, silence")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True)
    listing = alerts_sub.add_parser("list", help="alerts, firing first")
    listing.add_argument("--state", choices=["pending", "firing", "resolved"], default=None)
    listing.set_defaults(func=_cmd_alerts)
    ack = alerts_sub.add_parser("ack", help="acknowledge an alert (stops its P1 escalation)")
    ack.add_argument("fingerprint", help="the fingerprint or a unique prefix of at least 6 characters")
    ack.add_argument("--by", default=os.environ.get("USER", "cli"))
    ack.set_defaults(func=_cmd_alerts)
    silence = alerts_sub.add_parser("silence", help="send nothing for an alert until a time")
    silence.add_argument("fingerprint")
    silence.add_argument("--until", type=_when, required=True, help="ISO time (shop timezone) or 30m / 2h / 1d")
    silence.set_defaults(func=_cmd_alerts)

    outbox = sub.add_parser("outbox", help="messages that could not be delivered")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", required=True)
    send = outbox_sub.add_parser("send", help="deliver every pending message to Slack")
    send.set_defaults(func=_cmd_outbox_send)
    status = outbox_sub.add_parser("status", help="pending messages, the oldest pending period, the last error")
    status.set_defaults(func=_cmd_outbox_status)

    config = sub.add_parser("config", help="print the effective configuration (no secrets)")
    config.set_defaults(func=_cmd_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, UserError) as exc:
        print(f"opscadence: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)


if __name__ == "__main__":
    sys.exit(main())
