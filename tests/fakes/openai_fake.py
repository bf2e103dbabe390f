"""A real HTTP server on loopback that speaks the OpenAI / llama-swap / llama.cpp protocol.

It follows /work/shared/PROTOCOLS.md (sections 1, 2, 3, 6, 7, 8) and records what it gets::

    with FakeOpenAI(latency_s=0.1) as fake:
        backend = OpenAIBackend("local", backend_config(kind="openai", url=fake.url), "local")
        ...
        assert fake.chat_requests[0].json["stream"] is True

Every behaviour is an attribute that may be changed at any time, also while requests run.
Errors for chat requests are ``(status, body, content_type, extra_headers)`` tuples; the helper
functions below build each shape the protocols use, and :data:`ERROR_SHAPES` names a typical
case of each.

:class:`BlackHole` is a loopback port that never completes a TCP handshake (connect timeouts).

Run standalone for benchmarks: ``python -m tests.fakes.openai_fake --port 8080 --latency 0.3``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

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

ErrorSpec = tuple[int, str, str, dict[str, str]]
"""``(status, body, content_type, extra_headers)`` answered to chat requests."""

REVIEW_ANSWER = '{"findings": []}'


# -- error shapes (PROTOCOLS.md §1, §2, §3, §4, §6, §8) ----------------------------------------

LLAMA_CPP_PYTHON_JSON_SCHEMA_REJECTION = json.dumps(
    {
        "error": {
            "message": "1 validation error: ... Input should be 'text' or 'json_object' ...",
            "type": "internal_server_error",
        }
    }
)
"""llama-cpp-python 0.3.x answers ``response_format: {"type": "json_schema"}`` with HTTP 500 and
this body (PROTOCOLS.md §8, verbatim)."""


def text_error(status: int, message: str, headers: dict[str, str] | None = None) -> ErrorSpec:
    """A plain-text body: llama-swap v170, Copilot 403/429, proxies."""
    return (status, message, TEXT, dict(headers or {}))


def llamaswap_v170(
    message: str = "could not find real modelID for coder", status: int = 400
) -> ErrorSpec:
    """llama-swap v170: plain text (v170 sends JSON only to ``Accept: application/json``)."""
    return text_error(status, message)


def error_string(message: str, status: int = 400) -> ErrorSpec:
    """``{"error":"msg"}``: llama-swap v170 with ``Accept: application/json``, native Ollama."""
    return (status, json.dumps({"error": message}), JSON, {})


def llamaswap_src_string(
    message: str = "could not find real modelID for coder", status: int = 400
) -> ErrorSpec:
    """llama-swap after v170, before #1038: ``{"src":"llama-swap","error":"msg"}``."""
    return (status, json.dumps({"src": "llama-swap", "error": message}), JSON, {})


def llamaswap_object(
    message: str = "no router for requested model",
    status: int = 404,
    type_: str = "invalid_request_error",
    code: str = "not_found",
    headers: dict[str, str] | None = None,
) -> ErrorSpec:
    """Current llama-swap (#1038): ``{"src":"llama-swap","error":{message,type,param,code}}``."""
    body = {
        "src": "llama-swap",
        "error": {"message": message, "type": type_, "param": None, "code": code},
    }
    return (status, json.dumps(body), JSON, dict(headers or {}))


def llamacpp_error(
    message: str = "Loading model", status: int = 503, type_: str = "unavailable_error"
) -> ErrorSpec:
    """llama.cpp ``llama-server``: ``{"error":{"code","message","type"}}``."""
    body = {"error": {"code": status, "message": message, "type": type_}}
    return (status, json.dumps(body), JSON, {})


def openai_error(
    message: str,
    status: int = 400,
    type_: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> ErrorSpec:
    """OpenAI (and Copilot): ``{"error":{"message","type","param","code"}}``."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return (status, json.dumps(body), JSON, dict(headers or {}))


def ollama_v1_not_found(model: str = "coder") -> ErrorSpec:
    """Ollama ``/v1`` for a model that was not pulled."""
    return openai_error(f"model '{model}' not found", 404, "not_found_error")


def google_error(
    message: str = "Invalid JSON payload received.",
    status: int = 400,
    status_name: str = "INVALID_ARGUMENT",
    *,
    array: bool = False,
    details: list[dict[str, Any]] | None = None,
) -> ErrorSpec:
    """Gemini's OpenAI-compatible endpoint: ``{"error":{"code","message","status"}}``,
    optionally wrapped in a JSON array."""
    error: dict[str, Any] = {"code": status, "message": message, "status": status_name}
    if details is not None:
        error["details"] = details
    body: Any = [{"error": error}] if array else {"error": error}
    return (status, json.dumps(body), JSON, {})


def rate_limited(retry_after: str = "1") -> ErrorSpec:
    """Current llama-swap over ``concurrencyLimit``: 429, ``Retry-After: 1``."""
    return llamaswap_object(
        "Too many requests",
        429,
        "rate_limit_error",
        "concurrency_limit",
        headers={"Retry-After": retry_after},
    )


def html_error(status: int = 502, title: str = "502 Bad Gateway") -> ErrorSpec:
    """An HTML error page (a reverse proxy, or llama-swap with ``Accept: text/html``)."""
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>"
    )
    return (status, body, "text/html", {})


ERROR_SHAPES: dict[str, ErrorSpec] = {
    "llamaswap_v170_unknown_model": llamaswap_v170(),
    "llamaswap_v170_load_failed": llamaswap_v170(
        "unable to start process: health check timed out after 120s", 502
    ),
    "llamaswap_v170_stopping": llamaswap_v170(
        "Process can not ProxyRequest, state is stopping", 503
    ),
    "error_string_unknown_model": error_string("could not find real modelID for coder"),
    "ollama_native_not_found": error_string("model 'coder' not found", 404),
    "llamaswap_src_string_unknown_model": llamaswap_src_string(),
    "llamaswap_object_unknown_model": llamaswap_object(),
    "llamaswap_object_load_failed": llamaswap_object(
        "unspecific error: upstream command exited prematurely", 500, "server_error", "server_error"
    ),
    "llamaswap_object_not_ready": llamaswap_object(
        "[coder] process is not ready", 503, "server_error", "service_unavailable"
    ),
    "llamaswap_429": rate_limited(),
    "llamacpp_loading": llamacpp_error(),
    "llamacpp_exceed_context": llamacpp_error(
        "the request exceeds the available context size, try increasing it",
        400,
        "exceed_context_size_error",
    ),
    "llamacpp_auth": llamacpp_error("Invalid API Key", 401, "authentication_error"),
    "openai_invalid_key": openai_error(
        "Incorrect API key provided: sk-te****. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        401,
        "invalid_request_error",
        "invalid_api_key",
    ),
    "openai_model_not_found": openai_error(
        "The model `coder` does not exist or you do not have access to it.",
        404,
        "invalid_request_error",
        "model_not_found",
    ),
    "openai_server_error": openai_error(
        "The server had an error while processing your request. Sorry about that!",
        500,
        "server_error",
    ),
    "copilot_model_not_supported": openai_error(
        "The requested model is not supported.",
        400,
        "invalid_request_error",
        "model_not_supported",
        "model",
    ),
    "copilot_forbidden_text": text_error(
        403, "Access to this endpoint is forbidden. Please review our Terms of Service"
    ),
    "ollama_v1_not_found": ollama_v1_not_found(),
    "google_invalid_argument": google_error(),
    "google_array_unavailable": google_error(
        "The model is overloaded. Please try again later.", 503, "UNAVAILABLE", array=True
    ),
    "google_array_exhausted": google_error(
        "Resource has been exhausted (e.g. check quota).",
        429,
        "RESOURCE_EXHAUSTED",
        array=True,
        details=[{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}],
    ),
    "html_bad_gateway": html_error(),
}
"""One typical case of every error shape, by name."""


# -- the server ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    json: Any
    """The decoded JSON body, or None."""
    body: bytes = b""


@dataclass
class _Stream:
    """Writes one chunked ``text/event-stream`` answer."""

    handler: FakeHandler
    fake: FakeOpenAI

    def raw(self, data: bytes) -> None:
        self.handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.handler.wfile.flush()

    def event(self, payload: Any) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        prefix = "event: message\n" if self.fake.event_lines else ""
        self.raw(f"{prefix}data: {text}\n\n".encode())

    def pause(self) -> None:
        if self.fake.chunk_delay_s > 0:
            self.fake._wait(self.handler, self.fake.chunk_delay_s)
        if self.fake.ping_comments:
            self.raw(b": ping\n\n")


class FakeOpenAI:
    """An OpenAI-compatible server on ``127.0.0.1`` (llama-swap / llama.cpp flavoured).

    Use as a context manager; ``url`` is ``http://127.0.0.1:PORT/v1``, ``root`` the same
    without ``/v1``. All keyword arguments are also attributes, settable at any time:

    * ``answer``: the assistant content (default :data:`REVIEW_ANSWER`); ``answer_fn(body)``
      computes it from the request's JSON body instead.
    * ``latency_s``: sleep before answering a chat request (model switch); ``chunk_delay_s``:
      sleep between streamed pieces; ``chunk_size``: characters per piece.
    * ``health``: ``"ok"`` (llama-swap: 200 text ``OK``), ``"llamacpp"`` (200
      ``{"status":"ok"}``), ``"loading"`` (llama.cpp 503 JSON), ``"missing"`` (404, like
      llama-cpp-python); ``health_latency_s``: sleep before answering ``/health``.
    * ``models``: ids for ``/v1/models``; ``model_aliases`` (id → aliases, in llama-swap's
      ``meta.llamaswap.aliases``); ``n_ctx_train`` (llama.cpp's ``meta.n_ctx_train``);
      ``model_status`` (llama-swap's ``status.value``, None = v170 without ``status``).
    * ``reject_json_schema``: answer ``response_format.type == "json_schema"`` with HTTP 500 and
      llama-cpp-python's body; ``reject_forms``: structured forms (``json_schema``,
      ``json_object+schema``, ``json_object``) answered with a llama.cpp-style 400.
    * ``error``: an :data:`ErrorSpec` answered to chat requests (the first ``error_times``
      ones if that is set, else all).
    * ``api_key``: when set, every endpoint but ``/health`` wants ``Authorization: Bearer <key>``
      and answers llama-swap's 401 otherwise.
    * ``mid_stream_error``: ``data: {"error": <this>}`` after the first content piece, then the
      stream ends; ``truncate_stream``: the connection is closed after the first piece without
      ending the chunked body.
    * ``ping_comments`` (``: ping`` between pieces), ``event_lines`` (``event: message`` before
      each ``data:``), ``loading_chunks`` (llama-swap loading-state chunks: ``reasoning_content``,
      no ``id``/``object``/``model``), ``reasoning_chunks`` (``reasoning`` deltas),
      ``empty_choices_chunks`` (``choices: []``), ``usage`` (final ``choices: []`` chunk with
      ``usage`` when ``stream_options.include_usage``), ``send_done`` (``data: [DONE]``),
      ``non_streaming`` (answer ``application/json`` even to ``stream: true``).
    * ``load_s``: llama-swap starting the model on the first chat request (again after
      :meth:`unload`): every chat waits until it is loaded, ``/running`` lists it as
      ``starting`` meanwhile and ``ready`` afterwards (nothing before the first request).
      With ``send_loading_state`` (llama-swap's ``sendLoadingState``) a streamed answer
      starts at once, with llama-swap's loading chunks every ``loading_tick_s`` (its text,
      ``reasoning_content`` deltas in chunks with no ``id``), then the model's own chunks.

    Records: ``requests`` (every request), ``chat_requests`` (``POST .../chat/completions``),
    ``max_in_flight`` / ``in_flight`` (concurrent chat requests), ``disconnects`` (chat
    requests whose client closed the connection before the answer ended, during the latency
    sleep or mid-stream), ``stream_started`` (set once the first content piece of any stream
    was written), ``loads`` (model loads started), ``loading_started`` (set when a client got
    a first loading chunk).
    """

    def __init__(
        self,
        *,
        answer: str = REVIEW_ANSWER,
        answer_fn: Callable[[dict[str, Any]], str] | None = None,
        latency_s: float = 0.0,
        chunk_delay_s: float = 0.0,
        chunk_size: int = 8,
        health: str = "ok",
        health_latency_s: float = 0.0,
        models: list[str] | None = None,
        model_aliases: dict[str, list[str]] | None = None,
        n_ctx_train: int | None = None,
        model_status: str | None = None,
        reject_json_schema: bool = False,
        reject_forms: set[str] | None = None,
        error: ErrorSpec | None = None,
        error_times: int | None = None,
        api_key: str | None = None,
        mid_stream_error: Any = None,
        truncate_stream: bool = False,
        ping_comments: bool = False,
        event_lines: bool = False,
        loading_chunks: int = 0,
        reasoning_chunks: int = 0,
        empty_choices_chunks: int = 0,
        usage: bool = True,
        send_done: bool = True,
        non_streaming: bool = False,
        load_s: float = 0.0,
        send_loading_state: bool = False,
        loading_tick_s: float = 0.75,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.answer = answer
        self.answer_fn = answer_fn
        self.latency_s = latency_s
        self.chunk_delay_s = chunk_delay_s
        self.chunk_size = chunk_size
        self.health = health
        self.health_latency_s = health_latency_s
        self.models = list(models) if models is not None else ["coder"]
        self.model_aliases = dict(model_aliases or {})
        self.n_ctx_train = n_ctx_train
        self.model_status = model_status
        self.reject_json_schema = reject_json_schema
        self.reject_forms = set(reject_forms or ())
        self.error = error
        self.error_times = error_times
        self.api_key = api_key
        self.mid_stream_error = mid_stream_error
        self.truncate_stream = truncate_stream
        self.ping_comments = ping_comments
        self.event_lines = event_lines
        self.loading_chunks = loading_chunks
        self.reasoning_chunks = reasoning_chunks
        self.empty_choices_chunks = empty_choices_chunks
        self.usage = usage
        self.send_done = send_done
        self.non_streaming = non_streaming
        self.load_s = load_s
        self.send_loading_state = send_loading_state
        self.loading_tick_s = loading_tick_s

        self.stream_started = threading.Event()
        self.loading_started = threading.Event()
        self.loads = 0
        self._loaded_at: float | None = None
        """When the model is (or was) loaded; None: not started."""
        self.in_flight = 0
        self.max_in_flight = 0
        self.disconnects = 0
        self.errors_sent = 0
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._host = host
        self._port = port
        self._server: FakeHTTPServer | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        self._server = serve(self, self._host, self._port)
        self._port = self._server.server_address[1]
        return self

    def close(self) -> None:
        self._closing.set()
        stop(self._server)
        self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def port(self) -> int:
        return self._port

    @property
    def root(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def url(self) -> str:
        return f"{self.root}/v1"

    # -- records ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [
            r for r in self.requests if r.method == "POST" and r.path.endswith("/chat/completions")
        ]

    def reset_records(self) -> None:
        with self._lock:
            self._requests.clear()
            self.max_in_flight = 0
            self.disconnects = 0
            self.errors_sent = 0
        self.stream_started.clear()

    def unload(self) -> None:
        """Unload the model (llama-swap's ``/unload``): the next chat loads it again."""
        with self._lock:
            self._loaded_at = None
        self.loading_started.clear()

    def model_state(self) -> str | None:
        """``starting``, ``ready``, or None before the first request (``load_s`` only)."""
        with self._lock:
            loaded_at = self._loaded_at
        if loaded_at is None:
            return None
        return "starting" if time.monotonic() < loaded_at else "ready"

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 2.0) -> bool:
        """Poll ``predicate`` until it holds or ``timeout_s`` passes (for thread-side effects)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return predicate()

    # -- request handling -------------------------------------------------------------------

    def _wait(self, handler: FakeHandler, seconds: float) -> None:
        wait_or_gone(handler, seconds, self._closing)

    def _send(
        self,
        handler: FakeHandler,
        status: int,
        body: str | bytes,
        content_type: str = JSON,
        headers: dict[str, str] | None = None,
    ) -> None:
        send(handler, status, body, content_type, headers)

    def _handle(self, handler: FakeHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = handler.path.split("?", 1)[0]
        record = RecordedRequest(
            method, path, {k.lower(): v for k, v in handler.headers.items()}, body, raw
        )
        with self._lock:
            self._requests.append(record)
        try:
            if path in ("/health", "/v1/health"):
                self._health(handler)
            elif self.api_key and handler.headers.get("Authorization") != f"Bearer {self.api_key}":
                self._send(
                    handler,
                    401,
                    "unauthorized",
                    TEXT,
                    {"WWW-Authenticate": 'Basic realm="llama-swap"'},
                )
            elif method == "GET" and path in ("/v1/models", "/models"):
                self._send(handler, 200, json.dumps(self._models_body()))
            elif method == "GET" and path == "/running":
                state = self.model_state() if self.load_s > 0 else "ready"
                running = [{"model": m, "state": state} for m in self.models[:1] if state]
                self._send(handler, 200, json.dumps({"running": running}))
            elif method == "POST" and path in ("/v1/chat/completions", "/chat/completions"):
                self._chat(handler, body if isinstance(body, dict) else {})
            else:
                self._send(handler, 404, "404 page not found", TEXT)
        except (BrokenPipeError, ConnectionResetError, ClientGone):
            handler.close_connection = True

    def _health(self, handler: FakeHandler) -> None:
        if self.health_latency_s > 0:
            self._wait(handler, self.health_latency_s)
        if self.health == "ok":
            self._send(handler, 200, "OK", TEXT)
        elif self.health == "llamacpp":
            self._send(handler, 200, json.dumps({"status": "ok"}))
        elif self.health == "loading":
            status, body, ctype, headers = llamacpp_error()
            self._send(handler, status, body, ctype, headers)
        else:
            self._send(handler, 404, json.dumps({"detail": "Not Found"}))

    def _models_body(self) -> dict[str, Any]:
        data: list[dict[str, Any]] = []
        for model in self.models:
            item: dict[str, Any] = {
                "id": model,
                "object": "model",
                "created": 1760000000,
                "owned_by": "llama-swap",
            }
            meta: dict[str, Any] = {}
            if model in self.model_aliases:
                meta["llamaswap"] = {"type": "model", "aliases": self.model_aliases[model]}
            if self.n_ctx_train is not None:
                meta.update(n_ctx_train=self.n_ctx_train, n_params=268098176, size=253000000)
            if meta:
                item["meta"] = meta
            if self.model_status is not None:
                item["status"] = {"value": self.model_status}
            data.append(item)
        return {"object": "list", "data": data}

    def _structured_rejection(self, body: dict[str, Any]) -> ErrorSpec | None:
        rf = body.get("response_format")
        if not isinstance(rf, dict):
            return None
        rf_type = rf.get("type")
        if rf_type == "json_schema" and self.reject_json_schema:
            return (500, LLAMA_CPP_PYTHON_JSON_SCHEMA_REJECTION, JSON, {})
        form = "json_object+schema" if rf_type == "json_object" and "schema" in rf else rf_type
        if form in self.reject_forms:
            if form == "json_schema":
                msg = (
                    'response_format type must be one of "text" or "json_object", '
                    f"but got: {rf_type}"
                )
            else:
                msg = f"response_format {form} is not supported"
            return llamacpp_error(msg, 400, "invalid_request_error")
        return None

    def _chat(self, handler: FakeHandler, body: dict[str, Any]) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._chat_answer(handler, body)
        except (BrokenPipeError, ConnectionResetError, ClientGone):
            with self._lock:
                self.disconnects += 1
            raise
        finally:
            with self._lock:
                self.in_flight -= 1

    def _stream_head(self, handler: FakeHandler) -> _Stream:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        return _Stream(handler, self)

    def _load(self, handler: FakeHandler, body: dict[str, Any]) -> _Stream | None:
        """Start the model unless it runs, and wait until it is loaded. With loading state,
        the stream it started (its loading chunks sent) is returned."""
        with self._lock:
            if self._loaded_at is None:
                self._loaded_at = time.monotonic() + self.load_s
                self.loads += 1
            loaded_at = self._loaded_at
        if time.monotonic() >= loaded_at:
            return None
        if not (self.send_loading_state and body.get("stream")):
            self._wait(handler, loaded_at - time.monotonic())
            return None
        out = self._stream_head(handler)
        model = str(body.get("model") or "unknown")
        began = time.monotonic()

        def say(text: str) -> None:
            out.event({"choices": [{"delta": {"reasoning_content": text}}]})

        say("━━━━━\n")
        say(f"llama-swap loading model: {model}\n")
        self.loading_started.set()
        while (left := loaded_at - time.monotonic()) > 0:
            self._wait(handler, min(left, self.loading_tick_s))
            say(".")
        say(f"\nDone! ({time.monotonic() - began:.2f}s)\n")
        say("━━━━━\n")
        return out

    def _chat_answer(self, handler: FakeHandler, body: dict[str, Any]) -> None:
        started = self._load(handler, body) if self.load_s > 0 else None
        if self.latency_s > 0:
            self._wait(handler, self.latency_s)
        error = self.error if started is None else None  # the 200 went out with the loading
        if error is not None:
            with self._lock:
                use = self.error_times is None or self.errors_sent < self.error_times
                if use:
                    self.errors_sent += 1
            if use:
                self._send(handler, *error)
                return
        rejection = self._structured_rejection(body) if started is None else None
        if rejection is not None:
            self._send(handler, *rejection)
            return
        answer = self.answer_fn(body) if self.answer_fn is not None else self.answer
        model = str(body.get("model") or "unknown")
        pieces = [
            answer[i : i + max(1, self.chunk_size)]
            for i in range(0, len(answer), max(1, self.chunk_size))
        ]
        prompt_tokens = sum(
            len(str(m.get("content", "")).split())
            for m in body.get("messages") or []
            if isinstance(m, dict)
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        if started is not None:
            self._stream(handler, body, model, pieces, usage, started)
            return
        if self.non_streaming or not body.get("stream"):
            message = {"role": "assistant", "content": answer}
            doc = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": usage,
            }
            self._send(handler, 200, json.dumps(doc))
            return
        self._stream(handler, body, model, pieces, usage)

    def _stream(
        self,
        handler: FakeHandler,
        body: dict[str, Any],
        model: str,
        pieces: list[str],
        usage: dict[str, int],
        started: _Stream | None = None,
    ) -> None:
        out = started or self._stream_head(handler)
        for i in range(self.loading_chunks):
            out.event({"choices": [{"delta": {"reasoning_content": f"loading {model} {i}…\n"}}]})
            out.pause()
        head = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1}
        head["model"] = model

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return {**head, "choices": [choice]}

        out.event(chunk({"role": "assistant", "content": ""}))
        for i in range(self.reasoning_chunks):
            out.event(chunk({"reasoning": f"thinking {i} "}))
        for _ in range(self.empty_choices_chunks):
            out.event({**head, "choices": []})
        for i, piece in enumerate(pieces):
            if i:
                out.pause()
            out.event(chunk({"content": piece}))
            self.stream_started.set()
            if self.mid_stream_error is not None:
                out.event({"error": self.mid_stream_error})
                out.raw(b"")
                handler.close_connection = True
                return
            if self.truncate_stream:
                handler.close_connection = True
                with contextlib.suppress(OSError):
                    handler.connection.shutdown(socket.SHUT_RDWR)
                return
        out.event(chunk({}, "stop"))
        stream_options = body.get("stream_options")
        if self.usage and isinstance(stream_options, dict) and stream_options.get("include_usage"):
            out.event({**head, "choices": [], "usage": usage})
        if self.send_done:
            out.event("[DONE]")
        # the answer is complete: a client that leaves now is no disconnect
        with contextlib.suppress(OSError):
            out.raw(b"")


# -- a port that never answers ------------------------------------------------------------------


class BlackHole:
    """A loopback port where TCP connects hang until the client's connect timeout.

    A listening socket with ``listen(0)`` is never ``accept()``-ed; its accept queue is filled
    with non-blocking connects, after which the kernel drops further SYNs (so they are
    retransmitted and the connect times out) instead of answering RST.

    Found on this machine (Linux 6.18, ``tcp_syncookies=1``, ``tcp_abort_on_overflow=0``):
    ``listen(0)`` queues exactly one connection; the first connect completes at once, every
    later one hangs (a blocking connect with a 1 s timeout raised ``TimeoutError`` after 1.0 s,
    also with 1 or 4 fillers). The constructor does not rely on that number: it keeps adding
    connects until one does not complete within 0.1 s, and fails loudly if that never happens.
    """

    def __init__(self, max_fillers: int = 64) -> None:
        self._max_fillers = max_fillers
        self._listener: socket.socket | None = None
        self._fillers: list[socket.socket] = []
        self.port = 0
        self.fillers_used = 0

    def __enter__(self) -> BlackHole:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        self._listener = listener
        self.port = listener.getsockname()[1]
        for _ in range(self._max_fillers):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", self.port))
            self._fillers.append(filler)
            _, writable, _ = select.select([], [filler], [], 0.1)
            if not writable:  # this SYN got no answer: the queue is full
                self.fillers_used = len(self._fillers) - 1
                return self
        self.close()
        raise RuntimeError("could not fill the accept queue: connects keep completing")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        for sock in self._fillers:
            sock.close()
        self._fillers.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.root}/v1"


def closed_port() -> int:
    """A loopback port nobody listens on (connects are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before answering")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between pieces")
    parser.add_argument("--chunk-size", type=int, default=8)
    parser.add_argument("--health", default="ok", choices=["ok", "llamacpp", "loading", "missing"])
    parser.add_argument("--model", action="append", dest="models", help="model id (repeatable)")
    parser.add_argument("--answer", default=REVIEW_ANSWER)
    parser.add_argument("--reject-json-schema", action="store_true")
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args(argv)
    fake = FakeOpenAI(
        host=args.host,
        port=args.port,
        latency_s=args.latency,
        chunk_delay_s=args.chunk_delay,
        chunk_size=args.chunk_size,
        health=args.health,
        models=args.models,
        answer=args.answer,
        reject_json_schema=args.reject_json_schema,
        api_key=args.api_key,
    )

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # also when started in the background, where SIGINT is ignored
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    with fake:
        print(f"fake OpenAI server at {fake.url} (Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        print(
            f"{len(fake.chat_requests)} chat requests, max in flight {fake.max_in_flight}",
            flush=True,
        )


if __name__ == "__main__":
    main()
