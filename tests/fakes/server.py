"""What every loopback fake shares: a threaded HTTP/1.1 server on 127.0.0.1 that records
every request, a sleep that notices a client that went away, whole and chunked responses.

A fake subclasses :class:`LoopbackFake` and answers in ``_route(handler, request)``::

    class Teapot(LoopbackFake):
        def _route(self, handler: FakeHandler, request: RecordedRequest) -> None:
            self._send(handler, 418, "I'm a teapot", TEXT)

    with Teapot() as fake:
        httpx.get(fake.url)
        assert fake.requests[0].method == "GET"

Lower down, any object with ``_handle(handler, method)`` can be served by :func:`serve`.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
REVIEW_ANSWER = '{"findings": []}'

ErrorSpec = tuple[int, str, str, dict[str, str]]
"""``(status, body, content_type, extra_headers)``: an error answered to a request."""


class ClientGone(Exception):
    """The client closed the connection."""


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    """The path, without the query."""
    headers: dict[str, str]
    """Header names in lower case."""
    json: Any
    """The decoded JSON body, or None."""
    body: bytes = b""
    target: str = ""
    """The request target as sent: the path and the query."""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


# -- the server ---------------------------------------------------------------------------------


class _Serving(socketserver.BaseServer):
    """What both servers of a fake share (on a loopback port, on a socket file)."""

    daemon_threads = True
    # socketserver's default backlog of 5 drops connection attempts under load (the
    # client then waits a second for a SYN retransmit); real servers listen with more.
    request_queue_size = 128
    fake: Any

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client dropping an idle keep-alive connection is normal, not worth a traceback
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeHTTPServer(_Serving, ThreadingHTTPServer):
    pass


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


class UnixFakeHTTPServer(_Serving, socketserver.ThreadingUnixStreamServer):
    """The same fake on a unix socket file (``unix:`` backend URLs)."""


class UnixFakeHandler(FakeHandler):
    disable_nagle_algorithm = False  # no TCP on a socket file

    def address_string(self) -> str:
        return "unix"


def serve(
    fake: Any, host: str = "127.0.0.1", port: int = 0, unix_socket: str | None = None
) -> FakeHTTPServer | UnixFakeHTTPServer:
    """Start serving ``fake`` in a daemon thread; the bound port is ``server_address[1]``
    (on a unix socket, ``server_address`` is its path)."""
    server: FakeHTTPServer | UnixFakeHTTPServer
    if unix_socket is not None:
        server = UnixFakeHTTPServer(unix_socket, UnixFakeHandler)
    else:
        server = FakeHTTPServer((host, port), FakeHandler)
    server.fake = fake
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


def stop(server: FakeHTTPServer | UnixFakeHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
        if isinstance(server, UnixFakeHTTPServer):
            with contextlib.suppress(OSError):
                os.unlink(server.server_address)


# -- answering ----------------------------------------------------------------------------------


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


def client_left(sock: socket.socket) -> bool:
    """Whether the client has closed or reset ``sock`` (looked at without waiting or
    reading: a request's body was read whole, so any byte there is a next request)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


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


def sse(payload: Any, event: str | None = None) -> bytes:
    """One server-sent event: ``data:`` with ``payload`` (JSON unless a string), after an
    ``event:`` line when ``event`` is given."""
    data = payload if isinstance(payload, str) else json.dumps(payload)
    prefix = f"event: {event}\n" if event is not None else ""
    return f"{prefix}data: {data}\n\n".encode()


def split(text: str, size: int) -> list[str]:
    """``text`` in pieces of ``size`` characters (at least one each)."""
    step = max(1, size)
    return [text[i : i + step] for i in range(0, len(text), step)]


def chunked_head(
    handler: FakeHandler,
    content_type: str,
    headers: Sequence[tuple[str, str]] = (),
    status: int = 200,
) -> None:
    """The head of a chunked response: the status and ``Content-Type``, then ``headers`` in
    order, then ``Transfer-Encoding: chunked`` unless ``headers`` placed it already."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    for name, value in headers:
        handler.send_header(name, value)
    if not any(name.lower() == "transfer-encoding" for name, _ in headers):
        handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()


class ChunkedBody:
    """The body of a chunked response (its head sent by :func:`chunked_head`): every
    :meth:`write` is one chunk, :meth:`end` the last (empty) one."""

    def __init__(self, handler: FakeHandler) -> None:
        self.handler = handler

    def write(self, data: bytes) -> None:
        self.handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.handler.wfile.flush()

    def event(self, payload: Any, name: str | None = None) -> None:
        """One server-sent event (see :func:`sse`) as one chunk."""
        self.write(sse(payload, name))

    def end(self) -> None:
        """The last chunk: the body is complete."""
        self.write(b"")

    def finish(self) -> None:
        """:meth:`end`, once the answer is complete: a client that leaves now is no
        disconnect."""
        with contextlib.suppress(OSError):
            self.end()

    def cut(self) -> None:
        """Close the connection without ending the body (a truncated answer)."""
        self.handler.close_connection = True
        with contextlib.suppress(OSError):
            self.handler.connection.shutdown(socket.SHUT_RDWR)


# -- the base of every fake ---------------------------------------------------------------------


class LoopbackFake:
    """A fake server on ``127.0.0.1``: its lifecycle, its records, and what answering shares.

    Use as a context manager (or :meth:`start` / :meth:`close`); ``root`` is
    ``http://127.0.0.1:PORT`` and ``url`` the URL a backend is given (``root`` unless a
    fake says otherwise). Subclasses answer in :meth:`_route`.

    Records: ``requests`` (every request, in order), ``in_flight`` / ``max_in_flight``
    (answers being given now; the most at once to clients still waiting, see
    :meth:`_answering`), ``disconnects`` (answers whose client left
    before they ended), ``errors_sent`` (scripted errors answered), ``stream_started``
    (set when a first piece of a streamed answer was written).

    Subclasses may set ``answer`` / ``answer_fn(body)`` / ``chunk_size`` (what
    :meth:`_pieces` streams) and ``error`` / ``error_times`` (what :meth:`_scripted_error`
    hands out: the error for the first ``error_times`` answers when set, else for all).
    """

    answer: str = REVIEW_ANSWER
    answer_fn: Callable[[dict[str, Any]], str] | None = None
    chunk_size: int = 8
    error: ErrorSpec | None = None
    error_times: int | None = None

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, unix_socket: str | None = None
    ) -> None:
        self.stream_started = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self._answering_to: dict[int, socket.socket] = {}
        self.disconnects = 0
        self.errors_sent = 0
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._host = host
        self._port = port
        self._unix_socket = unix_socket
        self._server: FakeHTTPServer | UnixFakeHTTPServer | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        self._closing.clear()
        self._server = serve(self, self._host, self._port, self._unix_socket)
        if self._unix_socket is None:
            self._port = self._server.server_address[1]
        return self

    def close(self) -> None:
        self._closing.set()
        stop(self._server)
        self._server = None

    def __enter__(self) -> Self:
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
        """``http://127.0.0.1:PORT``, or ``unix:PATH`` on a unix socket."""
        if self._unix_socket is not None:
            return f"unix:{self._unix_socket}"
        return f"http://{self._host}:{self._port}"

    @property
    def url(self) -> str:
        return self.root

    # -- records ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def reset_records(self) -> None:
        with self._lock:
            self._requests.clear()
            self.max_in_flight = 0
            self.disconnects = 0
            self.errors_sent = 0
        self.stream_started.clear()

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 2.0) -> bool:
        """Poll ``predicate`` until it holds or ``timeout_s`` passes (for thread-side effects)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return predicate()

    # -- answering --------------------------------------------------------------------------

    def _handle(self, handler: FakeHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in handler.headers.items()}
        path = handler.path.split("?", 1)[0]
        request = RecordedRequest(method, path, headers, body, raw, handler.path)
        with self._lock:
            self._requests.append(request)
        try:
            self._route(handler, request)
        except (BrokenPipeError, ConnectionResetError, ClientGone):
            handler.close_connection = True

    def _route(self, handler: FakeHandler, request: RecordedRequest) -> None:
        raise NotImplementedError

    def _wait(self, handler: FakeHandler, seconds: float) -> None:
        """Sleep ``seconds`` (nothing when not positive); :class:`ClientGone` when the client
        leaves meanwhile."""
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

    @contextlib.contextmanager
    def _answering(self, handler: FakeHandler) -> Iterator[None]:
        """Count an answer in flight, and its client leaving before it ended.

        ``max_in_flight`` counts the answers whose clients were still connected when
        another began: a client that hung up on one answer and sent the next request at
        once is not waiting for two, though the thread of the first may not have seen
        the hang-up yet (the kernel has: the connection reads as ended)."""
        with self._lock:
            waiting = sum(1 for sock in self._answering_to.values() if not client_left(sock))
            self._answering_to[id(handler)] = handler.connection
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, waiting + 1)
        try:
            yield
        except (BrokenPipeError, ConnectionResetError, ClientGone):
            with self._lock:
                self.disconnects += 1
            raise
        finally:
            with self._lock:
                self.in_flight -= 1
                self._answering_to.pop(id(handler), None)

    def _scripted_error(self) -> ErrorSpec | None:
        """``error`` while ``error_times`` allows it (counted in ``errors_sent``), else None."""
        error = self.error
        if error is None:
            return None
        with self._lock:
            use = self.error_times is None or self.errors_sent < self.error_times
            self.errors_sent += int(use)
        return error if use else None

    def _pieces(self, body: dict[str, Any]) -> list[str]:
        """The answer to ``body`` (``answer_fn``'s, else ``answer``) in ``chunk_size`` pieces."""
        text = self.answer_fn(body) if self.answer_fn is not None else self.answer
        return split(text, self.chunk_size)
