"""The OpenAI-compatible chat backend: llama-swap, llama.cpp, llama-cpp-python, Ollama ``/v1``,
Gemini's compatibility endpoint and OpenAI itself.

Requests stream (``stream: true``) and are parsed with httpx-sse; a server that answers with
one JSON document instead is understood too. Structured output is asked for in the form each
server accepts (see :data:`STRUCTURED_FORMS`); the form that worked is remembered per model.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import EventSource

from localroute.backends.base import (
    BackendError,
    BackendRequestError,
    BackendUnavailable,
    ChatRequest,
    ChatResult,
    ProbeResult,
    TextCallback,
)
from localroute.backends.http import (
    MAX_ANSWER_CHARS,
    answer_too_large,
    client_for,
    guarded_probe,
    read_limited,
)
from localroute.backends.openai_errors import (
    error_for_status,
    error_in_stream,
    int_or_none,
    one_line,
    parse_error_body,
    parse_models,
    rejects_structured_output,
    transport_error,
)
from localroute.config.models import Locality, OpenAIBackendConfig

log = logging.getLogger(__name__)

STRUCTURED_FORMS: tuple[str, ...] = ("json_schema", "json_object+schema", "json_object", "none")
"""Structured-output forms, best first. ``json_schema`` is OpenAI's nesting, ``json_object+schema``
is llama.cpp / llama-cpp-python's, ``json_object`` asks for any JSON, ``none`` sends nothing."""

ERROR_BODY_LIMIT = 64 * 1024
_ANSWER_BODY_LIMIT = 16 * 1024 * 1024
_DRAIN_S = 0.5


class _FormRejected(Exception):
    """The server refused the ``response_format`` we sent; try the next form."""


@dataclass
class _Answer:
    model: str
    parts: list[str] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finished: bool = False
    done: bool = False
    size: int = 0
    events: int = 0
    unreadable: int = 0


def _response_format(form: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    if form == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "localroute", "schema": schema}}
    if form == "json_object+schema":
        return {"type": "json_object", "schema": schema}
    if form == "json_object":
        return {"type": "json_object"}
    return None


def _content_text(content: Any) -> str:
    """``delta.content`` as text: a string, or a list of ``{"type":"text","text":...}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


class AnswerReader:
    """Collects one chat answer that came with HTTP 200: an OpenAI SSE stream (read with
    httpx-sse) or one JSON document. Shared by every OpenAI-shaped backend (also Copilot).

    Tolerates ``choices: []`` chunks, a missing ``id``, reasoning deltas, ``usage`` on any
    chunk and extra fields; ``{"error": ...}`` inside the answer raises a :class:`BackendError`.
    """

    def __init__(
        self,
        backend: str,
        model: str,
        on_text: TextCallback | None = None,
        *,
        secret: str | None = None,
    ) -> None:
        self.backend = backend
        self.answer = _Answer(model=model)
        self.on_text = on_text
        self.secret = secret
        """Blanked out of error messages taken from the answer."""

    async def read(self, response: httpx.Response) -> None:
        """Read the whole answer from ``response`` (whose status was 2xx)."""
        content_type = response.headers.get("content-type", "").lower()
        if "text/event-stream" in content_type:
            await self._read_stream(response)
        else:
            raw = await read_limited(response, _ANSWER_BODY_LIMIT)
            self._read_whole(raw, content_type)

    def result(self, structured: str) -> ChatResult:
        """The answer read; :class:`BackendUnavailable` when the stream ended early."""
        answer = self.answer
        if answer.unreadable and not answer.events:
            raise BackendUnavailable(
                self.backend,
                f"no readable event in the answer stream ({answer.unreadable} not valid JSON)",
            )
        if not (answer.done or answer.finished):
            raise BackendUnavailable(self.backend, "the answer stream ended before it was complete")
        return ChatResult(
            text="".join(answer.parts),
            model=answer.model,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            structured=structured,
        )

    async def _read_stream(self, response: httpx.Response) -> None:
        # After [DONE] the little that is left (the end of the chunked body) is still
        # read, briefly, so the connection returns to the pool instead of being closed.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(None) as drain:
                async with contextlib.aclosing(EventSource(response).aiter_sse()) as events:
                    async for event in events:
                        if not self.answer.done and self._feed(event.data, event.event):
                            drain.reschedule(asyncio.get_running_loop().time() + _DRAIN_S)

    def _read_whole(self, raw: bytes, content_type: str) -> None:
        """A 200 answer that is not ``text/event-stream``: one JSON document, or unlabelled SSE."""
        text = raw.decode("utf-8", errors="replace")
        try:
            data = json.loads(text)
        except ValueError:
            if "data:" not in text:
                raise BackendUnavailable(
                    self.backend, f"unexpected answer (content-type {content_type or 'none'})"
                ) from None
            for line in text.splitlines():
                if line.startswith("data:") and self._feed(line[5:], ""):
                    return
            return
        self._chunk(data)
        self.answer.finished = True

    def _feed(self, data: str, event: str) -> bool:
        """Handle one SSE ``data`` payload; True at ``[DONE]``."""
        data = data.strip()
        if data == "[DONE]":
            self.answer.done = True
            return True
        if not data:
            return False
        try:
            chunk = json.loads(data)
        except ValueError:
            if event == "error":
                raise error_in_stream(self.backend, data, secret=self.secret) from None
            log.debug("%s: skipping a stream event that is not JSON", self.backend)
            self.answer.unreadable += 1
            return False
        self.answer.events += 1
        if event == "error" and isinstance(chunk, dict) and "error" not in chunk:
            chunk = {"error": chunk}
        self._chunk(chunk)
        return False

    def _chunk(self, chunk: Any) -> None:
        """One ``chat.completion.chunk`` (or a whole ``chat.completion``)."""
        answer = self.answer
        if isinstance(chunk, list) and chunk:
            chunk = chunk[0]
        if not isinstance(chunk, dict):
            return
        if chunk.get("error"):
            raise error_in_stream(self.backend, chunk["error"], secret=self.secret)
        if isinstance(chunk.get("model"), str) and chunk["model"]:
            answer.model = chunk["model"]
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            answer.prompt_tokens = int_or_none(usage.get("prompt_tokens"))
            answer.completion_tokens = int_or_none(usage.get("completion_tokens"))
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or choice.get("message")
            if isinstance(delta, dict):
                piece = _content_text(delta.get("content"))
                if piece:
                    answer.size += len(piece)
                    if answer.size > MAX_ANSWER_CHARS:
                        raise answer_too_large(self.backend)
                    answer.parts.append(piece)
                    if self.on_text is not None:
                        self.on_text(piece)
            if choice.get("finish_reason"):
                answer.finished = True


class OpenAIBackend:
    """A backend speaking ``/chat/completions`` and ``/models`` under ``config.url``."""

    def __init__(
        self,
        name: str,
        config: OpenAIBackendConfig,
        locality: Locality,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not config.url:
            raise ValueError(f"backend '{name}' needs a url")
        self.name = name
        self.config = config
        self.locality: Locality = locality
        self.url = config.url.rstrip("/")
        self.root = self.url[: -len("/v1")] if self.url.endswith("/v1") else self.url
        self._client = client_for(config, locality, transport=transport)
        self.structured_forms: dict[str, str] = {}
        """The structured-output form each model accepted last (model id → form)."""

    # -- helpers -----------------------------------------------------------------------------

    def _api_key(self) -> str | None:
        env = self.config.api_key_env
        return (os.environ.get(env) or None) if env else None

    def _headers(self, accept: str) -> dict[str, str]:
        headers = {"Accept": accept}
        key = self._api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _transport_error(self, exc: httpx.HTTPError, read_s: float) -> BackendUnavailable:
        return transport_error(
            self.name, exc, connect_s=self.config.connect_timeout_s, read_s=read_s,
            pool_size=self.config.max_concurrency + 2, secret=self._api_key(),
        )  # fmt: skip

    def _auth_hint(self, err: BackendError) -> BackendError:
        env = self.config.api_key_env
        if err.status in (401, 403) and env and not self._api_key():
            return BackendRequestError(
                self.name,
                f"{err.message} (environment variable {env} is not set)",
                status=err.status,
            )
        return err

    # -- probe -------------------------------------------------------------------------------

    async def probe(self) -> ProbeResult:
        """``GET /health`` (llama.cpp, llama-swap), else ``GET /models``. Never raises."""
        return await guarded_probe(self.name, self.config, self._probe, self._transport_error)

    async def _probe(self, probe_timeout: httpx.Timeout, start: float) -> ProbeResult:
        headers = self._headers("application/json")
        health = await self._client.get(
            f"{self.root}/health", headers=headers, timeout=probe_timeout
        )
        latency = (time.perf_counter() - start) * 1000
        if health.is_success:
            models: tuple[str, ...] = ()
            context: dict[str, int] = {}
            with contextlib.suppress(httpx.HTTPError, ValueError):
                listing = await self._client.get(
                    f"{self.url}/models", headers=headers, timeout=probe_timeout
                )
                if listing.is_success:
                    models, context = parse_models(listing.json())
            return ProbeResult(True, latency, models, "ok", context)
        if health.status_code == 503:
            info = parse_error_body(health.content, health.headers.get("content-type", ""))
            if "loading" in info.message.lower():
                return ProbeResult(False, latency, detail="loading model")
            return ProbeResult(
                False, latency, detail=f"HTTP 503: {one_line(info.message, None, 120)}"
            )
        listing = await self._client.get(
            f"{self.url}/models", headers=headers, timeout=probe_timeout
        )
        latency = (time.perf_counter() - start) * 1000
        if listing.is_success:
            try:
                models, context = parse_models(listing.json())
            except ValueError:
                return ProbeResult(False, latency, detail="/models did not answer JSON")
            return ProbeResult(True, latency, models, "ok", context)
        err = error_for_status(
            self.name, "", listing.status_code, listing.headers, listing.content,
            secret=self._api_key(), path="/models",
        )  # fmt: skip
        return ProbeResult(False, latency, detail=self._auth_hint(err).message)

    # -- chat --------------------------------------------------------------------------------

    async def chat(self, request: ChatRequest, on_text: TextCallback | None = None) -> ChatResult:
        """One chat completion; see :class:`localroute.backends.base.Backend`."""
        forms: tuple[str, ...] = ("none",)
        if request.json_schema is not None:
            start = self.structured_forms.get(request.model, STRUCTURED_FORMS[0])
            forms = STRUCTURED_FORMS[STRUCTURED_FORMS.index(start) :]
        try:
            async with asyncio.timeout(self.config.timeout_s):
                for i, form in enumerate(forms):
                    try:
                        result = await self._chat_once(request, form, on_text, i < len(forms) - 1)
                    except _FormRejected:
                        log.info(
                            "%s: %s rejected response_format %s", self.name, request.model, form
                        )
                        continue
                    if request.json_schema is not None:
                        self.structured_forms[request.model] = form
                    return result
        except TimeoutError:
            raise BackendUnavailable(
                self.name, f"no answer within {self.config.timeout_s:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, self.config.timeout_s) from exc
        raise AssertionError("the last structured-output form is never rejected")

    def _body(self, request: ChatRequest, form: str) -> dict[str, Any]:
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages.append({"role": "user", "content": request.user})
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.json_schema is not None:
            response_format = _response_format(form, request.json_schema)
            if response_format is not None:
                body["response_format"] = response_format
        return body

    async def _chat_once(
        self, request: ChatRequest, form: str, on_text: TextCallback | None, may_reject: bool
    ) -> ChatResult:
        reader = AnswerReader(self.name, request.model, on_text, secret=self._api_key())
        async with self._client.stream(
            "POST",
            f"{self.url}/chat/completions",
            json=self._body(request, form),
            headers=self._headers("text/event-stream, application/json"),
        ) as response:
            status = response.status_code
            if not response.is_success:
                raw = await read_limited(response, ERROR_BODY_LIMIT)
                if may_reject and rejects_structured_output(status, raw):
                    raise _FormRejected
                err = error_for_status(
                    self.name, request.model, status, response.headers, raw,
                    secret=self._api_key(), path="/chat/completions",
                )  # fmt: skip
                raise self._auth_hint(err)
            await reader.read(response)
        return reader.result(form)

    async def aclose(self) -> None:
        await self._client.aclose()
