"""``opscadence abtest --input FILE.csv [--out FILE.json]``: A/B verdicts of a user's own totals.

The CSV holds one row per experiment × variant: ``experiment,variant,users,conversions``, and
optionally ``revenue_sum,revenue_sum_squares`` (revenue per user compared too) and ``control``
(1/true/yes on the control's row; without it the experiment's first row is the control). The
output is a JSON list, one object per variant that is not a control, as
:meth:`opscadence.analytics.weekly.abtest.VariantResult.record` builds it: lift and CI relative
(treatment / control − 1, two-sided 95% by default), chance to win and risk of the flat-prior
Bayesian test, the experiment's SRM p-value and the verdict. Without a running time the power
note cannot judge whether the target lift is reachable, so no verdict is "stop" for that reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from opscadence.adhoc import output_path
from opscadence.analytics.weekly.abtest import (
    AbTestConfig,
    ExperimentResult,
    VariantTotals,
    analyse_experiment,
    settings,
)
from opscadence.core.config import load_config
from opscadence.core.csvinput import Column, CsvInputError, duplicated_key, read_csv_table

COLUMNS = [
    Column("experiment"),
    Column("variant"),
    Column("users", "integer", minimum=0),
    Column("conversions", "integer", minimum=0),
    Column("revenue_sum", "number", required=False, allow_empty=True),
    Column("revenue_sum_squares", "number", required=False, allow_empty=True, minimum=0),
    Column("control", required=False, allow_empty=True),
]
HEADER = "experiment,variant,users,conversions[,revenue_sum,revenue_sum_squares][,control]"
_YES = {"1", "true", "yes", "y"}
_NO = {"", "0", "false", "no", "n"}


def _fail(path: Path, index: int, column: str, message: str) -> CsvInputError:
    return CsvInputError(f"{path} line {index + 2}, column {column}: {message}")


def _first(mask: pd.Series | np.ndarray) -> int | None:
    hits = np.flatnonzero(np.asarray(mask))
    return int(hits[0]) if hits.size else None


def read_experiments(path: Path) -> list[tuple[str, list[VariantTotals], str]]:
    """Each experiment of the file: its name, variants in file order, and its control."""
    frame = read_csv_table(path, COLUMNS, what=HEADER)
    duplicated_key(path, frame, ["experiment", "variant"])
    users, conversions = frame["users"].to_numpy(), frame["conversions"].to_numpy()
    at = _first(users == 0)
    if at is not None:
        raise _fail(path, at, "users", "0 users: a variant needs at least one user")
    at = _first(conversions > users)
    if at is not None:
        raise _fail(path, at, "conversions", f"{conversions[at]} conversions is more than the {users[at]} users")
    has_revenue = "revenue_sum" in frame.columns or "revenue_sum_squares" in frame.columns
    if has_revenue and not {"revenue_sum", "revenue_sum_squares"} <= set(frame.columns):
        missing = "revenue_sum_squares" if "revenue_sum" in frame.columns else "revenue_sum"
        raise CsvInputError(f"{path}: missing column(s) {missing} (revenue needs both revenue_sum and "
                            f"revenue_sum_squares; need {HEADER})")
    if has_revenue:
        _check_revenue(path, frame)
    is_control = _control_flags(path, frame) if "control" in frame.columns else np.zeros(len(frame), dtype=bool)
    sizes = frame.groupby("experiment", sort=False)["variant"].transform("size").to_numpy()
    at = _first(sizes < 2)
    if at is not None:
        raise _fail(path, at, "experiment", f"experiment {frame.at[at, 'experiment']!r} has one variant only "
                                            "(need a control and at least one other)")
    marks = pd.Series(is_control).groupby(frame["experiment"].to_numpy(), sort=False).cumsum().to_numpy()
    at = _first(is_control & (marks > 1))
    if at is not None:
        name = frame.at[at, "experiment"]
        first = _first(is_control & (frame["experiment"] == name).to_numpy())
        raise _fail(path, at, "control", f"experiment {name!r} has a second control (the first on line {first + 2})")
    out = []
    for name, rows in frame.groupby("experiment", sort=False):
        variants = [VariantTotals(
            str(r.variant), int(r.users), int(r.conversions),
            float(r.revenue_sum) if has_revenue and pd.notna(r.revenue_sum) else None,
            float(r.revenue_sum_squares) if has_revenue and pd.notna(r.revenue_sum) else None)
            for r in rows.itertuples(index=False)]
        marked = rows.index[is_control[rows.index]]
        control = str(frame.at[marked[0], "variant"]) if len(marked) else variants[0].variant
        out.append((str(name), variants, control))
    return out


def _check_revenue(path: Path, frame: pd.DataFrame) -> None:
    has_sum, has_squares = frame["revenue_sum"].notna().to_numpy(), frame["revenue_sum_squares"].notna().to_numpy()
    at = _first(has_sum != has_squares)
    if at is not None:
        column = "revenue_sum_squares" if has_sum[at] else "revenue_sum"
        raise _fail(path, at, column, "empty, but the other revenue column is not (give both or neither)")
    total, squares = frame["revenue_sum"].to_numpy(dtype=float), frame["revenue_sum_squares"].to_numpy(dtype=float)
    floor = total ** 2 / frame["users"].to_numpy()
    # Σx² ≥ (Σx)²/n for any values (Cauchy–Schwarz); a small tolerance for rounded inputs
    at = _first(has_sum & (squares < floor * (1 - 1e-9)))
    if at is not None:
        raise _fail(path, at, "revenue_sum_squares",
                    f"{squares[at]:g} is below revenue_sum²/users = {floor[at]:g}: not a sum of squares")
    given = pd.Series(has_sum).groupby(frame["experiment"].to_numpy(), sort=False).transform("nunique").to_numpy()
    at = _first((given > 1) & ~has_sum)
    if at is not None:
        raise _fail(path, at, "revenue_sum",
                    f"empty, but other variants of experiment {frame.at[at, 'experiment']!r} have revenue")


def _control_flags(path: Path, frame: pd.DataFrame) -> np.ndarray:
    text = frame["control"].fillna("").astype(str).str.strip().str.lower()  # an empty cell reads as missing
    at = _first(~text.isin(_YES | _NO))
    if at is not None:
        raise _fail(path, at, "control", f"{frame.at[at, 'control']!r} is not 1/true/yes or 0/false/no")
    return text.isin(_YES).to_numpy()


def analyse_file(path: Path, cfg: AbTestConfig | None = None) -> list[ExperimentResult]:
    cfg = cfg or AbTestConfig()
    return [analyse_experiment(name, variants, cfg, control=control)
            for name, variants, control in read_experiments(path)]


def _cmd_abtest(args: argparse.Namespace) -> int:
    cfg = settings(load_config())  # weekly.abtest of the config, when there is one
    output_path(args.out)
    results = analyse_file(args.input, cfg)
    records = [v.record() for r in results for v in r.variants]
    text = json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        verdicts = ", ".join(f"{r['experiment']}/{r['variant']}: {r['verdict']}" for r in records)
        print(f"{len(records)} comparisons ({verdicts}) -> {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("abtest", help=f"A/B test verdicts of a CSV of totals ({HEADER})")
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=None, help="output JSON (default: standard output)")
    parser.set_defaults(func=_cmd_abtest)
