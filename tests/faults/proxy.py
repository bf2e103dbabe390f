"""A fault-injecting TCP proxy on loopback, placed between the language server and a fake.

::

    with FakeOpenAI() as fake, FaultProxy(fake.port) as proxy:
        url = f"{proxy.root}/v1"            # give this to the server; traffic passes through
        ...
        proxy.set_mode("reset_mid_stream")  # from now on, answers to POSTs are cut with RST

Modes (:data:`MODES`):

* ``pass``: bytes are forwarded both ways unchanged.
* ``refuse``: the port is closed (connects are refused); open connections are dropped.
* ``blackhole``: the port listens but never accepts and its accept queue is full, so a
  connect gets no SYN-ACK and times out (:class:`tests.fakes.ports.BlackHole` on the
  proxy's own port); open connections are dropped.
* ``slow_first_byte``: the response's first byte is held back ``first_byte_delay_s``.
* ``slow_stream``: the response is forwarded one byte every ``byte_interval_s``.
* ``reset_mid_stream``: the response head and ``body_bytes`` bytes of its body are
  forwarded, then the connection is reset (``SO_LINGER`` 0 and close: RST).
* ``truncate``: the same, then the connection is closed normally (FIN).

Response faults apply only to answers to requests whose method is in ``fault_methods``
(default ``POST``: chat requests), so probes (``GET /health``, ``/models``) still pass and
a backend can be seen up before it breaks. Requests are told apart per request, not per
connection: a keep-alive connection first used by a probe and then by a chat is faulted
from the chat on. Modes may be changed at any time; the switch to ``refuse`` or
``blackhole`` (and back) takes effect for new connections at once.

All proxies share one event loop in a daemon thread, started with the first proxy and
stopped with the last.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from tests.fakes.ports import BlackHole

MODES = (
    "pass",
    "refuse",
    "blackhole",
    "slow_first_byte",
    "slow_stream",
    "reset_mid_stream",
    "truncate",
)
_REQUEST_LINE = re.compile(rb"^([A-Z]{3,10}) \S+ HTTP/1\.[01]\r\n")
_READ = 64 * 1024
T = TypeVar("T")


# -- the shared event loop ----------------------------------------------------------------------


class _LoopThread:
    """One asyncio loop in a daemon thread, shared by every open proxy (reference counted)."""

    _lock = threading.Lock()
    _users = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @classmethod
    def acquire(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="fault-proxy", daemon=True)
                thread.start()
                cls._loop, cls._thread = loop, thread
            cls._users += 1
            return cls._loop

    @classmethod
    def release(cls) -> None:
        with cls._lock:
            cls._users -= 1
            if cls._users or cls._loop is None:
                return
            loop, thread = cls._loop, cls._thread
            cls._loop = cls._thread = None
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(5)
        loop.close()


# -- the proxy ----------------------------------------------------------------------------------


@dataclass(eq=False)
class _Conn:
    """One client connection and what is known of the response now being forwarded."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    faulted: bool = False
    first_byte_sent: bool = False
    response: bytearray | None = None
    forwarded: int = 0
    cut_at: int | None = None

    def new_request(self, faulted: bool) -> None:
        self.faulted = faulted
        self.first_byte_sent = False
        self.response = bytearray()
        self.forwarded = 0
        self.cut_at = None


def _abort(writer: asyncio.StreamWriter | None, *, reset: bool = False) -> None:
    if writer is None:
        return
    if reset:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """A TCP proxy from ``127.0.0.1:port`` to ``upstream_host:upstream_port``; see the module
    docstring. Keyword arguments are also attributes, settable with :meth:`set_mode`.

    Records: ``connections`` (accepted), ``requests`` (request lines seen), ``faulted``
    (responses a fault was applied to), ``cuts`` (connections reset or truncated).
    """

    def __init__(
        self,
        upstream_port: int,
        mode: str = "pass",
        *,
        upstream_host: str = "127.0.0.1",
        first_byte_delay_s: float = 30.0,
        byte_interval_s: float = 1.0,
        body_bytes: int = 200,
        cut_pause_s: float = 0.2,
        fault_methods: tuple[str, ...] = ("POST",),
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.mode = mode
        self.first_byte_delay_s = first_byte_delay_s
        self.byte_interval_s = byte_interval_s
        self.body_bytes = body_bytes
        """``reset_mid_stream``/``truncate``: body bytes forwarded after the response head."""
        self.cut_pause_s = cut_pause_s
        """Pause between the last forwarded byte and the cut, so the client has read them."""
        self.fault_methods = fault_methods
        self.connections = 0
        self.requests = 0
        self.faulted = 0
        self.cuts = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._hole: BlackHole | None = None
        self._conns: set[_Conn] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> FaultProxy:
        self._loop = _LoopThread.acquire()
        try:
            self._call(self._listen())
            self._call(self._apply(self.mode))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._loop is None:
            return
        with contextlib.suppress(RuntimeError):
            self._call(self._shutdown())
        self._loop = None
        _LoopThread.release()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def open_faulted(self) -> int:
        """Connections still open whose last response was (or is being) faulted: once every
        request has ended, a client that gives up properly has closed them all."""

        async def count() -> int:
            return sum(1 for conn in self._conns if conn.faulted)

        return self._call(count()) if self.mode != "pass" else 0

    def set_mode(self, mode: str, **params: Any) -> None:
        """Switch to ``mode``; ``params`` set attributes (``body_bytes``, ...) first."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        for name, value in params.items():
            if not hasattr(self, name) or name.startswith("_"):
                raise AttributeError(name)
            setattr(self, name, value)
        self._call(self._apply(mode))

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None, "use FaultProxy as a context manager"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # -- listening ------------------------------------------------------------------------------

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def _stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._hole is not None:
            self._hole.close()
            self._hole = None

    def _drop_connections(self) -> None:
        for conn in list(self._conns):
            _abort(conn.client)
            _abort(conn.upstream)

    async def _apply(self, mode: str) -> None:
        self.mode = mode
        if mode in ("refuse", "blackhole"):
            self._stop_listening()
            self._drop_connections()
            if mode == "blackhole":
                self._hole = BlackHole(port=self.port).__enter__()
        elif self._server is None:
            self._stop_listening()
            await self._listen()

    async def _shutdown(self) -> None:
        self._stop_listening()
        self._drop_connections()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- forwarding -----------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        conn = _Conn(client=writer)
        self._conns.add(conn)
        try:
            await self._serve(conn, reader, writer)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(conn)
            self._tasks.discard(task)
            _abort(conn.upstream)
            writer.close()

    async def _serve(
        self, conn: _Conn, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            _abort(writer, reset=True)
            return
        conn.upstream = up_writer
        writer.transport.set_write_buffer_limits(0)  # drain() waits until the kernel has it
        requests = asyncio.create_task(self._requests(conn, reader, up_writer))
        responses = asyncio.create_task(self._responses(conn, up_reader, writer))
        try:
            await asyncio.wait({requests, responses}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (requests, responses):
                task.cancel()
            await asyncio.gather(requests, responses, return_exceptions=True)

    async def _requests(
        self, conn: _Conn, reader: asyncio.StreamReader, upstream: asyncio.StreamWriter
    ) -> None:
        # HTTP/1.1 without pipelining: a request starts at the first bytes sent after the
        # previous response, which is where a read starts.
        while data := await reader.read(_READ):
            match = _REQUEST_LINE.match(data)
            if match:
                self.requests += 1
                conn.new_request(match.group(1).decode() in self.fault_methods)
            upstream.write(data)
            await upstream.drain()

    async def _responses(
        self, conn: _Conn, upstream: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        counted = False
        while data := await upstream.read(_READ):
            mode = self.mode if conn.faulted else "pass"
            if mode != "pass" and not counted:
                self.faulted += 1
                counted = True
            if mode == "slow_first_byte" and not conn.first_byte_sent:
                await asyncio.sleep(self.first_byte_delay_s)
            conn.first_byte_sent = True
            if mode == "slow_stream":
                for i in range(len(data)):
                    writer.write(data[i : i + 1])
                    await writer.drain()
                    await asyncio.sleep(self.byte_interval_s)
                continue
            if mode in ("reset_mid_stream", "truncate"):
                if await self._cut(conn, data, writer, reset=mode == "reset_mid_stream"):
                    return
                continue
            writer.write(data)
            await writer.drain()
        # The upstream closed: so does the client side (FIN), once everything is sent.

    async def _cut(
        self, conn: _Conn, data: bytes, writer: asyncio.StreamWriter, *, reset: bool
    ) -> bool:
        """Forward up to the cut point; at it, pause, then RST or FIN. True once cut."""
        response = conn.response if conn.response is not None else bytearray()
        conn.response = response
        response += data
        if conn.cut_at is None:
            end = response.find(b"\r\n\r\n")
            if end >= 0:
                conn.cut_at = end + 4 + self.body_bytes
        limit = len(response) if conn.cut_at is None else min(conn.cut_at, len(response))
        writer.write(bytes(response[conn.forwarded : limit]))
        conn.forwarded = limit
        await writer.drain()
        if conn.cut_at is None or len(response) < conn.cut_at:
            return False
        await asyncio.sleep(self.cut_pause_s)
        self.cuts += 1
        _abort(conn.upstream)
        if reset:
            _abort(writer, reset=True)
        else:
            writer.close()
        return True
