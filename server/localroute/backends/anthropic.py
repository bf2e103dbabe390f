"""Anthropic's Messages API (``POST /v1/messages``), always a cloud backend.

Requests stream (``stream: true``); the ``event:``/``data:`` pairs are read as server-sent events
(:mod:`localroute.backends.sse`) and a server that answers one JSON message instead is
understood too. Errors carry Anthropic's shape
``{"type":"error","error":{"type","message"}}`` and map onto the backend error tree: overload
(529), rate limits (429), 5xx and transport failures make the backend unavailable; a bad key,
an unknown model or a bad request reject just this request. Messages never contain the key.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from localroute.backends import sse
from localroute.backends.answer import Answer
from localroute.backends.base import (
    BackendError,
    BackendRequestError,
    BackendUnavailable,
    ChatRequest,
    ChatResult,
    ProbeResult,
    TextCallback,
)
from localroute.backends.http import ANSWER_BODY_LIMIT, HttpBackend, read_limited
from localroute.backends.loading import LoadingWatch
from localroute.backends.model_info import parse_models
from localroute.backends.openai_errors import (
    context_overflow,
    int_or_none,
    one_line,
    parse_error_body,
    retry_after,
)
from localroute.config.models import AnthropicBackendConfig, Locality

log = logging.getLogger(__name__)

DEFAULT_URL = "https://api.anthropic.com"
DEFAULT_KEY_ENV = "ANTHROPIC_API_KEY"
API_VERSION = "2023-06-01"

_UNAVAILABLE_TYPES = frozenset({"overloaded_error", "api_error", "rate_limit_error"})


def schema_instruction(schema: Mapping[str, Any]) -> str:
    """The system-prompt addition that asks for JSON matching ``schema``."""
    compact = json.dumps(schema, separators=(",", ":"), ensure_ascii=False)
    return (
        "Answer with one JSON value that matches this JSON Schema, and nothing else "
        f"(no prose, no code fence):\n{compact}"
    )


class AnthropicBackend(HttpBackend):
    """A backend speaking Anthropic's ``/v1/messages`` and ``/v1/models`` under ``config.url``.

    ``config.url`` defaults to :data:`DEFAULT_URL` (a trailing ``/v1`` is accepted); the key is
    read from the environment variable ``config.api_key_env`` (default :data:`DEFAULT_KEY_ENV`)
    at each request, from ``env`` when given (tests) else ``os.environ``.

    Structured output is asked for by prompting only: with a ``json_schema``, the system prompt
    gets :func:`schema_instruction` appended. No tool is forced; the callers' parsers already
    tolerate fences and prose, so ``ChatResult.structured`` is ``"none"``.
    """

    probe_requests: ClassVar[int] = 1
    config: AnthropicBackendConfig

    def __init__(
        self,
        name: str,
        config: AnthropicBackendConfig,
        locality: Locality,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(name, config, locality, transport=transport)
        url = (config.url or DEFAULT_URL).rstrip("/")
        self.url = url[: -len("/v1")] if url.endswith("/v1") else url
        self.key_env = config.api_key_env or DEFAULT_KEY_ENV
        self._env = env

    # -- helpers -----------------------------------------------------------------------------

    def _api_key(self) -> str | None:
        env = self._env if self._env is not None else os.environ
        return env.get(self.key_env) or None

    def _headers(self, key: str, accept: str) -> dict[str, str]:
        return {
            "x-api-key": key,
            "anthropic-version": API_VERSION,
            "content-type": "application/json",
            "accept": accept,
        }

    def _secret(self) -> str | None:
        return self._api_key()

    def error_for_status(
        self, status: int, headers: httpx.Headers, body: bytes, model: str, path: str
    ) -> BackendError:
        """The exception for a non-2xx answer with (usually) Anthropic's error shape."""
        info = parse_error_body(body, headers.get("content-type", ""))
        msg = one_line(info.message, self._api_key())
        label = f"HTTP {status} {info.type}" if info.type else f"HTTP {status}"
        if status in (429, 529) or info.type == "overloaded_error":
            what = "rate limited" if status == 429 else "overloaded"
            return BackendUnavailable(
                self.name, f"{what} ({label}): {msg}", status=status,
                retry_after_s=retry_after(headers),
            )  # fmt: skip
        if status >= 500 or status in (408, 425):
            return BackendUnavailable(self.name, f"server error ({label}): {msg}", status=status)
        if status in (401, 403):
            return BackendRequestError(
                self.name,
                f"authentication failed ({label}): {msg}; check the API key in ${self.key_env}",
                status=status,
            )
        overflow = context_overflow(self.name, status, info, secret=self._api_key())
        if overflow is not None:
            return overflow
        if status == 404:
            what = (
                f"model '{model}' not found"
                if info.type == "not_found_error"
                else f"endpoint {self.url}{path} not found (check the backend's url)"
            )
            return BackendRequestError(self.name, f"{what} ({label}): {msg}", status=status)
        return BackendRequestError(self.name, f"request rejected ({label}): {msg}", status=status)

    def _stream_error(self, data: Any) -> BackendError:
        """The exception for ``event: error`` (or a ``type: error`` document) after HTTP 200."""
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            error = {"message": str(data)}
        err_type = error.get("type") if isinstance(error.get("type"), str) else None
        raw = error.get("message")
        msg = one_line(raw if isinstance(raw, str) and raw else str(error), self._api_key())
        text = f"error in the answer stream ({err_type or 'unknown type'}): {msg}"
        if err_type is None or err_type in _UNAVAILABLE_TYPES:
            return BackendUnavailable(self.name, text)
        return BackendRequestError(self.name, text)

    # -- probe -------------------------------------------------------------------------------

    def _not_ready(self) -> str | None:
        return None if self._api_key() else f"no API key in ${self.key_env}"

    async def _probe(self, timeout: httpx.Timeout, start: float) -> ProbeResult:
        """``GET /v1/models``."""
        response = await self._client.get(
            f"{self.url}/v1/models",
            headers=self._headers(self._api_key() or "", "application/json"),
            timeout=timeout,
        )
        latency = (time.perf_counter() - start) * 1000
        if not response.is_success:
            err = self.error_for_status(
                response.status_code, response.headers, response.content, "", "/v1/models"
            )
            return ProbeResult(False, latency, detail=err.message)
        try:
            models, _ = parse_models(response.json())
        except ValueError:
            return ProbeResult(False, latency, detail="/v1/models did not answer JSON")
        return ProbeResult(True, latency, models, "ok")

    # -- chat --------------------------------------------------------------------------------

    def body(self, request: ChatRequest) -> dict[str, Any]:
        """The ``/v1/messages`` JSON body for ``request`` (streaming)."""
        system = request.system
        if request.json_schema is not None:
            instruction = schema_instruction(request.json_schema)
            system = f"{system}\n\n{instruction}" if system else instruction
        body: dict[str, Any] = {"model": request.model, "max_tokens": request.max_tokens}
        if system:
            body["system"] = system
        body["messages"] = [{"role": "user", "content": request.user}]
        body["stream"] = True
        body["temperature"] = min(1.0, max(0.0, request.temperature))  # Anthropic's range
        return body

    async def _chat(
        self, request: ChatRequest, on_text: TextCallback | None, watch: LoadingWatch
    ) -> ChatResult:
        key = self._api_key()
        if not key:
            raise BackendRequestError(
                self.name, f"no API key: set {self.key_env}", nothing_sent=True
            )
        answer = Answer(self.name, request.model, on_text)

        def error(response: httpx.Response, raw: bytes) -> Exception:
            return self.error_for_status(
                response.status_code, response.headers, raw, request.model, "/v1/messages"
            )

        async with self._post(
            f"{self.url}/v1/messages",
            self.body(request),
            self._headers(key, "text/event-stream, application/json"),
            error,
        ) as response:
            content_type = response.headers.get("content-type", "").lower()
            if "text/event-stream" in content_type:
                async with contextlib.aclosing(sse.events(response)) as groups:
                    async for group in groups:
                        if any(self._event(kind, data, answer) for kind, data in group):
                            break  # (``any`` stops at the event that ends the answer)
            else:
                self._whole(await read_limited(response, ANSWER_BODY_LIMIT), content_type, answer)
        if not answer.finished:
            raise BackendUnavailable(self.name, "the answer stream ended before message_stop")
        return answer.result()

    def _whole(self, raw: bytes, content_type: str, answer: Answer) -> None:
        """A 200 answer that is not ``text/event-stream``: one ``message`` JSON document."""
        try:
            data = json.loads(raw)
        except ValueError:
            raise BackendUnavailable(
                self.name, f"unexpected answer (content-type {content_type or 'none'})"
            ) from None
        if not isinstance(data, dict):
            raise BackendUnavailable(self.name, "unexpected answer (not a JSON object)")
        if data.get("type") == "error":
            raise self._stream_error(data)
        self._message(data, answer)
        blocks = data.get("content")
        text = "".join(
            b["text"]
            for b in (blocks if isinstance(blocks, list) else [])
            if isinstance(b, dict)
            and b.get("type", "text") == "text"
            and isinstance(b.get("text"), str)
        )
        answer.add(text)
        answer.finished = True

    def _message(self, message: dict[str, Any], answer: Answer) -> None:
        """Model and usage from a ``message`` object (``message_start`` or a whole answer)."""
        if isinstance(message.get("model"), str) and message["model"]:
            answer.model = message["model"]
        usage = message.get("usage")
        if isinstance(usage, dict):
            answer.prompt_tokens = int_or_none(usage.get("input_tokens")) or answer.prompt_tokens
            tokens = int_or_none(usage.get("output_tokens"))
            answer.completion_tokens = tokens if tokens is not None else answer.completion_tokens

    def _event(self, event: str, data: str, answer: Answer) -> bool:
        """Handle one SSE event; True at ``message_stop``. Unknown events are ignored."""
        try:
            payload = json.loads(data) if data.strip() else {}
        except ValueError:
            if event == "error":
                raise self._stream_error(data) from None
            log.debug("%s: skipping a stream event that is not JSON", self.name)
            return False
        if not isinstance(payload, dict):
            return False
        kind = event if event and event != "message" else str(payload.get("type", ""))
        if kind == "error":
            raise self._stream_error(payload)
        if kind == "message_start" and isinstance(payload.get("message"), dict):
            self._message(payload["message"], answer)
        elif kind == "content_block_delta":
            delta = payload.get("delta")
            if isinstance(delta, dict) and delta.get("type") == "text_delta":
                piece = delta.get("text")
                answer.add(piece if isinstance(piece, str) else "")
        elif kind == "message_delta":  # stop_reason is not needed; usage is
            self._message(payload, answer)
        elif kind == "message_stop":
            answer.finished = True
            return True
        return False
