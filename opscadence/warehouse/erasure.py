"""Deleting customers' data: one customer everywhere (``opscadence forget``), or everything (``purge``).

:func:`forget_customer` deletes, in one transaction, every row the warehouse holds about one
customer: their users, orders (and those orders' payment attempts), events (and the anonymous
events of the devices they were seen on), feedback, RFM tags and weekly activity rows, and takes
their feedback out of the pain-point quotes. Nothing else is told: the raw partitions' checksums
(:mod:`opscadence.warehouse.inputs`) change, so the next ``run``/``backfill`` finds the days and
weeks those rows fed "changed" and recomputes them. The weekly exports under ``<home>/exports``
(RFM callback list, unhappy customers) lose the customer's lines.

A customer is named by the id the warehouse holds (``raw_orders.user_id``), by the raw value an
import hashed into it (a nickname or phone number: hashed again with the key), or by the
pseudonym the briefs show (``C-XXXXXX``: every stored id is hashed to find it). The counts it
returns name tables and files, never a value.

:func:`purge` empties every table of the project's schema and deletes the project's files in
its home (the default SQLite warehouse and its lock files, the outbox, the exports, the key file).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opscadence.core.errors import UserError
from opscadence.core.privacy import PSEUDONYM_KEY_FILE, mask_pii, pseudonym, write_private_file
from opscadence.warehouse import schema

__all__ = ["ForgetResult", "PurgeResult", "customer_ids", "forget_customer", "purge", "purge_targets"]

_REPORT_PSEUDONYM = re.compile(r"C-[A-Z2-7]{6}")
_HASHED_LENGTH = 16  # opscadence.imports.importer.HASH_LENGTH
_CHUNK = 500  # ids per IN (...): far below SQLite's and PostgreSQL's bind limits

# Every column that holds a customer id, by table.
_CUSTOMER_COLUMNS: dict[str, str] = {
    "raw_users": "user_id",
    "raw_orders": "user_id",
    "raw_events": "user_id",
    "raw_feedback": "user_id",
    "mart_customer_rfm": "customer_id",
    "mart_weekly_active_users": "user_id",
}
# The exports that hold one line per customer (column customer_id).
_EXPORT_PATTERNS = ("rfm-callbacks-*.csv", "unhappy-customers-*.csv")


@dataclass
class ForgetResult:
    ids: int  # stored ids found for the customer (1, or 0 when nothing is held)
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows deleted (or updated: painpoints)
    files: dict[str, int] = field(default_factory=dict)  # export file name -> lines removed

    @property
    def total(self) -> int:
        return sum(self.rows.values()) + sum(self.files.values())


def _table(name: str) -> sa.Table:
    return schema.metadata.tables[name]


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    items = sorted(set(values))
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def _present(conn: Connection, candidates: set[str]) -> set[str]:
    found: set[str] = set()
    for name, column in _CUSTOMER_COLUMNS.items():
        col = _table(name).c[column]
        for chunk in _chunks(candidates):
            found.update(conn.execute(sa.select(col).where(col.in_(chunk)).distinct()).scalars())
    return found


def customer_ids(conn: Connection, given: str, key: bytes | None) -> set[str]:
    """The stored ids that ``given`` names (see the module's docstring); empty when none is held.

    A report pseudonym that two stored ids share (1 in 2^30 per pair) is refused: give the id.
    """
    given = given.strip()
    if not given:
        raise UserError("--customer is empty")
    candidates = {given}
    if key is not None:
        candidates.add(pseudonym(given, key, length=_HASHED_LENGTH))
    found = _present(conn, candidates)
    if not found and key is not None and _REPORT_PSEUDONYM.fullmatch(given):
        for name, column in _CUSTOMER_COLUMNS.items():
            col = _table(name).c[column]
            for stored in conn.execute(sa.select(col).where(col.is_not(None)).distinct()).scalars():
                if pseudonym(stored, key) == given:
                    found.add(stored)
        if len(found) > 1:
            raise UserError(f"the pseudonym {given} stands for {len(found)} customers; "
                            "forget each by the id the warehouse holds")
    return found


def _delete_in(conn: Connection, table: sa.Table, column: str, values: set[str]) -> int:
    count = 0
    for chunk in _chunks(values):
        count += conn.execute(sa.delete(table).where(table.c[column].in_(chunk))).rowcount
    return count


def _select_in(conn: Connection, column: sa.Column, where: sa.Column, values: set[str]) -> set[str]:
    out: set[str] = set()
    for chunk in _chunks(values):
        out.update(conn.execute(sa.select(column).where(where.in_(chunk), column.is_not(None)).distinct()).scalars())
    return out


def _normalised(text: str) -> str:
    # what a pain-point quote is made of (opscadence.analytics.weekly.painpoints.representative_quotes)
    return " ".join(mask_pii(text).split())


def _is_their_quote(quote: str, texts: list[str]) -> bool:
    stem = quote[:-1].rstrip() if quote.endswith("…") else None
    return any(quote == t or (stem and t.startswith(stem)) for t in texts)


def _forget_quotes(conn: Connection, texts: list[str]) -> int:
    """Take the customer's feedback out of the pain-point quotes; the rows changed."""
    if not texts:
        return 0
    table = schema.mart_weekly_painpoints
    changed = 0
    for row in conn.execute(sa.select(table.c.week, table.c.category, table.c.quotes)).all():
        quotes = json.loads(row.quotes or "[]")
        kept = [q for q in quotes if not _is_their_quote(q, texts)]
        if len(kept) != len(quotes):
            conn.execute(sa.update(table).where(table.c.week == row.week, table.c.category == row.category)
                         .values(quotes=json.dumps(kept, ensure_ascii=False)))
            changed += 1
    return changed


def _forget_in_exports(exports_dir: Path, ids: set[str]) -> dict[str, int]:
    """Remove the customer's lines from the weekly exports (rewritten 0600, other lines as they were)."""
    out: dict[str, int] = {}
    if not exports_dir.is_dir():
        return out
    for pattern in _EXPORT_PATTERNS:
        for path in sorted(exports_dir.glob(pattern)):
            raw = path.read_bytes()
            bom = raw.startswith(b"\xef\xbb\xbf")
            text = raw.decode("utf-8-sig")
            rows = list(csv.reader(io.StringIO(text, newline="")))
            if not rows or "customer_id" not in rows[0]:
                continue
            index = rows[0].index("customer_id")
            kept = [rows[0]] + [r for r in rows[1:] if not (len(r) > index and r[index] in ids)]
            removed = len(rows) - len(kept)
            if removed:
                buffer = io.StringIO(newline="")
                csv.writer(buffer, lineterminator="\n").writerows(kept)
                write_private_file(path, (("\ufeff" if bom else "") + buffer.getvalue()).encode("utf-8"))
                out[path.name] = removed
    return out


def forget_customer(engine: Engine, given: str, key: bytes | None, exports_dir: Path | None = None) -> ForgetResult:
    """Delete one customer's rows from every table, in one transaction, then from the exports.

    ``key``: the pseudonym key (None: ``given`` must be the stored id)."""
    with engine.begin() as conn:
        ids = customer_ids(conn, given, key)
        result = ForgetResult(ids=len(ids))
        if not ids:
            return result
        orders, events, feedback = schema.raw_orders, schema.raw_events, schema.raw_feedback
        order_ids = _select_in(conn, orders.c.order_id, orders.c.user_id, ids)
        visitors = _select_in(conn, events.c.visitor_id, events.c.user_id, ids)
        texts = [_normalised(t) for t in _select_in(conn, feedback.c.text, feedback.c.user_id, ids)]
        rows = result.rows
        rows["raw_payments"] = _delete_in(conn, schema.raw_payments, "order_id", order_ids)
        rows["raw_orders"] = _delete_in(conn, orders, "user_id", ids)
        # the customer's events, then the anonymous ones of the devices they used (before login)
        rows["raw_events"] = _delete_in(conn, events, "user_id", ids) + _delete_in(conn, events, "visitor_id", visitors)
        for name in ("raw_users", "raw_feedback", "mart_customer_rfm", "mart_weekly_active_users"):
            rows[name] = _delete_in(conn, _table(name), _CUSTOMER_COLUMNS[name], ids)
        rows["mart_weekly_painpoints"] = _forget_quotes(conn, [t for t in texts if t])
    if exports_dir is not None:
        result.files = _forget_in_exports(Path(exports_dir), ids)
    return result


# ---------------------------------------------------------------------------
# purge
# ---------------------------------------------------------------------------


@dataclass
class PurgeResult:
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows deleted
    removed: list[Path] = field(default_factory=list)  # files and folders deleted


def _sqlite_file(engine: Engine) -> Path | None:
    if engine.dialect.name != "sqlite" or not engine.url.database or engine.url.database == ":memory:":
        return None
    return Path(engine.url.database).resolve()


def purge_targets(engine: Engine, home: Path) -> list[Path]:
    """The files and folders :func:`purge` deletes that exist now: in ``home``, the SQLite warehouse
    (when it is there), ``outbox/``, ``exports/`` and the pseudonym key file."""
    home = Path(home).resolve()
    paths = [home / "outbox", home / "exports", home / PSEUDONYM_KEY_FILE]
    database = _sqlite_file(engine)
    if database is not None and database.parent == home:
        paths += [database] + [database.with_name(database.name + s) for s in ("-wal", "-shm", "-journal", ".locks")]
    return [p for p in paths if p.exists()]


def purge(engine: Engine, home: Path) -> PurgeResult:
    """Delete every row of every table of the project's schema (one transaction; other tables in
    the database are left alone), then the files of :func:`purge_targets`. A SQLite warehouse
    elsewhere than the home is vacuumed, so the deleted rows leave no trace in its free pages."""
    result = PurgeResult()
    inspector = sa.inspect(engine)
    existing = set(inspector.get_table_names())
    with engine.begin() as conn:
        for table in reversed(schema.metadata.sorted_tables):
            if table.name in existing:
                result.rows[table.name] = conn.execute(sa.delete(table)).rowcount
    targets = purge_targets(engine, home)
    database = _sqlite_file(engine)
    if database is not None and database not in targets:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM")
    engine.dispose()  # no connection holds the SQLite file open while it is deleted
    for path in targets:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        result.removed.append(path)
    return result
