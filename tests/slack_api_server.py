"""A real local HTTP server speaking the few Slack Web API methods opscadence calls.

Used by tests instead of mocks: the real ``slack_sdk.WebClient`` talks HTTP to it, so
serialisation, auth headers, HTTP status codes, ``Retry-After`` and slack-sdk's retry
handlers are all exercised for real.

    with SlackApiServer(token="xoxb-test") as srv:
        client = SlackWebClient("xoxb-test", base_url=srv.url)   # "http://127.0.0.1:PORT/api/"
        srv.fail_next("chat.postMessage", status=429, retry_after=1)
        ...
        srv.calls("chat.postMessage")   # every request, failed ones included

Methods (as documented by Slack; auth failures are HTTP 200 with ``ok: false``):

* ``chat.postMessage``: ``{"ok", "channel": <id>, "ts", "message"}``. Channel names
  (``#ops-brief`` or ``ops-brief``) map to stable ids ``C0001``, ``C0002`` ...; ids
  (``C…``/``G…``/``D…``) are used as given. ts values strictly increase.
* ``chat.update``: ``{"ok", "channel", "ts", "text", "message"}``; ``message_not_found``
  for an unknown ts, ``channel_not_found`` for an unknown channel id.
* ``conversations.history`` (channel id, ``oldest``, ``limit``, ``cursor``,
  ``include_all_metadata``; ``oldest`` compared to the time the message arrived): ``{"ok",
  "messages": [newest first], "has_more",
  "response_metadata": {"next_cursor"}}``; top-level messages only, each with
  ``"metadata": {"event_type", "event_payload"}`` when posted with metadata and asked for it.
* ``conversations.replies`` (channel id, ``ts`` of the parent, same options): the parent
  and its replies, oldest first; ``thread_not_found`` for an unknown parent.
* ``conversations.list``: ``{"ok", "channels": [{"id", "name", ...}], "response_metadata"}``.
* files, as slack-sdk's ``files_upload_v2`` uses them: ``files.getUploadURLExternal``
  (``filename``, ``length``; ``alt_txt``): ``{"ok", "upload_url", "file_id"}`` with an upload URL
  on this server (``invalid_arguments`` without a filename or a positive length); a POST of the
  raw bytes to that URL: HTTP 200 ``OK - <bytes>`` as text, 404 for an unknown URL (the request
  is recorded as method ``upload``, body ``{"file_id", "bytes"}``);
  ``files.completeUploadExternal`` (``files`` a JSON list of ``{"id", "title"}``, ``channel_id``,
  ``thread_ts``, ``initial_comment``): ``{"ok", "files": [{"id", "title", "name", ...}]}``;
  ``file_not_found`` for an id never uploaded, ``channel_not_found``/``thread_not_found`` for
  a channel id or parent ts it does not know. Shared in a thread, the file shows in
  ``conversations.replies`` as a reply carrying ``files`` (``files`` lists what was uploaded).
* ``auth.test``: ``{"ok": true, ...}``.

Beyond HTTP errors, ``fail_next`` scripts the failures a network has: ``hang=`` seconds of
silence before answering (past the client's timeout: "no answer"), ``record=True`` to act
on the request first (the message is posted, the answer never arrives), ``drop=True`` to
close the connection without any answer (a process or proxy killed mid-request).

Both JSON and form-encoded bodies (and GET query strings) are accepted; ``blocks`` given
as a JSON string in a form is parsed. No pytest dependency.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class RecordedRequest:
    method: str  # Slack API method, e.g. "chat.postMessage"
    body: dict[str, Any]  # parsed body (JSON, form or query string)
    headers: dict[str, str]
    status: int  # the HTTP status the server answered with
    response: dict[str, Any] | None  # the JSON it answered with (None for non-JSON)
    at: float = 0.0  # time.monotonic() when the request arrived


@dataclass
class _Fault:
    status: int = 500
    retry_after: int | None = None
    error: str | None = None
    body: str | None = None
    hang: float | None = None  # seconds to wait before answering (or dropping)
    record: bool = False  # act on the request as if it succeeded, whatever is answered
    drop: bool = False  # close the connection without an answer


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: dict[str, str]
    text: str
    hang: float | None = None
    drop: bool = False


@dataclass
class _State:
    token: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[RecordedRequest] = field(default_factory=list)
    messages: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    channel_ids: dict[str, str] = field(default_factory=dict)
    faults: dict[str, deque[_Fault]] = field(default_factory=dict)
    ts_counter: int = 0
    arrived: dict[str, float] = field(default_factory=dict)  # ts -> epoch time the message arrived
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # file id -> name, length, bytes, shares


def _parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    text = raw.decode("utf-8")
    if content_type.startswith("application/json"):
        data = json.loads(text)
        return data if isinstance(data, dict) else {"_": data}
    form = {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
    for key in ("blocks", "attachments", "metadata"):
        value = form.get(key)
        if isinstance(value, str) and value[:1] in "[{":
            try:
                form[key] = json.loads(value)
            except json.JSONDecodeError:
                pass
    return form


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


class SlackApiServer:
    """Threaded local Slack Web API; see the module docstring."""

    def __init__(self, token: str = "xoxb-test", host: str = "127.0.0.1", port: int = 0):
        self.token = token
        self._state = _State(token=token)
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> "SlackApiServer":
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-api-server", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> "SlackApiServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        host = self._httpd.server_address[0]
        return f"http://{host}:{self.port}/api/"

    # --- fault injection ------------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        *,
        status: int = 500,
        retry_after: int | None = None,
        error: str | None = None,
        body: str | None = None,
        times: int = 1,
        hang: float | None = None,
        record: bool = False,
        drop: bool = False,
    ) -> None:
        """Queue ``times`` scripted answers for ``method``; each call consumes one.

        ``status=429`` answers ``{"ok": false, "error": "ratelimited"}`` with ``Retry-After``
        (default 1); ``status=200, error="channel_not_found"`` an API-level error; ``body``
        replaces the JSON body verbatim (e.g. an HTML error page). ``hang`` waits that many
        seconds first; ``record`` acts on the request (and then answers as it normally would,
        unless ``status``/``error`` say otherwise or ``drop``); ``drop`` closes the connection
        without answering.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._state.lock:
            queue = self._state.faults.setdefault(method, deque())
            for _ in range(times):
                queue.append(_Fault(status=status, retry_after=retry_after, error=error, body=body, hang=hang,
                                    record=record, drop=drop))

    def no_answer(self, method: str, *, seconds: float, record: bool = False, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` get no answer for ``seconds`` (then a normal one)."""
        self.fail_next(method, status=200, hang=seconds, record=record, times=times)

    def clear_faults(self) -> None:
        with self._state.lock:
            self._state.faults.clear()

    # --- inspection -----------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def calls(self, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if method is None or r.method == method]

    @property
    def messages(self) -> dict[str, dict[str, dict[str, Any]]]:
        """channel_id -> ts -> {"text", "blocks", "thread_ts"} (a deep copy)."""
        with self._state.lock:
            return copy.deepcopy(self._state.messages)

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        """file id -> {"filename", "length", "alt_txt", "data" (bytes or None), "title", "shares":
        [(channel_id, thread_ts)]} (a deep copy)."""
        with self._state.lock:
            return copy.deepcopy(self._state.files)

    def channel_id(self, channel: str) -> str:
        """The id this server gives (or gave) ``channel``."""
        with self._state.lock:
            return self._resolve_channel(channel)

    def reset(self) -> None:
        """Forget requests, messages and faults (channels and their ids stay)."""
        with self._state.lock:
            self._state.requests.clear()
            for store in self._state.messages.values():
                store.clear()  # channels still exist, their messages are gone
            self._state.faults.clear()
            self._state.files.clear()

    # --- internals (called with the lock held) --------------------------------------------
    def _resolve_channel(self, channel: str) -> str:
        if _CHANNEL_ID.match(channel):
            self._state.messages.setdefault(channel, {})
            return channel
        name = channel.lstrip("#")
        ids = self._state.channel_ids
        if name not in ids:
            ids[name] = f"C{len(ids) + 1:04d}"
        self._state.messages.setdefault(ids[name], {})
        return ids[name]

    def _next_ts(self) -> str:
        # Deterministic (two servers fed the same calls hand out the same ts); Slack's ts are
        # epoch times, so ``oldest`` is compared to each message's arrival time instead.
        self._state.ts_counter += 1
        n = self._state.ts_counter
        return f"{1700000000 + n // 10000}.{(n % 10000) * 100:06d}"

    def _auth_error(self, headers: dict[str, str], body: dict[str, Any]) -> str | None:
        auth = headers.get("authorization", "")
        token = auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else body.get("token")
        if not token:
            return "not_authed"
        if token != self.token:
            return "invalid_auth"
        return None

    def _dispatch(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "url": "https://opscadence-test.slack.com/", "team": "test", "user": "opscadence",
                    "team_id": "T0001", "user_id": "U0001", "bot_id": "B0001"}
        if method == "chat.postMessage":
            channel = body.get("channel")
            if not channel:
                return {"ok": False, "error": "channel_not_found"}
            if not body.get("text") and not body.get("blocks"):
                return {"ok": False, "error": "no_text"}
            channel_id = self._resolve_channel(str(channel))
            ts = self._next_ts()
            stored = {"text": body.get("text"), "blocks": body.get("blocks"), "thread_ts": body.get("thread_ts")}
            self._state.arrived[ts] = time.time()
            metadata = body.get("metadata")
            if isinstance(metadata, dict) and metadata.get("event_type"):
                stored["metadata"] = {"event_type": metadata["event_type"],
                                      "event_payload": metadata.get("event_payload") or {}}
            self._state.messages[channel_id][ts] = stored
            message = {"type": "message", "user": "U0001", "bot_id": "B0001", "ts": ts, **stored}
            return {"ok": True, "channel": channel_id, "ts": ts, "message": message}
        if method == "chat.update":
            channel_id, ts = body.get("channel"), body.get("ts")
            if not channel_id or channel_id not in self._state.messages:
                return {"ok": False, "error": "channel_not_found"}
            if not ts or ts not in self._state.messages[channel_id]:
                return {"ok": False, "error": "message_not_found"}
            if not body.get("text") and not body.get("blocks"):
                return {"ok": False, "error": "no_text"}
            stored = self._state.messages[channel_id][ts]
            stored.update({"text": body.get("text"), "blocks": body.get("blocks")})
            message = {"type": "message", "user": "U0001", "bot_id": "B0001", **stored}
            return {"ok": True, "channel": channel_id, "ts": ts, "text": body.get("text"), "message": message}
        if method in ("conversations.history", "conversations.replies"):
            channel_id = body.get("channel")
            if not channel_id or channel_id not in self._state.messages:
                return {"ok": False, "error": "channel_not_found"}
            stored = self._state.messages[channel_id]
            if method == "conversations.history":
                # Top-level messages only, newest first (thread replies are not in the history).
                picked = sorted((ts for ts, m in stored.items() if not m.get("thread_ts")), key=float, reverse=True)
            else:
                parent = body.get("ts")
                if not parent or parent not in stored:
                    return {"ok": False, "error": "thread_not_found"}
                picked = sorted((ts for ts, m in stored.items() if ts == parent or m.get("thread_ts") == parent),
                                key=float)
            oldest = float(body.get("oldest") or 0)
            picked = [ts for ts in picked if self._state.arrived.get(ts, 0.0) > oldest]  # Slack: ts > oldest
            return self._page(picked, body, lambda ts: self._history_item(ts, stored[ts], _truthy(
                body.get("include_all_metadata"))), "messages")
        if method == "files.getUploadURLExternal":
            return self._upload_url(body)
        if method == "files.completeUploadExternal":
            return self._complete_upload(body)
        if method == "conversations.list":
            channels = sorted(self._state.channel_ids.items(), key=lambda item: item[1])
            return self._page([{"id": cid, "name": name, "is_channel": True, "is_archived": False}
                               for name, cid in channels], body, lambda item: item, "channels")
        return {"ok": False, "error": "unknown_method"}

    def _upload_url(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            length = int(body.get("length") or 0)
        except (TypeError, ValueError):
            length = 0
        if not body.get("filename") or length <= 0:
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{len(self._state.files) + 1:04d}"
        self._state.files[file_id] = {"filename": str(body["filename"]), "length": length,
                                      "alt_txt": body.get("alt_txt"), "data": None, "title": None, "shares": []}
        host, port = self._httpd.server_address[:2]
        return {"ok": True, "upload_url": f"http://{host}:{port}/upload/v1/{file_id}", "file_id": file_id}

    def _receive_upload(self, file_id: str, data: bytes) -> tuple[int, str]:
        """The upload URL's answer: Slack's "OK - <bytes>" (HTTP 200), or 404 for an unknown URL."""
        with self._state.lock:
            known = file_id in self._state.files
            if known:
                self._state.files[file_id]["data"] = data
            status = 200 if known else 404
            self._state.requests.append(RecordedRequest("upload", {"file_id": file_id, "bytes": len(data)}, {},
                                                        status, None, time.monotonic()))
        return status, f"OK - {len(data)}" if known else "Not Found"

    def _complete_upload(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            items = json.loads(body["files"]) if isinstance(body.get("files"), str) else body.get("files")
        except (KeyError, json.JSONDecodeError):
            items = None
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) and i.get("id") for i in items):
            return {"ok": False, "error": "invalid_arguments"}
        if any(self._state.files.get(i["id"], {}).get("data") is None for i in items):
            return {"ok": False, "error": "file_not_found"}
        channel_id, thread_ts = body.get("channel_id"), body.get("thread_ts")
        if channel_id and channel_id not in self._state.messages:
            return {"ok": False, "error": "channel_not_found"}
        if thread_ts and (not channel_id or thread_ts not in self._state.messages[channel_id]):
            return {"ok": False, "error": "thread_not_found"}
        shared = []
        for item in items:
            stored = self._state.files[item["id"]]
            stored["title"] = item.get("title") or stored["filename"]
            shared.append({"id": item["id"], "name": stored["filename"], "title": stored["title"],
                           "size": len(stored["data"]), "mimetype": "image/png"
                           if stored["filename"].endswith(".png") else "application/octet-stream"})
            if channel_id:
                stored["shares"].append((channel_id, thread_ts))
        if channel_id:  # the file appears as a message (a reply when threaded)
            ts = self._next_ts()
            self._state.arrived[ts] = time.time()
            self._state.messages[channel_id][ts] = {"text": body.get("initial_comment") or "", "blocks": None,
                                                    "thread_ts": thread_ts, "files": shared}
        return {"ok": True, "files": [{"id": f["id"], "title": f["title"], "name": f["name"]} for f in shared]}

    @staticmethod
    def _history_item(ts: str, stored: dict[str, Any], with_metadata: bool) -> dict[str, Any]:
        item = {"type": "message", "user": "U0001", "bot_id": "B0001", "ts": ts, "text": stored.get("text"),
                "blocks": stored.get("blocks")}
        if stored.get("files"):
            item["files"] = copy.deepcopy(stored["files"])
        if stored.get("thread_ts"):
            item["thread_ts"] = stored["thread_ts"]
        if with_metadata and stored.get("metadata"):
            item["metadata"] = copy.deepcopy(stored["metadata"])
        return item

    @staticmethod
    def _page(items: list[Any], body: dict[str, Any], render: Any, name: str) -> dict[str, Any]:
        """One page of ``items`` per Slack's cursor pagination (the cursor is an offset here)."""
        start = int(body.get("cursor") or 0)
        limit = max(1, min(int(body.get("limit") or 100), 1000))
        page, rest = items[start:start + limit], items[start + limit:]
        return {"ok": True, name: [render(i) for i in page], "has_more": bool(rest),
                "response_metadata": {"next_cursor": str(start + limit) if rest else ""}}

    def _handle(self, method: str, body: dict[str, Any], headers: dict[str, str]) -> _Answer:
        with self._state.lock:
            status, extra_headers = 200, {}
            response: dict[str, Any] | None
            queue = self._state.faults.get(method)
            fault = queue.popleft() if queue else None
            if fault is not None and fault.status == 200 and fault.error is None and fault.body is None:
                # A network fault only (hang / drop): acts on the request when recording; the
                # answer, if one is still sent after the hang, is the normal one.
                response = self._dispatch(method, body) if fault.record else {"ok": False, "error": "no_answer"}
                text = json.dumps(response)
            elif fault is not None:
                if fault.record:
                    self._dispatch(method, body)
                status = fault.status
                if fault.retry_after is not None:
                    extra_headers["Retry-After"] = str(fault.retry_after)
                default_error = "ratelimited" if status == 429 else "internal_error" if status >= 500 else "fatal_error"
                response = {"ok": False, "error": fault.error or default_error}
                text = fault.body if fault.body is not None else json.dumps(response)
                if fault.body is not None:
                    response = None
            else:
                auth_error = self._auth_error(headers, body)
                response = {"ok": False, "error": auth_error} if auth_error else self._dispatch(method, body)
                text = json.dumps(response)
            safe_body = {k: v for k, v in body.items() if k != "token"}
            self._state.requests.append(RecordedRequest(method, safe_body, headers, status, response, time.monotonic()))
        return _Answer(status, extra_headers, text, hang=fault.hang if fault else None,
                       drop=bool(fault and fault.drop))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "SlackApiServer/1.0"

            def _serve(self, body: dict[str, Any]) -> None:
                path = urlsplit(self.path).path
                if not path.startswith("/api/"):
                    self._send(404, {}, json.dumps({"ok": False, "error": "not_found"}))
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = server._handle(path[len("/api/"):], body, headers)
                if answer.hang:
                    time.sleep(answer.hang)
                if answer.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)  # socket.SHUT_RDWR: no status line, no body
                    return
                try:
                    self._send(answer.status, answer.headers, answer.text)
                except OSError:
                    pass  # the client gave up waiting (its timeout) and closed the connection

            def _send(self, status: int, extra: dict[str, str], text: str) -> None:
                payload = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = urlsplit(self.path).path
                if path.startswith("/upload/v1/"):  # a file's bytes, not an API call
                    status, text = server._receive_upload(path[len("/upload/v1/"):], raw)
                    payload = text.encode("utf-8")
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                try:
                    body = _parse_body(raw, self.headers.get("Content-Type", ""))
                except (ValueError, UnicodeDecodeError):
                    self._send(400, {}, json.dumps({"ok": False, "error": "invalid_json"}))
                    return
                query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
                self._serve({**query, **body})

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                query = urlsplit(self.path).query
                self._serve(_parse_body(query.encode("utf-8"), "application/x-www-form-urlencoded"))

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep tests quiet
                pass

        return Handler
