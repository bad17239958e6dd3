"""Validate one day's raw partitions, as pandas frames, before anything downstream runs."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import date

import pandas as pd

from opscadence.quality.gx_runtime import gx_frame, shared_runtime
from opscadence.quality.interpret import interpret
from opscadence.quality.report import CheckResult, ValidationReport
from opscadence.quality.samples import sampler
from opscadence.quality.suites import checked_tables, expectation_parameters, row_count_bounds
from opscadence.warehouse import RAW_TABLES


def validate_partition(
    frames: Mapping[str, pd.DataFrame],
    ds: date,
    *,
    trailing_counts: Mapping[str, list[int]] | None = None,
    describe: Callable[[str], str] | None = None,
    id_samples: bool = False,
    tables: Collection[str] | None = None,
) -> ValidationReport:
    """Validate every raw table's frame for ``ds`` against its suite.

    ``frames`` maps raw table keys to frames (a missing key counts as a frame without
    columns); ``trailing_counts`` holds each table's row counts of the previous days for
    the row-count plausibility check; ``describe(table)`` names the source in messages;
    ``id_samples``: samples name ids only, sorted, as in-SQL validation words them;
    ``tables``: the raw tables the source provides (default: all), the only ones checked.
    """
    describe = describe or (lambda table: f"{RAW_TABLES[table].name} (ds={ds.isoformat()})")
    params = expectation_parameters(ds, trailing_counts)
    runtime = shared_runtime()
    results: list[CheckResult] = []
    for table in checked_tables(tables):
        frame = frames.get(table)
        if frame is None:
            frame = pd.DataFrame()
        checked = gx_frame(frame, ds)
        suite_result = runtime.validate(table, checked, params)
        _, _, mean = row_count_bounds((trailing_counts or {}).get(table))
        results.extend(interpret(table, set(checked.columns), sampler(checked, table, id_samples),
                                 suite_result, runtime.documents[table], params, describe(table), mean))
    return ValidationReport(ds=ds, results=results)
