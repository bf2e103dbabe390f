"""A real HTTP server on loopback that speaks Anthropic's Messages API (PROTOCOLS.md §6).

::

    with FakeAnthropic() as fake:
        backend = AnthropicBackend("claude", backend_config(kind="anthropic", url=fake.url),
                                   "cloud", env={"ANTHROPIC_API_KEY": FAKE_KEY})
        ...
        assert fake.message_requests[0].json["stream"] is True

It checks what the real API checks first: ``x-api-key`` (401 ``authentication_error`` when it
is not :attr:`FakeAnthropic.api_key`), ``anthropic-version`` (400 when missing), ``max_tokens``
and no ``system`` role inside ``messages`` (400 ``invalid_request_error``). Every behaviour is
an attribute that may be changed at any time. Errors are ``(status, body, content_type,
extra_headers)`` tuples built by :func:`anthropic_error`; :data:`ERROR_SHAPES` names each one.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

# The generic server plumbing (a threading server whose handler calls ``fake._handle``).
from tests.fakes.openai_fake import ErrorSpec, RecordedRequest
from tests.fakes.server import (
    JSON,
    TEXT,
    ClientGone,
    FakeHandler,
    FakeHTTPServer,
    send,
    serve,
    stop,
    wait_or_gone,
)

FAKE_KEY = "sk-ant-api03-localroute-fake-0123456789abcdef"
"""The key the fake accepts by default (not a real key)."""

MODELS = ["claude-haiku-4-5", "claude-sonnet-4-5"]


def anthropic_error(
    status: int, type_: str, message: str, headers: dict[str, str] | None = None
) -> ErrorSpec:
    """Anthropic's error shape: ``{"type":"error","error":{"type","message"}}``."""
    body = {"type": "error", "error": {"type": type_, "message": message}}
    return (status, json.dumps(body), JSON, dict(headers or {}))


ERROR_SHAPES: dict[str, ErrorSpec] = {
    "invalid_request": anthropic_error(
        400, "invalid_request_error", "messages: text content blocks must be non-empty"
    ),
    "authentication": anthropic_error(401, "authentication_error", "invalid x-api-key"),
    "permission": anthropic_error(
        403, "permission_error", "Your API key does not have permission to use the model."
    ),
    "not_found": anthropic_error(404, "not_found_error", "model: claude-nope"),
    "rate_limit": anthropic_error(
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit",
        {"retry-after": "7", "anthropic-ratelimit-requests-remaining": "0"},
    ),
    "api_error": anthropic_error(500, "api_error", "Internal server error"),
    "overloaded": anthropic_error(529, "overloaded_error", "Overloaded"),
}
"""Every status and error type of PROTOCOLS.md §6, by name."""

OVERLOADED_EVENT: dict[str, str] = {"type": "overloaded_error", "message": "Overloaded"}
"""The ``error`` object of a typical mid-stream ``event: error``."""


class FakeAnthropic:
    """The Messages API on ``127.0.0.1``; ``url`` is the root (``/v1/messages`` is appended).

    Attributes (also keyword arguments):

    * ``answer`` / ``answer_fn(body)``: the assistant text; ``chunk_size`` characters per
      ``text_delta``; ``chunk_delay_s`` between events; ``latency_s`` before the answer.
    * ``pings``: ``event: ping`` after ``message_start`` and between the deltas.
    * ``input_tokens``: ``message_start`` usage; output tokens are the number of deltas.
    * ``non_streaming``: answer one ``message`` JSON document even to ``stream: true``.
    * ``error``: an :data:`ErrorSpec` answered to ``POST /v1/messages`` (the first
      ``error_times`` ones when set, else all); ``models_error`` the same for ``/v1/models``.
    * ``mid_stream_error``: an error object sent as ``event: error`` after the first delta, then
      the stream ends; ``stop_early``: the stream ends cleanly after the first delta, without
      ``message_delta``/``message_stop``.
    * ``api_key``: the accepted ``x-api-key``; ``models``: ids listed by ``/v1/models``.

    Records: ``requests``, ``message_requests``, ``disconnects`` (clients that left before an
    answer ended), ``in_flight``, ``stream_started`` (set at the first delta).
    """

    def __init__(
        self,
        *,
        answer: str = '{"findings": []}',
        answer_fn: Callable[[dict[str, Any]], str] | None = None,
        chunk_size: int = 8,
        chunk_delay_s: float = 0.0,
        latency_s: float = 0.0,
        pings: bool = True,
        input_tokens: int = 21,
        non_streaming: bool = False,
        error: ErrorSpec | None = None,
        error_times: int | None = None,
        models_error: ErrorSpec | None = None,
        mid_stream_error: dict[str, Any] | None = None,
        stop_early: bool = False,
        api_key: str = FAKE_KEY,
        models: list[str] | None = None,
    ) -> None:
        self.answer = answer
        self.answer_fn = answer_fn
        self.chunk_size = chunk_size
        self.chunk_delay_s = chunk_delay_s
        self.latency_s = latency_s
        self.pings = pings
        self.input_tokens = input_tokens
        self.non_streaming = non_streaming
        self.error = error
        self.error_times = error_times
        self.models_error = models_error
        self.mid_stream_error = mid_stream_error
        self.stop_early = stop_early
        self.api_key = api_key
        self.models = list(models) if models is not None else list(MODELS)

        self.stream_started = threading.Event()
        self.in_flight = 0
        self.disconnects = 0
        self.errors_sent = 0
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: FakeHTTPServer | None = None
        self._port = 0

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> FakeAnthropic:
        self._server = serve(self)
        self._port = self._server.server_address[1]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        stop(self._server)
        self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # -- records ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/v1/messages"]

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 2.0) -> bool:
        """Poll ``predicate`` until it holds or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not predicate():
            time.sleep(0.01)
        return predicate()

    # -- request handling -------------------------------------------------------------------

    def _handle(self, handler: FakeHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = handler.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self._requests.append(RecordedRequest(method, path, headers, body, raw))
        try:
            if headers.get("x-api-key") != self.api_key:
                send(handler, *ERROR_SHAPES["authentication"])
            elif not headers.get("anthropic-version"):
                message = "anthropic-version: header is required"
                send(handler, *anthropic_error(400, "invalid_request_error", message))
            elif method == "GET" and path == "/v1/models":
                self._models(handler)
            elif method == "POST" and path == "/v1/messages":
                self._messages(handler, body if isinstance(body, dict) else {})
            else:
                send(handler, 404, "404 page not found", TEXT)
        except (BrokenPipeError, ConnectionResetError, ClientGone):
            handler.close_connection = True

    def _models(self, handler: FakeHandler) -> None:
        if self.models_error is not None:
            send(handler, *self.models_error)
            return
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-10-01T00:00:00Z"}
            for m in self.models
        ]
        first, last = (self.models[0], self.models[-1]) if self.models else (None, None)
        doc = {"data": data, "has_more": False, "first_id": first, "last_id": last}
        send(handler, 200, json.dumps(doc))

    def _invalid(self, body: dict[str, Any]) -> str | None:
        if not isinstance(body.get("max_tokens"), int):
            return "max_tokens: Field required"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages: Field required"
        roles = {m.get("role") for m in messages if isinstance(m, dict)}
        if not roles <= {"user", "assistant"}:
            return 'messages: Unexpected role "system". Use the top-level `system` parameter.'
        return None

    def _messages(self, handler: FakeHandler, body: dict[str, Any]) -> None:
        with self._lock:
            self.in_flight += 1
        try:
            if self.latency_s > 0:
                wait_or_gone(handler, self.latency_s, self._closing)
            self._answer(handler, body)
        except (BrokenPipeError, ConnectionResetError, ClientGone):
            with self._lock:
                self.disconnects += 1
            raise
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, handler: FakeHandler, body: dict[str, Any]) -> None:
        with self._lock:
            use = self.error is not None and (
                self.error_times is None or self.errors_sent < self.error_times
            )
            self.errors_sent += int(use)
        if self.error is not None and use:
            send(handler, *self.error)
            return
        invalid = self._invalid(body)
        if invalid:
            send(handler, *anthropic_error(400, "invalid_request_error", invalid))
            return
        text = self.answer_fn(body) if self.answer_fn is not None else self.answer
        size = max(1, self.chunk_size)
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        model = str(body.get("model") or "unknown")
        usage = {"input_tokens": self.input_tokens, "output_tokens": len(pieces)}
        if self.non_streaming or not body.get("stream"):
            doc = {
                "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                "stop_sequence": None, "usage": usage,
            }  # fmt: skip
            send(handler, 200, json.dumps(doc))
            return
        self._stream(handler, model, pieces, usage)

    def _stream(
        self, handler: FakeHandler, model: str, pieces: list[str], usage: dict[str, int]
    ) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

        def raw(data: bytes) -> None:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            handler.wfile.flush()

        def event(name: str, payload: dict[str, Any]) -> None:
            raw(f"event: {name}\ndata: {json.dumps({'type': name, **payload})}\n\n".encode())

        def pause() -> None:
            if self.chunk_delay_s > 0:
                wait_or_gone(handler, self.chunk_delay_s, self._closing)
            if self.pings:
                event("ping", {})

        start_usage = {"input_tokens": usage["input_tokens"], "output_tokens": 1}
        message = {"id": "msg_fake", "type": "message", "role": "assistant", "content": [],
                   "model": model, "stop_reason": None, "stop_sequence": None,
                   "usage": start_usage}  # fmt: skip
        event("message_start", {"message": message})
        pause()
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        for i, piece in enumerate(pieces):
            if i:
                pause()
            text_delta = {"type": "text_delta", "text": piece}
            event("content_block_delta", {"index": 0, "delta": text_delta})
            self.stream_started.set()
            if self.mid_stream_error is not None or self.stop_early:
                if self.mid_stream_error is not None:
                    event("error", {"error": self.mid_stream_error})
                raw(b"")
                handler.close_connection = True
                return
        event("content_block_stop", {"index": 0})
        pause()
        delta = {"stop_reason": "end_turn", "stop_sequence": None}
        event("message_delta", {"delta": delta, "usage": {"output_tokens": usage["output_tokens"]}})
        event("message_stop", {})
        with contextlib.suppress(OSError):  # complete: a client leaving now is no disconnect
            raw(b"")
