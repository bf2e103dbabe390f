"""What every loopback fake shares: a threaded HTTP/1.1 server on 127.0.0.1, a sleep
that notices a client that went away, and sending a whole response.

A fake is any object with ``_handle(handler, method)``; ``serve(fake)`` starts a server
that calls it for every request.
"""

from __future__ import annotations

import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


class ClientGone(Exception):
    """The client closed the connection."""


class FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops connection attempts under load (the
    # client then waits a second for a SYN retransmit); real servers listen with more.
    request_queue_size = 128
    fake: Any

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client dropping an idle keep-alive connection is normal, not worth a traceback
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes
    server: FakeHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self.server.fake._handle(self, "GET")

    def do_HEAD(self) -> None:
        self.server.fake._handle(self, "HEAD")

    def do_POST(self) -> None:
        self.server.fake._handle(self, "POST")


def serve(fake: Any, host: str = "127.0.0.1", port: int = 0) -> FakeHTTPServer:
    """Start serving ``fake`` in a daemon thread; the bound port is ``server_address[1]``."""
    server = FakeHTTPServer((host, port), FakeHandler)
    server.fake = fake
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


def stop(server: FakeHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


def wait_or_gone(handler: FakeHandler, seconds: float, closing: threading.Event) -> None:
    """Sleep, but raise :class:`ClientGone` at once when the client closes the connection."""
    sock: socket.socket = handler.connection
    deadline = time.monotonic() + seconds
    while not closing.is_set() and (remaining := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([sock], [], [], min(remaining, 0.05))
        if readable:
            try:
                if not sock.recv(1, socket.MSG_PEEK):
                    raise ClientGone
            except OSError as exc:
                raise ClientGone from exc
            time.sleep(min(remaining, 0.01))


def send(
    handler: FakeHandler,
    status: int,
    body: str | bytes,
    content_type: str = JSON,
    headers: dict[str, str] | None = None,
) -> None:
    """One whole response with a Content-Length (no body for HEAD)."""
    data = body.encode() if isinstance(body, str) else body
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(data)
    handler.wfile.flush()
