"""What every source of raw partitions offers, and the error a bad file or table raises."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import pandas as pd
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from opscadence.core.config import SourceConfig


class SourceError(ValueError):
    """A raw file or table cannot be read; the message names the file, row and column."""

    def __init__(self, message: str, *, path: str | None = None, row: int | None = None,
                 column: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.row = row
        self.column = column


@runtime_checkable
class PartitionSource(Protocol):
    def read_partition(self, ds: date) -> dict[str, pd.DataFrame]:
        """One frame per raw table (keys of ``RAW_TABLES``) for the partition ``ds``."""
        ...

    def describe(self, table: str, ds: date) -> str:
        """Where ``table`` for ``ds`` comes from, for messages (a table name or a file path)."""
        ...



def make_source(config: SourceConfig, engine: Engine, *, timezone: str | None = None) -> PartitionSource:
    """The source a :class:`opscadence.core.config.SourceConfig` describes."""
    from opscadence.sources.csv_exports import CsvExportSource
    from opscadence.sources.warehouse import WarehouseSource

    if config.kind == "csv":
        assert config.path is not None  # enforced by SourceConfig
        return CsvExportSource(config.path, config.encoding, timezone=timezone)
    return WarehouseSource(engine)

