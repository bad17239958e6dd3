"""Which header of a user's file is which raw column: the alias table and mapping files.

The package's table is ``opscadence/imports/aliases.yaml`` (its header comment documents the
format); ``--mapping FILE`` adds a file in the same format whose entries win. :func:`resolve`
turns a file's header row into a :class:`HeaderPlan`: the column read into each raw column, how
(as is, or as a keyed hash), the personal-data headers dropped, and the headers not used.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from opscadence.core.errors import UserError
from opscadence.warehouse import RAW_TABLES

ALIASES_FILE = Path(__file__).with_name("aliases.yaml")

# The tables ``opscadence import`` fills (the command's words → raw table keys).
IMPORT_TABLES = {"orders": "orders", "users": "users", "events": "events", "ad-spend": "ad_spend",
                 "feedback": "feedback"}

_SECTIONS = ("columns", "hash", "drop", "drop_containing", "values", "sheets")


def normalise(text: object) -> str:
    """A header or value as it is compared: NFKC, case-folded, without spaces, ``_`` and ``-``."""
    folded = unicodedata.normalize("NFKC", str(text)).casefold()
    return "".join(ch for ch in folded if not ch.isspace() and ch not in "_-")


@dataclass
class AliasTable:
    """The merged alias table: per table and raw column, the aliases in order of preference."""

    columns: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    hash: dict[str, list[str]] = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)
    drop_containing: list[str] = field(default_factory=list)
    values: dict[str, dict[str, dict[str, list[str]]]] = field(default_factory=dict)
    sheets: dict[str, list[str]] = field(default_factory=dict)

    def value_map(self, table: str, column: str) -> dict[str, str] | None:
        """normalised cell value → the project's value, for a column with mapped values."""
        mapped = self.values.get(table, {}).get(column)
        if not mapped:
            return None
        out: dict[str, str] = {}
        for target, aliases in mapped.items():  # earlier entries (the mapping file's) win
            for alias in [target, *aliases]:
                out.setdefault(normalise(alias), target)
        return out


def _fail(where: str, message: str) -> UserError:
    return UserError(f"{where}: {message}")


def _strings(where: str, key: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise _fail(where, f"{key} must be a list of header names")
    return [str(v) for v in value]


def _parse(data: Any, where: str) -> AliasTable:
    if data is None:
        return AliasTable()
    if not isinstance(data, dict):
        raise _fail(where, f"expected a mapping with the keys {', '.join(_SECTIONS)}")
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(map(str, unknown))}; known: {', '.join(_SECTIONS)}")
    table = AliasTable()
    for name, columns in (data.get("columns") or {}).items():
        raw = _raw_table(where, f"columns.{name}", name)
        if not isinstance(columns, dict):
            raise _fail(where, f"columns.{name} must map raw columns to lists of headers")
        for column, aliases in columns.items():
            _raw_column(where, f"columns.{name}.{column}", raw, column)
            table.columns.setdefault(raw, {})[column] = _strings(where, f"columns.{name}.{column}", aliases)
    for column, aliases in (data.get("hash") or {}).items():
        if not any(column in RAW_TABLES[t].c for t in IMPORT_TABLES.values()):
            raise _fail(where, f"hash.{column}: not a column of any raw table")
        table.hash[column] = _strings(where, f"hash.{column}", aliases)
    table.drop = _strings(where, "drop", data.get("drop"))
    table.drop_containing = _strings(where, "drop_containing", data.get("drop_containing"))
    for name, columns in (data.get("values") or {}).items():
        raw = _raw_table(where, f"values.{name}", name)
        for column, targets in (columns or {}).items():
            _raw_column(where, f"values.{name}.{column}", raw, column)
            if not isinstance(targets, dict):
                raise _fail(where, f"values.{name}.{column} must map values to lists of aliases")
            table.values.setdefault(raw, {})[column] = {
                str(target): _strings(where, f"values.{name}.{column}.{target}", aliases)
                for target, aliases in targets.items()}
    for name, words in (data.get("sheets") or {}).items():
        table.sheets[_raw_table(where, f"sheets.{name}", name)] = _strings(where, f"sheets.{name}", words)
    return table


def _raw_table(where: str, key: str, name: object) -> str:
    raw = IMPORT_TABLES.get(str(name), str(name))
    if raw not in IMPORT_TABLES.values():
        raise _fail(where, f"{key}: unknown table; known: {', '.join(IMPORT_TABLES)}")
    return raw


def _raw_column(where: str, key: str, table: str, column: object) -> None:
    if str(column) not in RAW_TABLES[table].c:
        known = ", ".join(RAW_TABLES[table].c.keys())
        raise _fail(where, f"{key}: {table} has no column {column}; its columns: {known}")


def _merge(first: AliasTable, then: AliasTable) -> AliasTable:
    """``first``'s entries before ``then``'s (so a mapping file's aliases win)."""
    out = AliasTable()
    for raw in {*first.columns, *then.columns}:
        cols = {**then.columns.get(raw, {})}
        for column, aliases in first.columns.get(raw, {}).items():
            cols[column] = aliases + cols.get(column, [])
        out.columns[raw] = cols
    for column in {*first.hash, *then.hash}:
        out.hash[column] = first.hash.get(column, []) + then.hash.get(column, [])
    out.drop = first.drop + then.drop
    out.drop_containing = first.drop_containing + then.drop_containing
    for raw in {*first.values, *then.values}:
        merged: dict[str, dict[str, list[str]]] = {}
        for column in {*first.values.get(raw, {}), *then.values.get(raw, {})}:
            a, b = first.values.get(raw, {}).get(column, {}), then.values.get(raw, {}).get(column, {})
            merged[column] = {t: a.get(t, []) + b.get(t, []) for t in [*a, *(t for t in b if t not in a)]}
        out.values[raw] = merged
    for raw in {*first.sheets, *then.sheets}:
        out.sheets[raw] = first.sheets.get(raw, []) + then.sheets.get(raw, [])
    return out


def load_aliases(mapping: Path | None = None) -> AliasTable:
    """The package's alias table, extended by a mapping file (whose entries win)."""
    table = _parse(yaml.safe_load(ALIASES_FILE.read_text(encoding="utf-8")), str(ALIASES_FILE))
    if mapping is None:
        return table
    mapping = Path(mapping)
    try:
        text = mapping.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise UserError(f"{mapping}: cannot read the mapping file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{mapping}: the mapping file is not UTF-8 text (byte offset {exc.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise UserError(f"{mapping}{at}: not valid YAML") from None
    return _merge(_parse(data, str(mapping)), table)


@dataclass(frozen=True)
class Source:
    """Where a raw column comes from in a file."""

    column: str  # the raw column
    header: str  # the user's header text
    position: int  # its index in the header row
    hashed: bool  # personal: stored as a keyed hash


@dataclass
class HeaderPlan:
    table: str
    sources: dict[str, Source]  # raw column → source
    dropped: list[str]  # personal-data headers not read
    unused: list[str]  # headers that matched a column another header was taken for ("付款时间 (order_at)")
    ignored: list[str]  # headers matching nothing
    missing: list[str]  # required raw columns no header matched


def required_columns(table: str) -> list[str]:
    """The raw columns a file must give: the NOT NULL ones (ds comes from the timestamp, except
    for ad spend, whose rows are per day)."""
    sa_table = RAW_TABLES[table]
    return [c.name for c in sa_table.columns if not c.nullable and (c.name != "ds" or table == "ad_spend")]


def resolve(table: str, header: list[str], aliases: AliasTable) -> HeaderPlan:
    """Match a header row against the alias table (see the module's docstring)."""
    normalised = [normalise(h) for h in header]
    positions: dict[str, int] = {}
    for i, key in enumerate(normalised):
        if key:
            positions.setdefault(key, i)
    columns = [c.name for c in RAW_TABLES[table].columns if c.name != "ds" or table == "ad_spend"]
    taken: dict[int, str] = {}
    sources: dict[str, Source] = {}
    unused: list[str] = []
    for column in columns:
        candidates = [(a, False) for a in [*aliases.columns.get(table, {}).get(column, []), column]]
        candidates += [(a, True) for a in aliases.hash.get(column, [])]
        for alias, hashed in candidates:
            i = positions.get(normalise(alias))
            if i is None or i in taken:
                continue
            if column not in sources:
                sources[column] = Source(column, header[i], i, hashed)
                taken[i] = column
            elif not hashed:
                unused.append(f"{header[i]} ({column}, taken from {sources[column].header})")
                taken[i] = column
    drop = {normalise(h) for h in aliases.drop}
    containing = [normalise(w) for w in aliases.drop_containing]
    dropped, ignored = [], []
    for i, key in enumerate(normalised):
        if i in taken or not key:
            continue
        hashed_alias = any(key == normalise(a) for names in aliases.hash.values() for a in names)
        if hashed_alias or key in drop or any(w and w in key for w in containing):
            dropped.append(header[i])
        else:
            ignored.append(header[i])
    missing = [c for c in required_columns(table) if c not in sources]
    return HeaderPlan(table, sources, dropped, unused, ignored, missing)


def describe_aliases(table: str, column: str, aliases: AliasTable) -> str:
    names = [*aliases.columns.get(table, {}).get(column, []), *aliases.hash.get(column, [])]
    return "/".join(names[:4]) or column
