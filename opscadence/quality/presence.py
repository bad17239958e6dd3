"""Absence is a finding: a day the source holds no rows for fails validation, it is not a day of zeros.

The suites' row-count check judges a day against the trailing days; with no history (the
first day of a shop, a day before it existed, a new warehouse) any count passes, zero
included. :func:`presence_check` closes that gap: a day without rows in a table every
vertical's KPIs are built on (:data:`REQUIRED_TABLES`) is a critical failure that names the
tables without rows and where they were looked for.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date

from opscadence.quality.report import CRITICAL, CheckResult
from opscadence.quality.suites import checked_tables
from opscadence.reporting.i18n import strings

# Events carry every vertical's visitors (DAU, sessions, the funnel): a day without them is no day.
# Other tables may be empty on a real day (no signups, no ad spend, no feedback).
REQUIRED_TABLES = ("events",)
NO_ROWS = "expect_partition_to_have_rows"


def presence_check(ds: date, counts: Mapping[str, int], where: str, *, tables: Collection[str] | None = None,
                   source_empty: bool = False) -> CheckResult | None:
    """The critical failure for a day with no rows in a required table, else None.

    ``counts`` holds the day's rows per raw table (a missing table counts 0); ``where`` names
    the source ("the warehouse sqlite:///…", an export folder); ``source_empty``: the source
    holds no data for any day, which the message says, since nothing was loaded yet;
    ``tables``: the raw tables the sources provide (default: all). Without an events source
    (a shop's order exports only) the day is absent when none of the provided tables has rows.
    """
    provided = checked_tables(tables)
    required = [t for t in REQUIRED_TABLES if t in provided]
    if required:
        missing = [t for t in required if not counts.get(t)]
    else:
        missing = [] if any(counts.get(t) for t in provided) else provided
    if not missing:
        return None
    empty = [t for t in provided if not counts.get(t)]
    key = "dq_source_empty" if source_empty else "dq_no_rows"
    args = {"tables": ", ".join(empty), "ds": ds.isoformat(), "where": where}
    detail = strings("en")[key].format(**args)  # stored in dq_results; the brief words it in its locale
    return CheckResult(
        table=missing[0], expectation=NO_ROWS, column=None, severity=CRITICAL, success=False,
        unexpected_count=None, sample=[], detail=detail, message=(key, args),
    )
