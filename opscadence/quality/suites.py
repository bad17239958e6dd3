"""The rules and the values they are run with.

The rules live in ``expectations/<table>.json``: one GX ExpectationSuite per raw table,
each expectation carrying ``meta.severity`` (``critical`` blocks the day, ``warning`` is
reported). Suites use four kinds of run-time parameters, filled in here:

* ``partition_start`` / ``partition_end``: ``ds 00:00`` and ``ds+1 00:00`` (end exclusive),
* ``partition_ds``: ``[ds]``, the only allowed value of the ``ds`` column,
* ``min_rows_<table>`` / ``max_rows_<table>``: the plausible row count from the trailing
  7 days (see :func:`row_count_bounds`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from opscadence.core.resources import resource_dir
from opscadence.warehouse import RAW_TABLES

# Row-count plausibility against the trailing days' mean.
ROW_COUNT_MIN_RATIO = 0.25
ROW_COUNT_MAX_RATIO = 4.0
ROW_COUNT_MIN_MEAN = 20  # below this mean the history is too thin to judge
TRAILING_DAYS = 7


def load_suite_documents() -> dict[str, dict[str, Any]]:
    """The JSON suite per raw table, from ``expectations/<table>.json``."""
    directory = resource_dir("expectations")
    docs = {}
    for table in RAW_TABLES:
        path = directory / f"{table}.json"
        with path.open(encoding="utf-8") as fh:
            docs[table] = json.load(fh)
    return docs


def row_count_bounds(history: Iterable[int] | None) -> tuple[int, int | None, float | None]:
    """``(min_rows, max_rows, mean)`` for a day given the trailing days' row counts.

    Without history, or with a mean under :data:`ROW_COUNT_MIN_MEAN` rows, any count
    passes (``0, None``).
    """
    counts = [int(c) for c in (history or []) if c is not None and int(c) > 0]
    if not counts:
        return 0, None, None
    mean = sum(counts) / len(counts)
    if mean < ROW_COUNT_MIN_MEAN:
        return 0, None, mean
    return math.ceil(mean * ROW_COUNT_MIN_RATIO), math.floor(mean * ROW_COUNT_MAX_RATIO), mean


def partition_bounds(ds: date) -> tuple[datetime, datetime]:
    start = datetime.combine(ds, time())
    return start, start + timedelta(days=1)


def expectation_parameters(ds: date, trailing_counts: Mapping[str, list[int]] | None = None) -> dict[str, Any]:
    start, end = partition_bounds(ds)
    params: dict[str, Any] = {"partition_start": start, "partition_end": end, "partition_ds": [ds]}
    for table in RAW_TABLES:
        low, high, _ = row_count_bounds((trailing_counts or {}).get(table))
        params[f"min_rows_{table}"] = low
        params[f"max_rows_{table}"] = high
    return params


def checked_tables(tables: Collection[str] | None = None) -> list[str]:
    """The raw tables a validation checks, in RAW_TABLES order: those the source provides
    (``tables``), or all of them. A table no source provides is not a failed table: the KPIs
    that need it are reported unavailable instead."""
    return [t for t in RAW_TABLES if tables is None or t in tables]
