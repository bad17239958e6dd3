"""Idempotent Slack delivery, backed by the ``briefs`` table and a file outbox.

One ``briefs`` row per kind × ds × channel remembers what was delivered and where:

* no row, or a row without a message ts  -> ``chat.postMessage``; the row becomes ``sent``
  with Slack's channel id and ts ("posted");
* a ``sent`` row with the same content hash -> nothing is called ("unchanged");
* a row with a ts whose content differs (or that is ``pending`` an update) -> ``chat.update``
  of that same message ("updated"). If Slack says ``message_not_found`` (the message was
  deleted), a new message is posted instead ("posted").

When there is no client (no token) or Slack still fails after slack-sdk's retries, the
message goes to the outbox instead ("outbox"): the row is upserted as ``pending`` (its
channel id/ts are kept, so a later send updates rather than duplicates) and two files are
written atomically:

* ``<outbox_dir>/<kind>-<ds>.json``: the Block Kit payload ``{"channel", "text", "blocks"}``
  (plus ``thread_ts`` when threaded);
* ``<outbox_dir>/<kind>-<ds>.md``: the fallback text made plain (Slack's ``&lt;`` entities
  decoded, :func:`~opscadence.reporting.i18n.plain_text`), for people to read.

Files are per kind × ds, rows per channel. The files mirror the pending rows of their
kind × ds: they are rewritten while any is pending and removed once none is. When several
channels are pending for one kind × ds the JSON also lists them all under ``"channels"``
(``"channel"`` is the first of them); the text/blocks are those of the latest write.

A delivery failure never raises: nothing is lost, :func:`send_outbox` retries later.
Exceptions that do propagate are infrastructure failures. In particular, if the warehouse
write fails *after* Slack accepted a post, the message is in Slack but not recorded, and
the exception propagates; a rerun would then post a second copy. This needs the database to
fail between two statements of one short transaction and is accepted as rare. Two runs
delivering the same kind × ds × channel concurrently can likewise both post; the unique
constraint then makes the second row write fail loudly (IntegrityError).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opscadence.core.model import Message
from opscadence.delivery.slack import PostedMessage, SlackClient, SlackDeliveryError
from opscadence.reporting.i18n import plain_text
from opscadence.warehouse import briefs

POSTED = "posted"
UPDATED = "updated"
UNCHANGED = "unchanged"
OUTBOX = "outbox"

STATUS_SENT = "sent"
STATUS_PENDING = "pending"

NO_CLIENT_ERROR = "Slack is not configured (SLACK_BOT_TOKEN is not set); written to the outbox"

_SAFE_KIND = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class DeliveryOutcome:
    kind: str
    ds: date
    channel: str
    status: str  # "posted" | "updated" | "unchanged" | "outbox"
    ts: str | None = None  # the Slack message ts when there is one
    path: Path | None = None  # the outbox JSON file when status is "outbox"
    error: str | None = None  # why it went to the outbox (never contains the token)
    channel_id: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status != OUTBOX


def content_hash(message: Message) -> str:
    """sha256 of the canonical JSON of the message's text and blocks."""
    canonical = json.dumps(
        {"text": message.text, "blocks": message.blocks},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def outbox_paths(
    outbox_dir: Path | str, kind: str, ds: date, channel: str | None = None
) -> tuple[Path, Path]:
    """``(<kind>-<ds>.json, <kind>-<ds>.md)`` in ``outbox_dir``.

    ``channel`` is accepted but not part of the name: one kind × ds has one pair of files
    whatever the number of channels (the rows in ``briefs`` are per channel).
    """
    if not _SAFE_KIND.match(kind):
        raise ValueError(f"invalid brief kind for a file name: {kind!r}")
    base = Path(outbox_dir) / f"{kind}-{ds.isoformat()}"
    return base.with_suffix(".json"), base.with_suffix(".md")


def _payload(channel: str, message: Message, thread_ts: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = {"channel": channel, "text": message.text, "blocks": message.blocks}
    if thread_ts:
        payload["thread_ts"] = thread_ts
    return payload


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, indent=2, default=str) + "\n"


def _now() -> datetime:
    """Naive UTC: bookkeeping time, not a shop-local event time."""
    return datetime.now(UTC).replace(tzinfo=None)


def _select_row(conn: Connection, kind: str, ds: date, channel: str) -> sa.Row | None:
    return conn.execute(
        sa.select(briefs).where(briefs.c.kind == kind, briefs.c.ds == ds, briefs.c.channel == channel)
    ).first()


def _upsert(conn: Connection, kind: str, ds: date, channel: str, values: dict[str, Any]) -> None:
    """Select-then-insert/update inside the caller's transaction (portable; uq_briefs backs it)."""
    values = {**values, "updated_at": _now()}
    if _select_row(conn, kind, ds, channel) is None:
        conn.execute(briefs.insert().values(kind=kind, ds=ds, channel=channel, **values))
    else:
        conn.execute(
            briefs.update()
            .where(briefs.c.kind == kind, briefs.c.ds == ds, briefs.c.channel == channel)
            .values(**values)
        )


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sync_outbox_files(
    conn: Connection, outbox_dir: Path, kind: str, ds: date, prefer_channel: str | None = None
) -> Path | None:
    """Make the kind × ds outbox files mirror its pending rows; return the JSON path if kept."""
    json_path, md_path = outbox_paths(outbox_dir, kind, ds)
    rows = conn.execute(
        sa.select(briefs.c.channel, briefs.c.payload)
        .where(briefs.c.kind == kind, briefs.c.ds == ds, briefs.c.status == STATUS_PENDING)
        .order_by(briefs.c.channel)
    ).all()
    if not rows:
        json_path.unlink(missing_ok=True)
        md_path.unlink(missing_ok=True)
        return None
    primary = next((r for r in rows if r.channel == prefer_channel), rows[0])
    payload = json.loads(primary.payload)
    if len(rows) > 1:
        channels = [r.channel for r in rows]
        payload = {"channel": channels[0], "channels": channels, **{k: v for k, v in payload.items() if k != "channel"}}
    _write_atomic(json_path, _dumps(payload))
    _write_atomic(md_path, plain_text(payload.get("text", "")).rstrip("\n") + "\n")
    return json_path


def _to_outbox(
    engine: Engine,
    outbox_dir: Path,
    *,
    kind: str,
    ds: date,
    channel: str,
    message: Message,
    thread_ts: str | None,
    digest: str,
    error: str,
    previous: sa.Row | None,
) -> DeliveryOutcome:
    payload = _payload(channel, message, thread_ts)
    with engine.begin() as conn:
        _upsert(
            conn,
            kind,
            ds,
            channel,
            {
                # Keep where the message already is, so a later send updates it in place.
                "channel_id": previous.channel_id if previous is not None else None,
                "message_ts": previous.message_ts if previous is not None else None,
                "content_hash": digest,
                "status": STATUS_PENDING,
                "payload": json.dumps(payload, ensure_ascii=False, default=str),
            },
        )
        # Written inside the transaction: if the files cannot be written the row rolls back.
        path = _sync_outbox_files(conn, Path(outbox_dir), kind, ds, prefer_channel=channel)
    return DeliveryOutcome(
        kind, ds, channel, OUTBOX, ts=previous.message_ts if previous is not None else None, path=path, error=error,
        channel_id=previous.channel_id if previous is not None else None,
    )


def deliver(
    engine: Engine,
    client: SlackClient | None,
    *,
    kind: str,
    ds: date,
    channel: str,
    message: Message,
    outbox_dir: Path,
    thread_ts: str | None = None,
    content_key: Message | None = None,
) -> DeliveryOutcome:
    """Deliver ``message`` for kind × ds to ``channel`` exactly once; reruns update in place.

    ``content_key`` is the message whose content decides whether an earlier post must be
    updated (default: ``message``); it lets per-run details such as the link to the Prefect
    run differ without counting as a change.
    Never raises for a Slack failure: it ends in the outbox with ``status="outbox"``.
    """
    outbox_dir = Path(outbox_dir)
    outbox_paths(outbox_dir, kind, ds)  # validate the kind before any side effect
    digest = content_hash(content_key or message)
    with engine.connect() as conn:
        row = _select_row(conn, kind, ds, channel)

    common = dict(kind=kind, ds=ds, channel=channel, message=message, thread_ts=thread_ts, digest=digest)
    if row is not None and row.status == STATUS_SENT and row.message_ts and row.content_hash == digest:
        return DeliveryOutcome(kind, ds, channel, UNCHANGED, ts=row.message_ts, channel_id=row.channel_id)
    if client is None:
        return _to_outbox(engine, outbox_dir, **common, error=NO_CLIENT_ERROR, previous=row)

    status = POSTED
    posted: PostedMessage | None = None
    try:
        if row is not None and row.message_ts and row.channel_id:
            try:
                client.update_message(row.channel_id, row.message_ts, message)
                posted, status = PostedMessage(row.channel_id, row.message_ts), UPDATED
            except SlackDeliveryError as exc:
                if exc.error != "message_not_found":
                    raise
                # The earlier message was deleted in Slack: post a fresh one.
        if posted is None:
            posted = client.post_message(channel, message, thread_ts=thread_ts)
    except SlackDeliveryError as exc:
        return _to_outbox(engine, outbox_dir, **common, error=str(exc), previous=row)

    # Slack has the message; record it. A failure from here on propagates (see module doc).
    with engine.begin() as conn:
        _upsert(
            conn,
            kind,
            ds,
            channel,
            {
                "channel_id": posted.channel_id,
                "message_ts": posted.ts,
                "content_hash": digest,
                "status": STATUS_SENT,
                "payload": json.dumps(_payload(channel, message, thread_ts), ensure_ascii=False, default=str),
            },
        )
        _sync_outbox_files(conn, outbox_dir, kind, ds)
    return DeliveryOutcome(kind, ds, channel, status, ts=posted.ts, channel_id=posted.channel_id)


def pending(engine: Engine) -> list[sa.Row]:
    """The ``pending`` rows of ``briefs``, oldest ds first."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(briefs)
            .where(briefs.c.status == STATUS_PENDING)
            .order_by(briefs.c.ds, briefs.c.kind, briefs.c.channel)
        ).all()


def send_outbox(engine: Engine, client: SlackClient, outbox_dir: Path) -> list[DeliveryOutcome]:
    """Deliver every pending brief (posting, or updating the message it already has).

    Each row goes through :func:`deliver`, so a brief that fails again stays pending and
    keeps its files; the files of a kind × ds are removed once none of its rows is pending.
    Running it again with nothing pending calls Slack not at all.
    """
    outcomes = []
    for row in pending(engine):
        payload = json.loads(row.payload)
        message = Message(text=payload.get("text", ""), blocks=payload.get("blocks") or [])
        outcomes.append(
            deliver(
                engine,
                client,
                kind=row.kind,
                ds=row.ds,
                channel=row.channel,
                message=message,
                outbox_dir=outbox_dir,
                thread_ts=payload.get("thread_ts"),
            )
        )
    return outcomes
