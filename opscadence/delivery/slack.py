"""Slack clients behind one small protocol: the real Web API client and an in-memory double.

Only two Web API methods are used:

* ``chat.postMessage`` (channel name or id, text, blocks, optional thread_ts). Its response
  carries the channel *id*, which must be kept: ``chat.update`` only accepts ids.
* ``chat.update`` (channel id, ts, text, blocks).

Retries are slack-sdk's own retry handlers: ``RateLimitErrorRetryHandler`` (HTTP 429, sleeps
for ``Retry-After``), ``ServerErrorRetryHandler`` (HTTP 500/503) and
``ConnectionErrorRetryHandler`` (connection reset/refused, URL errors). What still fails after
them surfaces as :class:`SlackDeliveryError`, whose message never contains the token.

The token comes only from the environment (``SLACK_BOT_TOKEN``) or from the caller (for
example a Prefect Secret block's value passed as ``token=``); never from the config file.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any, Protocol, runtime_checkable

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
DEFAULT_TIMEOUT_SECONDS = 30

_MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class PostedMessage:
    """Where a posted message landed: Slack's channel id (not the name) and its ts."""

    channel_id: str
    ts: str


class SlackDeliveryError(RuntimeError):
    """A Slack call failed for good (after retries). The message never contains the token.

    ``error`` is Slack's error code when there was one (``channel_not_found``,
    ``message_not_found``, ``ratelimited`` ...); ``status`` the HTTP status when known.
    """

    def __init__(self, message: str, *, error: str | None = None, status: int | None = None):
        super().__init__(message)
        self.error = error
        self.status = status


@runtime_checkable
class SlackClient(Protocol):
    def post_message(self, channel: str, message: Message, *, thread_ts: str | None = None) -> PostedMessage: ...

    def update_message(self, channel_id: str, ts: str, message: Message) -> None: ...


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


def retry_handlers(
    max_retries: int = DEFAULT_MAX_RETRIES,
    interval_calculator: RetryIntervalCalculator | None = None,
) -> list:
    """slack-sdk's handlers for 429 (honours Retry-After), any 5xx and connection errors.

    slack-sdk counts attempts per request across handlers, so ``max_retries`` bounds the
    total number of retries of one call.
    """
    if max_retries < 0:
        raise ValueError("max_retries must be >= 0")
    interval = interval_calculator or BackoffRetryIntervalCalculator()
    return [
        RateLimitErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval),
        AnyServerErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval),
        ConnectionErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval),
    ]


class SlackWebClient:
    """The real client: ``slack_sdk.WebClient`` with retry handlers and token-safe errors."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: int = DEFAULT_TIMEOUT_SECONDS,
        interval_calculator: RetryIntervalCalculator | None = None,
    ):
        if not token:
            raise ValueError("a Slack token is required")
        self._token = token
        self.base_url = base_url or WebClient.BASE_URL
        if not self.base_url.endswith("/"):
            self.base_url += "/"
        self.max_retries = max_retries
        self._web = WebClient(
            token=token,
            base_url=self.base_url,
            timeout=timeout,
            retry_handlers=retry_handlers(max_retries, interval_calculator),
        )

    def __repr__(self) -> str:  # never show the token
        return f"SlackWebClient(base_url={self.base_url!r}, max_retries={self.max_retries})"

    def post_message(self, channel: str, message: Message, *, thread_ts: str | None = None) -> PostedMessage:
        response = self._call(
            "chat.postMessage",
            self._web.chat_postMessage,
            channel=channel,
            text=message.text,
            blocks=message.blocks or None,
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
        )
        channel_id, ts = response.get("channel"), response.get("ts")
        if not channel_id or not ts:
            raise SlackDeliveryError("Slack chat.postMessage returned ok without channel/ts", error="invalid_response")
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

    def _call(self, method: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except SlackApiError as exc:
            response = exc.response
            status = getattr(response, "status_code", None)
            data = getattr(response, "data", None)
            code = data.get("error") if isinstance(data, dict) else None
            detail = code or "unexpected response"
            message = f"Slack {method} failed: {detail} (HTTP {status})"
        except (SlackClientError, OSError, HTTPException) as exc:  # URLError/timeouts are OSError
            status, code = None, None
            message = f"Slack {method} failed: {type(exc).__name__}: {exc}"
        # ``from None``: the slack-sdk exception holds the request (with its Authorization header).
        raise SlackDeliveryError(
            redact(message, self._token)[:_MAX_ERROR_CHARS], error=code, status=status
        ) from None


def client_from_env(
    environ: Mapping[str, str] | None = None,
    *,
    token: str | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    timeout: int = DEFAULT_TIMEOUT_SECONDS,
    interval_calculator: RetryIntervalCalculator | None = None,
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

    def post_message(self, channel: str, message: Message, *, thread_ts: str | None = None) -> PostedMessage:
        call = RecordedCall("chat.postMessage", channel, message, thread_ts=thread_ts)
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
