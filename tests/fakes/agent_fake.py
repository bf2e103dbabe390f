"""A loopback model provider that tries to make an agent CLI act: every answer is a tool call.

The fake speaks the two protocols the agent CLIs use for their model: OpenAI chat completions
(``POST /v1/chat/completions``, streamed or not; opencode's custom providers, the Copilot CLI's
BYOK provider) and the Gemini API (``POST /v1beta/models/M:streamGenerateContent`` and
``:generateContent``; the Gemini CLI). Per conversation, its n-th model turn (counted from the
assistant/model turns already in the request) is the n-th :class:`ToolCall` of ``plan`` — read
a private file, write a file, run a shell command, fetch a URL — and once the plan is spent,
the text ``answer``. Whatever a CLI sends back (tool results, refusals) is in the next request,
so the records show what a tool would have given away.

``GET /fetched/...`` is the target of the fetch step: ``fetched`` records every hit.

Records: ``requests`` (every request, raw body included), ``model_requests`` (the chat and
generate calls). ``dead`` makes every model call answer 503, as a provider that is down.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.server import JSON, FakeHandler, LoopbackFake, RecordedRequest, sse


@dataclass(frozen=True)
class ToolCall:
    """One tool call the fake asks for. The first of ``names`` that the CLI offers is used;
    when it offers none of them, the first is asked for anyway (a CLI must not run a tool it
    did not offer)."""

    names: tuple[str, ...]
    args: dict[str, Any]


Recorded = RecordedRequest


@dataclass
class _Turn:
    """What the fake answers to one model request."""

    text: str | None = None
    call: tuple[str, dict[str, Any]] | None = None
    call_id: str = ""


@dataclass(eq=False)
class FakeAgentProvider(LoopbackFake):
    """See the module docstring. Use as a context manager; ``url`` is ``http://127.0.0.1:P``."""

    plan: list[ToolCall] = field(default_factory=list)
    answer: str = '{"findings": []}'
    dead: bool = False

    def __post_init__(self) -> None:
        LoopbackFake.__init__(self)
        self._fetched: list[str] = []
        self._calls = 0

    @property
    def fetch_url(self) -> str:
        """The URL the fetch step asks for; a hit lands in :attr:`fetched`."""
        return f"{self.url}/fetched/page.html"

    # -- records -----------------------------------------------------------------------------

    @property
    def model_requests(self) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if r.method == "POST"
            and (r.path.endswith("/chat/completions") or "generatecontent" in r.path.lower())
        ]

    @property
    def fetched(self) -> list[str]:
        with self._lock:
            return list(self._fetched)

    def saw(self, needle: str) -> bool:
        """Whether ``needle`` appears in any request the fake received (path, headers, body)."""
        return any(
            needle in r.text or needle in r.target or needle in json.dumps(r.headers)
            for r in self.requests
        )

    # -- dispatch ----------------------------------------------------------------------------

    def _route(self, handler: FakeHandler, request: RecordedRequest) -> None:
        method, path = request.method, request.path
        body = request.json if isinstance(request.json, dict) else {}
        if path.startswith("/fetched/"):
            with self._lock:
                self._fetched.append(request.target)
            self._send(handler, 200, "<html><body>fetched</body></html>", "text/html")
        elif self.dead and method == "POST":
            self._send(handler, 503, json.dumps({"error": {"message": "down", "code": 503}}))
        elif method == "GET" and path.endswith("/models"):
            self._send(handler, 200, json.dumps(_models()))
        elif method == "POST" and path.endswith("/chat/completions"):
            self._openai(handler, body)
        elif method == "POST" and "generatecontent" in path.lower():
            self._gemini(handler, body, path)
        elif method == "POST" and path.endswith(":countTokens"):
            self._send(handler, 200, json.dumps({"totalTokens": 10}))
        else:
            self._send(handler, 404, json.dumps({"error": {"message": f"no {path}"}}), JSON)

    def _turn(self, done_turns: int, offered: set[str]) -> _Turn:
        with self._lock:
            self._calls += 1
            call_id = f"call_{self._calls}"
        if done_turns >= len(self.plan):
            return _Turn(text=self.answer)
        step = self.plan[done_turns]
        name = next((n for n in step.names if n in offered), step.names[0])
        return _Turn(call=(name, step.args), call_id=call_id)

    # -- OpenAI chat completions ---------------------------------------------------------------

    def _openai(self, handler: FakeHandler, body: dict[str, Any]) -> None:
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        done = sum(1 for m in messages if m.get("role") == "assistant")
        offered = {
            str((t.get("function") or {}).get("name"))
            for t in body.get("tools") or []
            if isinstance(t, dict)
        }
        turn = self._turn(done, offered)
        model = str(body.get("model") or "fake")
        head = {"id": "chatcmpl-agent", "created": int(time.time()), "model": model}
        message: dict[str, Any] = {"role": "assistant", "content": turn.text}
        finish = "stop"
        if turn.call is not None:
            name, args = turn.call
            message["tool_calls"] = [
                {
                    "index": 0,
                    "id": turn.call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
            ]
            finish = "tool_calls"
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        if not body.get("stream"):
            doc = {
                **head,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage,
            }
            self._send(handler, 200, json.dumps(doc))
            return
        chunk = {**head, "object": "chat.completion.chunk"}
        events = [{**chunk, "choices": [{"index": 0, "delta": message, "finish_reason": None}]}]
        events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        events.append({**chunk, "choices": [], "usage": usage})
        data = b"".join(sse(e) for e in events) + sse("[DONE]")
        self._send(handler, 200, data, "text/event-stream")

    # -- Gemini API ----------------------------------------------------------------------------

    def _gemini(self, handler: FakeHandler, body: dict[str, Any], path: str) -> None:
        contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
        done = sum(1 for c in contents if c.get("role") == "model")
        offered = {
            str(d.get("name"))
            for t in body.get("tools") or []
            if isinstance(t, dict)
            for d in t.get("functionDeclarations") or []
            if isinstance(d, dict)
        }
        turn = self._turn(done, offered)
        if turn.call is not None:
            name, args = turn.call
            parts: list[dict[str, Any]] = [{"functionCall": {"name": name, "args": args}}]
        else:
            parts = [{"text": turn.text or ""}]
        doc = {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {
                "promptTokenCount": 10,
                "candidatesTokenCount": 5,
                "totalTokenCount": 15,
            },
            "modelVersion": path.split("/models/", 1)[-1].split(":", 1)[0],
        }
        if ":streamGenerateContent" in path:
            self._send(handler, 200, f"data: {json.dumps(doc)}\r\n\r\n", "text/event-stream")
        else:
            self._send(handler, 200, json.dumps(doc))


def _models() -> dict[str, Any]:
    return {"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "fake"}]}
