"""The ``opscadence`` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from datetime import date, datetime, timedelta, timezone
from typing import Sequence

from opscadence.core.config import ConfigError, load_config
from opscadence.core.errors import EXIT_DELIVERY, EXIT_FAILED, EXIT_USAGE, UserError
from opscadence.metrics.catalog import VERTICALS

DEBUG_ENV = "OPSCADENCE_DEBUG"
# The longest backfill range accepted: longer is most likely a typo in a year (2062 for 2026).
MAX_BACKFILL_DAYS = 5 * 366


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


def _iso_datetime(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time (ISO 8601, e.g. 2026-11-24T14:15): {value!r}") from None


def _int_at_least(minimum: int):
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}: {value!r}")
        return number

    return parse


def _cmd_demo(args: argparse.Namespace) -> int:
    from opscadence import warehouse
    from opscadence.core.periods import last_complete
    from opscadence.demo import load_demo
    from opscadence.demo.shop import check_size

    check_size(args.users, args.days)  # before the warehouse is touched
    cfg = load_config()
    vertical = args.vertical or cfg.vertical
    end = args.end_date or last_complete("day", cfg.timezone).start
    engine = warehouse.create_engine(cfg.resolved_warehouse_url)
    shop = load_demo(engine, users=args.users, days=args.days, seed=args.seed, end_date=end, vertical=vertical)
    if args.history:  # computed as the data's vertical, whatever the configuration says
        _prepare_history(engine, cfg.model_copy(update={"vertical": vertical}), shop.start,
                         shop.end - timedelta(days=1))
    engine.dispose()
    what = "demo shop" if vertical == "ecommerce" else f"demo {vertical} app"
    print(f"{what} written to {engine.url.render_as_string(hide_password=True)}")
    print(f"  days {shop.start} .. {shop.end} ({args.days} days, {args.users} users, seed {args.seed})")
    print("  rows: " + ", ".join(f"{table} {count:,}" for table, count in shop.row_counts.items()))
    print("  planted incidents:")
    for line in shop.planted():
        print(f"    {line}")
    if vertical != cfg.vertical:
        # The runs read the vertical from the configuration: say how to make them read this data's.
        print(f"opscadence: warning: the configuration's vertical is {cfg.vertical}, this demo's is {vertical}; "
              f"run with OPSCADENCE_VERTICAL={vertical} (or vertical: {vertical} in the config file) "
              f"to see its KPI pack and funnel", file=sys.stderr)
    return 0


def _prepare_history(engine, cfg, start: date, end: date) -> None:
    """Validate and compute every day but the last, so the detector has history (no messages)."""
    from tqdm import tqdm

    from opscadence.pipelines.backfill import progress_steps, run_backfill
    from opscadence.sources import make_source

    # two steps per day: validated, then computed (a day already done: both at once)
    with tqdm(total=progress_steps("daily") * ((end - start).days + 1), unit="step", desc="history",
              file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
        summary = run_backfill(engine, cfg, make_source(cfg.source_list, engine, timezone=cfg.timezone), "daily", start, end,
                               progress=lambda _period, _status: bar.update(1))
    print(f"  history prepared: {len(summary.done)} days validated and computed, "
          f"{len(summary.skipped)} already done, {len(summary.failed)} failed"
          + (f"; {len(summary.recomputed)} recomputed: inputs changed" if summary.recomputed else ""))


def _check_warehouse() -> None:
    """Connect once before a flow starts: an unreachable warehouse is one line, not a failed flow run."""
    from opscadence import warehouse

    engine = warehouse.create_engine(load_config().resolved_warehouse_url)
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()


def _check_pseudonym_key(cfg) -> None:
    from opscadence.core.privacy import check_pseudonym_key

    check_pseudonym_key(cfg)


def _check_range(start: date, end: date) -> None:
    if end < start:
        raise UserError(f"--end {end} is before --start {start}")
    if (end - start).days + 1 > MAX_BACKFILL_DAYS:
        raise UserError(f"--start {start} .. --end {end} is {(end - start).days + 1} days, more than "
                        f"{MAX_BACKFILL_DAYS} (5 years): check the years, or backfill in several ranges")


def _cmd_run(args: argparse.Namespace) -> int:
    _prefect_defaults()
    cfg = load_config()  # fail fast with a clear message before Prefect starts
    _check_pseudonym_key(cfg)
    _check_warehouse()
    if args.cadence == "watch":
        return _run_watch(args)
    from opscadence.core.periods import check_complete, get_cadence

    from flows.server import die_with_this_process
    from opscadence.delivery.outbox import DeliveryFailed

    spec = get_cadence(args.cadence)
    if not args.allow_partial:  # refused here, before Prefect starts; the flow checks again
        check_complete(spec.period(args.date, cfg.timezone), cfg.timezone)
    die_with_this_process()
    flow = spec.flow_function()
    try:
        result, undelivered = flow(as_of=args.date, notify=not args.no_notify,
                                   **({"allow_partial": True} if args.allow_partial else {})), None
    except DeliveryFailed as exc:  # everything was recorded; the messages wait in the outbox
        result, undelivered = exc.result, exc
    period = result["period"]
    if result.get("text"):  # the brief's plain text (entities decoded), as the .md outbox file has it
        print()
        print(result["text"])
        print()
    if result.get("recomputed"):
        print(f"{len(result['recomputed'])} day(s) recomputed: inputs changed ({', '.join(result['recomputed'])})")
    if result.get("partial"):
        print(f"{period} has not ended yet: partial numbers, the alert states were left alone")
    failed = result.get("validation_passed") is False
    if failed:
        print(f"data validation FAILED for {period}: KPIs withheld, see the data-quality section")
    for d in result.get("deliveries", []):
        where = str(Path(d["path"]).resolve()) if d.get("path") else f"Slack {d['channel']}"
        not_sent = f" (FAILED: {d['error_code']}, Slack {d['channel']})" if d.get("error_code") else ""
        print(f"{d['kind']} for {d.get('period') or period} -> {d['status']}: {where}{not_sent}")
    if undelivered is not None:
        return _undelivered(undelivered)
    return EXIT_FAILED if failed else 0


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
    _check_range(args.start, args.end)
    cfg = load_config()
    _check_warehouse()
    from opscadence.core.periods import Period, check_complete, get_cadence

    _check_pseudonym_key(cfg)
    grain = get_cadence(args.cadence).grain
    check_complete(Period.containing(grain, args.end), cfg.timezone, hint="end the backfill there")
    from flows.backfill import backfill
    from flows.server import die_with_this_process
    from opscadence.delivery.outbox import DeliveryFailed

    die_with_this_process()
    try:
        result, undelivered = backfill(cadence=args.cadence, start=args.start, end=args.end, force=args.force,
                                       concurrency=args.concurrency, notify=not args.no_notify,
                                       runner=args.runner), None
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
        try:
            moment = moment.replace(tzinfo=load_config().tz)
        except ConfigError as exc:  # argparse would report it as "invalid _when value"
            raise argparse.ArgumentTypeError(str(exc)) from None
    return moment


def _cmd_alerts(args: argparse.Namespace) -> int:
    from opscadence.alerting import lifecycle
    from opscadence.reporting.i18n import format_datetime

    engine = _engine()
    tz = load_config().tz
    now = datetime.now(timezone.utc)

    def local(moment: datetime | None) -> str:
        # Stored as naive UTC; shown in the shop's timezone with its offset.
        return "-" if moment is None else format_datetime(moment, tz)

    try:
        if args.alerts_command == "list":
            rows = lifecycle.list_alerts(engine, state=args.state)
            if not rows:
                print("no alerts")
            for r in rows:
                flags = (" acked" if r["acked"] else "") + (
                    f" silenced until {local(r['silenced_until'])}" if r["silenced_until"] else "")
                print(f"{r['fingerprint']}  {r['state']:<8} {r['severity']}  {r['metric']} {r['dimension']}  "
                      f"since {local(r['since'])}{flags}")
        elif args.alerts_command == "ack":
            row = lifecycle.ack(engine, args.fingerprint, by=args.by, now=now)
            print(f"acknowledged {row['fingerprint']} ({row['metric']} {row['dimension']}) at {local(row['acked_at'])}")
        elif args.alerts_command == "silence":
            row = lifecycle.silence(engine, args.fingerprint, until=args.until, now=now)
            print(f"silenced {row['fingerprint']} until {local(row['silenced_until'])}")
    except ValueError as exc:
        print(f"opscadence: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


def _cmd_detect(args: argparse.Namespace) -> int:
    from opscadence.adhoc import output_path
    from opscadence.core.csvsafe import safe_frame
    from opscadence.detection.anomalies import calendars, policies
    from opscadence.detection.detector import detect_long, read_series_csv

    cfg = load_config()
    output_path(args.out)
    frame = read_series_csv(args.input)
    known = policies(cfg)
    result = detect_long(frame, policies=known, calendar=calendars(cfg), min_history=cfg.detection.min_history)
    columns = ["ds", "metric", "value", "expected", "lower", "upper", "is_anomaly", "direction", "score"]
    result = result[columns]
    if args.out:
        safe_frame(result).to_csv(args.out, index=False)
        print(f"{int(result['is_anomaly'].sum())} anomalies in {len(result)} rows -> {args.out}", file=sys.stderr)
    else:
        safe_frame(result).to_csv(sys.stdout, index=False)
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from opscadence import warehouse
    from opscadence.core.privacy import check_pseudonym_key, config_pseudonym_key
    from opscadence.imports import IMPORT_TABLES, load_aliases, plan_import, write_import
    from opscadence.imports.summary import summary_lines

    cfg = load_config()
    table = IMPORT_TABLES[args.table]
    aliases = load_aliases(args.mapping)
    # A dry run shows no hashed value, so it hashes with a throwaway key and creates no key file.
    if not args.dry_run:
        check_pseudonym_key(cfg)  # production: the key from the environment, before a file is read
    key = None if args.dry_run else (lambda: config_pseudonym_key(cfg))
    plan = plan_import(table, args.files, aliases=aliases, timezone=cfg.timezone, pseudonym_key=key,
                       sheet=args.sheet)
    if args.dry_run:
        for line in summary_lines(plan, dry_run=True):
            print(line)
        return 0 if plan.ok else EXIT_USAGE
    if not plan.ok:  # one line; --dry-run lists the problems
        raise UserError(plan.first_problem())
    engine = warehouse.create_engine(cfg.resolved_warehouse_url)
    try:
        warehouse.init_schema(engine)
        written = write_import(engine, plan)
    finally:
        engine.dispose()
    for line in summary_lines(plan, dry_run=False, written=written):
        print(line)
    return 0


def _cmd_forget(args: argparse.Namespace) -> int:
    from opscadence import warehouse
    from opscadence.core.privacy import config_pseudonym_key
    from opscadence.warehouse.erasure import forget_customer

    cfg = load_config()
    key = config_pseudonym_key(cfg)  # production: from the environment, else a clear error
    engine = warehouse.create_engine(cfg.resolved_warehouse_url)
    try:
        warehouse.init_schema(engine)
        result = forget_customer(engine, args.customer, key, cfg.home / "exports")
    finally:
        engine.dispose()
    if not result.ids:  # the value is not repeated: it may be a phone number
        print("no row of that customer is held: nothing deleted")
        return 0
    print(f"customer forgotten ({result.ids} stored id{'s' if result.ids > 1 else ''}), one transaction:")
    for table, count in result.rows.items():
        print(f"  {table}: {count} {'rows updated' if table == 'mart_weekly_painpoints' else 'rows deleted'}")
    for name, count in result.files.items():
        print(f"  exports/{name}: {count} lines removed")
    print("the days and weeks these rows fed show as changed: the next run or backfill recomputes them")
    return 0


def _cmd_purge(args: argparse.Namespace) -> int:
    from opscadence import warehouse
    from opscadence.warehouse.erasure import purge, purge_targets
    from opscadence.warehouse.schema import warehouse_name

    cfg = load_config()
    engine = warehouse.create_engine(cfg.resolved_warehouse_url)
    try:
        targets = purge_targets(engine, cfg.home)
        if not args.yes:
            print(f"this deletes every row of opscadence's tables in {warehouse_name(engine)}", file=sys.stderr)
            for path in targets:
                print(f"  and {path}", file=sys.stderr)
            if not sys.stdin.isatty():
                raise UserError("purge deletes all the data and cannot be undone: run it with --yes to confirm")
            if input("type 'purge' to go on: ").strip() != "purge":
                print("nothing deleted")
                return EXIT_USAGE
        result = purge(engine, cfg.home)
    finally:
        engine.dispose()
    print(f"purged: {sum(result.rows.values())} rows deleted from {len(result.rows)} tables")
    for table, count in result.rows.items():
        if count:
            print(f"  {table}: {count}")
    for path in result.removed:
        print(f"  deleted {path}")
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
        raise UserError("SLACK_BOT_TOKEN is not set: nothing can be sent")
    engine = warehouse.create_engine(cfg.resolved_warehouse_url)
    warehouse.init_schema(engine)
    outcomes = send_outbox(engine, client, cfg.outbox_dir)
    for o in outcomes:
        print(f"{o.kind} {o.ds} {o.channel}: {o.status}" + (f" ({o.error})" if o.error else ""))
    print(f"{sum(o.status in ('posted', 'updated') for o in outcomes)} sent, "
          f"{sum(o.status == 'outbox' for o in outcomes)} still pending")
    return EXIT_DELIVERY if any(o.status == "outbox" for o in outcomes) else 0


def _cmd_config(_args: argparse.Namespace) -> int:
    from opscadence.core.privacy import mask_secrets

    cfg = load_config()
    # The config holds no secret of its own (the file refuses them), but warehouse_url may carry
    # a password, and a secret from the environment must not show up wherever it was put.
    print(mask_secrets(cfg.model_dump_json(indent=2)))
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line too, like every other expected failure."""

    def error(self, message: str):  # noqa: ANN201 - argparse's signature
        self.exit(EXIT_USAGE, f"opscadence: {_one_line(message)} (see: {self.prog} --help)\n")


def _add_debug_flag(parser: argparse.ArgumentParser, *, top: bool = True) -> None:
    """``--debug`` before or after the subcommand (a subcommand's default would hide the top-level one)."""
    parser.add_argument("--debug", action="store_true", default=False if top else argparse.SUPPRESS,
                        help=f"show the traceback of an error (also: {DEBUG_ENV}=1)")
    for action in parser._actions:  # argparse has no public way to list subparsers
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                _add_debug_flag(sub, top=False)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="opscadence", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="generate a deterministic demo shop (or social app) into the warehouse")
    demo.add_argument("--users", type=int, default=10_000)
    demo.add_argument("--days", type=int, default=60)
    demo.add_argument("--seed", type=_int_at_least(0), default=7)
    demo.add_argument("--end-date", type=_iso_date, default=None, help="last day (default: yesterday in the shop's timezone)")
    demo.add_argument("--vertical", choices=VERTICALS, default=None,
                      help="the e-commerce shop or the social app (default: the configuration's vertical)")
    demo.add_argument("--history", action="store_true",
                      help="also validate and compute every day but the last (the detector's history; no messages)")
    demo.set_defaults(func=_cmd_demo)

    from opscadence.core.periods import cadence_names

    run = sub.add_parser("run", help="run a cadence's flow locally")
    run.add_argument("cadence", choices=[*cadence_names(), "watch"])
    run.add_argument("--date", type=_iso_date, default=None,
                     help="a day of the period to run (default: the period that just ended in the shop's timezone)")
    run.add_argument("--at", type=_iso_datetime, default=None,
                     help="watch: the moment to judge, ISO time in the shop's timezone (default: now)")
    run.add_argument("--no-notify", action="store_true", help="record results but send nothing")
    run.add_argument("--allow-partial", action="store_true",
                     help="run a period that has not ended yet (its alerts leave the alert states alone)")
    run.set_defaults(func=_cmd_run)

    backfill = sub.add_parser("backfill", help="run a cadence for every period in a range (one summary message)")
    backfill.add_argument("cadence", choices=cadence_names())
    backfill.add_argument("--start", type=_iso_date, required=True)
    backfill.add_argument("--end", type=_iso_date, required=True)
    backfill.add_argument("--force", action="store_true", help="redo periods that are already complete")
    backfill.add_argument("--concurrency", type=int, default=1, choices=range(1, 65), metavar="N",
                          help="workers, each taking a 16-day chunk at a time (1-64; on one machine about its cores)")
    backfill.add_argument("--runner", choices=["process", "dask"], default=None,
                          help="where chunks run as Prefect task runs: process (a process pool here) or dask "
                               "(config backfill.dask_address, else a local cluster); default: config backfill.runner")
    backfill.add_argument("--no-notify", action="store_true", help="no summary message")
    backfill.set_defaults(func=_cmd_backfill)

    detect = sub.add_parser("detect", help="run the anomaly detector on any long-format CSV (ds,metric,value[,denominator])")
    detect.add_argument("--input", type=Path, required=True)
    detect.add_argument("--out", type=Path, default=None, help="output CSV (default: standard output)")
    detect.set_defaults(func=_cmd_detect)

    from opscadence.imports import IMPORT_TABLES

    imports = sub.add_parser("import", help="import a shop's CSV or .xlsx exports (Chinese or English headers) "
                                            "into a raw table, all files in one transaction")
    imports.add_argument("table", choices=list(IMPORT_TABLES))
    imports.add_argument("files", type=Path, nargs="+", metavar="FILE", help=".csv (UTF-8, GBK/GB18030; comma or tab) "
                         "or .xlsx")
    imports.add_argument("--mapping", type=Path, default=None, metavar="FILE",
                         help="a YAML file of more header and value aliases (format: opscadence/imports/aliases.yaml)")
    imports.add_argument("--sheet", default=None, metavar="NAME|INDEX",
                         help=".xlsx: the sheet to read, by name or number (1 = first)")
    imports.add_argument("--dry-run", action="store_true",
                         help="read and check everything, print what would be imported, write nothing")
    imports.set_defaults(func=_cmd_import)

    forget = sub.add_parser("forget", help="delete one customer's rows from every table and export (one transaction)")
    forget.add_argument("--customer", required=True, metavar="ID",
                        help="the id the warehouse holds, the raw value an import hashed (nickname, phone) "
                             "or the pseudonym the briefs show (C-XXXXXX)")
    forget.set_defaults(func=_cmd_forget)

    purge = sub.add_parser("purge", help="delete all the data: every table's rows, the outbox, exports and key file")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    purge.set_defaults(func=_cmd_purge)

    from opscadence.adhoc import register_all

    register_all(sub)

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
    _add_debug_flag(parser)
    return parser


def _one_line(text: str) -> str:
    """A multi-line message (a config file's list of bad keys) as one line."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if not lines:
        return ""
    head, rest = lines[0], lines[1:]
    return (head + (" " if head.endswith(":") else "; ") + "; ".join(rest)) if rest else head


def _as_user_error(exc: BaseException) -> UserError | None:
    """The expected failures: what the user can fix. Everything else is unexpected (exit 1)."""
    if isinstance(exc, UserError):
        return exc
    if isinstance(exc, ConfigError):
        return UserError(str(exc))
    if isinstance(exc, OSError) and exc.filename is not None:
        # a file named on the command line or in the config: missing, unreadable, a folder
        return UserError(f"{exc.filename}: {exc.strerror or exc}")
    return None


class _NoUserErrorTraceback(logging.Filter):
    """Prefect logs a failed flow's exception with its traceback; a UserError's line says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], UserError):
            record.exc_info = record.exc_text = None
        return True


def _quiet_user_errors_in_flow_logs() -> None:
    # Filters on these loggers survive Prefect's logging setup, which replaces only handlers.
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoUserErrorTraceback) for f in logger.filters):
            logger.addFilter(_NoUserErrorTraceback())


def _redact(text: str) -> str:
    from opscadence.core.privacy import mask_secrets

    return mask_secrets(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")
    if not debug:
        _quiet_user_errors_in_flow_logs()
    try:
        return args.func(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print("opscadence: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        error = _as_user_error(exc)
        if error is None:
            print(f"opscadence: unexpected error: {type(exc).__name__}: {_redact(_one_line(str(exc)))} "
                  "(run with --debug for the traceback)", file=sys.stderr)
            return EXIT_FAILED
        print(f"opscadence: {_redact(_one_line(str(error)))}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
