"""Several sources as one: each raw table read from the source that owns it.

Config lists the sources (``sources:``), each with the tables it provides, for example events
from an analytics export and orders, payments and users from shop exports. The pipeline sees
one :class:`~opscadence.sources.protocol.PartitionSource` and never asks which part is which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from opscadence.sources.landing import load_partition
from opscadence.sources.protocol import PartitionSource
from opscadence.warehouse import RAW_TABLES


class CompositeSource:
    """The union of ``parts``, which own disjoint sets of raw tables."""

    def __init__(self, parts: Sequence[PartitionSource]) -> None:
        owner: dict[str, PartitionSource] = {}
        for part in parts:
            for table in part.tables:
                if table in owner:
                    raise ValueError(f"raw table {table!r} has two sources")
                owner[table] = part
        self.parts = list(parts)
        self._owner = owner
        self.tables = frozenset(owner)
        # landed by this source (a part that reads files); the warehouse's own tables are there already
        self.lands = any(part.lands for part in parts)

    @property
    def warnings(self) -> list[str]:
        return [w for part in self.parts for w in getattr(part, "warnings", [])]

    def validates_in_database(self) -> bool:
        # In SQL only when every table stays in the warehouse; otherwise every table is read into
        # pandas and validated there, so one batch lands or none.
        return all(part.validates_in_database() for part in self.parts)

    def has_partition(self, ds: date) -> bool:
        return any(part.has_partition(ds) for part in self.parts)

    def read_partition(self, ds: date) -> dict[str, pd.DataFrame]:
        frames: dict[str, pd.DataFrame] = {}
        for part in self.parts:
            frames.update(part.read_partition(ds))
        return {t: frames[t] for t in RAW_TABLES if t in frames}

    def read_range(self, start: date, end: date, **plan: Mapping[str, set[str]]) -> dict[str, pd.DataFrame] | None:
        frames: dict[str, pd.DataFrame] = {}
        for part in self.parts:
            read = part.read_range(start, end, **plan)
            if read is None:
                return None  # one part reads a day at a time: so does the whole
            frames.update(read)
        return frames

    def land(self, engine: Engine, ds: date, frames: Mapping[str, pd.DataFrame]) -> None:
        """Every landing part's tables in one transaction: a batch is never partly written."""
        landed = {t: frames[t] for part in self.parts if part.lands for t in part.tables if t in frames}
        if landed:
            load_partition(engine, ds, landed)

    def describe(self, table: str, ds: date) -> str:
        return self._owner[table].describe(table, ds)

    def describe_partition(self, ds: date) -> str:
        return "; ".join(part.describe_partition(ds) for part in self.parts)

    def is_empty(self) -> bool:
        return all(part.is_empty() for part in self.parts)
