"""``opscadence attribution``: channel attribution of a path table, no warehouse needed.

The input is ChannelAttribution's path table: ``path,total_conversions`` and optionally
``total_conversion_value`` and ``total_null`` (journeys that did not convert), channels of a
path separated by ``>`` ("douyin > baidu > direct"). The models follow ChannelAttribution's
definitions (``heuristic_models`` and ``markov_model``): first touch, plain last touch
(``direct`` is a channel like any other), linear (1/len(path) per touch, repeats kept),
position 40/20/40, and the first-order Markov chain with repeats collapsed, whose removal
effects (raw, not normalised) are computed exactly instead of simulated
(:func:`opscadence.analytics.weekly.attribution.markov`).

Time decay is refused: a path table has no touch times, and inventing one step per touch would
be a different model under the same name; the weekly brief's attribution has the times.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from opscadence.adhoc import output_path
from opscadence.analytics.weekly.attribution import EmptyChannel, attribute_paths, split_paths
from opscadence.core.csvinput import Column, CsvInputError, read_csv_table
from opscadence.core.csvsafe import safe_frame
from opscadence.core.errors import UserError

SEPARATOR = ">"
HEADER = "path,total_conversions[,total_conversion_value][,total_null]"
COLUMNS = [
    Column("path"),
    Column("total_conversions", "integer", minimum=0),
    Column("total_conversion_value", "number", required=False, minimum=0),
    Column("total_null", "integer", required=False, minimum=0),
]
AD_HOC_MODELS = ("first", "last", "linear", "position", "markov")  # "all"; time_decay is refused


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "attribution",
        help="channel attribution of a path table (ChannelAttribution's path,total_conversions"
             "[,total_conversion_value][,total_null]; channels separated by '>')")
    parser.add_argument("--journeys", type=Path, required=True, help="the path table (CSV)")
    parser.add_argument("--model", choices=["first", "last", "linear", "position", "time_decay", "markov", "all"], default="all",
                        help="all (default): first, last, linear, position and markov; time_decay needs touch "
                             "times, which a path table has not, and is refused")
    parser.add_argument("--out", type=Path, default=None, help="output CSV (default: standard output)")
    parser.set_defaults(func=run)


def read_paths(path: Path):
    """The path table as :class:`~opscadence.analytics.weekly.attribution.Paths` (bad input: one line, exit 2)."""
    table = read_csv_table(path, COLUMNS, what=HEADER)
    try:
        paths = split_paths(table["path"], table["total_conversions"],
                            table.get("total_conversion_value"), table.get("total_null"), sep=SEPARATOR)
    except EmptyChannel as exc:
        raise CsvInputError(f"{path} line {exc.row + 2}, column path: {table['path'].iloc[exc.row]!r} has an "
                            f"empty channel (touch {exc.touch} of {exc.touches})") from None
    if paths.conversions.sum() <= 0:
        raise CsvInputError(f"{path}: no path has a conversion (every total_conversions is 0)")
    return paths, "total_conversion_value" in table


def attribution_table(paths, models: tuple[str, ...], *, has_value: bool = True) -> pd.DataFrame:
    """``channel, model, conversions, value`` (+ ``removal_effect`` when markov is among ``models``)."""
    frames = []
    for model in models:
        frame = attribute_paths(paths, model).rename(columns={"label": "channel"})
        frame.insert(1, "model", model)
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    if not has_value:
        out["value"] = float("nan")
    columns = ["channel", "model", "conversions", "value"] + (["removal_effect"] if "markov" in models else [])
    return out.reindex(columns=columns)


def run(args: argparse.Namespace) -> int:
    output_path(args.out)
    if args.model == "time_decay":
        raise UserError("--model time_decay: a path table has no touch times, and time decay weighs each touch by "
                        "the days to its conversion; use --model position, or the weekly brief's attribution")
    models = AD_HOC_MODELS if args.model == "all" else (args.model,)
    paths, has_value = read_paths(args.journeys)
    result = attribution_table(paths, models, has_value=has_value)
    if args.out:
        safe_frame(result).to_csv(args.out, index=False)
        print(f"{len(paths.labels)} channels × {len(models)} model(s) from {paths.count} paths -> {args.out}",
              file=sys.stderr)
    else:
        safe_frame(result).to_csv(sys.stdout, index=False)
    return 0
