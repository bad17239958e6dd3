"""GX validation results turned into :class:`~opscadence.quality.report.CheckResult` rows,
the same way for every path (a day's frame, a range cut per day, SQL)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from opscadence.quality.gx_runtime import ORDER_KEY
from opscadence.quality.report import CRITICAL, CheckResult
from opscadence.quality.suites import ROW_COUNT_MAX_RATIO, ROW_COUNT_MIN_RATIO, TRAILING_DAYS
from opscadence.warehouse import PARTITION_TIME_COLUMN

log = logging.getLogger(__name__)


def columns_of(kwargs: Mapping[str, Any]) -> list[str]:
    """The columns an expectation's kwargs name, in order."""
    cols: list[str] = []
    if kwargs.get("column") is not None:
        cols.append(kwargs["column"])
    for key in ("column_A", "column_B"):
        if kwargs.get(key) is not None:
            cols.append(kwargs[key])
    cols.extend(kwargs.get("column_list") or [])
    return cols


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def exception_message(exception_info: Any) -> str | None:
    """The first raised exception's message in a GX result's exception_info (flat or per metric)."""
    if not exception_info:
        return None
    if isinstance(exception_info, Mapping):
        if exception_info.get("raised_exception"):
            return str(exception_info.get("exception_message") or "error")
        for value in exception_info.values():
            if isinstance(value, Mapping) and value.get("raised_exception"):
                return str(value.get("exception_message") or "error")
    return None


def _fmt(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") if value.second == 0 else value.isoformat(sep=" ")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _describe_failure(etype: str, kwargs: Mapping[str, Any], raw_kwargs: Mapping[str, Any], n: int,
                      table: str, params: Mapping[str, Any]) -> str:
    col = kwargs.get("column")
    if etype == "expect_column_values_to_not_be_null":
        return f"column {col} has {_plural(n, 'null value')}"
    if etype == "expect_column_values_to_be_unique":
        return f"column {col} has {_plural(n, 'row')} with a duplicated value"
    if etype == "expect_column_values_to_be_between":
        if isinstance(raw_kwargs.get("min_value"), Mapping) and col == PARTITION_TIME_COLUMN.get(table):
            start, end = params["partition_start"], params["partition_end"]
            return f"column {col} has {_plural(n, 'value')} outside the partition [{_fmt(start)}, {_fmt(end)})"
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        if high is None:
            return f"column {col} has {_plural(n, 'value')} below {_fmt(low)}"
        if low is None:
            return f"column {col} has {_plural(n, 'value')} above {_fmt(high)}"
        return f"column {col} has {_plural(n, 'value')} outside [{_fmt(low)}, {_fmt(high)}]"
    if etype == "expect_column_values_to_be_in_set":
        if col == "ds":
            allowed = ", ".join(_fmt(v) for v in params.get("partition_ds", []))
            return f"column ds has {_plural(n, 'value')} other than the partition date {allowed}"
        value_set = kwargs.get("value_set")
        if isinstance(value_set, Mapping) or value_set is None:
            value_set = raw_kwargs.get("value_set") if not isinstance(raw_kwargs.get("value_set"), Mapping) else []
        allowed = ", ".join(_fmt(v) for v in value_set or [])
        return f"column {col} has {_plural(n, 'value')} not in the allowed set ({allowed})"
    if etype == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = kwargs.get("column_A"), kwargs.get("column_B")
        relation = "greater than" if kwargs.get("or_equal") else "greater than or equal to"
        return f"{_plural(n, 'row')} {'has' if n == 1 else 'have'} {b} {relation} {a}"
    if etype == "expect_compound_columns_to_be_unique":
        cols = ", ".join(kwargs.get("column_list") or [])
        return f"{_plural(n, 'row')} share a duplicated ({cols}) combination"
    cols = ", ".join(columns_of(kwargs)) or "the table"
    return f"{_plural(n, 'value')} in {cols} fail {etype}"


def _row_count_detail(where: str, observed: int, low: Any, high: Any, mean: float | None, success: bool) -> str:
    rows = _plural(observed, "row")
    if high is None and not low:
        if mean is None:
            return f"{where}: {rows}; no trailing history to judge the row count against"
        return f"{where}: {rows}; the trailing {TRAILING_DAYS}-day mean ({mean:.0f}) is too small to judge the row count"
    verdict = "inside" if success else "outside"
    if mean is None:
        return f"{where}: {rows}, {verdict} the expected range {low}–{high}"
    return (f"{where}: {rows}, {verdict} the plausible range {low}–{high} "
            f"({ROW_COUNT_MIN_RATIO:.0%}–{ROW_COUNT_MAX_RATIO:.0%} of the trailing {TRAILING_DAYS}-day mean {mean:.0f})")


def _describe_success(etype: str, kwargs: Mapping[str, Any], raw_kwargs: Mapping[str, Any], table: str,
                      params: Mapping[str, Any]) -> str:
    col = kwargs.get("column")
    if etype == "expect_column_values_to_not_be_null":
        return f"column {col} has no null values"
    if etype == "expect_column_values_to_be_unique":
        return f"column {col} has no duplicated values"
    if etype == "expect_column_values_to_be_between":
        if isinstance(raw_kwargs.get("min_value"), Mapping) and col == PARTITION_TIME_COLUMN.get(table):
            return f"column {col} is inside the partition"
        if kwargs.get("max_value") is None:
            return f"column {col} has no values below {_fmt(kwargs.get('min_value'))}"
        return f"column {col} is within its range"
    if etype == "expect_column_values_to_be_in_set":
        return "column ds matches the partition date" if col == "ds" else f"column {col} has only allowed values"
    if etype == "expect_column_pair_values_a_to_be_greater_than_b":
        return f"no row has {kwargs.get('column_B')} greater than {kwargs.get('column_A')}"
    if etype == "expect_compound_columns_to_be_unique":
        return f"no duplicated ({', '.join(kwargs.get('column_list') or [])}) combination"
    return f"{', '.join(columns_of(kwargs)) or 'the table'} passes {etype}"



class _MissingColumns:
    """A missing column is reported once, by its existence check; the other checks on it are
    dropped. Without an existence check in the suite, the strictest dropped check decides."""

    def __init__(self, raw_expectations: list[Mapping[str, Any]]) -> None:
        self.exist_checks = {
            e.get("kwargs", {}).get("column"): (i, str(e.get("meta", {}).get("severity", CRITICAL)))
            for i, e in enumerate(raw_expectations) if e.get("type") == "expect_column_to_exist"
        }
        self.found: dict[str, tuple[int, str]] = {}  # column -> (order, severity)

    def exist_check_failed(self, column: str, order: int, severity: str) -> None:
        self.found[column] = (order, severity)

    def check_dropped(self, column: str, order: int, severity: str) -> None:
        if column in self.exist_checks:
            self.found[column] = self.exist_checks[column]
        else:
            prev_order, prev_sev = self.found.get(column, (order, severity))
            worst = CRITICAL if CRITICAL in (prev_sev, severity) else severity
            self.found[column] = (min(prev_order, order), worst)

    def results(self, table: str, where: str) -> list[tuple[int, CheckResult]]:
        return [
            (order, CheckResult(table, "expect_column_to_exist", col, severity, False, None, [],
                                f"{where}: column {col} is missing"))
            for col, (order, severity) in self.found.items()
        ]


def interpret(
    table: str,
    present: set[str],
    sampler: Callable[[Iterable[Any]], list[str]],
    suite_result: Any,
    suite_doc: Mapping[str, Any],
    params: Mapping[str, Any],
    where: str,
    mean: float | None,
) -> list[CheckResult]:
    """GX results → CheckResults in suite order; ``present`` are the batch's columns,
    ``sampler`` turns GX's unexpected index labels into PII-free sample strings."""
    raw_expectations = suite_doc.get("expectations", [])
    ordered: list[tuple[int, CheckResult]] = []
    missing = _MissingColumns(raw_expectations)

    for res in suite_result.results:
        cfg = res.expectation_config
        etype = cfg.type
        kwargs = dict(cfg.kwargs)
        meta = dict(cfg.meta or {})
        order = int(meta.get(ORDER_KEY, len(raw_expectations)))
        raw_kwargs = raw_expectations[order].get("kwargs", {}) if order < len(raw_expectations) else kwargs
        severity = str(meta.get("severity", CRITICAL))
        columns = columns_of(kwargs)
        column = columns[0] if len(columns) == 1 else None

        if etype == "expect_column_to_exist":
            col = kwargs["column"]
            if col in present:
                ordered.append((order, CheckResult(table, etype, col, severity, True, None, [],
                                                   f"{where}: column {col} is present")))
            else:
                missing.exist_check_failed(col, order, severity)
            continue
        absent = [c for c in columns if c not in present]
        if absent:
            for col in absent:
                missing.check_dropped(col, order, severity)
            continue

        exc = exception_message(res.exception_info)
        if exc is not None:
            # The message may quote data values, so it goes to the debug log only.
            log.debug("%s: %s on %s raised: %s", where, etype, columns, exc)
            subject = f"column {column}" if column else (", ".join(columns) or "the table")
            ordered.append((order, CheckResult(
                table, etype, column, severity, False, None, [],
                f"{where}: the {etype} check on {subject} could not run on this data (check the column's type)",
            )))
            continue

        result = dict(res.result or {})
        success = bool(res.success)
        if etype == "expect_table_row_count_to_be_between":
            observed = int(result.get("observed_value") or 0)
            low, high = params.get(f"min_rows_{table}"), params.get(f"max_rows_{table}")
            detail = _row_count_detail(where, observed, low, high, mean, success)
            ordered.append((order, CheckResult(table, etype, None, severity, success, None, [], detail)))
            continue

        count = result.get("unexpected_count")
        count = int(count) if count is not None else None
        if success:
            detail = f"{where}: " + _describe_success(etype, kwargs, raw_kwargs, table, params)
            sample: list[str] = []
        else:
            detail = f"{where}: " + _describe_failure(etype, kwargs, raw_kwargs, count or 0, table, params)
            labels = result.get("unexpected_index_list") or result.get("partial_unexpected_index_list") or []
            sample = sampler(labels)
        ordered.append((order, CheckResult(table, etype, column, severity, success, count, sample, detail)))

    ordered.extend(missing.results(table, where))
    ordered.sort(key=lambda pair: pair[0])
    return [r for _, r in ordered]
