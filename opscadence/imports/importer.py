"""Import a shop's export files into one raw table: plan (read, map, parse, check), then write.

:func:`plan_import` reads every file, maps its headers (:mod:`opscadence.imports.aliases`),
parses its cells (:mod:`opscadence.imports.values`) and checks the rows; it writes nothing and
collects every problem (file, row as a spreadsheet shows it, the user's header and the raw
column). :func:`write_import` writes a plan without problems in one transaction: rows whose
natural key (order_id, user_id, event_id, feedback_id; ds × channel × campaign for ad spend) is
already in the table are replaced, so importing the same file twice adds nothing. Each row's
``ds`` is its timestamp's day in the shop's timezone, so the days an import touched have new
raw checksums (:mod:`opscadence.warehouse.inputs`) and the next run or backfill recomputes them.

Personal data: headers such as 手机号, 收货地址, 收货人, e-mail are never read (named as dropped);
a nickname read as ``user_id`` (买家昵称), or a user id column whose values are phone numbers or
e-mail addresses, is stored as a keyed hash (:func:`opscadence.core.privacy.pseudonym`); e-mails,
phone, ID and card numbers inside feedback text are masked. No message quotes a customer's value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opscadence.core.errors import UserError
from opscadence.core.privacy import mask_pii, pseudonym
from opscadence.imports.aliases import AliasTable, HeaderPlan, describe_aliases, normalise, resolve
from opscadence.imports.reading import Sheet, read_file
from opscadence.imports.values import parse_date, parse_number, parse_text, parse_timestamp, present
from opscadence.sources.columns import column_kind
from opscadence.warehouse import PARTITION_TIME_COLUMN, RAW_TABLES
from opscadence.warehouse.writers import bulk_insert

NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "orders": ("order_id",),
    "users": ("user_id",),
    "events": ("event_id",),
    "feedback": ("feedback_id",),
    "ad_spend": ("ds", "channel", "campaign"),
}
# Columns whose values identify a person: never quoted in a message, checked for phones/e-mails.
PERSON_COLUMNS = frozenset({"user_id", "visitor_id"})
# Free text a person typed: never quoted; personal data in it is masked before it is stored.
FREE_TEXT_COLUMNS = frozenset({"text"})
HASH_LENGTH = 16  # base32 characters of a hashed id: 80 bits (see pseudonym)
MAX_PER_COLUMN = 3  # problems listed per file and column
MAX_LISTED = 10  # problems a dry run lists


@dataclass(frozen=True)
class Problem:
    label: str  # the file (and sheet)
    message: str
    row: int | None = None
    header: str | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = self.label
        if self.row is not None:
            where += f" row {self.row}"
        if self.header is not None:
            where += f", column {self.header}" + (f" ({self.column})" if self.column and self.column != self.header
                                                  else "")
        return f"{where}: {self.message}"


@dataclass
class FileReport:
    label: str
    rows: int = 0
    mapped: dict[str, str] = field(default_factory=dict)  # raw column → header
    hashed: list[str] = field(default_factory=list)  # "买家昵称 → user_id"
    dropped: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportPlan:
    table: str
    files: list[FileReport]
    frame: pd.DataFrame  # the rows to write: raw columns, typed, duplicates removed
    problems: list[Problem]
    problem_count: int
    identical_duplicates: int = 0

    @property
    def ok(self) -> bool:
        return not self.problem_count

    def rows_per_day(self) -> dict[date, int]:
        if self.frame.empty:
            return {}
        counts = self.frame["ds"].value_counts()
        return {day: int(counts[day]) for day in sorted(counts.index)}

    def first_problem(self) -> str:
        more = self.problem_count - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''}: --dry-run lists the first {MAX_LISTED})" \
            if more else ""
        return f"{self.problems[0]}{tail}; nothing was imported"


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.count = 0

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)
        self.count += 1

    def cells(self, sheet: Sheet, rows: pd.Series, mask: pd.Series, header: str, column: str,
              message: Callable[[Any], str], cells: pd.Series) -> None:
        """One problem per bad cell of ``mask`` (the first few listed, all counted)."""
        bad = mask[mask].index
        self.count += len(bad)
        for label in bad[:MAX_PER_COLUMN]:
            self.problems.append(Problem(sheet.label, message(cells[label]), int(rows[label]), header, column))


def _quote(value: Any, column: str) -> str:
    if column in PERSON_COLUMNS or column in FREE_TEXT_COLUMNS:
        return "the value"  # a customer's value is never shown
    text = mask_pii(str(value)[:200], structured=True)  # a phone or e-mail typed into a wrong column
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _not(value: Any, column: str, what: str) -> str:
    """``'x' is not <what>``; a formula says it is never evaluated and how to get its values."""
    if isinstance(value, str) and value.lstrip().startswith("="):
        return (f"{_quote(value, column)} is a formula, which is never evaluated: paste the values instead "
                f"(Excel: Paste Special → Values) and export again")
    return f"{_quote(value, column)} is not {what}"


def _hasher(key: Callable[[], bytes]) -> Callable[[str], str]:
    cache: dict[str, str] = {}
    secret: list[bytes] = []

    def one(value: str) -> str:
        if not secret:
            secret.append(key())
        try:
            return cache[value]
        except KeyError:
            out = cache[value] = pseudonym(value, secret[0], length=HASH_LENGTH)
            return out

    return one


def _looks_personal(values: pd.Series) -> bool:
    """Some value is a phone number, e-mail address or resident ID (mask_pii's structured patterns)."""
    unique = pd.Series(pd.unique(values.dropna().astype(str)), dtype=object)
    # only values with an @, 11+ digits in a row or a 3-4-4 grouping can hold one: the patterns run on those
    candidates = unique[unique.str.contains(r"@|\d{11}|\d{3}[ \-]\d{4}[ \-]\d{4}", regex=True)]
    return any(mask_pii(v, structured=True) != v for v in candidates)


def _read_sheet(sheet: Sheet, table: str, aliases: AliasTable, tz: ZoneInfo, hasher: Callable[[str], str],
                report: FileReport, problems: _Collector) -> pd.DataFrame | None:
    """The sheet's rows as typed raw columns (with ``_file`` and ``_row``), or None after a problem."""
    seen: dict[str, int] = {}
    for i, h in enumerate(sheet.header):
        key = normalise(h)
        if key and key in seen:
            problems.add(Problem(sheet.label, f"the header {h} appears twice (columns {seen[key] + 1} and {i + 1})",
                                 sheet.header_row))
            return None
        seen[key] = i
    plan: HeaderPlan = resolve(table, sheet.header, aliases)
    report.dropped, report.unused, report.ignored = plan.dropped, plan.unused, plan.ignored
    report.mapped = {c: s.header for c, s in plan.sources.items()}
    report.hashed = [f"{s.header} → {c}" for c, s in plan.sources.items() if s.hashed]
    report.notes += sheet.notes
    if plan.missing:
        wanted = "; ".join(f"{c} ({describe_aliases(table, c, aliases)})" for c in plan.missing)
        seen_headers = ", ".join(h for h in sheet.header if h) or "none"
        problems.add(Problem(sheet.label, f"no column for {wanted}; the headers are: {seen_headers} "
                             "(a mapping file can name other headers: --mapping)", sheet.header_row))
        return None
    if sheet.table.empty:
        problems.add(Problem(sheet.label, f"no data rows after the header (row {sheet.header_row}): "
                             "nothing to import", None))
        return None
    index = pd.RangeIndex(len(sheet.table))
    rows = pd.Series(sheet.row_numbers, index=index)
    out = pd.DataFrame({"_file": sheet.label, "_row": rows}, index=index)
    sa_table = RAW_TABLES[table]
    before = problems.count
    for column, source in plan.sources.items():
        cells = sheet.table[source.position]
        sa_column = sa_table.c[column]
        kind = "date" if column == "ds" else column_kind(sa_column)
        header = source.header

        def note(mask: pd.Series, message: Callable[[Any], str]) -> None:
            problems.cells(sheet, rows, mask, header, column, message, cells)  # noqa: B023 - used at once

        here = present(cells)
        if not sa_column.nullable:
            note(~here, lambda _v: "empty; every row needs a value")
        if kind in ("number", "integer"):
            values, bad = parse_number(cells, integer=kind == "integer", here=here)
            what = "a whole number" if kind == "integer" else ("an amount" if column in ("amount", "cost")
                                                               else "a number")
            note(bad, lambda v, what=what: _not(v, column, what))
            if kind == "integer":
                values = values.astype("Int64")
        elif kind == "datetime":
            values, bad = parse_timestamp(cells, tz, epoch=sheet.epoch, here=here)
            note(bad, lambda v: _not(v, column, "a date and time "
                                     "(e.g. 2026-11-03 14:05, 2026/11/3 14:05:00, 2026年11月3日 14:05)"))
        elif kind == "date":
            values, bad = parse_date(cells, tz, epoch=sheet.epoch, here=here)
            note(bad, lambda v: _not(v, column, "a date (e.g. 2026-11-03, 2026/11/3, 2026年11月3日)"))
        else:
            identifier = column.endswith("_id")
            length = getattr(sa_column.type, "length", None)
            values, rounded, too_long = parse_text(cells, max_length=None if source.hashed else length,
                                                   identifier=identifier, here=here)
            note(rounded, lambda v: f"{_quote(v, column)} is a number Excel has rounded (it keeps 15 digits): "
                                    "the real id is lost; export the column as text")
            mapped = aliases.value_map(table, column)
            if mapped is not None:
                lookup = {v: mapped.get(normalise(v)) for v in pd.unique(values.dropna())}
                known = values.isna() | values.map(lambda v: lookup.get(v) is not None)
                note(~known.astype(bool), lambda v: f"{_quote(v, column)} is not a known {column} (known: "
                     f"{', '.join(dict.fromkeys(mapped.values()))}, and their aliases in "
                     "opscadence/imports/aliases.yaml; a mapping file can add more)")
                values = values.map(lambda v: lookup.get(v)).astype(object)
            hash_it = source.hashed or (column in PERSON_COLUMNS and _looks_personal(values))
            if hash_it:
                if not source.hashed:
                    report.hashed.append(f"{header} → {column} (its values include phone numbers or e-mails)")
                hashed = {v: hasher(v) for v in pd.unique(values.dropna())}
                values = values.map(hashed).astype(object).where(values.notna(), None)
            else:
                note(too_long, lambda _v, n=length: f"longer than {n} characters")
            if column in FREE_TEXT_COLUMNS:
                values = values.map(lambda v: None if v is None else mask_pii(v))
        out[column] = values
    report.rows = len(out)
    if problems.count > before:
        return None
    time_column = PARTITION_TIME_COLUMN.get(table)
    if time_column is not None:
        out["ds"] = pd.Series(out[time_column].dt.date.to_numpy(dtype=object), index=index, dtype=object)
    return out


def plan_import(table: str, paths: Sequence[Path], *, aliases: AliasTable, timezone: str | ZoneInfo,
                pseudonym_key: Callable[[], bytes] | None = None, sheet: str | None = None) -> ImportPlan:
    """Read, map, parse and check every file (nothing is written). ``pseudonym_key`` is asked
    only when a column is hashed (a dry run passes a throwaway key: the hashes are not shown)."""
    if table not in NATURAL_KEYS:
        raise ValueError(f"not an importable table: {table!r}")
    tz = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
    key = pseudonym_key or (lambda: os.urandom(32))
    hasher = _hasher(key)
    problems = _Collector()
    reports: list[FileReport] = []
    frames: list[pd.DataFrame] = []
    for path in paths:
        report = FileReport(str(path))
        reports.append(report)
        try:
            data = read_file(Path(path), table, sheet=sheet, sheet_words=aliases.sheets.get(table, ()))
        except UserError as exc:  # the message names the file already
            text = str(exc)
            if text.startswith(f"{path} "):  # "<path> line 3: …" (a binary file)
                at, _, rest = text[len(str(path)) + 1:].partition(": ")
                problems.add(Problem(f"{path} {at}", rest))
            else:
                problems.add(Problem(str(path), text.removeprefix(f"{path}: ")))
            continue
        report.label = data.label
        frame = _read_sheet(data, table, aliases, tz, hasher, report, problems)
        if frame is not None:
            frames.append(frame)
    order = {str(p): i for i, p in enumerate(paths)} | {r.label: i for i, r in enumerate(reports)}
    problems.problems.sort(key=lambda p: (order.get(p.label, len(order)), p.row or 0))
    columns = ["ds", *(c.name for c in RAW_TABLES[table].columns if c.name != "ds")]
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    if problems.count:
        return ImportPlan(table, reports, empty, problems.problems, problems.count)
    combined = pd.concat(frames, ignore_index=True)
    combined, identical = _deduplicate(combined, table, problems)
    if problems.count:
        return ImportPlan(table, reports, empty, problems.problems, problems.count)
    present_columns = [c for c in columns if c in combined.columns]
    return ImportPlan(table, reports, combined[present_columns].reset_index(drop=True), [], 0, identical)


def _deduplicate(frame: pd.DataFrame, table: str, problems: _Collector) -> tuple[pd.DataFrame, int]:
    """Drop rows identical to an earlier one; a key repeated with other content is a problem
    naming both rows."""
    key = list(NATURAL_KEYS[table])
    content = [c for c in frame.columns if not c.startswith("_")]
    identical = frame.duplicated(subset=content, keep="first")
    kept = frame[~identical]
    repeated = kept.duplicated(subset=key, keep=False)
    if repeated.any():
        clashes = kept[repeated].groupby(key, sort=False, dropna=False)
        for n, (value, group) in enumerate(clashes):
            problems.count += 1
            if n >= MAX_LISTED:
                continue
            first, second = group.iloc[0], group.iloc[1]
            differs = [c for c in content if c not in key and not _same(first[c], second[c])]
            values = value if isinstance(value, tuple) else (value,)
            shown = ", ".join(f"{k} {v if k not in PERSON_COLUMNS else '(not shown)'}"
                              for k, v in zip(key, values))
            other = f"row {second['_row']}" if second["_file"] == first["_file"] else \
                f"{second['_file']} row {second['_row']}"
            problems.problems.append(Problem(
                first["_file"], f"{shown} appears again in {other} with a different {', '.join(differs)}; "
                                "fix one of the two rows", int(first["_row"])))
    return kept, int(identical.sum())


def _same(a: Any, b: Any) -> bool:
    if (a is None or a is pd.NaT or (isinstance(a, float) and a != a)) and \
            (b is None or b is pd.NaT or (isinstance(b, float) and b != b)):
        return True
    return bool(a == b)


def _db_ready(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    # ds as datetime64: the bulk writer then formats the days vectorised (it is a Date column)
    out["ds"] = pd.to_datetime(out["ds"]).astype("datetime64[us]")
    for name in out.columns:
        if isinstance(out[name].dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_integer_dtype(
                out[name].dtype):
            out[name] = pd.Series([None if pd.isna(v) else int(v) for v in out[name]], index=out.index, dtype=object)
    return out


_KEYS_TABLE = "opscadence_import_keys"


@dataclass(frozen=True)
class WriteResult:
    new: int  # rows whose key was not in the table
    changed: int  # rows that replaced a row with the same key and other content
    unchanged: int  # rows already there as they are: left alone


def _row_hashes(frame: pd.DataFrame, columns: Sequence[str], table: sa.Table) -> pd.Series:
    """A 64-bit hash per row of ``columns``, the same whether the row comes from the file or from the
    warehouse as text (times compared to the microsecond, numbers to 6 decimals)."""
    normal = {}
    for name in columns:
        kind = "date" if name == "ds" else column_kind(table.c[name])
        values = frame[name]
        if kind in ("datetime", "date"):
            stamps = pd.to_datetime(values.astype(object).where(values.notna(), None), format="ISO8601") \
                if not pd.api.types.is_datetime64_dtype(values.dtype) else values
            normal[name] = stamps.astype("datetime64[us]").to_numpy().astype("int64")
        elif kind in ("number", "integer"):
            normal[name] = pd.to_numeric(values.astype(object).where(values.notna(), None)).astype("float64").round(6)
        else:
            normal[name] = values.astype(object).where(values.notna(), "\x00")
    return pd.util.hash_pandas_object(pd.DataFrame(normal, index=frame.index), index=False)


def write_import(engine: Engine, plan: ImportPlan) -> WriteResult:
    """Write a plan in one transaction: rows whose natural key is new are inserted, rows that
    differ from the row with their key replace it, rows already there as they are stay."""
    if not plan.ok:
        raise UserError(plan.first_problem())
    if plan.frame.empty:
        raise UserError(f"nothing to import into {plan.table}")
    table = RAW_TABLES[plan.table]
    key = list(NATURAL_KEYS[plan.table])
    frame = _db_ready(plan.frame)
    columns = list(frame.columns)
    # the warehouse's rows read as text (no per-value conversion in Python), parsed in bulk
    as_text = [sa.cast(table.c[c], sa.String).label(c) if column_kind(table.c[c]) != "text" else table.c[c]
               for c in columns]
    with engine.begin() as conn:
        if len(key) == 1:
            keys = _keys_table(conn, frame[key[0]])
            existing = _frame(conn, sa.select(*as_text).where(table.c[key[0]].in_(sa.select(keys.c.k))), columns)
        else:  # ad spend: a few rows per day, read by day
            days = sorted(set(frame["ds"].dt.date))
            existing = _frame(conn, sa.select(*as_text).where(table.c.ds.in_(days)), columns)
        if existing.empty:
            unchanged = changed = pd.Series(False, index=frame.index)
        else:
            ours_key, theirs_key = _row_hashes(frame, key, table), _row_hashes(existing, key, table)
            ours_row, theirs_row = _row_hashes(frame, columns, table), _row_hashes(existing, columns, table)
            mine = set(ours_key)
            relevant = theirs_key.isin(mine)
            theirs_rows = set(theirs_row[relevant])
            # a key also stored with other content (an earlier load's duplicate) is not unchanged
            differing = set(theirs_key[relevant & ~theirs_row.isin(set(ours_row))])
            unchanged = ours_row.isin(theirs_rows) & ~ours_key.isin(differing)
            changed = ~unchanged & ours_key.isin(set(theirs_key[relevant]))
        stale = frame.loc[changed.to_numpy(), key]
        if len(stale):
            if len(key) == 1:
                conn.execute(keys.delete())
                bulk_insert(conn, keys, pd.DataFrame({"k": pd.unique(stale[key[0]].astype(object))}))
                conn.execute(table.delete().where(table.c[key[0]].in_(sa.select(keys.c.k))))
            else:
                statement = table.delete().where(*(table.c[k] == sa.bindparam(f"k_{k}") for k in key))
                conn.execute(statement, [{f"k_{k}": (v.date() if k == "ds" else v) for k, v in zip(key, row)}
                                         for row in stale.itertuples(index=False)])
        if len(key) == 1:
            keys.drop(conn)
        fresh = frame[~unchanged.to_numpy()]
        if len(fresh):
            bulk_insert(conn, table, fresh)
    return WriteResult(new=int((~unchanged & ~changed).sum()), changed=int(changed.sum()),
                       unchanged=int(unchanged.sum()))


def _frame(conn: sa.engine.Connection, query: sa.Select, columns: list[str]) -> pd.DataFrame:
    rows = conn.execute(query).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=columns) if rows else \
        pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _keys_table(conn: sa.engine.Connection, values: pd.Series) -> sa.Table:
    """A temporary table of the import's keys (dropped by the caller; a rollback drops it too), so
    reading and deleting by key is one pass over the raw table whatever the number of keys."""
    keys = sa.Table(_KEYS_TABLE, sa.MetaData(), sa.Column("k", sa.String(255), primary_key=True),
                    prefixes=["TEMPORARY"])
    keys.drop(conn, checkfirst=True)
    keys.create(conn)
    bulk_insert(conn, keys, pd.DataFrame({"k": pd.unique(values.astype(object))}))
    return keys
