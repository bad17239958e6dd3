"""The PII-free samples a failed check shows: record ids (plus row numbers where the rows
came as a frame), never free text or other user input."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

SAMPLE_SIZE = 5
_ID_PREVIEW = 64

# The columns that identify a record in samples (never free text or other user input).
ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("user_id",),
    "events": ("event_id",),
    "orders": ("order_id",),
    "payments": ("attempt_id",),
    "ad_spend": ("channel", "campaign"),
    "feedback": ("feedback_id",),
}


def _clip(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _ID_PREVIEW else text[:_ID_PREVIEW] + "…"


def _frame_sample(frame: pd.DataFrame, table: str, labels: Iterable[Any]) -> list[str]:
    """Samples for the rows of ``frame`` at ``labels``: ``order_id=o1 (row 7)``, in GX's order."""
    out = []
    id_cols = [c for c in ID_COLUMNS.get(table, ()) if c in frame.columns]
    for label in list(labels)[:SAMPLE_SIZE]:
        if isinstance(label, Mapping):  # a named index: keep only the label, never the value
            label = label.get(frame.index.name) if frame.index.name in label else None
            if label is None:
                continue
        parts = []
        if label in frame.index:
            for col in id_cols:
                value = frame.at[label, col]
                if not pd.isna(value):
                    parts.append(f"{col}={_clip(value)}")
        row = f"row {label}"
        out.append(f"{', '.join(parts)} ({row})" if parts else row)
    return out


def sql_sample(table: str, labels: Iterable[Any]) -> list[str]:
    """Samples from SQL unexpected index rows: only the id columns (GX adds the checked
    column's value to each row, which is dropped here); sorted and deduplicated."""
    id_cols = ID_COLUMNS.get(table, ())
    seen: set[str] = set()
    out: list[str] = []
    entries = []
    for label in labels:
        if not isinstance(label, Mapping):
            continue
        parts = [f"{col}={'NULL' if label[col] is None else _clip(label[col])}" for col in id_cols if col in label]
        if parts:
            entries.append(", ".join(parts))
    for entry in sorted(entries):
        if entry not in seen:
            seen.add(entry)
            out.append(entry)
        if len(out) == SAMPLE_SIZE:
            break
    return out


def sampler(frame: pd.DataFrame, table: str, id_samples: bool) -> Callable[[Iterable[Any]], list[str]]:
    """Unexpected row labels of ``frame`` -> samples: ids with row numbers, or (``id_samples``)
    ids only, sorted, as :func:`sql_sample` words them for in-SQL validation."""
    if id_samples:
        return lambda labels: sql_sample(table, _id_rows(frame, table, labels))
    return lambda labels: _frame_sample(frame, table, labels)


def _id_rows(frame: pd.DataFrame, table: str, labels: Iterable[Any]) -> list[dict[str, Any]]:
    """The id columns of the rows at ``labels`` (nulls as None), as SQL validation returns them."""
    id_cols = [c for c in ID_COLUMNS.get(table, ()) if c in frame.columns]
    out = []
    for label in labels:
        row = {}
        for col in id_cols:
            value = frame.at[label, col]
            row[col] = None if pd.isna(value) else value
        out.append(row)
    return out
