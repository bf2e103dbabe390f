"""Plain-HTTP backends reach the network through asyncio's streams (not anyio's): the same
answers and the same errors as httpx's own transport, connections kept alive and
dropped as they should be. Against real loopback servers."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from localroute.backends import asyncio_stream
from localroute.backends import http as http_module
from localroute.backends.asyncio_stream import AsyncioStream
from localroute.backends.http import client_for
from localroute.config.models import backend_config
from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.ports import BlackHole, closed_port

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


def streams_of(http: httpx.AsyncClient) -> list[object]:
    """The network streams of the client's open connections."""
    transport = http._transport
    inner = getattr(transport, "_inner", transport)
    pool = inner._pool  # type: ignore[attr-defined]
    return [conn._connection._network_stream for conn in pool.connections if conn._connection]


async def test_a_plain_http_client_uses_asyncio_streams_and_keeps_its_connection() -> None:
    with FakeOpenAI() as fake:
        config = backend_config(kind="openai", url=fake.url)
        async with client_for(config, "local") as http:
            first = await http.get(f"{fake.url}/models")
            second = await http.get(f"{fake.url}/models")
            streams = streams_of(http)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    # One connection, reused, and it is asyncio's.
    assert len(streams) == 1 and isinstance(streams[0], AsyncioStream)


async def test_an_https_client_keeps_httpcore_s_own_backend() -> None:
    config = backend_config(kind="openai", url="https://gpu.lan:8443/v1")
    async with client_for(config, "private-network") as http:
        inner = http._transport._inner  # type: ignore[attr-defined]
        backend = inner._pool._network_backend
    assert not isinstance(backend, asyncio_stream.AsyncioBackend)


async def test_a_plain_http_client_makes_no_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[object] = []
    real_new = ssl.SSLContext.__new__

    def counted(cls: type[ssl.SSLContext], *args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(args)
        return real_new(cls, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "__new__", staticmethod(counted))
    http_module.tls_context.cache_clear()
    with FakeOpenAI() as fake:
        config = backend_config(kind="openai", url=fake.url)
        async with client_for(config, "local") as http:
            assert (await http.get(f"{fake.url}/models")).status_code == 200
        assert made == []
        # An https:// backend does get one (so the count above can tell).
        secure = backend_config(kind="openai", url="https://gpu.lan:8443/v1")
        async with client_for(secure, "private-network"):
            assert made
    http_module.tls_context.cache_clear()


async def test_httpx_s_own_transport_serves_when_it_keeps_its_pool_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(asyncio_stream, "_HTTPX_USES_POOL", False)
    with FakeOpenAI() as fake:
        config = backend_config(kind="openai", url=fake.url)
        async with client_for(config, "local") as http:
            assert (await http.get(f"{fake.url}/models")).status_code == 200
            streams = streams_of(http)
    assert streams and not isinstance(streams[0], AsyncioStream)


@contextmanager
def raw_server(handle: Callable[[socket.socket, int], None]) -> Iterator[str]:
    """A loopback server calling ``handle(connection, n)`` for its n-th connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        n = 0
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            n += 1
            threading.Thread(target=handle, args=(conn, n), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
        thread.join(2)


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    return data


def plain_client(url: str, **timeouts: float) -> httpx.AsyncClient:
    config = backend_config(kind="openai", url=url, connect_timeout_s=0.5, timeout_s=5)
    http = client_for(config, "local")
    if timeouts:
        http.timeout = httpx.Timeout(**{"timeout": 5.0, **timeouts})
    return http


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    connections: list[int] = []

    def handle(conn: socket.socket, n: int) -> None:
        connections.append(n)
        read_request(conn)
        conn.sendall(OK)  # promises keep-alive (HTTP/1.1), then hangs up
        conn.shutdown(socket.SHUT_RDWR)
        conn.close()

    with raw_server(handle) as url:
        async with plain_client(url) as http:
            first = await http.get(f"{url}/a")
            await _until(lambda: len(connections) == 1)
            await asyncio.sleep(0.05)  # the server's FIN arrives
            second = await http.get(f"{url}/b")
    assert first.text == second.text == "ok"
    assert connections == [1, 2]


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


async def test_a_reset_in_the_middle_of_an_answer_is_a_read_error() -> None:
    def handle(conn: socket.socket, n: int) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()  # RST

    with raw_server(handle) as url:
        async with plain_client(url) as http:
            with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
                await http.get(f"{url}/a")


async def test_a_silent_server_is_a_read_timeout() -> None:
    held: list[socket.socket] = []

    def handle(conn: socket.socket, n: int) -> None:
        read_request(conn)
        held.append(conn)  # never answers

    with raw_server(handle) as url:
        async with plain_client(url, read=0.2) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.get(f"{url}/a")
    for conn in held:
        conn.close()


async def test_refused_and_black_holed_connects_are_httpx_s_connect_errors() -> None:
    refused = f"http://127.0.0.1:{closed_port()}"
    async with plain_client(refused) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{refused}/v1/models")
    with BlackHole() as hole:
        url = f"http://127.0.0.1:{hole.port}"
        async with plain_client(url, connect=0.2) as http:
            with pytest.raises(httpx.ConnectTimeout):
                await http.get(f"{url}/v1/models")


async def test_a_large_body_goes_out_whole() -> None:
    received: list[int] = []

    def handle(conn: socket.socket, n: int) -> None:
        head = read_request(conn)
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        body = head.split(b"\r\n\r\n", 1)[1]
        while len(body) < length:
            chunk = conn.recv(1 << 20)
            if not chunk:
                break
            body += chunk
        received.append(len(body))
        conn.sendall(OK)
        conn.close()

    payload = b"x" * (8 << 20)  # far more than a socket takes at once: drain() waits
    with raw_server(handle) as url:
        async with plain_client(url) as http:
            response = await http.post(f"{url}/a", content=payload)
    assert response.text == "ok"
    assert received == [len(payload)]


async def test_a_dead_first_address_of_a_host_name_does_not_take_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name with two addresses whose first drops SYNs (a broken IPv6 route, say): the
    second is tried after the happy-eyeballs delay, well within the connect timeout."""
    with BlackHole() as hole, FakeOpenAI() as fake:
        live_port = int(fake.url.split(":")[2].split("/")[0])
        loop = asyncio.get_running_loop()
        resolve = loop.getaddrinfo

        async def two_addresses(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
            if host != "dual.test":
                return await resolve(host, port, *args, **kwargs)
            stream = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "")
            return [(*stream, ("127.0.0.1", hole.port)), (*stream, ("127.0.0.1", live_port))]

        monkeypatch.setattr(loop, "getaddrinfo", two_addresses)
        url = f"http://dual.test:{live_port}/v1"
        config = backend_config(kind="openai", url=url, connect_timeout_s=1.0)
        async with client_for(config, "private-network") as http:
            began = loop.time()
            response = await http.get(f"{url}/models")
            took = loop.time() - began
    assert response.status_code == 200
    assert asyncio_stream.HAPPY_EYEBALLS_S <= took < 1.0
