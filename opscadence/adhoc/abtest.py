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


def read_experiments(path: Path) -> list[tuple[str, list[VariantTotals], str]]:
    """Each experiment of the file: its name, variants in file order, and its control."""
    frame = read_csv_table(path, COLUMNS, what=HEADER)
    duplicated_key(path, frame, ["experiment", "variant"])
    for i in range(len(frame)):
        users, conversions = int(frame.at[i, "users"]), int(frame.at[i, "conversions"])
        if users == 0:
            raise _fail(path, i, "users", "0 users: a variant needs at least one user")
        if conversions > users:
            raise _fail(path, i, "conversions", f"{conversions} conversions is more than the {users} users")
    has_revenue = "revenue_sum" in frame.columns or "revenue_sum_squares" in frame.columns
    if has_revenue and not {"revenue_sum", "revenue_sum_squares"} <= set(frame.columns):
        missing = "revenue_sum_squares" if "revenue_sum" in frame.columns else "revenue_sum"
        raise CsvInputError(f"{path}: missing column(s) {missing} (revenue needs both revenue_sum and "
                            f"revenue_sum_squares; need {HEADER})")
    if has_revenue:
        _check_revenue(path, frame)
    flags = _control_flags(path, frame) if "control" in frame.columns else None
    out = []
    for name, rows in frame.groupby("experiment", sort=False):
        index = rows.index.tolist()
        if len(rows) < 2:
            raise _fail(path, index[0], "experiment",
                        f"experiment {name!r} has one variant only (need a control and at least one other)")
        variants = [VariantTotals(
            str(frame.at[i, "variant"]), int(frame.at[i, "users"]), int(frame.at[i, "conversions"]),
            *((float(frame.at[i, "revenue_sum"]), float(frame.at[i, "revenue_sum_squares"]))
              if has_revenue and pd.notna(frame.at[i, "revenue_sum"]) else (None, None))) for i in index]
        control = variants[0].variant
        if flags is not None:
            marked = [i for i in index if flags[i]]
            if len(marked) > 1:
                raise _fail(path, marked[1], "control",
                            f"experiment {name!r} has a second control (the first on line {marked[0] + 2})")
            if marked:
                control = str(frame.at[marked[0], "variant"])
        out.append((str(name), variants, control))
    return out


def _check_revenue(path: Path, frame: pd.DataFrame) -> None:
    given = frame["revenue_sum"].notna() & frame["revenue_sum_squares"].notna()
    for i in range(len(frame)):
        has_sum, has_squares = pd.notna(frame.at[i, "revenue_sum"]), pd.notna(frame.at[i, "revenue_sum_squares"])
        if has_sum != has_squares:
            column = "revenue_sum_squares" if has_sum else "revenue_sum"
            raise _fail(path, i, column, "empty, but the other revenue column is not (give both or neither)")
        if has_sum:
            users, total, squares = int(frame.at[i, "users"]), float(frame.at[i, "revenue_sum"]), \
                float(frame.at[i, "revenue_sum_squares"])
            # Σx² ≥ (Σx)²/n for any values (Cauchy–Schwarz); a small tolerance for rounded inputs
            if squares < total ** 2 / users * (1 - 1e-9):
                raise _fail(path, i, "revenue_sum_squares",
                            f"{squares:g} is below revenue_sum²/users = {total ** 2 / users:g}: not a sum of squares")
    mixed = frame.assign(given=given).groupby("experiment", sort=False)["given"].nunique()
    for name in mixed[mixed > 1].index:
        first = int(frame.index[(frame["experiment"] == name) & ~given][0])
        raise _fail(path, first, "revenue_sum", f"empty, but other variants of experiment {name!r} have revenue")


def _control_flags(path: Path, frame: pd.DataFrame) -> dict[int, bool]:
    flags = {}
    for i, value in frame["control"].items():
        text = value.strip().lower() if isinstance(value, str) else ""  # an empty cell reads as missing
        if text not in _YES | _NO:
            raise _fail(path, int(i), "control", f"{value!r} is not 1/true/yes or 0/false/no")
        flags[int(i)] = text in _YES
    return flags


def analyse_file(path: Path, cfg: AbTestConfig | None = None) -> list[ExperimentResult]:
    cfg = cfg or AbTestConfig()
    return [analyse_experiment(name, variants, cfg, control=control) for name, variants, control in read_experiments(path)]


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
