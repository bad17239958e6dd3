"""Another database (your own BI warehouse) read through one query file per raw table.

A query file returns one raw table's columns (:data:`opscadence.warehouse.RAW_TABLES`, named as
there: alias your own columns, ``SELECT order_no AS order_id, …``) for the days [``:start``,
``:end``), two bound dates (shop-local midnights). It does not return ``ds``: the source computes
each row's ``ds`` as the shop-local date of the table's timestamp (``order_at`` for orders, see
:data:`~opscadence.warehouse.schema.PARTITION_TIME_COLUMN`), so a query never does date or
timezone arithmetic in its own SQL dialect. Naive timestamps are taken as shop-local; timestamps
with a UTC offset are converted to the shop's timezone. Only ``ad_spend``, which has no
timestamp, returns ``ds`` (a date). A row whose ``ds`` falls outside [start, end) is an error (a
``WHERE`` that does not use ``:start``/``:end`` as the shop's days), never silently dropped.

The table's non-nullable columns are required; a nullable column the query does not return
(``platform``, ``channel`` …) is null in every row. Values are typed by
:func:`~opscadence.sources.columns.coerce_types`; a value that cannot be converted is one error
naming the query file, the row of the query's result (1 = the first) and the column.

Whole-line ``--`` comments are removed before the query runs (a header may mention ``:start``);
anything else that reads ``:name`` is a bound parameter to SQLAlchemy, so a literal colon
followed by a name is written ``\\:name``.

The URL's password is a ``${NAME}`` reference, read from the environment when connecting;
messages name the database by its URL without the password.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opscadence.core.errors import UserError
from opscadence.core.privacy import mask_secrets
from opscadence.sources.columns import coerce_types, preview_value
from opscadence.sources.landing import load_partition
from opscadence.sources.protocol import SourceError
from opscadence.warehouse import RAW_TABLES
from opscadence.warehouse.schema import PARTITION_TIME_COLUMN

class SqlSourceError(SourceError, UserError):
    """The SQL source cannot be read: no connection, a URL's variable unset, a query file unreadable
    or failing, a bad value or column. A day's read reports it as that day's failed validation;
    anywhere else (looking whether a day exists) the command stops with this one line (exit code
    2), as for an unreachable warehouse."""


# The widest range asked for when looking whether the source holds anything at all.
_EVER = (date(1900, 1, 1), date(9999, 12, 31))


class SqlQuerySource:
    """Raw tables read from the database at ``url`` by the query files in ``queries``."""

    lands = True  # a validated batch is written into the warehouse's raw tables

    def __init__(self, url: str, queries: Mapping[str, Path | str], *, timezone: str | ZoneInfo | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        unknown = sorted(set(queries) - set(RAW_TABLES))
        if unknown:
            raise ValueError(f"queries: not raw tables: {', '.join(unknown)}")
        self.queries = {table: Path(queries[table]) for table in RAW_TABLES if table in queries}
        #: the raw tables it provides: the keys of ``queries``
        self.tables = frozenset(self.queries)
        self.timezone = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        self.warnings: list[str] = []
        self._url_text = url
        self._environ = os.environ if environ is None else environ
        self._engine: Engine | None = None
        self._statements: dict[str, sa.TextClause] = {}
        self._password: str | None = None

    # -- where it reads ---------------------------------------------------------------------

    @property
    def location(self) -> str:
        """The URL as written, ``${NAME}`` references and all, without a password."""
        try:
            return sa.engine.make_url(self._url_text).render_as_string(hide_password=True)
        except Exception:
            return "(a URL that is not shown, as it may hold a password)"

    def _url(self) -> sa.engine.URL:
        from opscadence.core.config import ENV_REFERENCE

        missing = [name for name in ENV_REFERENCE.findall(self._url_text) if name not in self._environ]
        if missing:
            raise SqlSourceError(f"SQL source {self.location}: environment variable {', '.join(missing)} is not "
                                       f"set (the URL refers to it)", path=self.location)
        resolved = ENV_REFERENCE.sub(lambda m: self._environ[m[1]], self._url_text)
        try:
            url = sa.engine.make_url(resolved)
        except Exception:
            raise SqlSourceError(f"SQL source {self.location}: not a database URL", path=self.location) from None
        self._password = str(url.password) if url.password else None
        return url

    def engine(self) -> Engine:
        if self._engine is None:
            url = self._url()
            try:
                self._engine = sa.create_engine(url)
            except Exception as exc:  # a missing driver, a bad option: the message may quote the URL
                raise SqlSourceError(f"SQL source {self.location} cannot be used: {self._masked(exc)}",
                                           path=self.location) from None
        return self._engine

    def _masked(self, exc: BaseException) -> str:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return mask_secrets(text, [s for s in (self._password, self._url_text) if s])

    def _connect(self) -> sa.Connection:
        try:
            return self.engine().connect()
        except SourceError:
            raise
        except Exception as exc:
            raise SqlSourceError(f"SQL source {self.location}: cannot connect: {self._masked(exc)}",
                                       path=self.location) from None

    def statement(self, table: str) -> sa.TextClause:
        """The query file of ``table`` as a statement with bound ``:start`` and ``:end``."""
        if table not in self._statements:
            file = self.queries[table]
            try:
                text = file.read_text(encoding="utf-8")
            except OSError as exc:
                raise SqlSourceError(f"SQL source query {file} cannot be read: {exc.strerror or exc}",
                                  path=str(file), check="file_missing") from None
            except UnicodeDecodeError:
                raise SqlSourceError(f"SQL source query {file} is not UTF-8 text", path=str(file)) from None
            # whole-line comments go (a header may mention :start); one trailing semicolon too
            text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
            text = text.strip().removesuffix(";").strip()
            statement = sa.text(text)
            needed = {"start", "end"} - set(statement._bindparams)
            if needed:
                raise SqlSourceError(
                    f"SQL source query {file} does not use :{' and :'.join(sorted(needed))}; it must select the "
                    "rows of the days [:start, :end) (dates, shop-local)", path=str(file))
            self._statements[table] = statement.bindparams(sa.bindparam("start", type_=sa.Date),
                                                           sa.bindparam("end", type_=sa.Date))
        return self._statements[table]

    # -- PartitionSource --------------------------------------------------------------------

    def validates_in_database(self) -> bool:
        return False  # its rows are read into pandas, validated there, then landed

    def has_partition(self, ds: date) -> bool:
        return self._any_row(ds, ds + timedelta(days=1))

    def is_empty(self) -> bool:
        return not self._any_row(*_EVER)

    def _any_row(self, start: date, end: date) -> bool:
        with self._connect() as conn:
            for table in sorted(self.queries, key=lambda t: t != "events"):
                probe = sa.select(sa.literal(1)).select_from(self.statement(table).columns().subquery()).limit(1)
                if self._execute(conn, table, probe, start, end).first() is not None:
                    return True
        return False

    def _execute(self, conn: sa.Connection, table: str, statement: Any, start: date, end: date) -> sa.CursorResult:
        try:
            return conn.execute(statement, {"start": start, "end": end})
        except Exception as exc:
            raise SqlSourceError(f"SQL source query {self.queries[table]} failed on {self.location}: "
                              f"{self._masked(getattr(exc, 'orig', None) or exc)}",
                              path=str(self.queries[table])) from None

    def read_partition(self, ds: date) -> dict[str, pd.DataFrame]:
        frames = self.read_range(ds, ds + timedelta(days=1))
        return {table: frame.set_axis(pd.RangeIndex(1, len(frame) + 1, name="row")) for table, frame in frames.items()}

    def read_range(self, start: date, end: date, **plan: Mapping[str, set[str]]) -> dict[str, pd.DataFrame]:
        """Every table's rows with ``ds`` in [start, end): one query per table, ordered by ``ds``
        (the columns are read whole; ``plan`` is a warehouse read's optimisation)."""
        self.warnings = []
        with self._connect() as conn:
            return {table: self.read_table(conn, table, start, end) for table in self.queries}

    def read_table(self, conn: sa.Connection, table: str, start: date, end: date) -> pd.DataFrame:
        file = self.queries[table]
        result = self._execute(conn, table, self.statement(table), start, end)
        returned = list(result.keys())
        rows = result.fetchall()
        sa_table = RAW_TABLES[table]
        time_column = PARTITION_TIME_COLUMN[table]
        doubled = sorted({c for c in returned if returned.count(c) > 1})
        if doubled:
            raise SqlSourceError(f"SQL source query {file} returns column(s) {', '.join(doubled)} twice",
                                 path=str(file))
        if time_column is not None and "ds" in returned:
            raise SqlSourceError(f"SQL source query {file} returns ds; leave it out: ds is the shop-local date of "
                              f"{time_column}, computed by the source", path=str(file), column="ds")
        required = [c.name for c in sa_table.columns if not c.nullable and (c.name != "ds" or time_column is None)]
        missing = [c for c in required if c not in returned]
        if missing:
            raise SqlSourceError(
                f"SQL source query {file} returns no column {', '.join(missing)} (required for raw table {table}); "
                f"it returned: {', '.join(returned) or 'no columns'}", path=str(file), column=missing[0])
        known = [c.name for c in sa_table.columns]
        unknown = [c for c in returned if c not in known]
        if unknown:
            self.warnings.append(f"{file}: ignored column(s) not in raw table {table}: {', '.join(unknown)}")
        index = pd.RangeIndex(1, len(rows) + 1, name="row")
        positions = {name: i for i, name in enumerate(returned)}
        data = {
            name: pd.Series([row[positions[name]] for row in rows] if name in positions else [None] * len(rows),
                            index=index, dtype=object)
            for name in known if name != "ds" or time_column is None
        }
        frame = pd.DataFrame(data, index=index)

        def error(label: Any, column: str, value: Any, problem: str) -> SourceError:
            return SqlSourceError(
                f"SQL source query {file} row {label}, column {column}: {preview_value(value)} {problem}",
                path=str(file), row=int(label), column=column)

        frame = coerce_types(frame, table, error=error, timezone=self.timezone)
        if time_column is not None:
            stamps = frame[time_column]
            if stamps.isna().any():
                label = stamps[stamps.isna()].index[0]
                raise error(label, time_column, None, f"is empty (ds is the shop-local date of {time_column})")
            frame.insert(0, "ds", pd.Series(stamps.dt.date.to_numpy(dtype=object), index=index, dtype=object))
        elif frame["ds"].isna().any():
            raise error(frame["ds"][frame["ds"].isna()].index[0], "ds", None, "is empty")
        outside = frame["ds"].map(lambda d: not start <= d < end)
        if outside.any():
            label = outside[outside].index[0]
            column = time_column or "ds"
            raise error(label, column, frame.loc[label, column],
                        f"is outside the days asked for, [{start.isoformat()}, {end.isoformat()}) in the shop's "
                        "timezone: the query's WHERE must select rows by :start and :end")
        frame = frame.sort_values("ds", kind="stable")[known]
        return frame.set_axis(pd.RangeIndex(1, len(frame) + 1, name="row"))

    def land(self, engine: Engine, ds: date, frames: Mapping[str, pd.DataFrame]) -> None:
        load_partition(engine, ds, {table: frames[table] for table in self.tables})

    def describe(self, table: str, ds: date) -> str:
        return f"{self.queries[table]} on {self.location} (ds={ds.isoformat()})"

    def describe_partition(self, ds: date) -> str:
        files = ", ".join(str(f) for f in self.queries.values())
        return f"the SQL source {self.location} ({files})"

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
