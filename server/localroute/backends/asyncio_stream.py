"""httpcore's network layer on asyncio's own streams, for plain-HTTP backends.

httpcore reaches the network through a *network backend*; under asyncio its default goes
through anyio, whose streams yield to the event loop before every write and every read.
A request is two writes (its head, then its body) and an answer several reads, so each
request of a burst waits behind whatever else is ready between them: when a round of a
bulk review's answers arrives at once, the next requests' bodies go out only after the
other answers have been read. This backend writes at once (asyncio's transport buffers
what the socket does not take) and reads what is already buffered without a turn of the
loop; it waits only when there is nothing to read or the transport asks to slow down.

Measured with ``python -m bench.compare_p5 OLD NEW --runs 20``, twice (P5's 40-file
review, interleaved runs): the ten rounds 10–13 ms shorter, the whole process 8–10 ms.

Only plain ``http://`` clients use it (:func:`plain_http_transport`, whose pool has no
TLS context either): TLS stays with httpcore's own backend, so this one never starts
TLS. Errors map to httpcore's exceptions as its own backends map them (connect: timeout
or refusal; read and write: timeout or a broken connection), which httpx turns into its
own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

__all__ = [
    "HAPPY_EYEBALLS_S",
    "AsyncioBackend",
    "AsyncioStream",
    "PlainHTTPTransport",
    "plain_http_transport",
]

log = logging.getLogger(__name__)

HAPPY_EYEBALLS_S = 0.25
"""A host name with several addresses (IPv6 and IPv4): the next address is tried when
the one before has not connected within this, while it goes on (anyio's delay, as
httpcore's own backend has it). Tried one after another, a dead first address would take
the whole connect timeout."""


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One TCP connection, as an asyncio reader and writer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc) or "read timed out") from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        # A transport that is closing drops what it is given: say so, as anyio does.
        if self._writer.transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        try:
            self._writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self._writer.drain()  # returns at once unless the socket is full
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc) or "write timed out") from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        # As anyio closes: end the write side, close, let the loop flush once, then drop
        # the socket at once (an answer cut off mid-stream must stop the server's work
        # now, not when the loop next gets round to it).
        transport = self._writer.transport
        if transport.is_closing():
            return
        with contextlib.suppress(OSError):
            transport.write_eof()
        transport.close()
        await asyncio.sleep(0)
        transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        # Installed on plain-HTTP clients only, which never ask for TLS (no proxy, no
        # redirects followed): refuse rather than send anything in the clear.
        await self.aclose()
        raise httpcore.ConnectError("TLS is not available on this connection")

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return None
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        sock = self._writer.get_extra_info("socket")
        if info == "socket":
            return sock
        if info == "is_readable":
            # Asked of an idle kept-alive connection before it is used again: the server
            # has closed it, or sent something unasked; either way it is not reused.
            reader = self._reader
            return reader.at_eof() or reader.exception() is not None or _readable(sock)
        return None


def _readable(sock: socket.socket | None) -> bool:
    # As httpcore's own helper (httpcore._utils.is_socket_readable, which is private): a
    # socket that is gone counts as readable, so the connection is not reused.
    fd = sock.fileno() if sock is not None else -1
    if fd < 0:
        return True
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens :class:`AsyncioStream` connections."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host,
                    port,
                    local_addr=(local_address, 0) if local_address else None,
                    happy_eyeballs_delay=HAPPY_EYEBALLS_S,
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc) or "connect timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)  # asyncio has set TCP_NODELAY already
        return AsyncioStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


_HTTPX_USES_POOL = all(
    "_pool" in method.__code__.co_names
    for method in (
        httpx.AsyncHTTPTransport.handle_async_request,
        httpx.AsyncHTTPTransport.aclose,
    )
)
"""Whether httpx's transport reaches its connection pool as ``self._pool`` (as httpx 0.29,
which this was written against, does): :class:`PlainHTTPTransport` relies on it."""


class PlainHTTPTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, for a client that only speaks plain HTTP: its pool opens
    connections with :class:`AsyncioBackend`, and has no TLS context.

    httpx makes a TLS context for every transport, even with ``verify=False``: about 1 ms
    and 0.4 MiB of OpenSSL's state that a plain connection never uses. Everything else is
    httpx's: requests, answers and errors go through the inherited methods, which reach
    the pool as ``self._pool`` (:func:`plain_http_transport` checks that they still do).
    """

    def __init__(self, limits: httpx.Limits) -> None:
        # httpx's __init__ is not called: making the pool is all it does for plain HTTP,
        # besides the TLS context.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=None,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=AsyncioBackend(),
        )


def plain_http_transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """The transport of a client whose URLs are all ``http://``: a
    :class:`PlainHTTPTransport`, or httpx's own (with httpcore's network backend) when
    this version of httpx does not keep its pool where that class puts it."""
    if not _HTTPX_USES_POOL:
        log.debug("httpx keeps its connection pool elsewhere: using its own transport")
        return httpx.AsyncHTTPTransport(verify=False, limits=limits, trust_env=False)
    return PlainHTTPTransport(limits)
