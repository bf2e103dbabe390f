"""The native Ollama backend: ``POST /api/chat`` (NDJSON streaming), ``/api/version`` and
``/api/tags`` (PROTOCOLS.md §3).

Native rather than Ollama's OpenAI-compatible ``/v1``: only here can ``options.num_ctx`` be set,
and Ollama's default context (4k on small GPUs) is too short for long reviews. Structured
output is asked for with ``format`` = the JSON Schema (Ollama ≥ 0.5); a server that refuses a
schema there is asked for ``"format": "json"`` instead, and that is remembered.

Errors: a model that is not pulled says how to pull it; 400 carries the server's message;
429, 503 (queue full) and other 5xx mark the backend down, as do refused and timed-out
connections. An ``{"error": ...}`` line inside a 200 stream is a server failure when it reads
like one (runner crashed, out of memory), else a rejected request.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncGenerator
from typing import Any, ClassVar

import httpx

from localroute.backends.answer import Answer
from localroute.backends.base import (
    BackendError,
    BackendRequestError,
    BackendUnavailable,
    ChatRequest,
    ChatResult,
    ContextOverflow,
    ProbeResult,
    TextCallback,
)
from localroute.backends.http import ANSWER_BODY_LIMIT, HttpBackend, read_limited
from localroute.backends.loading import LoadingWatch
from localroute.backends.openai_errors import (
    error_for_status,
    error_in_stream,
    int_or_none,
    one_line,
    parse_error_body,
)
from localroute.config.models import OllamaBackendConfig

log = logging.getLogger(__name__)

_PS_CHECK_S = 2.0
"""How long asking ``/api/ps`` whether the model is loaded may take; Ollama holds the list
while a model loads, so no answer within this time means one is loading."""

_NOT_PULLED = re.compile(r"\bmodel\b.*\bnot found\b|try pulling", re.I)
"""``model 'X' not found`` and the scheduler's ``model "X" not found, try pulling it first``."""
_FORMAT_REJECTED = re.compile(r"\bformat\b", re.I)
"""Ollama < 0.5 decoding a schema into its string ``format`` field: ``json: cannot unmarshal
object into Go struct field ChatRequest.format of type string``."""
_RESOURCE_FAILURE = re.compile(
    r"runner|terminated|exit status|memory|resource|cuda|rocm|metal|gpu|vram|\beof\b|"
    r"cancel|busy|connection|broken pipe|reset|killed|panic|sigsegv|abort",
    re.I,
)
"""Words of a mid-stream error that is the server's failure, not the request's."""


class _FormatRejected(Exception):
    """The server refused a JSON Schema as ``format``; ask for ``"json"`` instead."""


def server_root(url: str) -> str:
    """The Ollama server root for a configured URL (``/api`` or ``/v1`` at the end dropped)."""
    root = url.rstrip("/")
    for suffix in ("/api", "/v1"):
        if root.endswith(suffix):
            return root[: -len(suffix)]
    return root


def running_windows(ps: Any) -> dict[str, int]:
    """The context window of each loaded model in an ``/api/ps`` answer (``context_length``,
    Ollama ≥ 0.11; older servers do not say)."""
    items = ps.get("models") if isinstance(ps, dict) else None
    windows: dict[str, int] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        window = int_or_none(item.get("context_length"))
        names = {item.get("name"), item.get("model")}
        for name in names:
            if window and isinstance(name, str) and name:
                windows[name] = window
    return windows


def _tagged(name: str) -> str:
    """A model name with its tag: Ollama's ``llama3.2`` is ``llama3.2:latest``."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def model_names(tags: Any) -> tuple[str, ...]:
    """The model names in an ``/api/tags`` (or ``/api/ps``) answer."""
    items = tags.get("models") if isinstance(tags, dict) else None
    names: list[str] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            name = item.get("name") or item.get("model")
            if isinstance(name, str) and name and name not in names:
                names.append(name)
    return tuple(names)


async def _ndjson_lines(response: httpx.Response) -> AsyncGenerator[str, None]:
    """The lines of an NDJSON body, split at ``\\n`` only.

    Not ``aiter_lines()``: that splits like ``str.splitlines`` (also at U+0085, U+2028, ...),
    and Go's JSON encoder leaves U+0085 unescaped inside strings.
    """
    buffer = bytearray()
    async for chunk in response.aiter_bytes():
        buffer += chunk
        while (end := buffer.find(b"\n")) >= 0:
            yield buffer[:end].decode("utf-8", errors="replace")
            del buffer[: end + 1]
    if buffer:
        yield buffer.decode("utf-8", errors="replace")


class OllamaBackend(HttpBackend):
    """A backend speaking Ollama's native API at the server root ``config.url``."""

    probe_requests: ClassVar[int] = 3
    watches_loading: ClassVar[bool] = True
    serves_unix: ClassVar[bool] = True
    config: OllamaBackendConfig

    url: str
    """The server root: ``/api/chat`` and the rest go under it."""

    def _setup(self) -> None:
        self.url = server_root(self._url())
        self.schema_format = True
        """Whether the server accepts a JSON Schema as ``format`` (False: send ``"json"``)."""

    # -- probe -------------------------------------------------------------------------------

    async def _probe(self, timeout: httpx.Timeout, start: float) -> ProbeResult:
        """``GET /api/version`` (up or not), ``GET /api/tags`` (models) and ``GET /api/ps``
        (the windows of loaded models; ``num_ctx``, when configured, is every model's)."""
        version = await self._client.get(f"{self.url}/api/version", timeout=timeout)
        latency = (time.perf_counter() - start) * 1000
        if not version.is_success:
            info = parse_error_body(version.content, version.headers.get("content-type", ""))
            hint = " (is this an Ollama server?)" if version.status_code == 404 else ""
            detail = f"HTTP {version.status_code} at /api/version: "
            return ProbeResult(
                False, latency, detail=detail + one_line(info.message, None, 120) + hint
            )
        detail = "ok"
        with contextlib.suppress(ValueError):
            data = version.json()
            if isinstance(data, dict) and isinstance(data.get("version"), str):
                detail = f"ok (Ollama {one_line(data['version'], None, 40)})"
        models: tuple[str, ...] = ()
        with contextlib.suppress(httpx.HTTPError, ValueError):
            tags = await self._client.get(f"{self.url}/api/tags", timeout=timeout)
            if tags.is_success:
                models = model_names(tags.json())
        num_ctx = self.config.num_ctx
        if num_ctx:
            return ProbeResult(True, latency, models, detail, dict.fromkeys(models, num_ctx))
        context: dict[str, int] = {}
        with contextlib.suppress(httpx.HTTPError, ValueError):
            ps = await self._client.get(f"{self.url}/api/ps", timeout=timeout)
            if ps.is_success:
                context = running_windows(ps.json())
        return ProbeResult(True, latency, models, detail, context)

    # -- chat --------------------------------------------------------------------------------

    async def _loading(self, model: str) -> bool:
        """``/api/ps`` lists loaded models: the model is loading when it is not listed, or
        when the list does not come (a loading model holds it back)."""
        try:
            ps = await self._client.get(f"{self.url}/api/ps", timeout=_PS_CHECK_S)
        except httpx.TimeoutException:
            return True
        if not ps.is_success:
            return False
        return _tagged(model) not in {_tagged(name) for name in model_names(ps.json())}

    async def _chat(
        self, request: ChatRequest, on_text: TextCallback | None, watch: LoadingWatch
    ) -> ChatResult:
        if request.json_schema is not None and self.schema_format:
            try:
                return await self._chat_once(request, request.json_schema, on_text)
            except _FormatRejected:
                log.info("%s: no JSON Schema as format; asking for JSON", self.name)
                self.schema_format = False
        fmt = "json" if request.json_schema is not None else None
        return await self._chat_once(request, fmt, on_text)

    def _body(self, request: ChatRequest, fmt: dict[str, Any] | str | None) -> dict[str, Any]:
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages.append({"role": "user", "content": request.user})
        options = {"temperature": request.temperature, "num_predict": request.max_tokens}
        if self.config.num_ctx is not None:
            options["num_ctx"] = self.config.num_ctx
        body = {"model": request.model, "messages": messages, "stream": True, "options": options}
        if fmt is not None:
            body["format"] = fmt
        return body

    async def _chat_once(
        self,
        request: ChatRequest,
        fmt: dict[str, Any] | str | None,
        on_text: TextCallback | None,
    ) -> ChatResult:
        answer = Answer(self.name, request.model, on_text)

        def error(response: httpx.Response, raw: bytes) -> Exception:
            return self._status_error(request.model, response, raw, schema=isinstance(fmt, dict))

        async with self._post(
            f"{self.url}/api/chat",
            self._body(request, fmt),
            {"Accept": "application/x-ndjson, application/json"},
            error,
        ) as response:
            if response.headers.get("content-type", "").lower().startswith("application/json"):
                raw = await read_limited(response, ANSWER_BODY_LIMIT)
                self._read_whole(raw, answer)
            else:
                async with contextlib.aclosing(_ndjson_lines(response)) as lines:
                    async for line in lines:
                        self._line(line, answer)
        if not answer.finished:
            raise BackendUnavailable(self.name, "the answer stream ended early, before done: true")
        structured = "json_schema" if isinstance(fmt, dict) else "json_object" if fmt else "none"
        return answer.result(structured)

    def _status_error(
        self, model: str, response: httpx.Response, raw: bytes, *, schema: bool
    ) -> Exception:
        """The exception for a non-2xx answer to ``/api/chat``."""
        status = response.status_code
        info = parse_error_body(raw, response.headers.get("content-type", ""))
        if status in (400, 404) and _NOT_PULLED.search(info.message):
            return BackendRequestError(
                self.name,
                f"model {model} is not pulled on backend {self.name}: run `ollama pull {model}`",
                status=status,
            )
        if status == 400 and schema and _FORMAT_REJECTED.search(info.message):
            return _FormatRejected()
        return error_for_status(self.name, model, status, response.headers, raw, path="/api/chat")

    def _read_whole(self, raw: bytes, answer: Answer) -> None:
        """A non-streamed answer: one JSON object (or NDJSON labelled ``application/json``)."""
        text = raw.decode("utf-8", errors="replace")
        try:
            data = json.loads(text)
        except ValueError:
            for line in text.split("\n"):
                self._line(line, answer)
            return
        self._chunk(data, answer)
        if isinstance(data, dict):
            answer.finished = True  # a whole document is complete even without "done"

    def _line(self, line: str, answer: Answer) -> None:
        line = line.strip()
        if not line:
            return
        try:
            chunk = json.loads(line)
        except ValueError:
            log.debug("%s: skipping a stream line that is not JSON", self.name)
            return
        self._chunk(chunk, answer)

    def _chunk(self, chunk: Any, answer: Answer) -> None:
        """One ``/api/chat`` object: a piece (``done: false``) or the last one (metrics)."""
        if not isinstance(chunk, dict):
            return
        if chunk.get("error"):
            raise self._stream_error(chunk["error"])
        if answer.finished:
            return
        if isinstance(chunk.get("model"), str) and chunk["model"]:
            answer.model = chunk["model"]
        message = chunk.get("message")
        piece = message.get("content") if isinstance(message, dict) else None
        answer.add(piece if isinstance(piece, str) else "")
        if chunk.get("done") is True:
            answer.finished = True
            answer.prompt_tokens = int_or_none(chunk.get("prompt_eval_count"))
            answer.completion_tokens = int_or_none(chunk.get("eval_count"))

    def _stream_error(self, error: Any) -> BackendError:
        err = error_in_stream(self.name, error)
        if isinstance(err, ContextOverflow):
            return err
        if isinstance(err, BackendRequestError) and _RESOURCE_FAILURE.search(err.message):
            return BackendUnavailable(self.name, err.message, status=err.status)
        return err
