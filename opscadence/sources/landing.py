"""Landing a validated batch of raw partitions in the warehouse, in one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from opscadence import warehouse
from opscadence.sources.columns import with_ds
from opscadence.warehouse import RAW_TABLES


def _db_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Values the DB-API drivers accept: Int64 → Python int, NA → None (done by replace_window)."""
    out = frame.copy()
    for name in out.columns:
        if isinstance(out[name].dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_integer_dtype(out[name].dtype):
            out[name] = pd.Series([None if pd.isna(v) else int(v) for v in out[name]], index=out.index, dtype=object)
    return out


def load_partition(engine: Engine, ds: date, frames: Mapping[str, pd.DataFrame]) -> dict[str, int]:
    """Replace every raw table's ``ds`` partition with ``frames`` in one transaction.

    Only the table's own columns are written; a frame without ``ds`` gets it. Returns the
    row count written per table. Rerunning with the same frames leaves the same state.
    """
    missing = [t for t in RAW_TABLES if t not in frames]
    if missing:
        raise ValueError(f"load_partition needs a frame for every raw table; missing {missing}")
    end = ds + timedelta(days=1)
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        for table, sa_table in RAW_TABLES.items():
            frame = with_ds(frames[table], ds)
            columns = [c for c in sa_table.c.keys() if c in frame.columns]
            counts[table] = warehouse.replace_window(conn, sa_table, ds, end, _db_ready(frame[columns]))
    return counts
