"""Idempotent file delivery into a message's thread (the weekly chart), backed by the ``briefs`` table.

One ``briefs`` row per kind × ds × channel remembers the shared file: ``message_ts`` holds Slack's
file id, ``content_hash`` what the file shows (not its bytes), ``payload`` the thread and file
name. A rerun with the same content in the same thread uploads nothing ("unchanged"); new
content, or a new thread (the brief was posted again), is uploaded once more.

Statuses of these rows are their own (``sent``, ``uploading``, ``upload_failed``), none of the
outbox's undelivered ones, so ``opscadence outbox send`` never posts a file row as a message.
``uploading`` is written before the upload starts: when its outcome is unknown (a timeout, a run
killed meanwhile) the next run looks for the file by name in the thread before uploading again.

Without Slack (no token), or without a thread to share it in (the brief itself went to the
outbox), the file is kept as ``<outbox_dir>/<kind>-<period>.png``; the copy is removed once the
file is shared. A failed upload never raises here (it is kept in the outbox, ``failed``).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opscadence.delivery.outbox import IN_FLIGHT_MARGIN_SECONDS, NO_CLIENT_ERROR, NOT_CONFIGURED, period_key
from opscadence.delivery.slack import SlackDeliveryError
from opscadence.warehouse import briefs

UPLOADED = "uploaded"
UNCHANGED = "unchanged"
OUTBOX = "outbox"

STATUS_SENT = "sent"
STATUS_UPLOADING = "uploading"
STATUS_FAILED = "upload_failed"

NO_THREAD = "no_thread"
NO_THREAD_ERROR = "the message to thread the file under was not delivered; kept in the outbox"


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file (the same fields a flow reports for a message)."""

    kind: str
    ds: date
    channel: str
    status: str  # "uploaded" | "unchanged" | "outbox"
    file_id: str | None = None
    path: Path | None = None  # the outbox copy when status is "outbox"
    error: str | None = None
    error_code: str | None = None
    period: str | None = None

    @property
    def failed(self) -> bool:
        """Slack was there to take it and the file did not get there."""
        return self.status == OUTBOX and self.error_code not in (NOT_CONFIGURED, NO_THREAD)


def outbox_file(outbox_dir: Path, kind: str, period: str, suffix: str = ".png") -> Path:
    return Path(outbox_dir) / f"{kind}-{period_key(period)}{suffix}"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _row(engine: Engine, kind: str, ds: date, channel: str) -> sa.Row | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(briefs).where(briefs.c.kind == kind, briefs.c.ds == ds,
                                                    briefs.c.channel == channel)).first()


def _write(engine: Engine, kind: str, ds: date, channel: str, values: dict[str, Any]) -> None:
    values = {**values, "updated_at": _now()}
    where = (briefs.c.kind == kind, briefs.c.ds == ds, briefs.c.channel == channel)
    with engine.begin() as conn:
        if conn.execute(sa.select(briefs.c.kind).where(*where)).first() is None:
            conn.execute(briefs.insert().values(kind=kind, ds=ds, channel=channel, **values))
        else:
            conn.execute(briefs.update().where(*where).values(**values))


def _keep(path: Path, outbox_dir: Path, kind: str, ds: date, channel: str, period: str, error: str,
          code: str | None) -> FileOutcome:
    target = outbox_file(outbox_dir, kind, period, path.suffix or ".png")
    target.parent.mkdir(parents=True, exist_ok=True)
    if Path(path).resolve() != target.resolve():
        shutil.copyfile(path, target)
    return FileOutcome(kind, ds, channel, OUTBOX, path=target, error=error, error_code=code, period=period)


def deliver_file(
    engine: Engine,
    client: Any,
    *,
    kind: str,
    ds: date,
    period: str,
    channel: str,
    channel_id: str | None,
    thread_ts: str | None,
    path: Path,
    content_hash: str,
    title: str,
    outbox_dir: Path,
    alt_text: str | None = None,
) -> FileOutcome:
    """Share the file at ``path`` once in the thread of ``thread_ts`` in ``channel_id``.

    ``client`` is a :class:`~opscadence.delivery.slack.SlackWebClient` (or the recording
    double), None without Slack. ``content_hash`` decides whether an earlier upload is the same file.
    """
    path = Path(path)
    row = _row(engine, kind, ds, channel)
    payload = json.loads(row.payload) if row is not None and row.payload else {}
    filename = f"{kind}-{period_key(period)}-{content_hash[:8]}{path.suffix or '.png'}"
    copy = outbox_file(outbox_dir, kind, period, path.suffix or ".png")
    same_place = row is not None and payload.get("thread_ts") == thread_ts and row.channel_id == channel_id
    if same_place and row.status == STATUS_SENT and row.content_hash == content_hash and row.message_ts:
        copy.unlink(missing_ok=True)
        return FileOutcome(kind, ds, channel, UNCHANGED, file_id=row.message_ts, period=period)
    if client is None:
        return _keep(path, outbox_dir, kind, ds, channel, period, NO_CLIENT_ERROR, NOT_CONFIGURED)
    if not thread_ts or not channel_id:
        return _keep(path, outbox_dir, kind, ds, channel, period, NO_THREAD_ERROR, NO_THREAD)

    def record(file_id: str) -> FileOutcome:
        _write(engine, kind, ds, channel, {
            "channel_id": channel_id, "message_ts": file_id, "content_hash": content_hash, "status": STATUS_SENT,
            "payload": json.dumps({"thread_ts": thread_ts, "filename": filename, "title": title}, ensure_ascii=False),
            "period": period, "last_error": None, "in_flight_at": None})
        copy.unlink(missing_ok=True)
        return FileOutcome(kind, ds, channel, UPLOADED, file_id=file_id, period=period)

    try:
        if same_place and row.status == STATUS_UPLOADING and row.in_flight_at is not None:
            # An earlier upload's outcome is unknown: look for it in the thread before uploading again.
            oldest = row.in_flight_at.replace(tzinfo=UTC).timestamp() - IN_FLIGHT_MARGIN_SECONDS
            found = client.find_file(channel_id, thread_ts, payload.get("filename") or filename, oldest=oldest)
            if found is not None and row.content_hash == content_hash:
                return record(found.file_id)
        _write(engine, kind, ds, channel, {
            "channel_id": channel_id, "message_ts": None, "content_hash": content_hash, "status": STATUS_UPLOADING,
            "payload": json.dumps({"thread_ts": thread_ts, "filename": filename, "title": title}, ensure_ascii=False),
            "period": period, "last_error": None, "in_flight_at": _now()})
        uploaded = client.upload_file(channel_id, path, filename=filename, title=title, thread_ts=thread_ts,
                                      alt_text=alt_text)
    except SlackDeliveryError as exc:
        if not exc.outcome_unknown:
            _write(engine, kind, ds, channel, {"status": STATUS_FAILED, "last_error": str(exc), "in_flight_at": None,
                                               "content_hash": content_hash, "payload": json.dumps(payload or {})})
        return _keep(path, outbox_dir, kind, ds, channel, period, str(exc), exc.error)
    return record(uploaded.file_id)
