"""Reading one OpenAI-shaped chat answer that came with HTTP 200: an SSE stream (read with
:mod:`localroute.backends.sse`) or one JSON document. Shared by the OpenAI-compatible and
Copilot backends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

import httpx

from localroute.backends import sse
from localroute.backends.answer import Answer
from localroute.backends.base import BackendUnavailable, ChatResult, TextCallback
from localroute.backends.http import ANSWER_BODY_LIMIT, read_limited
from localroute.backends.openai_errors import error_in_stream, int_or_none

log = logging.getLogger(__name__)

_DRAIN_S = 0.5


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
    """Collects one chat answer that came with HTTP 200: an OpenAI SSE stream or one JSON
    document. Shared by every OpenAI-shaped backend (also Copilot).

    Tolerates ``choices: []`` chunks, a missing ``id``, reasoning deltas, ``usage`` on any
    chunk and extra fields; ``{"error": ...}`` inside the answer raises a :class:`BackendError`.
    llama-swap's loading chunks (``reasoning_content`` deltas in chunks without an ``id``,
    before any text) call ``on_loading``.
    """

    def __init__(
        self,
        backend: str,
        model: str,
        on_text: TextCallback | None = None,
        *,
        secret: str | None = None,
        on_loading: Callable[[], None] | None = None,
    ) -> None:
        self.backend = backend
        self.answer = Answer(backend, model, on_text)
        self.secret = secret
        """Blanked out of error messages taken from the answer."""
        self.on_loading = on_loading
        self.done = False
        """``data: [DONE]`` was read."""
        self.events = 0
        """Events that were JSON."""
        self.unreadable = 0
        """Events that were not."""

    async def read(self, response: httpx.Response) -> None:
        """Read the whole answer from ``response`` (whose status was 2xx)."""
        content_type = response.headers.get("content-type", "").lower()
        if "text/event-stream" in content_type:
            await self._read_stream(response)
        else:
            raw = await read_limited(response, ANSWER_BODY_LIMIT)
            self._read_whole(raw, content_type)

    def result(self, structured: str) -> ChatResult:
        """The answer read; :class:`BackendUnavailable` when the stream ended early."""
        if self.unreadable and not self.events:
            raise BackendUnavailable(
                self.backend,
                f"no readable event in the answer stream ({self.unreadable} not valid JSON)",
            )
        if not (self.done or self.answer.finished):
            raise BackendUnavailable(self.backend, "the answer stream ended before it was complete")
        return self.answer.result(structured)

    async def _read_stream(self, response: httpx.Response) -> None:
        # After [DONE] the little that is left (the end of the chunked body) is still
        # read, briefly, so the connection returns to the pool instead of being closed.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(None) as drain:
                async with contextlib.aclosing(sse.events(response)) as groups:
                    async for group in groups:
                        for kind, data in group:
                            if not self.done and self._feed(data, kind):
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
            self.done = True
            return True
        if not data:
            return False
        try:
            chunk = json.loads(data)
        except ValueError:
            if event == "error":
                raise error_in_stream(self.backend, data, secret=self.secret) from None
            log.debug("%s: skipping a stream event that is not JSON", self.backend)
            self.unreadable += 1
            return False
        self.events += 1
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
                # llama-swap's loading state: it has no id, the model's own chunks do.
                loading = "id" not in chunk and delta.get("reasoning_content")
                if loading and not answer.parts and self.on_loading is not None:
                    self.on_loading()
                answer.add(_content_text(delta.get("content")))
            if choice.get("finish_reason"):
                answer.finished = True
