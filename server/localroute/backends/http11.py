"""One HTTP/1.1 connection of a plain-HTTP backend: h11 on asyncio's streams.

:mod:`localroute.backends.plain_http` keeps these connections in its pool. A request and
its body are written at once (asyncio's transport buffers what the socket does not take)
and what is already buffered is read without a turn of the event loop. Failures are
httpx's exceptions, with the ``OSError`` behind them as their cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
from typing import Any

import h11
import httpx

from localroute.backends.chunked import INCOMPLETE, ChunkedBody

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


class Connection:
    """One connection (TCP, or to a unix socket) and its HTTP/1.1 state."""

    def __init__(
        self, origin: Origin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.origin = origin
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=HEAD_LIMIT)
        self.idle_since = 0.0
        self.chunks: ChunkedBody | None = None
        """A chunked answer's body, decoded past h11 (see :mod:`localroute.backends.chunked`)."""
        self._keep_alive = False
        self._pending = b""

    # -- writing ---------------------------------------------------------------------------

    async def send(self, request: httpx.Request, timeout: float | None) -> None:
        """Write the request's head and body."""
        target = request.url.raw_path
        stream = request.stream
        if isinstance(stream, httpx.ByteStream):  # content=, json=, data= …: bytes at hand
            body = b"".join(stream)
            await self.send_bytes(request.method, target, request.headers.raw, body, timeout)
            return
        head = h11.Request(method=request.method, target=target, headers=request.headers.raw)
        self._write(self._bytes(head))
        async for chunk in stream:  # type: ignore[union-attr]  # an async body
            if chunk:
                self._write(self._bytes(h11.Data(data=chunk)))
                await self._drain(timeout)
        self._write(self._bytes(h11.EndOfMessage()))
        await self._drain(timeout)

    async def send_bytes(
        self,
        method: str | bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeout: float | None,
    ) -> None:
        """Write a request whose body is at hand, in one write."""
        data = self._bytes(h11.Request(method=method, target=target, headers=headers))
        if body:
            data += self._bytes(h11.Data(data=body))
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

    def buffered_event(self) -> Any:
        """The next h11 event from what is already read, or None when it needs more."""
        try:
            event = self.h11.next_event()
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from exc
        return None if event is h11.NEED_DATA else event

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

    async def head(self, timeout: float | None, method: bytes = b"GET") -> h11.Response:
        """The answer's status line and headers (informational answers skipped). A chunked
        body is then read with :meth:`next_piece`, any other with :meth:`next_event`."""
        while True:
            event = await self.next_event(timeout)
            if isinstance(event, h11.Response):
                self._take_chunked(event, method)
                return event
            if not isinstance(event, h11.InformationalResponse):
                raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__} in an answer")

    def _take_chunked(self, response: h11.Response, method: bytes) -> None:
        self.chunks = None
        codings = [v for k, v in response.headers if k == b"transfer-encoding"]
        has_body = method != b"HEAD" and response.status_code not in (204, 304)
        if not (has_body and codings and codings[-1].lower().endswith(b"chunked")):
            return
        if self.h11.our_state is not h11.DONE:  # our request asked to close: h11 reads it
            return
        self.chunks = ChunkedBody(HEAD_LIMIT)
        closes = any(b"close" in v.lower() for k, v in response.headers if k == b"connection")
        self._keep_alive = response.http_version == b"1.1" and not closes
        data, _closed = self.h11.trailing_data  # what h11 read past the head
        self._pending = self.chunks.feed(data)

    async def next_piece(self, timeout: float | None) -> bytes | None:
        """The next data of a chunked body (all that is read), or None at its end."""
        chunks = self.chunks
        assert chunks is not None
        if self._pending:
            piece, self._pending = self._pending, b""
            return piece
        while not chunks.done:
            data = await self._read(timeout)
            if not data:
                raise httpx.RemoteProtocolError(INCOMPLETE)
            piece = chunks.feed(data)
            if piece:
                return piece
        return None

    # -- keeping -----------------------------------------------------------------------------

    def finished(self) -> bool:
        """Both sides are done with a request, and the connection may carry another."""
        chunks = self.chunks
        if chunks is not None:  # h11 did not see the body: a fresh one for the next request
            if not (chunks.done and not chunks.extra and self._keep_alive):
                return False
            self.chunks = None
            self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=HEAD_LIMIT)
            return True
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
