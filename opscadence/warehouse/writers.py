"""The idempotent window writer: each writer replaces its ``[start, end)`` window in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opscadence.warehouse.schema import RAW_TABLES


def _records(rows: pd.DataFrame | Iterable[Mapping[str, Any]], table: sa.Table) -> list[dict[str, Any]]:
    if isinstance(rows, pd.DataFrame):
        frame = rows.astype(object).where(rows.notna(), None)
        records = frame.to_dict(orient="records")
    else:
        records = [dict(r) for r in rows]
    columns = set(table.c.keys())
    out = []
    for rec in records:
        unknown = set(rec) - columns
        if unknown:
            raise ValueError(f"{table.name}: unknown columns {sorted(unknown)}")
        out.append({k: (v.to_pydatetime() if isinstance(v, pd.Timestamp) else v) for k, v in rec.items()})
    return out


# Frames at least this long go through the bulk path (executemany of tuples / COPY).
BULK_MIN_ROWS = 1_000


def _missing(value: Any) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float) and value != value  # NaN


def _column_values(series: pd.Series, column: sa.Column, dialect: sa.engine.Dialect) -> list[Any]:
    """One column as a list of values the DB-API driver accepts (None for NaN/NA/NaT).

    Vectorised for the common dtypes; on SQLite, dates and timestamps are written in
    SQLAlchemy's own storage format so the bulk path stores exactly what the ORM path does.
    """
    sqlite = dialect.name == "sqlite"
    dtype = series.dtype
    if pd.api.types.is_datetime64_dtype(dtype) and getattr(dtype, "tz", None) is None:
        arr = series.to_numpy(dtype="datetime64[us]")
        nat = np.isnat(arr)
        text = np.char.replace(np.datetime_as_string(arr, unit="us"), "T", " ")
        if isinstance(column.type, sa.Date):
            text = text.astype("<U10")  # YYYY-MM-DD
        out = text.astype(object)
        if nat.any():
            out[nat] = None
        return out.tolist()
    if pd.api.types.is_bool_dtype(dtype) and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        values = series.to_numpy().tolist()
        return [int(v) for v in values] if sqlite else values
    if pd.api.types.is_float_dtype(dtype) and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        arr = series.to_numpy()
        nan = np.isnan(arr)
        if not nan.any():
            return arr.tolist()
        out = arr.astype(object)
        out[nan] = None
        return out.tolist()
    if pd.api.types.is_integer_dtype(dtype) and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return series.to_numpy().tolist()
    # object / extension dtypes: per value, with the dialect's bind processor for typed columns
    values = series.astype(object).tolist()
    processor = column.type.dialect_impl(dialect).bind_processor(dialect) if sqlite else None
    # Text without a missing value: nothing to convert. (infer_dtype says "string" for a pandas
    # string dtype even with missing values, which astype(object) turns into NaN: checked apart.)
    if (processor is None and pd.api.types.infer_dtype(series, skipna=False) == "string"
            and not series.isna().any()):
        return values
    cache: dict[Any, Any] = {}
    out_list = []
    for v in values:
        if _missing(v):
            out_list.append(None)
            continue
        if isinstance(v, pd.Timestamp):
            v = v.to_pydatetime()
        elif isinstance(v, np.generic):
            v = v.item()
        if processor is not None and not isinstance(v, str):
            key = (type(v), v)
            try:
                v = cache[key]
            except KeyError:
                v = cache[key] = processor(v)
            except TypeError:  # unhashable
                v = processor(v)
        out_list.append(v)
    return out_list


def _check_window_frame(table: sa.Table, frame: pd.DataFrame, start: date, end: date) -> None:
    if "ds" not in frame.columns:
        if len(frame):
            raise ValueError(f"{table.name}: row with ds=None is outside the window [{start}, {end})")
        return
    for ds in pd.unique(frame["ds"].astype(object)):
        value = None if _missing(ds) else (ds.date() if isinstance(ds, pd.Timestamp) else ds)
        if value is None or not (start <= value < end):
            raise ValueError(f"{table.name}: row with ds={value!r} is outside the window [{start}, {end})")


def bulk_insert(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Insert a frame on the caller's connection (same DB-API connection, same transaction)."""
    dialect = conn.dialect
    names = list(frame.columns)
    columns = [_column_values(frame[name], table.c[name], dialect) for name in names]
    rows = list(zip(*columns))
    del columns
    preparer = dialect.identifier_preparer
    target = preparer.format_table(table)
    column_list = ", ".join(preparer.quote(name) for name in names)
    driver = conn.connection.driver_connection
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        with driver.cursor() as cur:
            with cur.copy(f"COPY {target} ({column_list}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            if table.name in {t.name for t in RAW_TABLES.values()}:
                # Fresh statistics right after a bulk load: the planner otherwise estimates one row
                # for a day's partition (measured: GX's SQL uniqueness check 50 s → under 1 s on 5M events).
                cur.execute(f"ANALYZE {target}")
        return
    marks = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(dialect.paramstyle)
    if marks is None:  # named styles: let SQLAlchemy do it
        conn.execute(table.insert(), [dict(zip(names, r)) for r in rows])
        return
    sql = f"INSERT INTO {target} ({column_list}) VALUES ({', '.join([marks] * len(names))})"
    cur = driver.cursor()
    try:
        cur.executemany(sql, rows)
    finally:
        cur.close()


def replace_window(
    conn: Connection,
    table: sa.Table,
    start: date,
    end: date,
    rows: pd.DataFrame | Iterable[Mapping[str, Any]],
    *,
    extra_where: Sequence[sa.ColumnElement[bool]] = (),
) -> int:
    """Replace every row of ``table`` with ``start <= ds < end`` by ``rows``.

    Runs inside the caller's transaction (use ``engine.begin()``), so a failure leaves
    the previous window intact and a rerun leaves exactly the same state. Large frames
    are written in bulk (executemany of tuples; ``COPY`` on PostgreSQL with psycopg) on
    the same connection, so the semantics are the same: NaN/NA/NaT become NULL.
    """
    where = [table.c.ds >= start, table.c.ds < end, *extra_where]
    if isinstance(rows, pd.DataFrame) and len(rows) >= BULK_MIN_ROWS:
        unknown = set(rows.columns) - set(table.c.keys())
        if unknown:
            raise ValueError(f"{table.name}: unknown columns {sorted(unknown)}")
        _check_window_frame(table, rows, start, end)
        conn.execute(table.delete().where(*where))
        bulk_insert(conn, table, rows)
        return len(rows)
    records = _records(rows, table)
    for rec in records:
        ds = rec.get("ds")
        if ds is None or not (start <= ds < end):
            raise ValueError(f"{table.name}: row with ds={ds!r} is outside the window [{start}, {end})")
    conn.execute(table.delete().where(*where))
    if records:
        conn.execute(table.insert(), records)
    return len(records)
