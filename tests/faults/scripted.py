"""A loopback HTTP server that answers chat requests with a scripted byte stream.

For the protocol faults the fakes in ``tests/fakes`` have no knob for: an answer stream whose
every event is invalid JSON, or one that sends chunks without content forever (``choices:
[]``, ``event: ping``, empty NDJSON lines). Probes get small valid answers, so a backend
behind it is seen up::

    script = Script(head=[b'data: {"choices": [\\n\\n'], tail=[b"data: [DONE]\\n\\n"])
    with ScriptedServer(script) as server:
        url = f"{server.root}/v1"
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from tests.fakes.server import (
    JSON,
    ChunkedBody,
    ClientGone,
    FakeHandler,
    LoopbackFake,
    RecordedRequest,
    chunked_head,
    send,
)

_MODELS = {"object": "list", "data": [{"id": "coder", "object": "model", "owned_by": "fault"}]}
PROBE_ANSWERS: dict[str, tuple[int, str, str]] = {
    "/health": (200, "text/plain", "OK"),
    "/models": (200, JSON, json.dumps(_MODELS)),
    "/v1/models": (200, JSON, json.dumps(_MODELS)),
    "/api/version": (200, JSON, json.dumps({"version": "0.5.1"})),
    "/api/tags": (200, JSON, json.dumps({"models": [{"name": "coder:latest"}]})),
}
"""``GET`` answers: what the OpenAI, Ollama and Anthropic probes and Copilot's ``/models`` read."""


@dataclass(frozen=True)
class Script:
    """A chunked answer to every ``POST``: ``head``, then ``repeat`` every ``interval_s`` until
    the client leaves (at most ``max_s``), then ``tail``."""

    content_type: str = "text/event-stream"
    status: int = 200
    head: list[bytes] = field(default_factory=list)
    repeat: bytes | None = None
    interval_s: float = 0.05
    max_s: float = 60.0
    tail: list[bytes] = field(default_factory=list)


class ScriptedServer(LoopbackFake):
    """Answers ``POST`` (any path) with :attr:`script`; ``GET`` with :data:`PROBE_ANSWERS`.

    Records ``posts`` (chat requests received), besides every request.
    """

    def __init__(self, script: Script) -> None:
        super().__init__()
        self.script = script

    @property
    def posts(self) -> int:
        return sum(1 for r in self.requests if r.method == "POST")

    def _route(self, handler: FakeHandler, request: RecordedRequest) -> None:
        if request.method != "POST":
            status, ctype, body = PROBE_ANSWERS.get(
                request.path, (404, "text/plain", "404 page not found")
            )
            send(handler, status, body, ctype)
            return
        script = self.script
        handler.close_connection = True
        chunked_head(handler, script.content_type, status=script.status)
        out = ChunkedBody(handler)
        try:
            for chunk in script.head:
                out.write(chunk)
            if script.repeat is not None:
                self._repeat(handler, out, script.repeat, script.interval_s, script.max_s)
            for chunk in script.tail:
                out.write(chunk)
            out.end()
        except (OSError, ClientGone):
            return  # clients leaving mid-answer is what these tests do

    def _repeat(
        self, handler: FakeHandler, out: ChunkedBody, chunk: bytes, interval_s: float, max_s: float
    ) -> None:
        """``chunk`` every ``interval_s`` for ``max_s``; :class:`ClientGone` once the client
        closed the connection."""
        deadline = time.monotonic() + max_s
        while time.monotonic() < deadline and not self._closing.is_set():
            out.write(chunk)
            self._wait(handler, interval_s)
