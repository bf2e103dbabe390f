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
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from tests.fakes.openai_fake import REVIEW_ANSWER, ErrorSpec, RecordedRequest
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
class FakeOllama:
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

    loaded: dict[str, float] = field(default_factory=dict, init=False)
    """Model → when its load ends (``load_s``)."""
    stream_started: threading.Event = field(default_factory=threading.Event, init=False)
    in_flight: int = field(default=0, init=False)
    disconnects: int = field(default=0, init=False)
    errors_sent: int = field(default=0, init=False)
    _requests: list[RecordedRequest] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _closing: threading.Event = field(default_factory=threading.Event, init=False)
    _server: FakeHTTPServer | None = field(default=None, init=False)

    # -- lifecycle and records --------------------------------------------------------------

    def __enter__(self) -> FakeOllama:
        self._server = serve(self)
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
        assert self._server is not None, "use FakeOllama as a context manager"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/api/chat"]

    @property
    def v1_chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 2.0) -> bool:
        """Poll ``predicate`` until it holds or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not predicate():
            time.sleep(0.01)
        return predicate()

    def pulled(self, model: str) -> bool:
        def full(name: str) -> str:
            return name if ":" in name else f"{name}:latest"

        return any(full(m) == full(model) for m in self.models)

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
            self._route(handler, method, path, raw, body)
        except (BrokenPipeError, ConnectionResetError, ClientGone):
            handler.close_connection = True

    def _route(self, handler: FakeHandler, method: str, path: str, raw: bytes, body: Any) -> None:
        read = method in ("GET", "HEAD")
        if read and path == "/":
            send(handler, 200, "Ollama is running", TEXT)
        elif read and path == "/api/version":
            send(handler, 200, json.dumps({"version": self.version}))
        elif read and path in ("/api/tags", "/api/ps"):
            names = self.models if path == "/api/tags" else self._running(handler)
            send(handler, 200, json.dumps({"models": [self._tag(n) for n in names]}))
        elif read and path == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 1746405464, "owned_by": "library"}
                for m in self.models
            ]
            send(handler, 200, json.dumps({"object": "list", "data": data}))
        elif method == "POST" and path in ("/api/chat", "/v1/chat/completions"):
            if not raw:
                send(handler, *ollama_error("missing request body"))
            else:
                self._chat(handler, path, body if isinstance(body, dict) else {})
        else:
            send(handler, 404, "404 page not found", TEXT)

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
            wait_or_gone(handler, max(loading) - time.monotonic(), self._closing)
        with self._lock:
            return [m for m, end in self.loaded.items() if end <= time.monotonic()]

    def _load(self, handler: FakeHandler, model: str) -> None:
        """Load ``model`` unless it is loaded, and wait until it is."""
        with self._lock:
            key = model if ":" in model else f"{model}:latest"
            end = self.loaded.setdefault(key, time.monotonic() + self.load_s)
        if (left := end - time.monotonic()) > 0:
            wait_or_gone(handler, left, self._closing)

    @staticmethod
    def _tag(name: str) -> dict[str, Any]:
        full = name if ":" in name else f"{name}:latest"
        return {"name": full, "model": full, "modified_at": _now(), **_TAG_INFO}

    def _chat(self, handler: FakeHandler, path: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.in_flight += 1
        try:
            if path == "/api/chat":
                self._native_chat(handler, body)
            else:
                self._v1_chat(handler, body)
        except (BrokenPipeError, ConnectionResetError, ClientGone):
            with self._lock:
                self.disconnects += 1
            raise
        finally:
            with self._lock:
                self.in_flight -= 1

    def _failure(self, body: dict[str, Any]) -> ErrorSpec | None:
        """The error answered to this chat, if any (before anything is streamed)."""
        model = body.get("model")
        if not model:
            return ollama_error("model is required")
        if not self.pulled(str(model)):
            return ollama_error(not_found_message(str(model), self.scheduler_not_found), 404)
        if self.old_format and isinstance(body.get("format"), dict):
            return ollama_error(OLD_FORMAT_MESSAGE)
        if self.error is not None:
            with self._lock:
                use = self.error_times is None or self.errors_sent < self.error_times
                self.errors_sent += int(use)
            if use:
                return self.error
        return None

    def _pieces(self, body: dict[str, Any]) -> list[str]:
        answer = self.answer_fn(body) if self.answer_fn is not None else self.answer
        size = max(1, self.chunk_size)
        return [answer[i : i + size] for i in range(0, len(answer), size)]

    def _native_chat(self, handler: FakeHandler, body: dict[str, Any]) -> None:
        if self.latency_s > 0:
            wait_or_gone(handler, self.latency_s, self._closing)
        failure = self._failure(body)
        if failure is not None:
            send(handler, *failure)
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
            send(handler, 200, json.dumps(whole), "application/json; charset=utf-8")
            return
        handler.send_response(200)
        handler.send_header("Content-Type", NDJSON)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

        def line(obj: dict[str, Any]) -> None:
            data = json.dumps(obj, ensure_ascii=False).encode() + b"\n"  # like Go: raw UTF-8
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            handler.wfile.flush()

        def end() -> None:
            with contextlib.suppress(OSError):  # the answer is complete: leaving is no disconnect
                handler.wfile.write(b"0\r\n\r\n")
                handler.wfile.flush()

        for i, piece in enumerate(pieces):
            if i and self.line_delay_s > 0:
                wait_or_gone(handler, self.line_delay_s, self._closing)
            line({**head, "message": {"role": "assistant", "content": piece}, "done": False})
            self.stream_started.set()
            if self.mid_stream_error is not None:
                line({"error": self.mid_stream_error})
                return end()
            if self.end_early:
                return end()
            if self.truncate_stream:
                handler.close_connection = True
                with contextlib.suppress(OSError):
                    handler.connection.shutdown(socket.SHUT_RDWR)
                return
        line(final)
        end()

    def _v1_chat(self, handler: FakeHandler, body: dict[str, Any]) -> None:
        """``/v1/chat/completions``: OpenAI error objects, and answers (SSE when streamed)."""
        failure = self._failure(body)
        if failure is not None:
            status, text, ctype, headers = failure
            with contextlib.suppress(ValueError, TypeError, KeyError):
                kind = {404: "not_found_error", 400: "invalid_request_error"}.get(status)
                err = {"message": json.loads(text)["error"], "type": kind or "api_error"}
                text = json.dumps({"error": {**err, "param": None, "code": None}})
            send(handler, status, text, ctype, headers)
            return
        text = "".join(self._pieces(body))
        head = {"id": "chatcmpl-1", "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            send(
                handler, 200, json.dumps({**head, "object": "chat.completion", "choices": [choice]})
            )
            return
        head["object"] = "chat.completion.chunk"
        events = [
            {**head, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]},
            {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ]
        stream = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        send(handler, 200, stream, "text/event-stream")
