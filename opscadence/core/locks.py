"""One run per period at a time: a lock keyed by period, held for the whole run.

Two runs for the same period (a scheduled run and a UI rerun, say) would otherwise race
between "look up the stored Slack ts" and "post", and both post. PostgreSQL uses a
session-level advisory lock; SQLite (one machine by nature) uses an OS file lock in a
``<database>.locks/`` folder beside the database file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine


class LockTimeout(TimeoutError):
    pass


def _lock_id(key: str) -> int:
    # A signed 64-bit integer, as pg_advisory_lock takes.
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def period_lock(engine: Engine, key: str, *, timeout: float = 600.0, poll: float = 0.2) -> Iterator[None]:
    """Hold an exclusive lock named ``key`` (e.g. ``daily:2026-11-24``) for the block."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            lock_id = _lock_id(key)
            deadline = time.monotonic() + timeout
            while not conn.execute(sa.text("select pg_try_advisory_lock(:id)"), {"id": lock_id}).scalar_one():
                conn.rollback()
                if time.monotonic() > deadline:
                    raise LockTimeout(f"another run holds the lock {key!r}")
                time.sleep(poll)
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("select pg_advisory_unlock(:id)"), {"id": lock_id})
                conn.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield  # a private in-memory database cannot be shared: nothing to lock against
        return
    # One small file per period key, kept together in a folder beside the database. (Files are
    # not deleted after use: unlinking a flock file races with a process that has just opened it.)
    folder = Path(database).with_name(f"{Path(database).name}.locks")
    folder.mkdir(exist_ok=True)
    path = folder / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.lock"
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout(f"another run holds the lock {key!r}") from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
