"""The warehouse: schema (:mod:`schema`), the window writer (:mod:`writers`) and the day
calendar (:mod:`calendar`). The names below are the package's public face, so callers write
``warehouse.raw_orders`` or ``warehouse.replace_window``.
"""

from opscadence.warehouse.calendar import as_date, calendar_row, ensure_calendar
from opscadence.warehouse.inputs import (
    definitions_version,
    input_checksums,
    record_inputs,
    stale_or_missing,
)
from opscadence.warehouse.schema import (
    MAU_DAYS,
    PARTITION_TIME_COLUMN,
    RAW_TABLES,
    REPURCHASE_DAYS,
    alert_states,
    alerts,
    briefs,
    create_engine,
    dim_calendar,
    dq_results,
    init_schema,
    mart_daily_funnel,
    mart_daily_kpis,
    mart_daily_visitors,
    mart_inputs,
    metadata,
    raw_ad_spend,
    raw_events,
    raw_feedback,
    raw_orders,
    raw_payments,
    raw_users,
)
from opscadence.warehouse.writers import BULK_MIN_ROWS, replace_window

__all__ = [
    "definitions_version",
    "input_checksums",
    "record_inputs",
    "stale_or_missing",
    "BULK_MIN_ROWS",
    "MAU_DAYS",
    "PARTITION_TIME_COLUMN",
    "RAW_TABLES",
    "REPURCHASE_DAYS",
    "alert_states",
    "alerts",
    "as_date",
    "briefs",
    "calendar_row",
    "create_engine",
    "dim_calendar",
    "dq_results",
    "ensure_calendar",
    "init_schema",
    "mart_daily_funnel",
    "mart_daily_kpis",
    "mart_daily_visitors",
    "mart_inputs",
    "metadata",
    "raw_ad_spend",
    "raw_events",
    "raw_feedback",
    "raw_orders",
    "raw_payments",
    "raw_users",
    "replace_window",
]
