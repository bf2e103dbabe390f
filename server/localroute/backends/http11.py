"""One HTTP/1.1 connection of a plain-HTTP backend, on asyncio's streams.

:mod:`localroute.backends.plain_http` keeps these connections in its pool; heads are
written and read by :mod:`localroute.backends.http1`, chunked bodies decoded by
:mod:`localroute.backends.chunked`. A request and
its body are written at once (asyncio's transport buffers what the socket does not take)
and what is already buffered is read without a turn of the event loop. Failures are
httpx's exceptions, with the ``OSError`` behind them as their cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket

import httpx

from localroute.backends.chunked import ChunkedBody
from localroute.backends.http1 import (
    CHUNKED,
    TO_CLOSE,
    BodyToClose,
    Head,
    Headers,
    LengthBody,
    RequestBody,
    head_lines,
    parse_head,
    request_head,
)

__all__ = ["HAPPY_EYEBALLS_S", "Connection", "Origin", "open_connection"]

HAPPY_EYEBALLS_S = 0.25
"""A host name with several addresses (IPv6 and IPv4): the next address is tried when
the one before has not connected within this, while it goes on (anyio's delay, as
httpcore's own backend has it). Tried one after another, a dead first address would take
the whole connect timeout."""

READ_SIZE = 64 * 1024

HEAD_LIMIT = 100 * 1024
"""The longest status line and headers read (httpcore's limit)."""

Origin = tuple[str, int]

Body = ChunkedBody | LengthBody | BodyToClose


class Connection:
    """One connection (TCP, or to a unix socket) and the request on it."""

    def __init__(
        self, origin: Origin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.origin = origin
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0
        self.body: Body | None = None
        """The body of the answer being read (None before its head)."""
        self._keep_alive = True
        """The request written last lets the connection carry another."""
        self._pending = b""
        """Bytes read and not yet taken: of a head, then data of the body."""
        self._method = b"GET"

    # -- writing ---------------------------------------------------------------------------

    async def send(self, request: httpx.Request, timeout: float | None) -> None:
        """Write the request's head and body."""
        method = request.method.encode("ascii")
        target = request.url.raw_path
        stream = request.stream
        if isinstance(stream, httpx.ByteStream):  # content=, json=, data= …: bytes at hand
            await self.send_bytes(method, target, request.headers.raw, b"".join(stream), timeout)
            return
        head, body = self._begin(method, target, request.headers.raw)
        self._write(head)
        async for chunk in stream:  # type: ignore[union-attr]  # an async body
            if chunk:
                self._write(body.data(chunk))
                await self._drain(timeout)
        self._write(body.end())
        await self._drain(timeout)

    async def send_bytes(
        self, method: bytes, target: bytes, headers: Headers, body: bytes, timeout: float | None
    ) -> None:
        """Write a request whose body is at hand, in one write."""
        head, framing = self._begin(method, target, headers)
        self._write(head + framing.data(body) + framing.end())
        await self._drain(timeout)

    def _begin(self, method: bytes, target: bytes, headers: Headers) -> tuple[bytes, RequestBody]:
        """A request starts: its head (for the caller to write) and its body's framing."""
        head = request_head(method, target, headers)
        self._method = method
        self._keep_alive = head.keep_alive
        self.body = None
        return head.data, RequestBody(head.framing)

    def _write(self, data: bytes) -> None:
        # A transport that is closing drops what it is given: say so, as httpcore does.
        if self.writer.transport.is_closing():
            raise httpx.WriteError("the connection is closed")
        self.writer.write(data)

    async def _drain(self, timeout: float | None) -> None:
        if not self.writer.transport.get_write_buffer_size():
            return  # the socket took it all: nothing to wait for (nor a timer to set)
        try:
            async with asyncio.timeout(timeout):
                await self.writer.drain()  # returns at once unless the socket is full
        except TimeoutError as exc:
            raise httpx.WriteTimeout(str(exc) or "write timed out") from exc
        except OSError as exc:
            raise httpx.WriteError(str(exc) or type(exc).__name__) from exc

    # -- reading ---------------------------------------------------------------------------

    async def _read(self, timeout: float | None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self.reader.read(READ_SIZE)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "read timed out") from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc

    async def head(self, timeout: float | None) -> Head:
        """The answer's head (1xx answers skipped); its body is then read with
        :meth:`next_piece`."""
        data = self._pending
        self._pending = b""
        while True:
            found = head_lines(data)
            if found is None:
                if len(data) > HEAD_LIMIT:
                    raise httpx.RemoteProtocolError("Receive buffer too long")
                more = await self._read(timeout)
                if not more:
                    if not data:  # as httpcore says it: nothing came back at all
                        raise httpx.RemoteProtocolError(
                            "Server disconnected without sending a response."
                        )
                    raise httpx.RemoteProtocolError("peer unexpectedly closed connection")
                data += more
                continue
            lines, used = found
            head = parse_head(lines, self._method, self._keep_alive)
            data = data[used:]
            if head.status_code >= 200:
                break
        framing = head.framing
        if framing == CHUNKED:
            self.body = ChunkedBody(HEAD_LIMIT)
        elif framing == TO_CLOSE:
            self.body = BodyToClose()
        else:
            self.body = LengthBody(framing)
        self._keep_alive = head.keep_alive
        self._pending = self.body.feed(data) if data else b""
        return head

    async def next_piece(self, timeout: float | None) -> bytes | None:
        """The next data of the answer's body (all that is read), or None at its end."""
        body = self.body
        assert body is not None
        if self._pending:
            piece, self._pending = self._pending, b""
            return piece
        while not body.done:
            data = await self._read(timeout)
            if not data:
                body.eof()  # the end of a body that runs to the close, else an error
                return None
            piece = body.feed(data)
            if piece:
                return piece
        return None

    # -- keeping -----------------------------------------------------------------------------

    def finished(self) -> bool:
        """The answer was read to its end, and the connection may carry another request."""
        body = self.body
        if body is None or not body.done or body.extra or not self._keep_alive:
            return False
        self.body = None
        return True

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


async def open_connection(origin: Origin, uds: str | None, timeout: float | None) -> Connection:
    """A new connection to ``origin`` (or to the unix socket ``uds``), with httpx's
    connect errors."""
    host, port = origin
    try:
        async with asyncio.timeout(timeout):
            if uds is not None:
                reader, writer = await asyncio.open_unix_connection(uds, limit=READ_SIZE)
            else:  # asyncio sets TCP_NODELAY
                reader, writer = await asyncio.open_connection(
                    host, port, limit=READ_SIZE, happy_eyeballs_delay=HAPPY_EYEBALLS_S
                )
    except TimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timed out") from exc
    except OSError as exc:
        raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
    return Connection(origin, reader, writer)
