"""RFM at scale: our scores + segments against lifetimes' summary on the same orders, same run.

Run:  .venv/bin/python benchmarks/rfm_benchmark.py [--orders 1000000] [--customers 200000] [--seed 7]
      [--repeat 3] [--warehouse] [--json out.json]

Orders (seeded numpy generator): every customer has a first paid order, the rest go to customers
drawn with log-normal weights (sigma 1.8: about half the customers buy once, the heavy tie at
frequency 1, and a few buy hundreds of times), on days
spread over the two years ending on --as-of (some several on one day), amounts log-normal to the
cent; ids are strings as in the warehouse (``c0000042``).

Timed (median of --repeat runs, data already in memory):

* ours: :func:`opscadence.analytics.weekly.rfm.rfm_segments` (R/F/M, the three scores, the
  segments), and :func:`~opscadence.analytics.weekly.rfm.build_report` (what the weekly brief
  does: two RFM tables a week apart, migrations, the callback list);
* lifetimes 0.11.3 ``summary_data_from_transaction_data(..., monetary_value_col="amount",
  observation_period_end=as_of, freq="D")`` in the anchors venv
  (``benchmarks/anchors/.venv``, ``make anchors``), a subprocess reading the same orders.

Agreement with lifetimes, whose definitions differ (freq="D"): its ``frequency`` is the number of
*repeat days* (distinct order days - 1), ``recency`` the days from the first to the last order
day, ``T`` from the first order day to the end, ``monetary_value`` the mean per-day spend of the
repeat days. So we check, for every customer: our recency_days = T - recency; lifetimes'
frequency + 1 = the distinct order days (counted here independently), and our frequency = it where
a customer never ordered twice a day; our monetary = the first day's spend + frequency x
monetary_value (to a cent).

Peak RSS: this process (``ru_maxrss``; it also holds the generated orders and the lifetimes
result), and lifetimes' own process (VmHWM). ``--warehouse`` also loads the orders into a scratch
warehouse (a temporary SQLite file, or ``--url``) and times the weekly path's SQL read
(sql/weekly/rfm_orders.sql) and the tag-table write.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opscadence.analytics.weekly import rfm  # noqa: E402

ANCHORS_PYTHON = Path(__file__).resolve().parent / "anchors" / ".venv" / "bin" / "python"

LIFETIMES_SCRIPT = r"""
import json, sys, time
import numpy as np, pandas as pd
import lifetimes
from lifetimes.utils import summary_data_from_transaction_data

data = np.load(sys.argv[1])
orders = pd.DataFrame({
    "customer_id": data["customer_id"].astype(object),
    "order_day": data["order_day"].astype("datetime64[D]").astype("datetime64[ns]"),
    "amount": data["amount"],
})
as_of = pd.Timestamp(str(data["as_of"]))
times = []
for _ in range(int(sys.argv[3])):
    start = time.perf_counter()
    summary = summary_data_from_transaction_data(orders, "customer_id", "order_day", monetary_value_col="amount",
                                                 observation_period_end=as_of, freq="D")
    times.append(time.perf_counter() - start)
np.savez(sys.argv[2], customer_id=summary.index.to_numpy().astype(str), frequency=summary["frequency"].to_numpy(),
         recency=summary["recency"].to_numpy(), T=summary["T"].to_numpy(),
         monetary_value=summary["monetary_value"].to_numpy())
# VmHWM: ru_maxrss of a process started by fork + exec starts at its parent's peak
with open("/proc/self/status") as f:
    peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
print(json.dumps({"version": lifetimes.__version__, "pandas": pd.__version__, "times": times, "peak_rss_mb": peak}))
"""


def make_orders(n_orders: int, n_customers: int, as_of: date, seed: int) -> pd.DataFrame:
    """Paid orders: one first order per customer, the rest by heavy-tailed (log-normal) customer weights."""
    rng = np.random.default_rng(seed)
    extra = n_orders - n_customers
    weights = rng.lognormal(0.0, 1.8, size=n_customers)
    who = np.concatenate([np.arange(n_customers), rng.choice(n_customers, size=extra, p=weights / weights.sum())])
    rng.shuffle(who)
    span = 730
    # a customer's orders cluster around their own active period; recent days a little busier
    centre = rng.integers(0, span, size=n_customers)
    day_back = np.clip(centre[who] + rng.normal(0, 60, size=who.size).astype(np.int64), 0, span - 1)
    ids = np.char.add("c", np.char.zfill(np.arange(n_customers).astype(str), 7))
    return pd.DataFrame({
        "customer_id": pd.Series(ids[who]).astype(str),
        "order_id": pd.Series(np.char.add("o", np.arange(who.size).astype(str))).astype(str),
        "order_day": pd.to_datetime(np.datetime64(as_of.isoformat(), "D") - day_back.astype("timedelta64[D]")),
        "amount": np.round(rng.lognormal(4.5, 0.8, size=who.size), 2),
    })


def timed(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, times


def peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM (Linux), else ru_maxrss (which a child started by fork and
    exec inherits from its parent, so it would report the parent's peak)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_lifetimes(orders: pd.DataFrame, as_of: date, repeat: int, folder: Path,
                  python: Path = ANCHORS_PYTHON) -> tuple[dict, pd.DataFrame]:
    if not python.exists():
        raise SystemExit(f"no anchors venv at {python}: run `make anchors` first (or pass --anchors-python)")
    source, result = folder / "orders.npz", folder / "lifetimes.npz"
    np.savez(source, customer_id=orders["customer_id"].to_numpy().astype("U"),
             order_day=orders["order_day"].to_numpy().astype("datetime64[D]"),
             amount=orders["amount"].to_numpy(), as_of=np.array(as_of.isoformat()))
    done = subprocess.run([str(python), "-c", LIFETIMES_SCRIPT, str(source), str(result), str(repeat)],
                          check=True, capture_output=True, text=True)
    info = json.loads(done.stdout.strip().splitlines()[-1])
    with np.load(result) as data:
        summary = pd.DataFrame({k: data[k] for k in ("frequency", "recency", "T", "monetary_value")},
                               index=data["customer_id"].astype(object))
    return info, summary


def agreement(orders: pd.DataFrame, ours: pd.DataFrame, theirs: pd.DataFrame) -> dict:
    """Mismatches between our raw R/F/M and lifetimes' summary, under its definitions (see the docstring)."""
    ours = ours.set_index(ours["customer_id"].astype(object))
    theirs = theirs.reindex(ours.index)
    days = orders[["customer_id", "order_day"]].drop_duplicates()
    distinct_days = days.groupby("customer_id").size().reindex(ours.index)
    first_day = orders.groupby("customer_id")["order_day"].transform("min")
    first_spend = orders[orders["order_day"] == first_day].groupby("customer_id")["amount"].sum().reindex(ours.index)
    single_day_orders = ours["frequency"].to_numpy() == distinct_days.to_numpy()
    return {
        "customers_ours": int(len(ours)),
        "customers_missing_in_lifetimes": int(theirs["T"].isna().sum()),
        "recency_mismatches": int((ours["recency_days"].to_numpy()
                                   != (theirs["T"] - theirs["recency"]).to_numpy()).sum()),
        "frequency_mismatches": int(((theirs["frequency"] + 1).to_numpy() != distinct_days.to_numpy()).sum()),
        "frequency_equal_where_one_order_a_day": bool(
            (ours["frequency"].to_numpy()[single_day_orders]
             == (theirs["frequency"].to_numpy()[single_day_orders] + 1)).all()),
        "customers_with_two_orders_on_a_day": int((~single_day_orders).sum()),
        "monetary_mismatches": int((np.abs(ours["monetary"].to_numpy() - first_spend.to_numpy()
                                           - theirs["frequency"].to_numpy() * theirs["monetary_value"].to_numpy())
                                    > 0.01 + 1e-9 * ours["monetary"].to_numpy()).sum()),
    }


def warehouse_path(orders: pd.DataFrame, as_of: date, url: str) -> dict:
    """The weekly path's own I/O: the paid-order read and the tag-table write (the warehouse's
    tables are dropped first and last: give a scratch database)."""
    from opscadence import warehouse

    engine = warehouse.create_engine(url)
    warehouse.metadata.drop_all(engine)
    warehouse.init_schema(engine)
    raw = pd.DataFrame({"ds": orders["order_day"].dt.date, "order_id": orders["order_id"],
                        "user_id": orders["customer_id"], "order_at": orders["order_day"] + pd.Timedelta(hours=12),
                        "amount": orders["amount"], "status": "paid"})
    start = time.perf_counter()
    with engine.begin() as conn:
        warehouse.replace_window(conn, warehouse.raw_orders, raw["ds"].min(), as_of + timedelta(days=1), raw)
    load_s = time.perf_counter() - start
    with engine.connect() as conn:
        loaded, read = timed(lambda: rfm.load_paid_orders(conn, as_of), 1)
    table = rfm.rfm_segments(loaded, as_of)

    def write():
        with engine.begin() as conn:
            return rfm.write_customer_rfm(conn, table, as_of)

    _, wrote = timed(write, 1)
    warehouse.metadata.drop_all(engine)
    engine.dispose()
    return {"dialect": engine.dialect.name, "raw_orders_insert_s": round(load_s, 2),
            "read_paid_orders_s": round(read[0], 2),
            "write_tags_s": round(wrote[0], 2), "tag_rows": int(len(table))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 29), dest="as_of")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warehouse", action="store_true", help="also time the SQL read and the tag-table write")
    parser.add_argument("--url", default=None,
                        help="--warehouse on this scratch database (its opscadence tables are dropped; default: "
                             "a temporary SQLite file)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--anchors-python", type=Path, default=ANCHORS_PYTHON,
                        help="the anchors venv's python (default: benchmarks/anchors/.venv/bin/python)")
    args = parser.parse_args()

    start = time.perf_counter()
    orders = make_orders(args.orders, args.customers, args.as_of, args.seed)
    print(f"generated {len(orders):,} orders of {orders['customer_id'].nunique():,} customers "
          f"in {time.perf_counter() - start:.1f} s (seed {args.seed})")

    generated_rss = peak_rss_mb()
    table, ours = timed(lambda: rfm.rfm_segments(orders, args.as_of), args.repeat)
    report, weekly = timed(lambda: rfm.build_report(orders, args.as_of), args.repeat)
    ours_rss = peak_rss_mb()
    with tempfile.TemporaryDirectory(prefix="rfm-bench-") as tmp:
        info, theirs = run_lifetimes(orders, args.as_of, args.repeat, Path(tmp), args.anchors_python)
        checks = agreement(orders, table, theirs)
        url = args.url or f"sqlite:///{tmp}/warehouse.sqlite"
        io = warehouse_path(orders, args.as_of, url) if args.warehouse else None

    ours_s, weekly_s, theirs_s = (statistics.median(t) for t in (ours, weekly, info["times"]))
    result = {
        "orders": len(orders), "customers": int(len(table)), "seed": args.seed,
        "ours_rfm_segments_s": round(ours_s, 3), "ours_weekly_report_s": round(weekly_s, 3),
        "lifetimes_summary_s": round(theirs_s, 3), "ratio_ours_over_lifetimes": round(ours_s / theirs_s, 3),
        "ours_runs_s": [round(t, 3) for t in ours], "lifetimes_runs_s": [round(t, 3) for t in info["times"]],
        "peak_rss_mb_ours_process": round(ours_rss, 1), "peak_rss_mb_after_generating": round(generated_rss, 1),
        "peak_rss_mb_lifetimes_process": round(info["peak_rss_mb"], 1),
        "lifetimes": info["version"], "lifetimes_pandas": info["pandas"], "pandas": pd.__version__,
        "frequency_1_share": round(float((table["frequency"] == 1).mean()), 3),
        "f_scores_used": sorted(int(s) for s in table["f_score"].unique()),
        "segments": {str(k): int(v) for k, v in report.summary.set_index("segment")["customers"].items()},
        "agreement": checks,
        **({"warehouse": io} if io else {}),
    }
    print(f"ours  rfm_segments (R/F/M + scores + segments): {ours_s:.3f} s  (runs {result['ours_runs_s']})")
    print(f"ours  build_report (two weeks, migrations, callbacks): {weekly_s:.3f} s")
    print(f"lifetimes {info['version']} summary_data_from_transaction_data: {theirs_s:.3f} s  "
          f"(runs {result['lifetimes_runs_s']}, pandas {info['pandas']})")
    print(f"ratio ours / lifetimes: {result['ratio_ours_over_lifetimes']:.3f}  (goal <= 1)")
    print(f"peak RSS: ours {ours_rss:.0f} MB (goal <= 1536; {generated_rss:.0f} MB once the orders were generated), "
          f"lifetimes process {info['peak_rss_mb']:.0f} MB")
    print(f"frequency = 1: {result['frequency_1_share']:.1%} of customers; F scores used: {result['f_scores_used']}")
    print("segments:", result["segments"])
    print("agreement with lifetimes:", checks)
    if io:
        print("warehouse:", io)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    os.environ.setdefault("OPSCADENCE_HOME", tempfile.mkdtemp(prefix="rfm-bench-home-"))
    main()
