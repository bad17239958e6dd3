"""`opscadence rfm`: RFM scores and segments of any order CSV, as the weekly brief computes them.

Input: order_id, customer_id, order_time (YYYY-MM-DD[ HH:MM[:SS]], shop-local), amount and
optionally status (created | paid | cancelled | refunded: only paid orders count, by the
definition of ``sql/staging/stg_paid_orders.sql``). Output, one row per customer with a paid
order on or before ``--as-of``: customer_id, recency_days, frequency, monetary, r_score,
f_score, m_score, segment (the segment's key), sorted by customer_id. An ``--out`` file holds
the customers' ids, so it is written readable by its owner only (0600).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from opscadence.adhoc import output_path
from opscadence.core.csvinput import Column, CsvInputError, duplicated_key, read_csv_table
from opscadence.core.csvsafe import safe_frame

ORDER_STATUSES = ("created", "paid", "cancelled", "refunded")  # raw_orders.status
_HEADER = "order_id,customer_id,order_time,amount[,status]"


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def read_orders_csv(path: str | Path) -> pd.DataFrame:
    """The orders of a CSV: order_id, customer_id, order_day (datetime64), amount and, when the
    file has it, status (lowercase). Bad input raises ``CsvInputError`` naming file, line and column."""
    columns = [Column("order_id"), Column("customer_id"), Column("order_time", "datetime"),
               Column("amount", "number", minimum=0), Column("status", required=False)]
    frame = read_csv_table(path, columns, what=_HEADER)
    duplicated_key(path, frame, ["order_id"])
    out = pd.DataFrame({"order_id": frame["order_id"], "customer_id": frame["customer_id"],
                        "order_day": frame["order_time"], "amount": frame["amount"]})
    if "status" in frame.columns:
        status = frame["status"].str.lower()
        unknown = np.flatnonzero(~status.isin(ORDER_STATUSES).to_numpy())
        if unknown.size:
            at = int(unknown[0])
            raise CsvInputError(f"{path} line {at + 2}, column status: {frame['status'].iloc[at]!r} is not one of "
                                f"{', '.join(ORDER_STATUSES)}")
        out["status"] = status
    return out


def _run(args: argparse.Namespace) -> int:
    from opscadence.analytics.weekly.rfm import RFM_COLUMNS, rfm_segments, settings, write_private_csv
    from opscadence.core.config import load_config

    config = settings(load_config())
    output_path(args.out)
    orders = read_orders_csv(args.orders)
    table = rfm_segments(orders, args.as_of, config)
    table = table.assign(segment=table["segment"].astype(str)).sort_values("customer_id", kind="stable")[RFM_COLUMNS]
    later = int((orders["order_day"] >= pd.Timestamp(args.as_of) + pd.Timedelta(days=1)).sum())
    note = f" ({later} dated after it left out)" if later else ""
    if args.out:
        write_private_csv(table, args.out)
        print(f"{len(table)} customers as of {args.as_of} from {len(orders)} orders{note} -> {args.out} (0600)",
              file=sys.stderr)
    else:
        safe_frame(table).to_csv(sys.stdout, index=False)
        if later:
            print(f"{later} orders dated after {args.as_of} left out", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("rfm", help=f"RFM scores and segments of an order CSV ({_HEADER})")
    parser.add_argument("--orders", type=Path, required=True, help=f"orders CSV: {_HEADER}")
    parser.add_argument("--as-of", type=_iso_date, required=True, dest="as_of",
                        help="the day recency counts to (YYYY-MM-DD); later orders are left out")
    parser.add_argument("--out", type=Path, default=None, help="output CSV, written 0600 (default: standard output)")
    parser.set_defaults(func=_run)
