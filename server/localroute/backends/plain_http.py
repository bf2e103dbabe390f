"""The transport of plain-HTTP backends: HTTP/1.1 spoken with h11 on asyncio's streams.

httpx stays the interface (requests, responses, timeouts, exceptions); below it, for
clients whose URLs are all ``http://`` (local and private-network servers), this
transport takes the place of httpcore's connection pool. httpcore parses with h11 too,
but around it every request passes its pool's request queue, locks and events, its
connection and HTTP/1.1 state classes, its trace calls and its network-stream layer:
``python bench/plain_http.py`` measures a streamed chat request to a loopback server
through both, in one run (see docs/benchmarks.md). An editor's review pays for it once,
P5's bulk review for every file.

What it keeps from httpcore's pool, because the rest of the backends rely on it:

- at most ``max_connections`` requests at once; a request that waits for one longer than
  its ``pool`` timeout is :class:`httpx.PoolTimeout`;
- connections kept alive (at most ``max_keepalive_connections``, for
  ``keepalive_expiry`` seconds) and reused newest first; one the server has closed, or
  that has anything to read while idle, is dropped instead;
- a request and its body written at once (asyncio's transport buffers what the socket
  does not take), and what is already buffered read without a turn of the event loop:
  a round of a bulk review's answers does not hold back the next requests;
- the ``connect``, ``read``, ``write`` timeouts of each request, and httpx's exceptions
  (with the ``OSError`` behind them as their cause): refused and black-holed connects,
  resets, silent servers and broken answers read as they did;
- httpcore's ``trace`` event ``http11.send_request_body.complete`` once the request is
  written (:mod:`localroute.backends.sent` waits for it);
- an answer left before its end (an error, a cancellation) drops its connection at
  once, so that the server stops generating.

TLS is never spoken here: an ``https://`` URL is refused without a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import socket
from collections.abc import AsyncIterator
from typing import Any

import h11
import httpx

__all__ = ["HAPPY_EYEBALLS_S", "PlainHTTPTransport"]

log = logging.getLogger(__name__)

HAPPY_EYEBALLS_S = 0.25
"""A host name with several addresses (IPv6 and IPv4): the next address is tried when
the one before has not connected within this, while it goes on (anyio's delay, as
httpcore's own backend has it). Tried one after another, a dead first address would take
the whole connect timeout."""

READ_SIZE = 64 * 1024

HEAD_LIMIT = 100 * 1024
"""The longest status line and headers read (httpcore's limit)."""

SENT = "http11.send_request_body.complete"
"""The trace event httpcore sends once a request is written."""

Origin = tuple[str, int]


class _Connection:
    """One TCP connection and its HTTP/1.1 state."""

    def __init__(
        self, origin: Origin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.origin = origin
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=HEAD_LIMIT)
        self.idle_since = 0.0

    # -- writing ---------------------------------------------------------------------------

    async def send(self, request: httpx.Request, timeout: float | None) -> None:
        """Write the request's head and body."""
        target = request.url.raw_path
        head = h11.Request(method=request.method, target=target, headers=request.headers.raw)
        data = self._bytes(head)
        stream = request.stream
        if isinstance(stream, httpx.ByteStream):  # content=, json=, data= …: bytes at hand
            body = b"".join(stream)
            if body:
                data += self._bytes(h11.Data(data=body))
        else:
            self._write(data)
            data = b""
            async for chunk in stream:  # type: ignore[union-attr]  # an async body
                if chunk:
                    self._write(self._bytes(h11.Data(data=chunk)))
                    await self._drain(timeout)
        self._write(data + self._bytes(h11.EndOfMessage()))
        await self._drain(timeout)

    def _bytes(self, event: h11.Event) -> bytes:
        try:
            return self.h11.send(event) or b""
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc)) from exc

    def _write(self, data: bytes) -> None:
        # A transport that is closing drops what it is given: say so, as httpcore does.
        if self.writer.transport.is_closing():
            raise httpx.WriteError("the connection is closed")
        self.writer.write(data)

    async def _drain(self, timeout: float | None) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self.writer.drain()  # returns at once unless the socket is full
        except TimeoutError as exc:
            raise httpx.WriteTimeout(str(exc) or "write timed out") from exc
        except OSError as exc:
            raise httpx.WriteError(str(exc) or type(exc).__name__) from exc

    # -- reading ---------------------------------------------------------------------------

    async def next_event(self, timeout: float | None) -> Any:
        """The next h11 event of the answer, reading as much as it needs."""
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc)) from exc
            if event is not h11.NEED_DATA:
                return event
            data = await self._read(timeout)
            if not data and self._nothing_came():
                # As httpcore says it: nothing came back at all.
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            self.h11.receive_data(data)

    def _nothing_came(self) -> bool:
        return self.h11.their_state is h11.SEND_RESPONSE and not self.h11.trailing_data[0]

    async def _read(self, timeout: float | None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self.reader.read(READ_SIZE)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "read timed out") from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc

    async def head(self, timeout: float | None) -> h11.Response:
        """The answer's status line and headers (informational answers skipped)."""
        while True:
            event = await self.next_event(timeout)
            if isinstance(event, h11.Response):
                return event
            if not isinstance(event, h11.InformationalResponse):
                raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__} in an answer")

    # -- keeping -----------------------------------------------------------------------------

    def finished(self) -> bool:
        """Both sides are done with a request, and the connection may carry another."""
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            return True
        return False

    def reusable(self, now: float, expiry: float | None) -> bool:
        """Whether an idle connection can carry a request: not expired, not closed by the
        server, and nothing unasked to read."""
        if expiry is not None and now - self.idle_since > expiry:
            return False
        reader = self.reader
        if self.writer.transport.is_closing() or reader.at_eof() or reader.exception():
            return False
        return not _readable(self.writer.get_extra_info("socket"))

    def drop(self) -> None:
        """Close at once: an answer cut off mid-stream must stop the server's work now,
        not when the event loop next gets round to closing the socket."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(RuntimeError):  # made on an event loop closed since
            self.writer.transport.abort()

    def close(self) -> None:
        """Close an idle connection."""
        self.writer.transport.close()


def _readable(sock: socket.socket | None) -> bool:
    # As httpcore's own helper (httpcore._utils.is_socket_readable, which is private): a
    # socket that is gone counts as readable, so the connection is not reused.
    fd = sock.fileno() if sock is not None else -1
    if fd < 0:
        return True
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))


async def open_tcp(host: str, port: int, timeout: float | None) -> _Connection:
    """A new connection, with httpx's connect errors."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                host, port, limit=READ_SIZE, happy_eyeballs_delay=HAPPY_EYEBALLS_S
            )
    except TimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timed out") from exc
    except OSError as exc:
        raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
    return _Connection((host, port), reader, writer)  # asyncio has set TCP_NODELAY


class _Body(httpx.AsyncByteStream):
    """An answer's body, read from its connection; closing it hands the connection back."""

    def __init__(
        self, pool: PlainHTTPTransport, connection: _Connection, timeout: float | None
    ) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            raise httpx.StreamClosed()
        while True:
            event = await connection.next_event(self._timeout)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif event is h11.PAUSED or isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return  # (h11 pauses only after the end of an answer, and then for good)

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool.release(connection, keep=connection.finished())


class PlainHTTPTransport(httpx.AsyncBaseTransport):
    """httpx's transport for ``http://`` URLs; see the module's docstring."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._max = limits.max_connections
        self._keep = limits.max_keepalive_connections
        self._expiry = limits.keepalive_expiry
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            if url.scheme == "https":  # never in the clear, never TLS here
                raise httpx.ConnectError("TLS is not available on this connection")
            raise httpx.UnsupportedProtocol(f"the URL scheme {url.scheme!r} is not http")
        if self._closed:
            raise httpx.ConnectError("the client is closed")
        timeouts: dict[str, float | None] = request.extensions.get("timeout") or {}
        await self._acquire(timeouts.get("pool"))
        connection: _Connection | None = None
        try:
            connection = self._idle_for((url.host, url.port or 80))
            if connection is None:
                connection = await open_tcp(url.host, url.port or 80, timeouts.get("connect"))
                self._open.add(connection)
            await connection.send(request, timeouts.get("write"))
            trace = request.extensions.get("trace")
            if trace is not None:
                await trace(SENT, {"request": request})
            head = await connection.head(timeouts.get("read"))
        except BaseException:
            self.release(connection, keep=False)
            raise
        return httpx.Response(
            head.status_code,
            headers=head.headers.raw_items(),
            stream=_Body(self, connection, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": bytes(head.reason)},
        )

    async def _acquire(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        slots = self._slots if loop is self._loop and self._slots else self._bind(loop)
        if not slots.locked():
            await slots.acquire()  # free: returns without a turn of the loop
            return
        try:
            async with asyncio.timeout(timeout):
                await slots.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout(str(exc) or "no connection free") from exc

    def _bind(self, loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
        """Serve requests on ``loop``: on first use, or when the client is used from
        another event loop (a second ``asyncio.run``), whose connections and waiters are
        of no use here."""
        for connection in self._open:
            connection.drop()
        self._open.clear()
        self._idle.clear()
        self._loop = loop
        self._slots = asyncio.Semaphore(self._max or 2**31)
        return self._slots

    def _idle_for(self, origin: Origin) -> _Connection | None:
        """The newest idle connection to ``origin`` that can be used; the rest of the
        expired or closed ones are closed on the way."""
        now = asyncio.get_running_loop().time()
        for connection in reversed(self._idle):
            if connection.origin != origin:
                continue
            self._idle.remove(connection)
            if connection.reusable(now, self._expiry):
                return connection
            self._forget(connection)
        if self._max is not None and len(self._open) >= self._max and self._idle:
            self._forget(self._idle.pop(0))  # the oldest idle one makes room
        return None

    def release(self, connection: _Connection | None, *, keep: bool) -> None:
        """A request is over: its slot is free, its connection idle or closed."""
        if self._slots is not None:
            self._slots.release()
        if connection is None:
            return
        if keep and not self._closed:
            connection.idle_since = asyncio.get_running_loop().time()
            self._idle.append(connection)
            if self._keep is not None and len(self._idle) > self._keep:
                self._forget(self._idle.pop(0))
            return
        self._open.discard(connection)
        connection.drop()

    def _forget(self, connection: _Connection) -> None:
        self._open.discard(connection)
        connection.close()

    async def aclose(self) -> None:
        self._closed = True
        self._idle.clear()
        for connection in list(self._open):
            connection.drop()
        self._open.clear()
        with contextlib.suppress(Exception):
            await asyncio.sleep(0)  # the loop closes the sockets


def connection_count(transport: httpx.AsyncBaseTransport) -> tuple[int, int]:
    """(open, idle) connections of a :class:`PlainHTTPTransport`, for tests and benches."""
    inner = getattr(transport, "_inner", transport)
    if not isinstance(inner, PlainHTTPTransport):
        raise TypeError(f"not a plain-HTTP transport: {type(inner).__name__}")
    return len(inner._open), len(inner._idle)


class PlainHTTPClient(httpx.AsyncClient):
    """The client of a plain-HTTP backend: a request goes straight to its
    :class:`PlainHTTPTransport`, past httpx's layers for authentication, redirects,
    cookies and event hooks, which a backend's client never uses (its credentials are
    headers, it follows no redirect, it keeps no cookie). A request that would use one
    of them (a URL with a user name, a call that follows redirects, a client with hooks)
    takes httpx's own way. ``response.elapsed`` is not set on the short way.

    The layers cost about a tenth of a millisecond a request (``python
    bench/plain_http.py``), about as much as the rest of what httpx does.
    """

    def __init__(self, *, transport: httpx.AsyncBaseTransport, **kwargs: Any) -> None:
        super().__init__(transport=transport, **kwargs)
        self._plain = transport

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        plain = (
            auth is httpx.USE_CLIENT_DEFAULT
            and follow_redirects in (httpx.USE_CLIENT_DEFAULT, False)
            and self.auth is None
            and not self.follow_redirects
            and "timeout" in request.extensions
            and not request.url.userinfo
            and not any(self.event_hooks.values())
        )
        if not plain:
            return await super().send(
                request, stream=stream, auth=auth, follow_redirects=follow_redirects
            )
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        response = await self._plain.handle_async_request(request)
        response.request = request
        if not stream:
            try:
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        return response
