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
    """Replace the ``ds`` partition of each raw table in ``frames`` with its frame, in one
    transaction (a source owning some tables lands only those; the others are left alone).

    Only the table's own columns are written; a frame without ``ds`` gets it. Returns the
    row count written per table. Rerunning with the same frames leaves the same state.
    """
    unknown = sorted(set(frames) - set(RAW_TABLES))
    if unknown:
        raise ValueError(f"load_partition: not raw tables: {unknown}")
    end = ds + timedelta(days=1)
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        for table, sa_table in RAW_TABLES.items():
            if table not in frames:
                continue
            frame = with_ds(frames[table], ds)
            columns = [c for c in sa_table.c.keys() if c in frame.columns]
            counts[table] = warehouse.replace_window(conn, sa_table, ds, end, _db_ready(frame[columns]))
    return counts
