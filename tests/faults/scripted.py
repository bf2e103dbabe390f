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
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

JSON = "application/json"

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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    owner: ScriptedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # clients leaving mid-answer is what these tests do


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        status, ctype, body = PROBE_ANSWERS.get(path, (404, "text/plain", "404 page not found"))
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        owner = self.server.owner
        with owner.lock:
            owner.posts += 1
        script = owner.script
        self.close_connection = True
        self.send_response(script.status)
        self.send_header("Content-Type", script.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in script.head:
                self._chunk(chunk)
            if script.repeat is not None:
                deadline = time.monotonic() + script.max_s
                while time.monotonic() < deadline and not owner.closing.is_set():
                    self._chunk(script.repeat)
                    if self._client_gone(script.interval_s):
                        return
            for chunk in script.tail:
                self._chunk(chunk)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            return

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _client_gone(self, seconds: float) -> bool:
        """Wait ``seconds``; True as soon as the client closed the connection."""
        sock: socket.socket = self.connection
        readable, _, _ = select.select([sock], [], [], seconds)
        if not readable:
            return False
        try:
            return not sock.recv(1, socket.MSG_PEEK)
        except OSError:
            return True


class ScriptedServer:
    """Answers ``POST`` (any path) with :attr:`script`; ``GET`` with :data:`PROBE_ANSWERS`.

    Records ``posts`` (chat requests received).
    """

    def __init__(self, script: Script) -> None:
        self.script = script
        self.posts = 0
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self._server: _Server | None = None

    def __enter__(self) -> ScriptedServer:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None, "use ScriptedServer as a context manager"
        return int(self._server.server_address[1])

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"
