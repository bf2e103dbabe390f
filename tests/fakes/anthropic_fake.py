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

import json
from collections.abc import Callable
from typing import Any

from tests.fakes.server import (
    JSON,
    REVIEW_ANSWER,
    TEXT,
    ChunkedBody,
    ErrorSpec,
    FakeHandler,
    LoopbackFake,
    RecordedRequest,
    chunked_head,
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


class FakeAnthropic(LoopbackFake):
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
        answer: str = REVIEW_ANSWER,
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
        super().__init__()
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

    # -- records ----------------------------------------------------------------------------

    @property
    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/v1/messages"]

    # -- request handling -------------------------------------------------------------------

    def _route(self, handler: FakeHandler, request: RecordedRequest) -> None:
        method, path, headers, body = request.method, request.path, request.headers, request.json
        if headers.get("x-api-key") != self.api_key:
            self._send(handler, *ERROR_SHAPES["authentication"])
        elif not headers.get("anthropic-version"):
            message = "anthropic-version: header is required"
            self._send(handler, *anthropic_error(400, "invalid_request_error", message))
        elif method == "GET" and path == "/v1/models":
            self._models(handler)
        elif method == "POST" and path == "/v1/messages":
            self._messages(handler, body if isinstance(body, dict) else {})
        else:
            self._send(handler, 404, "404 page not found", TEXT)

    def _models(self, handler: FakeHandler) -> None:
        if self.models_error is not None:
            self._send(handler, *self.models_error)
            return
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-10-01T00:00:00Z"}
            for m in self.models
        ]
        first, last = (self.models[0], self.models[-1]) if self.models else (None, None)
        doc = {"data": data, "has_more": False, "first_id": first, "last_id": last}
        self._send(handler, 200, json.dumps(doc))

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
        with self._answering(handler):
            self._wait(handler, self.latency_s)
            self._answer(handler, body)

    def _answer(self, handler: FakeHandler, body: dict[str, Any]) -> None:
        error = self._scripted_error()
        if error is not None:
            self._send(handler, *error)
            return
        invalid = self._invalid(body)
        if invalid:
            self._send(handler, *anthropic_error(400, "invalid_request_error", invalid))
            return
        pieces = self._pieces(body)
        text = "".join(pieces)
        model = str(body.get("model") or "unknown")
        usage = {"input_tokens": self.input_tokens, "output_tokens": len(pieces)}
        if self.non_streaming or not body.get("stream"):
            doc = {
                "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                "stop_sequence": None, "usage": usage,
            }  # fmt: skip
            self._send(handler, 200, json.dumps(doc))
            return
        self._stream(handler, model, pieces, usage)

    def _stream(
        self, handler: FakeHandler, model: str, pieces: list[str], usage: dict[str, int]
    ) -> None:
        chunked_head(handler, "text/event-stream; charset=utf-8", [("Cache-Control", "no-cache")])
        out = ChunkedBody(handler)

        def event(name: str, payload: dict[str, Any]) -> None:
            out.event({"type": name, **payload}, name)

        def pause() -> None:
            self._wait(handler, self.chunk_delay_s)
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
                out.end()
                handler.close_connection = True
                return
        event("content_block_stop", {"index": 0})
        pause()
        delta = {"stop_reason": "end_turn", "stop_sequence": None}
        event("message_delta", {"delta": delta, "usage": {"output_tokens": usage["output_tokens"]}})
        event("message_stop", {})
        out.finish()
