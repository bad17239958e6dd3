"""Idempotent Slack delivery, backed by the ``briefs`` table and a file outbox.

One ``briefs`` row per kind × ds × channel remembers what was delivered and where:

* no row, or a row without a message ts  -> ``chat.postMessage``; the row becomes ``sent``
  with Slack's channel id and ts ("posted");
* a ``sent`` row with the same content hash -> nothing is called ("unchanged");
* a row with a ts whose content differs (or that is ``pending`` an update) -> ``chat.update``
  of that same message ("updated"). If Slack says ``message_not_found`` (the message was
  deleted), a new message is posted instead ("posted").

A post is recorded ``in_flight`` (with ``in_flight_at``) before ``chat.postMessage`` is
called, and every message carries Slack message metadata naming its kind, ds, period,
channel and content hash (kind × ds × channel is the key looked for). A post whose outcome is unknown (a timeout, a dropped connection, a run
killed meanwhile) stays ``in_flight``; before anything is posted for such a row — later in
the same run, on a rerun or by :func:`send_outbox` — the channel (or thread) is searched for
that metadata since ``in_flight_at``: found, the row becomes ``sent`` with that ts and
nothing is posted again; not found, it is posted. When Slack cannot be asked, the row stays
``in_flight`` and nothing is posted (no duplicate).

When there is no client (no token) or Slack fails, the message goes to the outbox instead
("outbox"): the row is upserted as ``pending`` (or stays ``in_flight``), with ``last_error``
(its channel id/ts are kept, so a later send updates rather than duplicates) and two files
are written atomically, named by the message's shop-timezone period key:

* ``<outbox_dir>/<kind>-<period>.json``: the Block Kit payload ``{"channel", "text", "blocks"}``
  (plus ``thread_ts`` when threaded);
* ``<outbox_dir>/<kind>-<period>.md``: the fallback text made plain (Slack's ``&lt;`` entities
  decoded, :func:`~opscadence.reporting.i18n.plain_text`), for people to read.

Files are per kind × period, rows per channel. The files mirror the undelivered rows of
their kind × ds: they are rewritten while any is pending or in flight and removed once none
is. When several channels are undelivered for one kind × ds the JSON also lists them all
under ``"channels"`` (``"channel"`` is the first of them); the text/blocks are those of the
latest write.

A delivery failure never raises here: nothing is lost, :func:`send_outbox` retries later;
the outcome says ``failed`` and the flows raise :class:`DeliveryFailed` once everything is
recorded. Exceptions that do propagate are infrastructure failures. If the warehouse write
fails *after* Slack accepted a post, the row stays ``in_flight`` and the rerun finds the
message by its metadata. Two runs delivering the same kind × ds × channel concurrently can
both post; the unique constraint then makes the second row write fail loudly (IntegrityError).
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

from opscadence.core.errors import EXIT_DELIVERY, UserError
from opscadence.core.model import Message
from opscadence.delivery.slack import FoundMessage, PostedMessage, SlackClient, SlackDeliveryError, message_metadata
from opscadence.reporting.i18n import plain_text
from opscadence.warehouse import briefs

POSTED = "posted"
UPDATED = "updated"
UNCHANGED = "unchanged"
OUTBOX = "outbox"

STATUS_SENT = "sent"
STATUS_PENDING = "pending"
STATUS_IN_FLIGHT = "in_flight"
UNDELIVERED = (STATUS_PENDING, STATUS_IN_FLIGHT)

NOT_CONFIGURED = "not_configured"
NO_CLIENT_ERROR = "Slack is not configured (SLACK_BOT_TOKEN is not set); written to the outbox"

# How far before ``in_flight_at`` the search for an in-flight post starts (clock skew).
IN_FLIGHT_MARGIN_SECONDS = 120
MAX_POST_ATTEMPTS = 3  # posts of one message in one call whose outcome stayed unknown

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
    error_code: str | None = None  # Slack's error code (invalid_auth ...), timeout, not_configured ...
    period: str | None = None  # the shop-timezone period key

    @property
    def delivered(self) -> bool:
        return self.status != OUTBOX

    @property
    def failed(self) -> bool:
        """Slack was configured and the message did not get there (no token is not a failure)."""
        return self.status == OUTBOX and self.error_code != NOT_CONFIGURED


class DeliveryFailed(UserError):
    """Raised by a flow at its end when messages could not be delivered; ``result`` is its result."""

    exit_code = EXIT_DELIVERY

    def __init__(self, failures: list[DeliveryOutcome], result: Any = None):
        named = "; ".join(f"{o.kind} {o.period or o.ds} {o.channel}: {o.error_code or 'error'}" for o in failures)
        super().__init__(f"{len(failures)} message(s) not delivered to Slack ({named}); "
                         "kept in the outbox, see `opscadence outbox status`")
        self.failures = failures
        self.result = result

    def __reduce__(self) -> tuple[Any, ...]:  # Prefect pickles a failed run's exception
        return (type(self), (self.failures, self.result))


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


def period_key(period: date | str) -> str:
    """A period (a date, or a key such as ``2026-W48`` or ``2026-11-24T14:15``) as used in file names."""
    key = period.isoformat() if isinstance(period, date) else str(period)
    return key.replace(":", "")  # 2026-11-24T1415: ISO's basic time format, safe on every filesystem


def outbox_paths(
    outbox_dir: Path | str, kind: str, period: date | str, channel: str | None = None
) -> tuple[Path, Path]:
    """``(<kind>-<period>.json, <kind>-<period>.md)`` in ``outbox_dir``.

    ``period`` is the shop-timezone period (a ``date`` for a day). ``channel`` is accepted but
    not part of the name: one kind × period has one pair of files whatever the number of
    channels (the rows in ``briefs`` are per channel).
    """
    if not _SAFE_KIND.match(kind):
        raise ValueError(f"invalid brief kind for a file name: {kind!r}")
    key = period_key(period)
    if not _SAFE_KIND.match(key):
        raise ValueError(f"invalid period for a file name: {key!r}")
    base = Path(outbox_dir) / f"{kind}-{key}"
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
    conn: Connection, outbox_dir: Path, kind: str, ds: date, period: str, prefer_channel: str | None = None
) -> Path | None:
    """Make the kind × ds outbox files mirror its undelivered rows; return the JSON path if kept."""
    json_path, md_path = outbox_paths(outbox_dir, kind, period)
    rows = conn.execute(
        sa.select(briefs.c.channel, briefs.c.payload)
        .where(briefs.c.kind == kind, briefs.c.ds == ds, briefs.c.status.in_(UNDELIVERED))
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


@dataclass(frozen=True)
class _Delivery:
    """One delivery's fixed facts."""

    engine: Engine
    outbox_dir: Path
    kind: str
    ds: date
    period: str
    channel: str
    message: Message
    thread_ts: str | None
    digest: str

    @property
    def key(self) -> dict[str, str]:
        """What identifies the message in its metadata: its row's kind × ds × channel.

        The period and content hash are in the metadata too, but not part of the key: a
        rerun may see another period key (an escalation's latest evaluation) or content.
        """
        return {"kind": self.kind, "ds": self.ds.isoformat(), "channel": self.channel}

    @property
    def payload_json(self) -> str:
        return json.dumps(_payload(self.channel, self.message, self.thread_ts), ensure_ascii=False, default=str)

    def write(self, values: dict[str, Any], *, prefer_channel: str | None = None) -> Path | None:
        """Upsert the row and sync the files, in one transaction (files failing roll the row back)."""
        with self.engine.begin() as conn:
            _upsert(conn, self.kind, self.ds, self.channel, {"period": self.period, **values})
            return _sync_outbox_files(conn, self.outbox_dir, self.kind, self.ds, self.period, prefer_channel)

    def outcome(self, status: str, **kw: Any) -> DeliveryOutcome:
        return DeliveryOutcome(self.kind, self.ds, self.channel, status, period=self.period, **kw)


def _to_outbox(
    d: _Delivery, *, error: str, code: str | None, previous: sa.Row | None, in_flight_at: datetime | None = None
) -> DeliveryOutcome:
    """The row becomes pending (or stays in flight when ``in_flight_at``: the outcome is unknown)."""
    channel_id = previous.channel_id if previous is not None else None
    ts = previous.message_ts if previous is not None else None
    path = d.write(
        {
            # Keep where the message already is, so a later send updates it in place.
            "channel_id": channel_id,
            "message_ts": ts,
            "content_hash": d.digest,
            "status": STATUS_IN_FLIGHT if in_flight_at is not None else STATUS_PENDING,
            "in_flight_at": in_flight_at,
            "payload": d.payload_json,
            "last_error": error,
        },
        prefer_channel=d.channel,
    )
    return d.outcome(OUTBOX, ts=ts, path=path, error=error, channel_id=channel_id, error_code=code)


def _record_sent(d: _Delivery, channel_id: str, ts: str, digest: str) -> None:
    d.write({"channel_id": channel_id, "message_ts": ts, "content_hash": digest, "status": STATUS_SENT,
             "payload": d.payload_json, "last_error": None, "in_flight_at": None})


def _known_channel_id(engine: Engine, channel: str) -> str | None:
    """Slack's id for a configured channel name, from any message already delivered there."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(briefs.c.channel_id).where(briefs.c.channel == channel, briefs.c.channel_id.is_not(None)).limit(1)
        ).scalar()


def _find_in_flight(d: _Delivery, client: SlackClient, channel_id: str | None, since: datetime) -> FoundMessage | None:
    """The post begun at ``since`` if Slack has it (raises SlackDeliveryError when Slack cannot be asked)."""
    oldest = since.replace(tzinfo=UTC).timestamp() - IN_FLIGHT_MARGIN_SECONDS
    where = channel_id or _known_channel_id(d.engine, d.channel) or d.channel
    return client.find_message(where, d.key, oldest=oldest, thread_ts=d.thread_ts)


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
    period: date | str | None = None,
) -> DeliveryOutcome:
    """Deliver ``message`` for kind × ds to ``channel`` exactly once; reruns update in place.

    ``period`` is the shop-timezone period the message is about (default ``ds``): it names
    the outbox files and goes into the message metadata. ``content_key`` is the message whose
    content decides whether an earlier post must be updated (default: ``message``); it lets
    per-run details such as the link to the Prefect run differ without counting as a change.
    Never raises for a Slack failure: it ends in the outbox with ``status="outbox"``.
    """
    d = _Delivery(
        engine=engine, outbox_dir=Path(outbox_dir), kind=kind, ds=ds, channel=channel, message=message,
        thread_ts=thread_ts, digest=content_hash(content_key or message),
        period=period_key(period if period is not None else ds),
    )
    outbox_paths(d.outbox_dir, kind, d.period)  # validate the kind and period before any side effect
    with engine.connect() as conn:
        row = _select_row(conn, kind, ds, channel)

    if row is not None and row.status == STATUS_SENT and row.message_ts and row.content_hash == d.digest:
        return d.outcome(UNCHANGED, ts=row.message_ts, channel_id=row.channel_id)
    if client is None:
        return _to_outbox(d, error=NO_CLIENT_ERROR, code=NOT_CONFIGURED, previous=row,
                          in_flight_at=row.in_flight_at if row is not None and row.status == STATUS_IN_FLIGHT else None)

    # The start of a post whose outcome is not known yet (None: nothing is in flight).
    in_flight_at = row.in_flight_at if row is not None and row.status == STATUS_IN_FLIGHT else None
    try:
        if in_flight_at is not None:
            found = _find_in_flight(d, client, row.channel_id, in_flight_at)
            if found is not None:
                # An earlier run's post got there: keep it; update it only if the content changed.
                _record_sent(d, found.channel_id, found.ts, str(found.payload.get("content_hash") or ""))
                if found.payload.get("content_hash") == d.digest:
                    return d.outcome(POSTED, ts=found.ts, channel_id=found.channel_id)
                with engine.connect() as conn:
                    row = _select_row(conn, kind, ds, channel)
            in_flight_at = None  # checked: it is not in Slack

        if row is not None and row.message_ts and row.channel_id:
            try:
                client.update_message(row.channel_id, row.message_ts, message)
                _record_sent(d, row.channel_id, row.message_ts, d.digest)
                return d.outcome(UPDATED, ts=row.message_ts, channel_id=row.channel_id)
            except SlackDeliveryError as exc:
                if exc.error != "message_not_found":
                    raise
                # The earlier message was deleted in Slack: post a fresh one.

        posted = _post(d, client, row)
    except _StillInFlight as exc:
        return _to_outbox(d, error=str(exc.error), code=exc.error.error, previous=row, in_flight_at=exc.since)
    except SlackDeliveryError as exc:
        return _to_outbox(d, error=str(exc), code=exc.error, previous=row, in_flight_at=in_flight_at)

    # Slack has the message; record it. If this write fails the row stays in flight (see module doc).
    _record_sent(d, posted.channel_id, posted.ts, d.digest)
    return d.outcome(POSTED, ts=posted.ts, channel_id=posted.channel_id)


class _StillInFlight(Exception):
    """A post's outcome is unknown and Slack could not be asked about it."""

    def __init__(self, error: SlackDeliveryError, since: datetime):
        super().__init__(str(error))
        self.error = error
        self.since = since


def _post(d: _Delivery, client: SlackClient, row: sa.Row | None) -> PostedMessage:
    """``chat.postMessage``, marked in flight first; a post with an unknown outcome is looked for, then retried."""
    channel_id = row.channel_id if row is not None else None
    since = _now()
    d.write({"channel_id": channel_id, "message_ts": None, "content_hash": d.digest, "status": STATUS_IN_FLIGHT,
             "in_flight_at": since, "payload": d.payload_json}, prefer_channel=d.channel)
    metadata = message_metadata({**d.key, "period": d.period, "content_hash": d.digest})
    for attempt in range(1, MAX_POST_ATTEMPTS + 1):
        try:
            return client.post_message(d.channel, d.message, thread_ts=d.thread_ts, metadata=metadata)
        except SlackDeliveryError as exc:
            if not exc.outcome_unknown:
                raise  # Slack said no (or was never reached): nothing was posted
            try:
                found = _find_in_flight(d, client, channel_id, since)
            except SlackDeliveryError:
                raise _StillInFlight(exc, since) from None
            if found is not None:
                return PostedMessage(found.channel_id, found.ts)
            if attempt == MAX_POST_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def pending(engine: Engine) -> list[sa.Row]:
    """The undelivered (``pending`` or ``in_flight``) rows of ``briefs``, oldest ds first."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(briefs)
            .where(briefs.c.status.in_(UNDELIVERED))
            .order_by(briefs.c.ds, briefs.c.kind, briefs.c.channel)
        ).all()


@dataclass(frozen=True)
class OutboxHealth:
    """What is waiting in the outbox: counts, the oldest period, the latest error."""

    pending: int
    in_flight: int
    oldest_period: str | None
    last_error: str | None

    @property
    def undelivered(self) -> int:
        return self.pending + self.in_flight


def outbox_health(engine: Engine, *, exclude: tuple[str, date] | None = None) -> OutboxHealth:
    """Undelivered messages, without those of ``exclude`` (kind, ds): e.g. the brief being rendered."""
    rows = [r for r in pending(engine) if exclude is None or (r.kind, r.ds) != exclude]
    periods = [r.period or r.ds.isoformat() for r in rows]
    with_error = sorted((r for r in rows if r.last_error), key=lambda r: r.updated_at)
    last = with_error[-1] if with_error else None
    return OutboxHealth(
        pending=sum(r.status == STATUS_PENDING for r in rows),
        in_flight=sum(r.status == STATUS_IN_FLIGHT for r in rows),
        oldest_period=min(periods) if periods else None,
        last_error=f"{last.kind} {last.period or last.ds} {last.channel}: {last.last_error}" if last else None,
    )


def send_outbox(engine: Engine, client: SlackClient, outbox_dir: Path) -> list[DeliveryOutcome]:
    """Deliver every undelivered brief (posting, or updating the message it already has).

    Each row goes through :func:`deliver`, so a brief that fails again stays pending and
    keeps its files; the files of a kind × period are removed once none of its rows is
    undelivered. An in-flight row is looked for in Slack before it is posted. Running it
    again with nothing pending calls Slack not at all.
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
                period=row.period or row.ds,
            )
        )
    return outcomes
