"""Plain-HTTP backends speak HTTP/1.1 through :mod:`localroute.backends.plain_http`
(h11 on asyncio's streams, below httpx): the same answers and the same errors as httpx's
own transport, connections kept alive and dropped as they should be, a bounded pool.
Against real loopback servers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from localroute.backends import http as http_module
from localroute.backends import plain_http
from localroute.backends.http import client_for
from localroute.backends.openai_errors import transport_error
from localroute.backends.plain_http import PlainHTTPClient, PlainHTTPTransport, connection_count
from localroute.config.models import backend_config
from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.ports import BlackHole, closed_port
from tests.unit.test_what_is_loaded import run_python

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


def connections(http: httpx.AsyncClient) -> tuple[int, int]:
    """(open, idle) connections of a plain-HTTP client."""
    return connection_count(http._transport)


async def test_a_plain_http_client_keeps_its_connection() -> None:
    with FakeOpenAI() as fake:
        config = backend_config(kind="openai", url=fake.url)
        async with client_for(config, "local") as http:
            first = await http.get(f"{fake.url}/models")
            second = await http.get(f"{fake.url}/models")
            counted = connections(http)
    assert isinstance(http, PlainHTTPClient)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert counted == (1, 1)  # one connection, reused, idle again
    assert first.request.url == f"{fake.url}/models"


async def test_https_and_cloud_clients_keep_httpx_s_own_transport() -> None:
    secure = backend_config(kind="openai", url="https://gpu.lan:8443/v1")
    async with client_for(secure, "private-network") as http:
        assert type(http) is httpx.AsyncClient
        assert not isinstance(http._transport._inner, PlainHTTPTransport)  # type: ignore[attr-defined]
    cloud = backend_config(kind="openai", url="http://api.example.com/v1")
    async with client_for(cloud, "cloud") as http:
        assert type(http) is httpx.AsyncClient  # proxies are for the internet


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
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (closing does not)
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


def replying(data: bytes) -> Callable[[socket.socket, int], None]:
    """A ``raw_server`` handler that reads the request, sends ``data`` and hangs up."""

    def handle(conn: socket.socket, n: int) -> None:
        read_request(conn)
        if data:
            conn.sendall(data)
        conn.close()

    return handle


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
        with pytest.raises(httpx.ConnectError) as caught:
            await http.get(f"{refused}/v1/models")
    # The OSError behind it is its cause: the backend names it, and nothing was sent.
    unavailable = transport_error("local", caught.value, connect_s=0.5, read_s=5, pool_size=3)
    assert unavailable.message == "connection refused"
    assert unavailable.nothing_sent
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
    assert plain_http.HAPPY_EYEBALLS_S <= took < 1.0


def plain_pool_client(url: str, *, pool_s: float) -> httpx.AsyncClient:
    config = backend_config(kind="openai", url=url, max_concurrency=1, timeout_s=5)
    http = client_for(config, "local")
    http.timeout = httpx.Timeout(5.0, pool=pool_s)
    return http


async def test_a_request_that_finds_every_connection_busy_is_a_pool_timeout() -> None:
    held: list[socket.socket] = []

    def handle(conn: socket.socket, n: int) -> None:
        read_request(conn)
        held.append(conn)  # never answers: each connection stays busy

    with raw_server(handle) as url:
        async with plain_pool_client(url, pool_s=0.2) as http:
            pool_size = 3  # max_concurrency + 2
            busy = [asyncio.create_task(http.get(f"{url}/busy")) for _ in range(pool_size)]
            await _until(lambda: len(held) == pool_size)
            with pytest.raises(httpx.PoolTimeout):
                await http.get(f"{url}/one-more")
            assert len(held) == pool_size  # the one more never connected
            for task in busy:
                task.cancel()
            await asyncio.gather(*busy, return_exceptions=True)
    for conn in held:
        conn.close()


async def test_a_cancelled_request_gives_its_slot_back_and_drops_its_connection() -> None:
    held: list[socket.socket] = []

    def handle(conn: socket.socket, n: int) -> None:
        if read_request(conn).startswith(b"GET /hang"):
            held.append(conn)
            return
        conn.sendall(OK)
        read_request(conn)  # kept alive until the client hangs up
        conn.close()

    with raw_server(handle) as url:
        async with plain_pool_client(url, pool_s=0.5) as http:
            hanging = [asyncio.create_task(http.get(f"{url}/hang")) for _ in range(3)]
            await _until(lambda: len(held) == 3)
            for task in hanging:
                task.cancel()
            results = await asyncio.gather(*hanging, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results)
            # Every connection was closed and every slot given back: the pool serves at once.
            assert connections(http) == (0, 0)
            answer = await http.get(f"{url}/after")
    assert answer.text == "ok"
    for conn in held:
        conn.settimeout(2)
        assert conn.recv(100) == b""  # the client hung up
        conn.close()


async def test_an_answer_left_before_its_end_hangs_up_at_once() -> None:
    """The server must learn at once that nobody reads (it stops generating): the socket
    is shut down before the event loop runs again."""
    gone = threading.Event()

    def handle(conn: socket.socket, n: int) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        conn.settimeout(5)
        try:
            if conn.recv(100) == b"":
                gone.set()
        except OSError:
            gone.set()
        conn.close()

    with raw_server(handle) as url:
        async with plain_client(url) as http:
            async with http.stream("GET", f"{url}/stream") as response:
                async for chunk in response.aiter_bytes():
                    assert chunk == b"hello"
                    break
            # No await between leaving the answer and this wait: the loop has not run.
            assert gone.wait(5)
            assert connections(http) == (0, 0)


async def test_chunked_answers_keep_the_connection_and_connection_close_ends_it() -> None:
    seen: list[int] = []

    def handle(conn: socket.socket, n: int) -> None:
        seen.append(n)
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")  # fmt: skip
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno")
        conn.close()

    with raw_server(handle) as url:
        async with plain_client(url) as http:
            first = await http.get(f"{url}/a")
            assert connections(http) == (1, 1)
            second = await http.get(f"{url}/b")
            assert connections(http) == (0, 0)  # the server said it closes
            third = await http.get(f"{url}/c")
    assert (first.text, second.text, third.text) == ("abcde", "no", "abcde")
    assert seen == [1, 2]


async def test_chunks_already_read_come_out_as_one_piece_and_a_piece_does_not_wait() -> None:
    """An SSE answer is many small chunks: those read together reach the layers above as
    one piece (one step each, not one a chunk); a chunk alone is not held back for more."""
    more = threading.Event()

    def handle(conn: socket.socket, n: int) -> None:
        read_request(conn)
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        conn.sendall(head + b"".join(b"2\r\n%02d\r\n" % i for i in range(20)))
        more.wait(5)
        conn.sendall(b"4\r\nlast\r\n0\r\n\r\n")
        conn.close()

    with raw_server(handle) as url:
        async with plain_client(url) as http:
            async with http.stream("GET", f"{url}/stream") as response:
                pieces: list[bytes] = []
                async for piece in response.aiter_raw():
                    pieces.append(piece)
                    more.set()  # the rest is sent only once the first piece is out
            assert connections(http) == (1, 1)
    assert b"".join(pieces) == b"".join(b"%02d" % i for i in range(20)) + b"last"
    assert pieces[0] == b"".join(b"%02d" % i for i in range(20))  # twenty chunks, one piece
    assert pieces[-1] == b"last"


async def test_a_chunked_answer_cut_off_is_a_protocol_error_and_its_connection_goes() -> None:
    """The server closes before the last chunk: what came is given, then the error h11
    gave (its words), and the connection is not kept."""

    cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nab"
    with raw_server(replying(cut)) as url:
        async with plain_client(url) as http:
            got = b""
            with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
                async with http.stream("GET", f"{url}/cut") as response:
                    async for piece in response.aiter_raw():
                        got += piece
            assert got == b"helloab"
            assert connections(http) == (0, 0)


async def test_an_informational_answer_is_skipped() -> None:
    with raw_server(replying(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)) as url:
        async with plain_client(url) as http:
            response = await http.post(f"{url}/a", content=b"{}")
    assert (response.status_code, response.text) == (200, "ok")


async def test_a_server_that_hangs_up_without_answering_is_a_protocol_error() -> None:
    with raw_server(replying(b"")) as url:
        async with plain_client(url) as http:
            with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
                await http.get(f"{url}/a")
            assert connections(http) == (0, 0)


async def test_an_answer_that_is_not_http_is_a_protocol_error() -> None:
    with raw_server(replying(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")) as url:
        async with plain_client(url) as http:
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get(f"{url}/a")


async def test_other_schemes_are_refused_without_a_connection() -> None:
    transport = PlainHTTPTransport(httpx.Limits(max_connections=2))
    with pytest.raises(httpx.ConnectError, match="TLS is not available"):
        await transport.handle_async_request(httpx.Request("GET", "https://127.0.0.1:9/"))
    with pytest.raises(httpx.UnsupportedProtocol):
        await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1:9/"))
    assert connection_count(transport) == (0, 0)
    await transport.aclose()


async def test_the_request_is_traced_once_written() -> None:
    """The trace event comes once the request is written, before its answer is read:
    the server answers only after it."""
    events: list[str] = []
    traced = threading.Event()

    def handle(conn: socket.socket, n: int) -> None:
        read_request(conn)
        if traced.wait(5):
            conn.sendall(OK)
        conn.close()

    async def trace(event: str, info: Any) -> None:
        events.append(event)
        traced.set()

    with raw_server(handle) as url:
        async with plain_client(url) as http:
            response = await http.post(f"{url}/a", content=b"{}", extensions={"trace": trace})
    assert response.text == "ok"
    assert events == ["http11.send_request_body.complete"]


async def test_a_url_with_a_user_name_takes_httpx_s_way_and_sends_its_credentials() -> None:
    heads: list[bytes] = []

    def handle(conn: socket.socket, n: int) -> None:
        heads.append(read_request(conn))
        conn.sendall(OK)
        conn.close()

    with raw_server(handle) as url:
        async with plain_client(url) as http:
            with_user = url.replace("http://", "http://me:pw@")
            response = await http.get(f"{with_user}/a")
    assert response.text == "ok"
    expected = base64.b64encode(b"me:pw")
    assert b"Authorization: Basic " + expected in heads[0]


async def test_idle_connections_expire_and_their_number_is_capped() -> None:
    seen: list[int] = []

    def handle(conn: socket.socket, n: int) -> None:
        seen.append(n)
        conn.settimeout(5)
        try:
            while read_request(conn):
                conn.sendall(OK)
        except OSError:
            pass
        conn.close()

    limits = httpx.Limits(max_connections=4, max_keepalive_connections=1, keepalive_expiry=0.2)
    transport = PlainHTTPTransport(limits)
    with raw_server(handle) as url:
        async with PlainHTTPClient(transport=transport, timeout=5) as http:
            await asyncio.gather(*(http.get(f"{url}/{i}") for i in range(3)))
            assert connection_count(transport) == (1, 1)  # one kept, two closed
            await http.get(f"{url}/again")
            assert len(seen) == 3  # the kept one served
            await asyncio.sleep(0.3)
            await http.get(f"{url}/later")
            assert len(seen) == 4  # it had expired


def test_a_request_of_a_plain_http_backend_loads_neither_httpcore_nor_anyio() -> None:
    """Memory (P6m) and start-up: a server whose backends are all plain HTTP never
    imports httpcore's pool or anyio."""
    with FakeOpenAI() as fake:
        code = (
            "import asyncio, json, sys\n"
            "from localroute.backends.http import client_for\n"
            "from localroute.config.models import backend_config\n"
            "async def main():\n"
            f"    config = backend_config(kind='openai', url={fake.url!r})\n"
            "    async with client_for(config, 'local') as http:\n"
            f"        return (await http.get({fake.url!r} + '/models')).status_code\n"
            "status = asyncio.run(main())\n"
            "loaded = sorted(m for m in ('httpcore', 'anyio') if m in sys.modules)\n"
            "print(json.dumps([status, loaded]))\n"
        )
        assert json.loads(run_python(code)) == [200, []]


def test_a_client_used_from_a_second_event_loop_starts_afresh() -> None:
    """A backend's client outlives one ``asyncio.run`` (a second run reuses it): the
    first loop's connections are of no use to the second, which gets new ones."""
    with FakeOpenAI() as fake:
        config = backend_config(kind="openai", url=fake.url)
        http = client_for(config, "local")

        async def get() -> tuple[int, tuple[int, int]]:
            response = await http.get(f"{fake.url}/models")
            return response.status_code, connections(http)

        assert asyncio.run(get()) == (200, (1, 1))
        assert asyncio.run(get()) == (200, (1, 1))
        asyncio.run(http.aclose())
