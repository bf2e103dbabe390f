"""The transport of plain-HTTP backends: HTTP/1.1 on asyncio's streams.

httpx stays the interface (requests, responses, timeouts, exceptions); below it, for
clients whose URLs are all ``http://`` (local and private-network servers) or a unix
socket, this transport takes the place of httpcore's connection pool. httpcore speaks
HTTP/1.1 with h11's state machine (this transport keeps h11's rules without it:
:mod:`localroute.backends.http1`), and around it every request passes its pool's request
queue, locks and events, its connection classes, its trace calls and its network-stream
layer:
``python -m bench.plain_http`` measures a streamed chat request to a loopback server
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
- a connect timeout that the event loop caused is tried once more
  (:func:`~localroute.backends.connect_retry.connect_retrying`);
- the ``connect``, ``read``, ``write`` timeouts of each request, and httpx's exceptions
  (with the ``OSError`` behind them as their cause): refused and black-holed connects,
  resets, silent servers and broken answers read as they did;
- httpcore's ``trace`` event ``http11.send_request_body.complete`` once the request is
  written (:mod:`localroute.backends.sent` waits for it);
- an answer left before its end (an error, a cancellation) drops its connection at
  once, so that the server stops generating.

TLS is never spoken here: an ``https://`` URL is refused without a connection. Given a
unix socket (``uds``), every connection is to that socket file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import httpx

from localroute.backends import sent
from localroute.backends.connect_retry import connect_retrying
from localroute.backends.http11 import HAPPY_EYEBALLS_S, Connection, Origin, open_connection

__all__ = [
    "HAPPY_EYEBALLS_S",
    "PlainHTTPClient",
    "PlainHTTPTransport",
    "connection_count",
    "stream_json",
]

log = logging.getLogger(__name__)

SENT = "http11.send_request_body.complete"
"""The trace event httpcore sends once a request is written."""

Timeouts = dict[str, float | None]
"""httpx's timeouts of a request: ``connect``, ``read``, ``write``, ``pool``."""


class _Body(httpx.AsyncByteStream):
    """An answer's body, read from its connection; closing it hands the connection back."""

    def __init__(
        self, pool: PlainHTTPTransport, connection: Connection, timeout: float | None
    ) -> None:
        self._pool = pool
        self._connection: Connection | None = connection
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            raise httpx.StreamClosed()
        # What is already read comes out as one piece: a stream of small events (an SSE
        # answer) then costs each layer above one step, not one an event.
        while (piece := await connection.next_piece(self._timeout)) is not None:
            yield piece

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool.release(connection, keep=connection.finished())


class PlainHTTPTransport(httpx.AsyncBaseTransport):
    """httpx's transport for ``http://`` URLs; see the module's docstring."""

    def __init__(self, limits: httpx.Limits, *, uds: str | None = None) -> None:
        self._uds = uds
        """Every connection goes to this unix socket, whatever host a URL names."""
        self._max = limits.max_connections
        self._keep = limits.max_keepalive_connections
        self._expiry = limits.keepalive_expiry
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list[Connection] = []
        self._open: set[Connection] = set()
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: Timeouts = request.extensions.get("timeout") or {}
        trace = request.extensions.get("trace")

        async def write(connection: Connection) -> None:
            await connection.send(request, timeouts.get("write"))
            if trace is not None:
                await trace(SENT, {"request": request})

        return await self._exchange(request.url, timeouts, write)

    async def post(
        self,
        url: httpx.URL,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeouts: Timeouts,
        on_sent: Callable[[], None] | None = None,
    ) -> httpx.Response:
        """A POST of ``body`` with exactly ``headers``, made without an ``httpx.Request``
        (see :func:`stream_json`); ``on_sent`` is called once it is
        written. The answer's ``request`` is not set."""

        async def write(connection: Connection) -> None:
            await connection.send_bytes(b"POST", url.raw_path, headers, body, timeouts.get("write"))
            if on_sent is not None:
                on_sent()

        return await self._exchange(url, timeouts, write)

    async def _exchange(
        self,
        url: httpx.URL,
        timeouts: Timeouts,
        write: Callable[[Connection], Awaitable[None]],
    ) -> httpx.Response:
        """A connection for ``url`` (one kept, or a new one), the request written on it by
        ``write``, and the answer's head read; its body is read from the response."""
        if url.scheme != "http":
            if url.scheme == "https":  # never in the clear, never TLS here
                raise httpx.ConnectError("TLS is not available on this connection")
            raise httpx.UnsupportedProtocol(f"the URL scheme {url.scheme!r} is not http")
        if self._closed:
            raise httpx.ConnectError("the client is closed")
        await self._acquire(timeouts.get("pool"))
        connection: Connection | None = None
        origin = (url.host, url.port or 80)
        try:
            connection = self._idle_for(origin)
            if connection is None:
                connect_s = timeouts.get("connect")
                connection = await connect_retrying(
                    connect_s, lambda: open_connection(origin, self._uds, connect_s)
                )
                self._open.add(connection)
            await write(connection)
            head = await connection.head(timeouts.get("read"))
        except BaseException:
            self.release(connection, keep=False)
            raise
        return httpx.Response(
            head.status_code,
            headers=head.headers,
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

    def _idle_for(self, origin: Origin) -> Connection | None:
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

    def release(self, connection: Connection | None, *, keep: bool) -> None:
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

    def _forget(self, connection: Connection) -> None:
        self._open.discard(connection)
        connection.close()

    async def aclose(self) -> None:
        self._closed = True
        self._idle.clear()
        for connection in list(self._open):
            connection.drop()
        self._open.clear()
        await asyncio.sleep(0)  # the loop closes the sockets


def json_payload(body: object) -> bytes:
    """``body`` (an object or an array) as JSON, encoded as httpx encodes ``json=``."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def json_head(
    defaults: list[tuple[bytes, bytes]],
    headers: Mapping[str, str],
    netloc: bytes,
    length: int,
) -> list[tuple[bytes, bytes]]:
    """The headers httpx writes for a POST of a JSON body of ``length`` bytes to a host
    ``netloc``, by a client with the headers ``defaults``, given ``headers``: in its order,
    its spelling and its encoding (ASCII), which a test holds it to."""
    given = [(name.encode("ascii"), value.encode("ascii")) for name, value in headers.items()]
    overridden = {name.lower() for name, _ in given}
    merged = [(name, value) for name, value in defaults if name.lower() not in overridden]
    merged += given
    names = {name.lower() for name, _ in merged}
    if b"content-length" not in names:
        merged.append((b"Content-Length", str(length).encode()))
    if b"content-type" not in names:
        merged.append((b"Content-Type", b"application/json"))
    if b"host" not in names:
        merged.insert(0, (b"Host", netloc))
    return merged


@contextlib.asynccontextmanager
async def stream_json(
    client: httpx.AsyncClient,
    url: str | httpx.URL,
    body: object,
    headers: Mapping[str, str],
    *,
    on_sent: Callable[[], None] | None = None,
) -> AsyncIterator[httpx.Response]:
    """``client.stream("POST", url, json=body, headers=headers)``, with ``on_sent`` called
    once the request is written: a chat request's way. On a :class:`PlainHTTPClient` the
    same bytes go out (:func:`json_head`), but without an ``httpx.Request`` and httpx's
    layers around the transport, which cost a request a tenth of a millisecond
    (``bench.compare_p1``; docs/benchmarks.md), and the answer's ``request`` is not set;
    any other client, or one whose URL, hooks or transport need httpx's layers, takes
    httpx's way (``on_sent`` then called from httpcore's trace)."""
    url = url if isinstance(url, httpx.URL) else httpx.URL(url)
    if isinstance(client, PlainHTTPClient) and client.takes_short_way(url):
        response = await client.post_json(url, body, headers, on_sent)
        try:
            yield response
        finally:
            await response.aclose()
        return
    extensions = sent.trace_extension(on_sent) if on_sent is not None else None
    async with client.stream("POST", url, json=body, headers=headers, extensions=extensions) as r:
        yield r


def connection_count(transport: httpx.AsyncBaseTransport) -> tuple[int, int]:
    """(open, idle) connections of a :class:`PlainHTTPTransport`, for tests and benches."""
    if not isinstance(transport, PlainHTTPTransport):
        raise TypeError(f"not a plain-HTTP transport: {type(transport).__name__}")
    return len(transport._open), len(transport._idle)


class PlainHTTPClient(httpx.AsyncClient):
    """The client of a plain-HTTP backend: a request goes straight to its
    :class:`PlainHTTPTransport`, past httpx's layers for authentication, redirects,
    cookies and event hooks, which a backend's client never uses (its credentials are
    headers, it follows no redirect, it keeps no cookie). A request that would use one
    of them (a URL with a user name, a call that follows redirects, a client with hooks)
    takes httpx's own way. ``response.elapsed`` is not set on the short way.

    The layers cost about a tenth of a millisecond a request (``python -m
    bench.plain_http``: 0.08–0.09 ms of the 0.31 ms this client saves against httpx
    with httpcore).
    """

    def __init__(self, *, transport: httpx.AsyncBaseTransport, **kwargs: Any) -> None:
        super().__init__(transport=transport, **kwargs)
        self._plain = transport

    def _short_way(self) -> bool:
        """Whether no layer of httpx's that the short way leaves out is in use."""
        hooks = any(self.event_hooks.values())
        return self.auth is None and not self.follow_redirects and not hooks

    def takes_short_way(self, url: httpx.URL) -> bool:
        """Whether a POST to ``url`` can go past httpx's layers (see :func:`stream_json`)."""
        return (
            isinstance(self._plain, PlainHTTPTransport)
            and self._short_way()
            and not url.is_relative_url
            and not url.userinfo
        )

    async def post_json(
        self,
        url: httpx.URL,
        body: object,
        headers: Mapping[str, str],
        on_sent: Callable[[], None] | None,
    ) -> httpx.Response:
        """The short way of :func:`stream_json` (when :meth:`takes_short_way`)."""
        assert isinstance(self._plain, PlainHTTPTransport)
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        payload = json_payload(body)
        head = json_head(self.headers.raw, headers, url.netloc, len(payload))
        timeouts: Timeouts = self.timeout.as_dict()
        return await self._plain.post(url, head, payload, timeouts, on_sent)

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
            and self._short_way()
            and "timeout" in request.extensions
            and not request.url.userinfo
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
