"""Validate many days at once (backfills): one GX run per table over all the days' rows,
its results cut per day into the report each day gets when validated alone."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from opscadence.quality.day import validate_partition
from opscadence.quality.gx_runtime import gx_frame, shared_runtime
from opscadence.quality.interpret import columns_of, exception_message, interpret
from opscadence.quality.report import CheckResult, ValidationReport
from opscadence.quality.samples import ID_COLUMNS, sampler
from opscadence.quality.suites import checked_tables, expectation_parameters, row_count_bounds
from opscadence.warehouse import PARTITION_TIME_COLUMN, RAW_TABLES

# The reference day every row of a range is mapped onto, so one GX run judges each row against
# its own partition's bounds.
_REFERENCE_DAY = date(2000, 1, 3)


@dataclass(frozen=True)
class _DayResult:
    """One expectation's result for one day, cut from a GX run over a range (the attributes
    :func:`~opscadence.quality.interpret.interpret` reads from a GX ExpectationValidationResult)."""

    expectation_config: Any
    success: bool
    result: dict[str, Any]
    exception_info: Any = None


@dataclass(frozen=True)
class _DaySuiteResult:
    results: list[_DayResult]


def _column_uses(doc: Mapping[str, Any], table: str) -> dict[str, set[str]]:
    """What each column is read for by the suite: exist, not_null, unique, partition_time, value."""
    uses: dict[str, set[str]] = {}
    for exp in doc.get("expectations", []):
        etype, kwargs = exp.get("type"), exp.get("kwargs", {})
        if etype == "expect_table_row_count_to_be_between":
            continue
        if etype == "expect_column_to_exist":
            uses.setdefault(kwargs["column"], set()).add("exist")
        elif etype == "expect_column_values_to_not_be_null":
            uses.setdefault(kwargs["column"], set()).add("not_null")
        elif etype == "expect_column_values_to_be_unique":
            uses.setdefault(kwargs["column"], set()).add("unique")
        elif etype == "expect_compound_columns_to_be_unique":
            first, *rest = kwargs["column_list"]
            uses.setdefault(first, set()).add("unique")
            for col in rest:
                uses.setdefault(col, set()).add("value")
        elif (etype == "expect_column_values_to_be_between" and isinstance(kwargs.get("min_value"), Mapping)
              and kwargs.get("column") == PARTITION_TIME_COLUMN.get(table)):
            uses.setdefault(kwargs["column"], set()).add("partition_time")
        elif etype == "expect_column_values_to_be_in_set" and kwargs.get("column") == "ds":
            uses.setdefault("ds", set()).add("partition_ds")
        else:
            for col in columns_of(kwargs):
                uses.setdefault(col, set()).add("value")
    return uses


def _range_frame(frame: pd.DataFrame, first_day: date, day_index: np.ndarray, days: int,
                 uses: Mapping[str, set[str]]) -> pd.DataFrame:
    """The frame one GX run over many days judges exactly as it would judge each day alone.

    Each column becomes what its checks need, per day: partition timestamps are moved onto the
    reference day by their own partition's offset (inside [ds, ds+1) <=> inside the reference
    day); a column checked for uniqueness becomes a number unique per (value, day), so values
    repeated on different days stay legal; a column only checked for nulls becomes a null
    marker; a column only checked for existence becomes a zero placeholder; ``ds`` (rows are
    read by it) becomes the reference day. Other columns keep their values.
    """
    out: dict[str, pd.Series] = {}
    index = frame.index
    for name in frame.columns:
        series = frame[name]
        use = uses.get(name, set())
        if name == "ds":
            out[name] = pd.Series([_REFERENCE_DAY] * len(frame), index=index, dtype=object)
        elif "partition_time" in use:
            moved = pd.to_datetime(series).astype("datetime64[ns]")
            shift = pd.to_timedelta(day_index + (first_day - _REFERENCE_DAY).days, unit="D")
            out[name] = moved - pd.Series(shift, index=index)
        elif "unique" in use:
            codes, _ = pd.factorize(series, use_na_sentinel=True)
            key = codes.astype(np.float64) * days + day_index
            key[codes < 0] = np.nan
            out[name] = pd.Series(key, index=index)
        elif use <= {"exist", "not_null"} and "not_null" in use:
            out[name] = pd.Series(np.where(series.isna().to_numpy(), np.nan, 0.0), index=index)
        elif use <= {"exist"}:
            out[name] = pd.Series(np.zeros(len(frame), dtype=np.int8), index=index)
        else:
            out[name] = series
    return pd.DataFrame(out, index=index)



def range_read_plan() -> dict[str, dict[str, set[str]]]:
    """Which columns :func:`validate_range` needs only as null markers or only as present, per
    table (keyword arguments for ``WarehouseSource.read_range``). Id columns are always read:
    samples name records by them."""
    documents = shared_runtime().documents
    null_only: dict[str, set[str]] = {}
    presence_only: dict[str, set[str]] = {}
    for table, doc in documents.items():
        ids = set(ID_COLUMNS.get(table, ()))
        for column, use in _column_uses(doc, table).items():
            if column in ids or column == "ds":
                continue
            if use == {"exist"}:
                presence_only.setdefault(table, set()).add(column)
            elif use == {"exist", "not_null"} or use == {"not_null"}:
                null_only.setdefault(table, set()).add(column)
    return {"null_only": null_only, "presence_only": presence_only}


def validate_range(
    frames: Mapping[str, pd.DataFrame],
    days: list[date],
    *,
    trailing_counts: Mapping[date, Mapping[str, list[int]]] | None = None,
    describe: Callable[[str, date], str] | None = None,
    id_samples: bool = False,
    tables: Collection[str] | None = None,
) -> dict[date, ValidationReport]:
    """:func:`~opscadence.quality.day.validate_partition` for many days at once: one GX run per
    table over all the days' rows, its results cut per day. Returns the same report for each
    day as validating that day alone (same checks, counts, samples with row numbers inside the
    day, details).

    ``frames`` hold every row of ``days`` per table, with a ``ds`` column saying each row's
    partition (as read from the warehouse by ``ds``; a frame per table, columns the same for
    all days). A check GX cannot run on the range, or rows outside ``days``, make that range
    validated day by day instead. ``id_samples``: samples as
    :func:`~opscadence.quality.sql.validate_partition_sql` words them (ids only, sorted), so a
    PostgreSQL backfill stores what a scheduled run stores.
    """
    describe = describe or (lambda table, ds: f"{RAW_TABLES[table].name} (ds={ds.isoformat()})")
    trailing_counts = trailing_counts or {}
    days = sorted(days)
    offset = {ds: (ds - days[0]).days for ds in days}  # a row's partition, as days after the first
    span = (days[-1] - days[0]).days + 1 if days else 0
    runtime = shared_runtime()

    def day_by_day() -> dict[date, ValidationReport]:
        return _validate_day_by_day(frames, days, trailing_counts, describe, id_samples, tables)

    per_day: dict[date, list[CheckResult]] = {ds: [] for ds in days}
    ref_params = expectation_parameters(_REFERENCE_DAY)
    ref_params["partition_ds"] = [_REFERENCE_DAY]
    for table in checked_tables(tables):
        frame = frames.get(table)
        if frame is None or "ds" not in frame.columns:
            return day_by_day()
        frame = frame.reset_index(drop=True)
        day_index = _row_days(frame, offset)
        if day_index is None:
            return day_by_day()
        doc = runtime.documents[table]
        checked = gx_frame(_range_frame(frame, days[0], day_index, span, _column_uses(doc, table)), _REFERENCE_DAY)
        suite_result = runtime.validate(table, checked, ref_params)
        if any(exception_message(res.exception_info) for res in suite_result.results):
            return day_by_day()
        if any(_unattributable(res) for res in suite_result.results):
            return day_by_day()
        # Row numbers inside each day's own frame, for samples as a day's validation gives them.
        starts = np.searchsorted(day_index, np.arange(span))
        counts = np.bincount(day_index, minlength=span)
        for ds in days:
            n = offset[ds]
            day_frame = frame.iloc[starts[n]: starts[n] + counts[n]].reset_index(drop=True)
            params = expectation_parameters(ds, trailing_counts.get(ds))
            mean = row_count_bounds((trailing_counts.get(ds) or {}).get(table))[2]
            cut = _cut_day(suite_result, table, params, int(starts[n]), int(counts[n]))
            # the columns a day's own GX frame would have; samples read only the id columns
            per_day[ds].extend(interpret(
                table, set(day_frame.columns) | {"ds"}, sampler(day_frame, table, id_samples),
                cut, doc, params, describe(table, ds), mean,
            ))
    return {ds: ValidationReport(ds=ds, results=per_day[ds]) for ds in days}


def _validate_day_by_day(frames: Mapping[str, pd.DataFrame], days: list[date],
                         trailing_counts: Mapping[date, Mapping[str, list[int]]],
                         describe: Callable[[str, date], str], id_samples: bool,
                         tables: Collection[str] | None = None) -> dict[date, ValidationReport]:
    """The fallback of :func:`validate_range`: each day's rows validated on their own."""
    out = {}
    for ds in days:
        day_frames = {}
        for table, frame in frames.items():
            rows = frame[_day_column(frame) == ds] if len(frame) else frame
            # ds may be ISO text as read; these rows are the day's, so it is the day
            day_frames[table] = rows.reset_index(drop=True).assign(
                ds=pd.Series([ds] * len(rows), dtype=object))
        out[ds] = validate_partition(day_frames, ds, trailing_counts=trailing_counts.get(ds),
                                     describe=lambda t, d=ds: describe(t, d), id_samples=id_samples,
                                     tables=tables)
    return out


def _row_days(frame: pd.DataFrame, offset: Mapping[date, int]) -> np.ndarray | None:
    """Each row's partition as days after the first, or None when the rows cannot be cut per
    day: a ``ds`` outside the range, or rows not grouped by day in order."""
    day_index = _day_column(frame).map(offset)
    if day_index.isna().any():
        return None
    day_index = day_index.to_numpy(dtype=np.int64)
    if (np.diff(day_index) < 0).any():
        return None
    return day_index


def _cut_day(suite_result: Any, table: str, params: Mapping[str, Any], start: int, rows: int) -> _DaySuiteResult:
    """The range's results for the day whose rows are ``start .. start+rows-1``, as the day's
    own run would give them (row numbers inside the day)."""
    low, high = params[f"min_rows_{table}"], params[f"max_rows_{table}"]
    results = []
    for res in suite_result.results:
        etype = res.expectation_config.type
        if etype == "expect_table_row_count_to_be_between":
            ok = rows >= (low or 0) and (high is None or rows <= high)
            results.append(_DayResult(res.expectation_config, ok, {"observed_value": rows}))
            continue
        if etype == "expect_column_to_exist":
            results.append(_DayResult(res.expectation_config, bool(res.success), dict(res.result or {})))
            continue
        labels = np.asarray((res.result or {}).get("unexpected_index_list") or [], dtype=np.int64)
        mine = labels[(labels >= start) & (labels < start + rows)] - start
        results.append(_DayResult(
            res.expectation_config, len(mine) == 0,
            {"unexpected_count": int(len(mine)), "unexpected_index_list": [int(i) for i in mine]},
        ))
    return _DaySuiteResult(results)


def _unattributable(res: Any) -> bool:
    """A row-level check that failed without naming every offending row cannot be cut per day."""
    if res.expectation_config.type in ("expect_table_row_count_to_be_between", "expect_column_to_exist"):
        return False
    result = res.result or {}
    return not res.success and len(result.get("unexpected_index_list") or []) != result.get("unexpected_count")


def _day_column(frame: pd.DataFrame) -> pd.Series:
    """The ``ds`` column as ``date`` values (it may come as dates, timestamps or ISO text)."""
    column = frame["ds"]
    codes, values = pd.factorize(column)  # a handful of distinct days: convert those only
    days = np.array([v if isinstance(v, date) and not isinstance(v, datetime) else pd.Timestamp(v).date()
                     for v in values] + [None], dtype=object)
    return pd.Series(days[codes], index=frame.index)  # code -1 (null) -> None
