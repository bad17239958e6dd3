"""The one loader for SQL files under ``sql/``, with values always bound as parameters.

Two things are expanded at load time (once per file, cached):

* ``-- include: staging/stg_paid_orders`` (a comment line: in the header, or beside the CTE
  that reads it) makes the relation ``stg_paid_orders`` readable in the file: every
  ``from stg_paid_orders`` or ``join stg_paid_orders as o`` (an alias takes ``as``) reads that
  file's select as a subquery, like a view. Included files may include others; a missing,
  unread or circular include is an error naming the files. Subqueries, not CTEs:
  PostgreSQL (12+) and SQLite (3.35+) materialise a CTE that is read twice, which would scan
  every paid order for a watch of one day, and the ``not materialized`` hint is not portable to
  older versions; a subquery gets the plan the SQL had when written out in place.
* ``{{ fan_out('orders', 'orders_in_range') }}`` becomes the union of ``orders_in_range``'s
  rows once for ``all`` and once per dimension of the ``orders`` family
  (:mod:`opscadence.metrics.dimensions`), as ``dimension, dimension_value, orders_in_range.*``;
  the relation names each dimension's column after the dimension.

Bind names are shared: an included file's ``:start`` is the including query's ``:start``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opscadence.core.resources import resource_dir
from opscadence.metrics import dimensions

# ":name" bind parameters (not "::" casts).
_BIND_NAME = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_INCLUDE = re.compile(r"^\s*--\s*include:\s*(\S+)\s*$", re.MULTILINE)
_MACRO = re.compile(r"\{\{(.*?)\}\}")
_FAN_OUT = re.compile(r"\s*fan_out\(\s*'(\w+)'\s*,\s*'(\w+)'\s*\)\s*")


@functools.cache
def _read(name: str) -> str:
    path = resource_dir("sql") / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file sql/{name}.sql")
    return path.read_text(encoding="utf-8")


def sql_text(name: str) -> str:
    """The text of ``sql/<name>.sql``."""
    return _read(name)


@functools.cache
def _source(name: str) -> str:
    """``sql/<name>.sql`` with its includes and macros expanded: the SQL that runs."""
    return _expand(name, ())


def includes(name: str) -> list[str]:
    """The files ``sql/<name>.sql`` includes directly (``-- include:`` lines), in order."""
    return _INCLUDE.findall(_read(name))


def _expand(name: str, chain: tuple[str, ...]) -> str:
    if name in chain:
        raise ValueError("SQL include cycle: " + " -> ".join(f"sql/{n}.sql" for n in (*chain, name)))
    lines = [_split_comment(line) for line in _read(name).splitlines()]
    code = "\n".join(_macros(part, name) + comment for part, comment in lines)
    for included in includes(name):
        try:
            _read(included)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"sql/{name}.sql includes {included}, but there is no SQL file sql/{included}.sql") from None
        body = [line for line in _expand(included, (*chain, name)).splitlines()
                if line.strip() and not line.lstrip().startswith("--")]
        code, reads = _inline(code, included.rsplit("/", 1)[-1], body)
        if not reads:
            raise ValueError(f"sql/{name}.sql includes {included} but never reads it "
                             f"(from/join {included.rsplit('/', 1)[-1]} [as alias])")
    return code


def _split_comment(line: str) -> tuple[str, str]:
    """A line's code and its trailing ``--`` comment (not one inside a quoted literal)."""
    quoted = False
    for i, char in enumerate(line):
        if char == "'":
            quoted = not quoted
        elif not quoted and line.startswith("--", i):
            return line[:i], line[i:]
    return line, ""


def _inline(code: str, relation: str, body: list[str]) -> tuple[str, int]:
    """Each ``from``/``join`` of ``relation`` (in code, not comments) as ``(body) as alias``."""
    pattern = re.compile(rf"\b(from|join)\s+{re.escape(relation)}\b(?!\.)(?:\s+as\s+(\w+))?")
    reads = 0
    out = []
    for line in code.split("\n"):
        part, comment = _split_comment(line)
        indent = part[: len(part) - len(part.lstrip())]

        def subquery(match: re.Match) -> str:
            nonlocal reads
            reads += 1
            inner = "\n".join(f"{indent}    {text}" for text in body)
            return f"{match[1]} (\n{inner}\n{indent}) as {match[2] or relation}"

        out.append(pattern.sub(subquery, part) + comment)
    return "\n".join(out), reads


def _macros(code: str, name: str) -> str:
    """Expand ``{{ fan_out('<family>', '<relation>') }}`` in a line's code."""
    indent = code[: len(code) - len(code.lstrip())]

    def expand(match: re.Match) -> str:
        fan_out = _FAN_OUT.fullmatch(match[1])
        if fan_out is None:
            raise ValueError(f"sql/{name}.sql: unknown macro {match[0]!r}; "
                             "the one macro is {{ fan_out('<family>', '<relation>') }}")
        family, relation = fan_out.groups()
        try:
            dimension_names = dimensions.names(family)
        except KeyError as error:
            raise ValueError(f"sql/{name}.sql: {error.args[0]}") from None
        branches = [f"select '{dimensions.ALL}' as dimension, '{dimensions.ALL}' as dimension_value, "
                    f"{relation}.* from {relation}"]
        branches += [f"select '{d}', {relation}.{d}, {relation}.* from {relation}" for d in dimension_names]
        return f"\n{indent}union all\n{indent}".join(branches)

    return _MACRO.sub(expand, code)


def load_sql(name: str, params: Mapping[str, Any] | None = None) -> sa.TextClause:
    """Load ``sql/<name>.sql`` as a ``text()`` clause with typed bind parameters.

    Dates and datetimes get SQLAlchemy types so each dialect stores and compares them its
    own way (ISO strings on SQLite, native types on PostgreSQL).
    """
    source = _source(name)
    clause = sa.text(source)
    used = set(_BIND_NAME.findall(source))
    typed = []
    for key, value in (params or {}).items():
        if key not in used:
            continue
        if isinstance(value, datetime):
            typed.append(sa.bindparam(key, type_=sa.DateTime))
        elif isinstance(value, date):
            typed.append(sa.bindparam(key, type_=sa.Date))
    return clause.bindparams(*typed) if typed else clause


def _execute(conn: Connection, name: str, params: dict[str, Any]) -> sa.CursorResult:
    used = set(_BIND_NAME.findall(_source(name)))
    missing = used - set(params)
    if missing:
        raise TypeError(f"sql/{name}.sql needs parameters {sorted(missing)}")
    return conn.execute(load_sql(name, params), {k: v for k, v in params.items() if k in used})


def run_sql(conn: Connection, name: str, **params: Any) -> list[dict[str, Any]]:
    """Run ``sql/<name>.sql`` with bound ``params`` (extra ones are ignored); return rows as dicts."""
    return [dict(row) for row in _execute(conn, name, params).mappings()]


def read_sql_frame(conn: Connection, name: str, **params: Any) -> pd.DataFrame:
    """:func:`run_sql` into a DataFrame (for large results: no per-row dicts)."""
    result = _execute(conn, name, params)
    parts = list(result_frames(result))
    return parts[0] if len(parts) == 1 else pd.concat(parts)


def result_frames(result: sa.CursorResult, batch: int = 200_000) -> Iterator[pd.DataFrame]:
    """A result's rows as DataFrames of at most ``batch`` rows, indexed by row number in the
    whole result (at least one frame, maybe empty); the result is closed at the end.

    The driver's own tuples are read, without building a Row per record (measured 5x faster
    on 575k rows): right for text() results, which carry no type processing, and for callers
    that type the values themselves. Batches keep a month of L's rows from sitting in memory
    as Python tuples all at once (its session facts alone took ~1 GB).
    """
    columns = list(result.keys())
    offset, first = 0, True
    try:
        while True:
            rows = result.cursor.fetchmany(batch) if result.cursor is not None else []
            if rows or first:  # an empty frame only for an empty result (it would untype a concat)
                frame = pd.DataFrame.from_records(rows, columns=columns)
                frame.index = pd.RangeIndex(offset, offset + len(rows))
                offset, first = offset + len(rows), False
                yield frame
            if len(rows) < batch:
                return
    finally:
        result.close()


def sql_names() -> list[str]:
    root = resource_dir("sql")
    return sorted(str(p.relative_to(root).with_suffix("")) for p in Path(root).rglob("*.sql"))
