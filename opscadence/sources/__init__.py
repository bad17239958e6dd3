"""Where raw partitions come from: the warehouse's raw tables, shop exports (CSV) or another
database through query files (SQL).

The modules: :mod:`protocol` (what a source offers), :mod:`columns` (typing), :mod:`warehouse`,
:mod:`csv_exports`, :mod:`sql_query`, :mod:`landing` (writing a validated batch). The names below
are the package's public face.
"""

from opscadence.sources.columns import coerce_types, column_kind
from opscadence.sources.csv_exports import CsvExportSource
from opscadence.sources.landing import load_partition
from opscadence.sources.protocol import PartitionSource, SourceError, make_source
from opscadence.sources.sql_query import SqlQuerySource
from opscadence.sources.warehouse import WarehouseSource

__all__ = ["CsvExportSource", "PartitionSource", "SourceError", "SqlQuerySource", "WarehouseSource", "coerce_types",
           "column_kind", "load_partition", "make_source"]
