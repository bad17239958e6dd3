"""Slack clients behind one small protocol: the real Web API client and an in-memory double.

Web API methods used:

* ``chat.postMessage`` (channel name or id, text, blocks, optional thread_ts, ``metadata``).
  Its response carries the channel *id*, which must be kept: ``chat.update`` only accepts ids.
  Every message carries message metadata (``event_type`` :data:`METADATA_EVENT_TYPE`, an
  ``event_payload`` naming kind, period, channel and content hash), so a post whose outcome
  is unknown can be found again instead of being posted twice.
* ``chat.update`` (channel id, ts, text, blocks).
* ``conversations.history`` / ``conversations.replies`` (``include_all_metadata=true``) and,
  to turn a channel name into an id, ``conversations.list``: only to look for such a post.
* files: slack-sdk's ``files_upload_v2`` (``files.getUploadURLExternal``, the bytes POSTed to
  the URL it returns, then ``files.completeUploadExternal`` with ``channel_id`` and
  ``thread_ts``) shares a file in a message's thread (:meth:`SlackWebClient.upload_file`); a
  file whose upload's outcome is unknown is looked for by name in that thread
  (:meth:`SlackWebClient.find_file`). Like a post, a lost answer is never retried blindly.

Retries are slack-sdk's own retry handlers, bounded by one time budget per client (one run):
``RateLimitErrorRetryHandler`` (HTTP 429, sleeps for ``Retry-After``), any 5xx, and
connection errors raised before the request was sent (``URLError``). Each request waits at
most ``timeout`` seconds, and never past the budget. A timeout or a connection lost *after*
the request was sent leaves the outcome unknown: it is not retried here
(:attr:`SlackDeliveryError.outcome_unknown`); the caller looks for the message first.
Errors Slack answers with (``invalid_auth``, ``channel_not_found`` ...) are never retried, and
after a token error (:data:`TOKEN_ERRORS`) the client makes no further calls in its run.
What fails surfaces as :class:`SlackDeliveryError`, whose message never contains the token.

The token comes only from the environment (``SLACK_BOT_TOKEN``) or from the caller (for
example a Prefect Secret block's value passed as ``token=``); never from the config file.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any, Protocol, runtime_checkable
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import RetryIntervalCalculator
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator

from opscadence.core.privacy import mask_secrets, secret_values
from opscadence.core.model import Message

TOKEN_ENV = "SLACK_BOT_TOKEN"
API_URL_ENV = "SLACK_API_URL"
DEFAULT_MAX_RETRIES = 3
DEFAULT_TIMEOUT_SECONDS = 10  # slack.request_timeout_seconds
DEFAULT_MAX_DELIVERY_SECONDS = 60  # slack.max_delivery_seconds

METADATA_EVENT_TYPE = "opscadence_message"

# Errors that say the token cannot post at all: no further call in this run can succeed.
TOKEN_ERRORS = frozenset({
    "not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired",
    "not_allowed_token_type", "team_access_not_granted", "ekm_access_denied", "org_login_required",
})
# Error codes this module gives failures Slack did not answer.
TIMEOUT = "timeout"
CONNECTION_LOST = "connection_lost"
CONNECTION_FAILED = "connection_failed"
BUDGET_SPENT = "delivery_time_spent"

_MAX_ERROR_CHARS = 300
# Calls that act once (a message posted, a file shared): a lost answer is looked for, never repeated.
_NOT_REPEATED = frozenset({"chat.postMessage", "files.upload_v2"})


@dataclass(frozen=True)
class PostedMessage:
    """Where a posted message landed: Slack's channel id (not the name) and its ts."""

    channel_id: str
    ts: str


class SlackDeliveryError(RuntimeError):
    """A Slack call failed for good (after retries). The message never contains the token.

    ``error`` is Slack's error code when there was one (``channel_not_found``,
    ``message_not_found``, ``ratelimited`` ...) or this module's (``timeout``,
    ``connection_lost`` ...); ``status`` the HTTP status when known.
    ``outcome_unknown`` is true when the request was sent but no answer came back (a
    timeout, a dropped connection): Slack may have acted on it.
    """

    def __init__(
        self, message: str, *, error: str | None = None, status: int | None = None, outcome_unknown: bool = False
    ):
        super().__init__(message)
        self.error = error
        self.status = status
        self.outcome_unknown = outcome_unknown


@dataclass(frozen=True)
class UploadedFile:
    """A file shared in a channel (or a thread): Slack's file id."""

    file_id: str


@dataclass(frozen=True)
class FoundMessage:
    """A message found by its metadata key; ``payload`` is its ``event_payload``."""

    channel_id: str
    ts: str
    payload: dict[str, Any]


@runtime_checkable
class SlackClient(Protocol):
    def post_message(
        self, channel: str, message: Message, *, thread_ts: str | None = None, metadata: dict[str, Any] | None = None
    ) -> PostedMessage: ...

    def update_message(self, channel_id: str, ts: str, message: Message) -> None: ...

    def find_message(
        self, channel: str, key: Mapping[str, Any], *, oldest: float, thread_ts: str | None = None
    ) -> FoundMessage | None: ...


def message_metadata(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Slack message metadata for an opscadence message (``payload``: kind, period, channel, hash)."""
    return {"event_type": METADATA_EVENT_TYPE, "event_payload": dict(payload)}


def matches(metadata: Any, key: Mapping[str, Any]) -> bool:
    """Whether a message's ``metadata`` is opscadence's and carries every item of ``key``."""
    if not isinstance(metadata, Mapping) or metadata.get("event_type") != METADATA_EVENT_TYPE:
        return False
    payload = metadata.get("event_payload")
    return isinstance(payload, Mapping) and all(payload.get(k) == v for k, v in key.items())


class DeliveryBudget:
    """The time one run may spend talking to Slack; the clock starts at the first call."""

    def __init__(self, seconds: float, clock: Any = time.monotonic):
        if seconds <= 0:
            raise ValueError("the delivery budget must be > 0 seconds")
        self.seconds = seconds
        self._clock = clock
        self._deadline: float | None = None

    def start(self) -> None:
        if self._deadline is None:
            self._deadline = self._clock() + self.seconds

    def remaining(self) -> float:
        if self._deadline is None:
            return self.seconds
        return max(0.0, self._deadline - self._clock())


def redact(text: str, token: str | None = None) -> str:
    """``text`` with ``token``, anything token-shaped and any other credential masked
    (:func:`opscadence.core.privacy.mask_secrets`)."""
    return mask_secrets(text, [*secret_values(), *([token] if token else [])])


def slack_api_url(environ: Mapping[str, str] | None = None) -> str:
    """The Web API base URL: ``SLACK_API_URL`` or slack-sdk's default, with a trailing slash."""
    environ = os.environ if environ is None else environ
    url = (environ.get(API_URL_ENV) or "").strip() or WebClient.BASE_URL
    return url if url.endswith("/") else url + "/"


class AnyServerErrorRetryHandler(ServerErrorRetryHandler):
    """slack-sdk's server-error handler, widened from 500/503 to every 5xx (502/504 from proxies too)."""

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:  # noqa: ANN001 - slack-sdk's signature
        return response is not None and 500 <= response.status_code < 600


def _retry_after(response: Any) -> float:
    for name, values in (response.headers or {}).items() if response is not None else ():
        if name.lower() == "retry-after":
            try:
                return float(values[0] if isinstance(values, list) else values)
            except (TypeError, ValueError, IndexError):
                return 1.0
    return 1.0


class _Budgeted:
    """Mixin for a slack-sdk retry handler: no retry whose wait the budget cannot cover.

    After the wait, ``on_retry`` is called (the client shortens its request timeout to what
    is left).
    """

    def __init__(self, *args: Any, budget: DeliveryBudget | None = None, on_retry: Any = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.budget = budget
        self.on_retry = on_retry

    def _wait(self, state: Any, response: Any) -> float:
        return self.interval_calculator.calculate_sleep_duration(state.current_attempt)  # type: ignore[attr-defined]

    def can_retry(self, *, state, request, response=None, error=None) -> bool:  # noqa: ANN001 - slack-sdk's signature
        if not super().can_retry(state=state, request=request, response=response, error=error):  # type: ignore[misc]
            return False
        return self.budget is None or self.budget.remaining() > self._wait(state, response)

    def prepare_for_next_attempt(self, *, state, request, response=None, error=None) -> None:  # noqa: ANN001
        super().prepare_for_next_attempt(state=state, request=request, response=response, error=error)  # type: ignore[misc]
        if self.on_retry is not None:
            self.on_retry()


class _RateLimitRetry(_Budgeted, RateLimitErrorRetryHandler):
    def _wait(self, state: Any, response: Any) -> float:
        return _retry_after(response)


class _ServerErrorRetry(_Budgeted, AnyServerErrorRetryHandler):
    pass


class _NotSentRetry(_Budgeted, ConnectionErrorRetryHandler):
    """Connection errors raised before the request was sent (urllib wraps those in URLError).

    A timeout or a reset while waiting for the answer is not retried here: Slack may have
    posted the message (see :attr:`SlackDeliveryError.outcome_unknown`).
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, error_types=[URLError], **kwargs)


def retry_handlers(
    max_retries: int = DEFAULT_MAX_RETRIES,
    interval_calculator: RetryIntervalCalculator | None = None,
    budget: DeliveryBudget | None = None,
    on_retry: Any = None,
) -> list:
    """slack-sdk's handlers for 429 (honours Retry-After), any 5xx and connection errors before sending.

    slack-sdk counts attempts per request across handlers, so ``max_retries`` bounds the
    total number of retries of one call; ``budget`` refuses a retry whose wait it cannot cover.
    """
    if max_retries < 0:
        raise ValueError("max_retries must be >= 0")
    interval = interval_calculator or BackoffRetryIntervalCalculator()
    common = dict(max_retry_count=max_retries, interval_calculator=interval, budget=budget, on_retry=on_retry)
    return [_RateLimitRetry(**common), _ServerErrorRetry(**common), _NotSentRetry(**common)]


def _is_channel_id(channel: str) -> bool:
    return re.fullmatch(r"[CGD][A-Z0-9]{2,}", channel) is not None


class SlackWebClient:
    """The real client: ``slack_sdk.WebClient`` with bounded retries and token-safe errors.

    ``timeout`` bounds one request, ``max_delivery_seconds`` everything this client does
    (one client per run): once spent, calls fail at once with :data:`BUDGET_SPENT`.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        interval_calculator: RetryIntervalCalculator | None = None,
        max_delivery_seconds: float = DEFAULT_MAX_DELIVERY_SECONDS,
    ):
        if not token:
            raise ValueError("a Slack token is required")
        if timeout <= 0:
            raise ValueError("timeout must be > 0 seconds")
        self._token = token
        self.base_url = base_url or WebClient.BASE_URL
        if not self.base_url.endswith("/"):
            self.base_url += "/"
        self.max_retries = max_retries
        self.timeout = timeout
        self.budget = DeliveryBudget(max_delivery_seconds)
        self._token_error: SlackDeliveryError | None = None
        self._channel_ids: dict[str, str] = {}
        self._web = WebClient(
            token=token,
            base_url=self.base_url,
            timeout=timeout,
            retry_handlers=retry_handlers(max_retries, interval_calculator, self.budget, self._fit_timeout),
        )

    def __repr__(self) -> str:  # never show the token
        return f"SlackWebClient(base_url={self.base_url!r}, max_retries={self.max_retries})"

    def post_message(
        self, channel: str, message: Message, *, thread_ts: str | None = None, metadata: dict[str, Any] | None = None
    ) -> PostedMessage:
        response = self._call(
            "chat.postMessage",
            self._web.chat_postMessage,
            channel=channel,
            text=message.text,
            blocks=message.blocks or None,
            thread_ts=thread_ts,
            metadata=metadata,
            unfurl_links=False,
            unfurl_media=False,
        )
        channel_id, ts = response.get("channel"), response.get("ts")
        if not channel_id or not ts:
            raise SlackDeliveryError("Slack chat.postMessage returned ok without channel/ts", error="invalid_response")
        self._channel_ids.setdefault(channel.lstrip("#"), str(channel_id))
        return PostedMessage(channel_id=str(channel_id), ts=str(ts))

    def update_message(self, channel_id: str, ts: str, message: Message) -> None:
        self._call(
            "chat.update",
            self._web.chat_update,
            channel=channel_id,
            ts=ts,
            text=message.text,
            # An empty list (not None) so an update can remove blocks: Slack keeps the old
            # blocks when the field is omitted.
            blocks=list(message.blocks),
        )

    def find_message(
        self, channel: str, key: Mapping[str, Any], *, oldest: float, thread_ts: str | None = None, max_pages: int = 5
    ) -> FoundMessage | None:
        """The newest message since ``oldest`` (epoch seconds) whose opscadence metadata carries ``key``.

        Looks in the channel's history, or in the thread of ``thread_ts``; ``channel`` may be a
        name (resolved with ``conversations.list``) or an id. Raises :class:`SlackDeliveryError`
        when Slack cannot be asked.
        """
        channel_id = self.channel_id(channel)
        cursor = None
        for _ in range(max_pages):
            common = dict(channel=channel_id, oldest=f"{oldest:.6f}", include_all_metadata=True, limit=200,
                          cursor=cursor)
            if thread_ts:
                response = self._call("conversations.replies", self._web.conversations_replies, ts=thread_ts, **common)
            else:
                response = self._call("conversations.history", self._web.conversations_history, **common)
            for item in response.get("messages") or []:
                if matches(item.get("metadata"), key) and item.get("ts"):
                    return FoundMessage(channel_id, str(item["ts"]), dict(item["metadata"]["event_payload"]))
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None

    def upload_file(
        self, channel_id: str, path: str | os.PathLike, *, filename: str, title: str, thread_ts: str | None = None,
        alt_text: str | None = None,
    ) -> UploadedFile:
        """Share the file at ``path`` in ``channel_id`` (in ``thread_ts``'s thread when given) with
        slack-sdk's ``files_upload_v2``: ``files.getUploadURLExternal``, the bytes to the URL it
        returns, ``files.completeUploadExternal``."""
        response = self._call(
            "files.upload_v2",
            self._web.files_upload_v2,
            file=str(path),
            filename=filename,
            title=title,
            alt_txt=alt_text,
            channel=channel_id,
            thread_ts=thread_ts,
        )
        files = response.get("files") or []
        file_id = files[0].get("id") if files and isinstance(files[0], Mapping) else None
        if not file_id:
            raise SlackDeliveryError("Slack files.completeUploadExternal returned ok without a file id",
                                     error="invalid_response")
        return UploadedFile(str(file_id))

    def find_file(self, channel_id: str, thread_ts: str, filename: str, *, oldest: float,
                  max_pages: int = 5) -> UploadedFile | None:
        """A file named ``filename`` shared in ``thread_ts``'s thread since ``oldest`` (epoch seconds)."""
        cursor = None
        for _ in range(max_pages):
            response = self._call("conversations.replies", self._web.conversations_replies, channel=channel_id,
                                  ts=thread_ts, oldest=f"{oldest:.6f}", limit=200, cursor=cursor)
            for item in response.get("messages") or []:
                for shared in item.get("files") or []:
                    if isinstance(shared, Mapping) and shared.get("name") == filename and shared.get("id"):
                        return UploadedFile(str(shared["id"]))
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None

    def channel_id(self, channel: str) -> str:
        """The id of ``channel`` (``#name``, ``name`` or an id), looked up once per client."""
        name = channel.lstrip("#")
        if _is_channel_id(name):
            return name
        if name not in self._channel_ids:
            cursor = None
            while True:
                response = self._call("conversations.list", self._web.conversations_list, cursor=cursor, limit=1000,
                                      exclude_archived=True, types="public_channel,private_channel")
                for item in response.get("channels") or []:
                    if item.get("name") and item.get("id"):
                        self._channel_ids.setdefault(str(item["name"]), str(item["id"]))
                cursor = (response.get("response_metadata") or {}).get("next_cursor")
                if name in self._channel_ids or not cursor:
                    break
        if name not in self._channel_ids:
            raise SlackDeliveryError(f"Slack has no channel named #{name} for this token", error="channel_not_found")
        return self._channel_ids[name]

    def _fit_timeout(self) -> None:
        # urllib's timeout applies per socket operation; never wait past the run's budget.
        self._web.timeout = max(0.05, min(self.timeout, self.budget.remaining()))

    def _call(self, method: str, fn: Any, **kwargs: Any) -> Any:
        """One Web API call; a lost answer is retried for every method but chat.postMessage.

        Updating or reading twice is harmless; posting twice is not (the caller looks first).
        """
        retries = 0
        while True:
            try:
                return self._call_once(method, fn, **kwargs)
            except SlackDeliveryError as exc:
                if (not exc.outcome_unknown or method in _NOT_REPEATED or retries >= self.max_retries
                        or self.budget.remaining() <= 0):
                    raise
                retries += 1

    def _call_once(self, method: str, fn: Any, **kwargs: Any) -> Any:
        if self._token_error is not None:
            raise self._token_error
        self.budget.start()
        if self.budget.remaining() <= 0:
            raise SlackDeliveryError(
                f"Slack {method} not attempted: the run's {self.budget.seconds:g} s for Slack are spent "
                "(slack.max_delivery_seconds)", error=BUDGET_SPENT)
        self._fit_timeout()
        unknown = False
        try:
            return fn(**kwargs)
        except SlackApiError as exc:
            response = exc.response
            status = getattr(response, "status_code", None)
            data = getattr(response, "data", None)
            code = data.get("error") if isinstance(data, dict) else None
            detail = code or "unexpected response"
            message = f"Slack {method} failed: {detail} (HTTP {status})"
        except URLError as exc:  # raised before the request was sent: Slack saw nothing
            status, code = None, CONNECTION_FAILED
            message = f"Slack {method} failed: {type(exc).__name__}: {exc}"
        except TimeoutError:
            status, code, unknown = None, TIMEOUT, True
            message = f"Slack {method} failed: no answer within {self._web.timeout:g} s (timeout)"
        except (SlackClientError, OSError, HTTPException) as exc:  # reset / dropped after sending
            status, code, unknown = None, CONNECTION_LOST, True
            message = f"Slack {method} failed: connection lost ({type(exc).__name__}: {exc})"
        # ``from None``: the slack-sdk exception holds the request (with its Authorization header).
        error = SlackDeliveryError(
            redact(message, self._token)[:_MAX_ERROR_CHARS], error=code, status=status, outcome_unknown=unknown
        )
        if code in TOKEN_ERRORS:
            self._token_error = error  # the same answer for every later call of this run
        raise error from None


def client_from_env(
    environ: Mapping[str, str] | None = None,
    *,
    token: str | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    interval_calculator: RetryIntervalCalculator | None = None,
    max_delivery_seconds: float = DEFAULT_MAX_DELIVERY_SECONDS,
) -> SlackWebClient | None:
    """A :class:`SlackWebClient`, or ``None`` when no token is available (deliveries go to the outbox).

    ``token`` overrides ``SLACK_BOT_TOKEN`` (e.g. the value of a Prefect Secret block);
    ``SLACK_API_URL`` overrides the API base URL.
    """
    environ = os.environ if environ is None else environ
    token = (token or environ.get(TOKEN_ENV) or "").strip()
    if not token:
        return None
    return SlackWebClient(
        token,
        base_url=slack_api_url(environ),
        max_retries=max_retries,
        timeout=timeout,
        interval_calculator=interval_calculator,
        max_delivery_seconds=max_delivery_seconds,
    )


# --- test double ---------------------------------------------------------------------------
@dataclass
class RecordedCall:
    method: str  # "chat.postMessage" | "chat.update"
    channel: str  # what the caller passed (name for posts, id for updates)
    message: Message
    ts: str | None = None  # the ts returned (posts) or targeted (updates)
    thread_ts: str | None = None
    channel_id: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass
class RecordingSlackClient:
    """In-memory :class:`SlackClient`: records calls, hands out fake ids/ts, fails on demand.

    ``fail_next(n)`` makes the next ``n`` calls raise :class:`SlackDeliveryError`;
    ``failing = True`` makes every call fail. Failed calls are recorded in ``failures``,
    not in ``posts``/``updates``.
    """

    failing: bool = False
    fail_error: str = "internal_error"
    posts: list[RecordedCall] = field(default_factory=list)
    updates: list[RecordedCall] = field(default_factory=list)
    failures: list[RecordedCall] = field(default_factory=list)
    uploads: list[RecordedCall] = field(default_factory=list)  # files.upload_v2: ts is the file id
    messages: dict[tuple[str, str], Message] = field(default_factory=dict)  # (channel_id, ts) -> message
    _channel_ids: dict[str, str] = field(default_factory=dict)
    _fail_budget: int = 0
    _ts_counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int = 1, error: str = "internal_error") -> None:
        with self._lock:
            self._fail_budget += count
            self.fail_error = error

    def channel_id(self, channel: str) -> str:
        key = channel.lstrip("#")
        with self._lock:
            return self._channel_ids.setdefault(key, f"C{len(self._channel_ids) + 1:04d}")

    @property
    def calls(self) -> list[RecordedCall]:
        return [*self.posts, *self.updates]

    def _maybe_fail(self, call: RecordedCall) -> None:
        with self._lock:
            fail = self.failing or self._fail_budget > 0
            if fail:
                self._fail_budget = max(0, self._fail_budget - 1)
                self.failures.append(call)
        if fail:
            raise SlackDeliveryError(f"Slack {call.method} failed: {self.fail_error}", error=self.fail_error)

    def post_message(
        self, channel: str, message: Message, *, thread_ts: str | None = None, metadata: dict[str, Any] | None = None
    ) -> PostedMessage:
        call = RecordedCall("chat.postMessage", channel, message, thread_ts=thread_ts, metadata=metadata)
        self._maybe_fail(call)
        channel_id = self.channel_id(channel)
        with self._lock:
            ts = f"{1700000000 + next(self._ts_counter)}.000100"
            call.ts, call.channel_id = ts, channel_id
            self.posts.append(call)
            self.messages[(channel_id, ts)] = message
        return PostedMessage(channel_id=channel_id, ts=ts)

    def update_message(self, channel_id: str, ts: str, message: Message) -> None:
        call = RecordedCall("chat.update", channel_id, message, ts=ts, channel_id=channel_id)
        self._maybe_fail(call)
        with self._lock:
            if (channel_id, ts) not in self.messages:
                self.failures.append(call)
                raise SlackDeliveryError("Slack chat.update failed: message_not_found", error="message_not_found")
            self.messages[(channel_id, ts)] = message
            self.updates.append(call)

    def find_message(
        self, channel: str, key: Mapping[str, Any], *, oldest: float, thread_ts: str | None = None
    ) -> FoundMessage | None:
        """The newest recorded post to ``channel`` (in ``thread_ts``'s thread when given) matching ``key``."""
        channel_id = self.channel_id(channel)
        for call in reversed(self.posts):
            if call.channel_id == channel_id and call.thread_ts == thread_ts and matches(call.metadata, key):
                return FoundMessage(channel_id, str(call.ts), dict(call.metadata["event_payload"]))
        return None

    def upload_file(
        self, channel_id: str, path: str | os.PathLike, *, filename: str, title: str, thread_ts: str | None = None,
        alt_text: str | None = None,
    ) -> UploadedFile:
        call = RecordedCall("files.upload_v2", channel_id, Message(text=title, blocks=[]), thread_ts=thread_ts,
                            channel_id=channel_id, metadata={"filename": filename, "bytes": os.path.getsize(path)})
        self._maybe_fail(call)
        with self._lock:
            call.ts = f"F{len(self.uploads) + 1:04d}"
            self.uploads.append(call)
        return UploadedFile(call.ts)

    def find_file(self, channel_id: str, thread_ts: str, filename: str, *, oldest: float) -> UploadedFile | None:
        for call in reversed(self.uploads):
            if call.channel_id == channel_id and call.thread_ts == thread_ts and call.metadata["filename"] == filename:
                return UploadedFile(str(call.ts))
        return None
