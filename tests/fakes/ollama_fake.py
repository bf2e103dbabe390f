"""A real HTTP server on loopback that speaks Ollama's API (PROTOCOLS.md §3 and §7)::

    with FakeOllama(models=["coder"]) as fake:
        backend = OllamaBackend("homelab", backend_config(kind="ollama", url=fake.url), "local")
        ...
        assert fake.chat_requests[0].json["stream"] is True

Native endpoints: ``GET /`` (``Ollama is running``), ``/api/version``, ``/api/tags``,
``/api/ps`` and NDJSON ``POST /api/chat`` (streams unless ``"stream": false``). Errors are
Ollama's ``{"error": "<string>"}``: 404 for a model that is not pulled (both wordings), 400
for a bad request, 503 when the queue is full, and an error line in the middle of a stream.
The OpenAI-compatible ``/v1/models`` and ``/v1/chat/completions`` are there too, with the
``not_found_error`` object for a model that is not pulled.

Every behaviour is an attribute that may be changed at any time, also while requests run.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
    sse,
)

NDJSON = "application/x-ndjson"
QUEUE_FULL_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
RUNNER_CRASH_MESSAGE = (
    "model runner has unexpectedly stopped, this may be due to resource limitations "
    "or an internal error, check ollama server logs for details"
)
OLD_FORMAT_MESSAGE = (
    "json: cannot unmarshal object into Go struct field ChatRequest.format of type string"
)


def ollama_error(message: str, status: int = 400) -> ErrorSpec:
    """Ollama's error body: ``{"error": "<string>"}`` (application/json)."""
    return (status, json.dumps({"error": message}), JSON, {})


def queue_full() -> ErrorSpec:
    """More requests waiting than ``OLLAMA_MAX_QUEUE``: 503."""
    return ollama_error(QUEUE_FULL_MESSAGE, 503)


def not_found_message(model: str, scheduler: bool = False) -> str:
    """The 404 message for a model that is not pulled (the scheduler path words it otherwise)."""
    if scheduler:
        return f'model "{model}" not found, try pulling it first'
    return f"model '{model}' not found"


_TAG_INFO: dict[str, Any] = {
    "size": 4683087332,
    "digest": "dae161e27b0e",
    "details": {"format": "gguf", "family": "qwen2", "quantization_level": "Q4_K_M"},
}
_METRICS = {"total_duration": 5000000, "load_duration": 1000000, "eval_duration": 3000000}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass(kw_only=True, eq=False)
class FakeOllama(LoopbackFake):
    """An Ollama server on ``127.0.0.1``; ``url`` is its root (``http://127.0.0.1:PORT``).

    Keyword arguments, all also attributes:

    * ``answer`` (default :data:`REVIEW_ANSWER`) or ``answer_fn(body)``: the assistant content;
      ``chunk_size``: characters per streamed line.
    * ``models``: what is pulled (``/api/tags``, ``/v1/models``); a chat for any other model is
      answered 404. ``coder`` and ``coder:latest`` name the same model. ``running``: the models
      ``/api/ps`` lists (default: the first one). ``version``: ``/api/version``.
    * ``scheduler_not_found``: word the 404 as the scheduler does (``try pulling it first``).
    * ``latency_s``: sleep before answering a chat (model load); ``line_delay_s``: sleep
      between streamed lines.
    * ``load_s``: Ollama loading a model on demand: the first chat for a model loads it this
      long (later ones for the same model wait for that load); until then ``/api/ps`` does not
      list it and, with ``ps_holds_while_loading`` (current Ollama), does not answer at all
      until the load ends. Loaded models are ``/api/ps``'s list (none at the start).
    * ``error``: an ``(status, body, content_type, headers)`` answered to chat requests (the
      first ``error_times`` ones if set, else all); see :func:`ollama_error`, :func:`queue_full`.
    * ``mid_stream_error``: after the first piece, the line ``{"error": <this>}``, then the
      stream ends. ``end_early``: the stream ends cleanly after the first piece with no
      ``done: true`` line. ``truncate_stream``: the connection is cut after the first piece.
    * ``non_streaming``: answer one JSON object even to ``"stream": true``.
    * ``old_format``: answer a JSON Schema ``format`` like Ollama < 0.5 (400).

    Records: ``requests``, ``chat_requests`` (``POST /api/chat``), ``v1_chat_requests``,
    ``in_flight``, ``disconnects`` (chats whose client left before the answer ended),
    ``stream_started`` (set when a first piece was written).
    """

    answer: str = REVIEW_ANSWER
    answer_fn: Callable[[dict[str, Any]], str] | None = None
    chunk_size: int = 8
    models: list[str] = field(default_factory=lambda: ["coder"])
    running: list[str] | None = None
    version: str = "0.5.1"
    scheduler_not_found: bool = False
    latency_s: float = 0.0
    line_delay_s: float = 0.0
    error: ErrorSpec | None = None
    error_times: int | None = None
    mid_stream_error: str | None = None
    end_early: bool = False
    truncate_stream: bool = False
    non_streaming: bool = False
    old_format: bool = False
    load_s: float = 0.0
    ps_holds_while_loading: bool = False
    unix_socket: str | None = None
    """Serve on this socket file instead of a loopback port (``url`` is ``unix:PATH``)."""

    loaded: dict[str, float] = field(default_factory=dict, init=False)
    """Model → when its load ends (``load_s``)."""

    def __post_init__(self) -> None:
        LoopbackFake.__init__(self, unix_socket=self.unix_socket)

    # -- records ----------------------------------------------------------------------------

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/api/chat"]

    @property
    def v1_chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    def pulled(self, model: str) -> bool:
        def full(name: str) -> str:
            return name if ":" in name else f"{name}:latest"

        return any(full(m) == full(model) for m in self.models)

    # -- request handling -------------------------------------------------------------------

    def _route(self, handler: FakeHandler, request: RecordedRequest) -> None:
        method, path, body = request.method, request.path, request.json
        read = method in ("GET", "HEAD")
        if read and path == "/":
            self._send(handler, 200, "Ollama is running", TEXT)
        elif read and path == "/api/version":
            self._send(handler, 200, json.dumps({"version": self.version}))
        elif read and path in ("/api/tags", "/api/ps"):
            names = self.models if path == "/api/tags" else self._running(handler)
            self._send(handler, 200, json.dumps({"models": [self._tag(n) for n in names]}))
        elif read and path == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 1746405464, "owned_by": "library"}
                for m in self.models
            ]
            self._send(handler, 200, json.dumps({"object": "list", "data": data}))
        elif method == "POST" and path in ("/api/chat", "/v1/chat/completions"):
            if not request.body:
                self._send(handler, *ollama_error("missing request body"))
            else:
                self._chat(handler, path, body if isinstance(body, dict) else {})
        else:
            self._send(handler, 404, "404 page not found", TEXT)

    def _running(self, handler: FakeHandler) -> list[str]:
        """What ``/api/ps`` lists: ``running``, else the loaded models (with ``load_s``; a
        load in progress may hold the answer back), else the first model."""
        if self.running is not None:
            return self.running
        if self.load_s <= 0:
            return self.models[:1]
        with self._lock:
            loading = [end for end in self.loaded.values() if end > time.monotonic()]
        if loading and self.ps_holds_while_loading:
            self._wait(handler, max(loading) - time.monotonic())
        with self._lock:
            return [m for m, end in self.loaded.items() if end <= time.monotonic()]

    def _load(self, handler: FakeHandler, model: str) -> None:
        """Load ``model`` unless it is loaded, and wait until it is."""
        with self._lock:
            key = model if ":" in model else f"{model}:latest"
            end = self.loaded.setdefault(key, time.monotonic() + self.load_s)
        self._wait(handler, end - time.monotonic())

    @staticmethod
    def _tag(name: str) -> dict[str, Any]:
        full = name if ":" in name else f"{name}:latest"
        return {"name": full, "model": full, "modified_at": _now(), **_TAG_INFO}

    def _chat(self, handler: FakeHandler, path: str, body: dict[str, Any]) -> None:
        with self._answering(handler):
            if path == "/api/chat":
                self._native_chat(handler, body)
            else:
                self._v1_chat(handler, body)

    def _failure(self, body: dict[str, Any]) -> ErrorSpec | None:
        """The error answered to this chat, if any (before anything is streamed)."""
        model = body.get("model")
        if not model:
            return ollama_error("model is required")
        if not self.pulled(str(model)):
            return ollama_error(not_found_message(str(model), self.scheduler_not_found), 404)
        if self.old_format and isinstance(body.get("format"), dict):
            return ollama_error(OLD_FORMAT_MESSAGE)
        return self._scripted_error()

    def _native_chat(self, handler: FakeHandler, body: dict[str, Any]) -> None:
        self._wait(handler, self.latency_s)
        failure = self._failure(body)
        if failure is not None:
            self._send(handler, *failure)
            return
        if self.load_s > 0:
            self._load(handler, str(body["model"]))
        pieces, model = self._pieces(body), str(body["model"])
        prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
        head = {"model": model, "created_at": _now()}
        final = {**head, "message": {"role": "assistant", "content": ""}, "done": True}
        final |= {"done_reason": "stop", "prompt_eval_count": prompt, "eval_count": len(pieces)}
        final |= _METRICS
        if self.non_streaming or body.get("stream") is False:
            whole = {**final, "message": {"role": "assistant", "content": "".join(pieces)}}
            self._send(handler, 200, json.dumps(whole), "application/json; charset=utf-8")
            return
        chunked_head(handler, NDJSON)
        out = ChunkedBody(handler)

        def line(obj: dict[str, Any]) -> None:
            out.write(json.dumps(obj, ensure_ascii=False).encode() + b"\n")  # like Go: raw UTF-8

        for i, piece in enumerate(pieces):
            if i:
                self._wait(handler, self.line_delay_s)
            line({**head, "message": {"role": "assistant", "content": piece}, "done": False})
            self.stream_started.set()
            if self.mid_stream_error is not None:
                line({"error": self.mid_stream_error})
                return out.finish()
            if self.end_early:
                return out.finish()
            if self.truncate_stream:
                return out.cut()
        line(final)
        out.finish()

    def _v1_chat(self, handler: FakeHandler, body: dict[str, Any]) -> None:
        """``/v1/chat/completions``: OpenAI error objects, and answers (SSE when streamed)."""
        failure = self._failure(body)
        if failure is not None:
            status, text, ctype, headers = failure
            with contextlib.suppress(ValueError, TypeError, KeyError):
                kind = {404: "not_found_error", 400: "invalid_request_error"}.get(status)
                err = {"message": json.loads(text)["error"], "type": kind or "api_error"}
                text = json.dumps({"error": {**err, "param": None, "code": None}})
            self._send(handler, status, text, ctype, headers)
            return
        text = "".join(self._pieces(body))
        head = {"id": "chatcmpl-1", "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            self._send(
                handler, 200, json.dumps({**head, "object": "chat.completion", "choices": [choice]})
            )
            return
        head["object"] = "chat.completion.chunk"
        events = [
            {**head, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]},
            {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ]
        stream = b"".join(sse(e) for e in events) + sse("[DONE]")
        self._send(handler, 200, stream, "text/event-stream")
