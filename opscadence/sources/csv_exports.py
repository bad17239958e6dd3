"""Shop exports: a directory of ``<YYYY-MM-DD>/<table>.csv`` files in UTF-8 or GBK/GB18030."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy.engine import Engine

from opscadence.sources.columns import coerce_types, preview_value, with_ds
from opscadence.sources.landing import load_partition
from opscadence.sources.protocol import SourceError
from opscadence.warehouse import RAW_TABLES


class CsvExportSource:
    """A directory of shop exports laid out as ``<root>/<YYYY-MM-DD>/<table>.csv``.

    ``encoding="auto"`` reads UTF-8 (with or without a BOM) and falls back to GB18030 (a
    superset of GBK/GB2312, what Excel on a Chinese Windows writes) when the file is not
    valid UTF-8. Other encodings are used as given.

    Values are read as text; typed columns are converted and a value that cannot be
    converted raises :class:`SourceError` naming the file, line and column. Each frame's
    index is the line number in the file (the header is line 1). Unknown columns are
    dropped and noted in :attr:`warnings`; missing columns stay missing so validation
    reports them. A missing file is not a file of missing columns: :meth:`read_partition`
    raises one :class:`SourceError` (check ``file_missing``) naming every absent file and the
    folder ("payments.csv is missing in exports/2026-11-24").

    Timestamps carrying a UTC offset are converted to ``timezone`` (the shop's) and made
    naive; without a ``timezone`` they are an error.
    """

    def __init__(self, root: Path, encoding: str = "auto", *, timezone: str | ZoneInfo | None = None,
                 tables: Iterable[str] | None = None) -> None:
        self.root = Path(root)
        #: the raw tables it provides (their files), in RAW_TABLES order
        self.tables = frozenset(RAW_TABLES if tables is None else tables)
        self._ordered = [t for t in RAW_TABLES if t in self.tables]
        self.encoding = encoding
        self.timezone = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        self.warnings: list[str] = []
        self.encodings_used: dict[str, str] = {}

    lands = True  # a validated batch is written into the raw tables

    def validates_in_database(self) -> bool:
        return False

    def has_partition(self, ds: date) -> bool:
        return (self.root / ds.isoformat()).is_dir()

    def read_range(self, start: date, end: date, **plan: Mapping[str, set[str]]) -> dict[str, pd.DataFrame] | None:
        """Exports are files per day: read day by day (errors then name the file and row)."""
        return None

    def land(self, engine: Engine, ds: date, frames: Mapping[str, pd.DataFrame]) -> None:
        load_partition(engine, ds, {table: frames[table] for table in self.tables})

    def path(self, table: str, ds: date) -> Path:
        return self.root / ds.isoformat() / f"{table}.csv"

    def describe(self, table: str, ds: date) -> str:
        return str(self.path(table, ds))

    def describe_partition(self, ds: date) -> str:
        return str(self.root / ds.isoformat())

    def is_empty(self) -> bool:
        """No day folder holds a file (or the root does not exist)."""
        return not any(p.is_file() for day in self.root.glob("????-??-??") if day.is_dir() for p in day.iterdir())

    def read_partition(self, ds: date) -> dict[str, pd.DataFrame]:
        self.warnings = []
        self.encodings_used = {}
        if not self.has_partition(ds):
            return {}  # no export for the day at all: validation reports the day as absent
        present = [table for table in self._ordered if self.path(table, ds).is_file()]
        frames = {table: self.read_table(table, ds) for table in present}  # a bad row is named first
        absent = [f"{table}.csv" for table in self._ordered if table not in frames]
        if absent:
            folder = self.root / ds.isoformat()
            verb = "is" if len(absent) == 1 else "are"
            raise SourceError(f"{', '.join(absent)} {verb} missing in {folder}", path=str(folder), check="file_missing")
        return frames

    # -- one file --------------------------------------------------------------------------

    def _decode(self, path: Path) -> tuple[str, str]:
        data = path.read_bytes()
        if self.encoding.lower() == "auto":
            try:
                return data.decode("utf-8-sig"), "utf-8-sig"
            except UnicodeDecodeError:
                pass
            candidates = ["gb18030"]
        else:
            candidates = [self.encoding]
        enc = candidates[0]
        try:
            text = data.decode(enc)
        except LookupError:
            raise SourceError(f"{path}: unknown encoding {enc!r}", path=str(path)) from None
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            tried = "UTF-8 or GB18030" if self.encoding.lower() == "auto" else enc
            raise SourceError(f"{path} row {line}: the file is not valid {tried} text", path=str(path),
                              row=line) from None
        return text.removeprefix("\ufeff"), enc

    def read_table(self, table: str, ds: date) -> pd.DataFrame:
        if table not in RAW_TABLES:
            raise KeyError(f"unknown raw table {table!r}")
        path = self.path(table, ds)
        if not path.is_file():
            raise SourceError(f"{path.name} is missing in {path.parent}", path=str(path), check="file_missing")
        text, used = self._decode(path)
        self.encodings_used[table] = used
        header, lines, records = self._parse(path, text)
        if header is None:
            self.warnings.append(f"{path}: the file is empty")
            return pd.DataFrame()

        known = [c.name for c in RAW_TABLES[table].columns]
        unknown = [h for h in header if h not in known]
        if unknown:
            shown = ", ".join(repr(h) if h else "(unnamed)" for h in unknown)
            self.warnings.append(f"{path}: ignored unknown column(s) {shown}")
        positions = {h: i for i, h in enumerate(header)}
        index = pd.Index(lines, name="row", dtype="int64")
        data = {
            name: pd.Series([(rec[positions[name]] or None) for rec in records], index=index, dtype="str")
            for name in known if name in positions
        }
        frame = pd.DataFrame(data, index=index)

        def error(label: Any, column: str, value: Any, problem: str) -> SourceError:
            return SourceError(f"{path} row {label}, column {column}: {preview_value(value)} {problem}",
                               path=str(path), row=int(label), column=column)

        frame = coerce_types(frame, table, error=error, timezone=self.timezone)
        return with_ds(frame, ds)

    @staticmethod
    def _parse(path: Path, text: str) -> tuple[list[str] | None, list[int], list[list[str]]]:
        """Header, the starting line number of each record, and the records."""
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        lines: list[int] = []
        records: list[list[str]] = []
        try:
            header = next(reader, None)
            while header is not None and not any(h.strip() for h in header):
                header = next(reader, None)  # leading blank lines
            if header is None:
                return None, [], []
            header = [h.strip() for h in header]
            seen: set[str] = set()
            for h in header:
                if h and h in seen:
                    raise SourceError(f"{path} row {reader.line_num}: column {h} appears twice in the header",
                                      path=str(path), row=reader.line_num, column=h)
                seen.add(h)
            previous = reader.line_num
            for record in reader:
                start, previous = previous + 1, reader.line_num
                if not record or (len(record) == 1 and not record[0].strip() and len(header) > 1):
                    continue  # blank line
                if len(record) != len(header):
                    raise SourceError(
                        f"{path} row {start}: expected {len(header)} fields as in the header, found {len(record)}",
                        path=str(path), row=start,
                    )
                lines.append(start)
                records.append(record)
        except csv.Error as exc:
            raise SourceError(f"{path} row {reader.line_num}: malformed CSV ({exc})", path=str(path),
                              row=reader.line_num) from None
        return header, lines, records
