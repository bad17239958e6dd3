"""What every source of raw partitions offers, and the error a bad file or table raises."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import pandas as pd
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from opscadence.core.config import SourceConfig


class SourceError(ValueError):
    """A raw file or table cannot be read; the message names the file, row and column."""

    def __init__(self, message: str, *, path: str | None = None, row: int | None = None,
                 column: str | None = None, check: str = "parse") -> None:
        super().__init__(message)
        self.path = path
        self.row = row
        self.column = column
        self.check = check  # the data-quality check it is reported as: "parse", or "file_missing"


@runtime_checkable
class PartitionSource(Protocol):
    """A source of raw partitions. The pipeline asks it, never its type, what it can do."""

    #: the raw tables (keys of ``RAW_TABLES``) this source provides
    tables: frozenset[str]
    #: whether :meth:`land` writes anything (files are landed; warehouse tables are there already)
    lands: bool

    def validates_in_database(self) -> bool:
        """Whether its partitions stay in the warehouse and are validated there in SQL."""
        ...

    def has_partition(self, ds: date) -> bool:
        """Whether the source holds anything for ``ds`` (a day it was never given is not a day of zeros)."""
        ...

    def read_partition(self, ds: date) -> dict[str, pd.DataFrame]:
        """One frame per table of :attr:`tables` for the partition ``ds``."""
        ...

    def read_range(self, start: date, end: date, **plan: Mapping[str, set[str]]) -> dict[str, pd.DataFrame] | None:
        """Every provided table's rows with ``ds`` in [start, end) in one read, or None when the
        source reads a day at a time (the caller then goes day by day)."""
        ...

    def land(self, engine: Engine, ds: date, frames: Mapping[str, pd.DataFrame]) -> None:
        """Write a validated batch into the warehouse's raw tables (nothing, when it is there already)."""
        ...

    def describe(self, table: str, ds: date) -> str:
        """Where ``table`` for ``ds`` comes from, for messages (a table name or a file path)."""
        ...

    def describe_partition(self, ds: date) -> str:
        """Where the partition ``ds`` was looked for, for messages (the warehouse, no password; a folder)."""
        ...

    def is_empty(self) -> bool:
        """Whether the source holds no data for any day (a new warehouse, an empty export folder)."""
        ...



def make_source(config: SourceConfig | Sequence[SourceConfig], engine: Engine, *,
                timezone: str | None = None) -> PartitionSource:
    """The source a :class:`opscadence.core.config.SourceConfig` describes, or the one source
    that several of them (``Config.source_list``, each owning some tables) make together."""
    from opscadence.sources.composite import CompositeSource
    from opscadence.sources.csv_exports import CsvExportSource
    from opscadence.sources.sql_query import SqlQuerySource
    from opscadence.sources.warehouse import WarehouseSource

    if isinstance(config, Sequence):
        parts = [make_source(one, engine, timezone=timezone) for one in config]
        return parts[0] if len(parts) == 1 else CompositeSource(parts)
    if config.kind == "csv":
        assert config.path is not None  # enforced by SourceConfig
        return CsvExportSource(config.path, config.encoding, timezone=timezone, tables=config.tables)
    if config.kind == "sql":
        assert config.url is not None and config.queries is not None  # enforced by SourceConfig
        return SqlQuerySource(config.url, config.queries, timezone=timezone)
    return WarehouseSource(engine, tables=config.tables)

