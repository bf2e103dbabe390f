"""A real HTTP server on loopback that speaks the OpenAI / llama-swap / llama.cpp protocol.

It follows /work/shared/PROTOCOLS.md (sections 1, 2, 3, 6, 7, 8) and records what it gets::

    with FakeOpenAI(latency_s=0.1) as fake:
        backend = OpenAIBackend("local", backend_config(kind="openai", url=fake.url), "local")
        ...
        assert fake.chat_requests[0].json["stream"] is True

Every behaviour is an attribute that may be changed at any time, also while requests run.
Errors for chat requests are ``(status, body, content_type, extra_headers)`` tuples; the
builders of each shape the protocols use, and :data:`ERROR_SHAPES`, are in
:mod:`tests.fakes.openai_errors` and importable from here too, as are the ports that do not
answer (:class:`BlackHole`, :func:`closed_port`, from :mod:`tests.fakes.ports`).

Run standalone for benchmarks: ``python -m tests.fakes.openai_fake --port 8080 --latency 0.3``.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.fakes.openai_errors import (
    ERROR_SHAPES,
    LLAMA_CPP_PYTHON_JSON_SCHEMA_REJECTION,
    error_string,
    google_error,
    html_error,
    llamacpp_error,
    llamaswap_object,
    llamaswap_src_string,
    llamaswap_v170,
    ollama_v1_not_found,
    openai_error,
    rate_limited,
    text_error,
)
from tests.fakes.ports import BlackHole, closed_port
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

# Gathered here for the tests, benchmarks and fakes that import them with the fake.
__all__ = [
    "ERROR_SHAPES",
    "JSON",
    "LLAMA_CPP_PYTHON_JSON_SCHEMA_REJECTION",
    "REVIEW_ANSWER",
    "TEXT",
    "BlackHole",
    "ErrorSpec",
    "FakeOpenAI",
    "RecordedRequest",
    "closed_port",
    "error_string",
    "google_error",
    "html_error",
    "llamacpp_error",
    "llamaswap_object",
    "llamaswap_src_string",
    "llamaswap_v170",
    "ollama_v1_not_found",
    "openai_error",
    "rate_limited",
    "text_error",
]


class _Stream(ChunkedBody):
    """Writes one chunked ``text/event-stream`` answer, as the fake's knobs say."""

    def __init__(self, handler: FakeHandler, fake: FakeOpenAI) -> None:
        super().__init__(handler)
        self.fake = fake

    def event(self, payload: Any, name: str | None = None) -> None:
        super().event(payload, name or ("message" if self.fake.event_lines else None))

    def pause(self) -> None:
        self.fake._wait(self.handler, self.fake.chunk_delay_s)
        if self.fake.ping_comments:
            self.write(b": ping\n\n")


class FakeOpenAI(LoopbackFake):
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
        unix_socket: str | None = None,
    ) -> None:
        super().__init__(host=host, port=port, unix_socket=unix_socket)
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
        self.loading_started = threading.Event()
        self.loads = 0
        self._loaded_at: float | None = None
        """When the model is (or was) loaded; None: not started."""

    @property
    def url(self) -> str:
        """``…/v1`` (on a unix socket: ``unix:PATH:/v1``, its API's path given)."""
        return f"{self.root}:/v1" if self.root.startswith("unix:") else f"{self.root}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [
            r for r in self.requests if r.method == "POST" and r.path.endswith("/chat/completions")
        ]

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

    # -- request handling -------------------------------------------------------------------

    def _route(self, handler: FakeHandler, request: RecordedRequest) -> None:
        method, path, body = request.method, request.path, request.json
        if path in ("/health", "/v1/health"):
            self._health(handler)
        elif self.api_key and handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            self._send(
                handler, 401, "unauthorized", TEXT, {"WWW-Authenticate": 'Basic realm="llama-swap"'}
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
        with self._answering(handler):
            self._chat_answer(handler, body)

    def _stream_head(self, handler: FakeHandler) -> _Stream:
        chunked_head(handler, "text/event-stream", [("Cache-Control", "no-cache")])
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
        self._wait(handler, self.latency_s)
        # the 200 went out with the loading
        error = self._scripted_error() if started is None else None
        if error is not None:
            self._send(handler, *error)
            return
        rejection = self._structured_rejection(body) if started is None else None
        if rejection is not None:
            self._send(handler, *rejection)
            return
        pieces = self._pieces(body)
        answer = "".join(pieces)
        model = str(body.get("model") or "unknown")
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
                out.end()
                handler.close_connection = True
                return
            if self.truncate_stream:
                out.cut()
                return
        out.event(chunk({}, "stop"))
        stream_options = body.get("stream_options")
        if self.usage and isinstance(stream_options, dict) and stream_options.get("include_usage"):
            out.event({**head, "choices": [], "usage": usage})
        if self.send_done:
            out.event("[DONE]")
        out.finish()


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
