"""httpcore's pool on asyncio's locks and events (not anyio's): the same timeouts, the
same cancellation, a pool that stays usable. Against real loopback servers."""

from __future__ import annotations

import asyncio
import json
import socket

import httpcore
import httpx
import pytest

from localroute.backends import asyncio_sync
from localroute.backends.asyncio_sync import FailAfter
from localroute.backends.http import client_for
from localroute.config.models import backend_config
from tests.fakes.openai_fake import FakeOpenAI
from tests.unit.test_asyncio_stream import OK, _until, raw_server, read_request
from tests.unit.test_what_is_loaded import run_python


async def test_fail_after_raises_timeout_error_when_the_block_runs_late() -> None:
    began = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError), FailAfter(0.05):
        await asyncio.sleep(5)
    assert asyncio.get_running_loop().time() - began < 2
    # The task is not left cancelled: it goes on awaiting.
    await asyncio.sleep(0.01)
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0


async def test_fail_after_leaves_a_block_that_finishes_in_time_alone() -> None:
    with FailAfter(0.05):
        await asyncio.sleep(0)
    await asyncio.sleep(0.1)  # the timer was cancelled: nothing fires later
    with FailAfter(None):
        await asyncio.sleep(0.01)


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    entered = asyncio.Event()

    async def waits() -> None:
        with FailAfter(10):
            entered.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(waits())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancellation_from_elsewhere_under_a_short_limit_stays_a_cancellation() -> None:
    async def waits() -> None:
        with FailAfter(0):
            current = asyncio.current_task()
            assert current is not None
            current.cancel()  # from elsewhere, in the same turn as the timer
            await asyncio.sleep(1)

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(waits())


def plain_client(url: str, *, pool_s: float) -> httpx.AsyncClient:
    config = backend_config(kind="openai", url=url, max_concurrency=1, timeout_s=5)
    http = client_for(config, "local")
    http.timeout = httpx.Timeout(5.0, pool=pool_s)
    return http


def pool_of(http: httpx.AsyncClient) -> httpcore.AsyncConnectionPool:
    transport = http._transport
    pool: httpcore.AsyncConnectionPool = getattr(transport, "_inner", transport)._pool
    return pool


async def test_a_request_that_finds_every_connection_busy_is_a_pool_timeout() -> None:
    held: list[socket.socket] = []

    def handle(conn: socket.socket, n: int) -> None:
        read_request(conn)
        held.append(conn)  # never answers: each connection stays busy

    with raw_server(handle) as url:
        async with plain_client(url, pool_s=0.2) as http:
            assert asyncio_sync.installed()
            pool_size = http._transport._inner._pool._max_connections  # type: ignore[attr-defined]
            busy = [asyncio.create_task(http.get(f"{url}/busy")) for _ in range(pool_size)]
            await _until(lambda: len(held) == pool_size)
            with pytest.raises(httpx.PoolTimeout):
                await http.get(f"{url}/one-more")
            for task in busy:
                task.cancel()
            await asyncio.gather(*busy, return_exceptions=True)
    for conn in held:
        conn.close()


async def test_a_cancelled_request_gives_its_connection_back() -> None:
    held: list[socket.socket] = []

    def handle(conn: socket.socket, n: int) -> None:
        if read_request(conn).startswith(b"GET /hang"):
            held.append(conn)
            return
        conn.sendall(OK)
        read_request(conn)  # kept alive until the client hangs up
        conn.close()

    with raw_server(handle) as url:
        async with plain_client(url, pool_s=0.5) as http:
            pool_size = http._transport._inner._pool._max_connections  # type: ignore[attr-defined]
            hanging = [asyncio.create_task(http.get(f"{url}/hang")) for _ in range(pool_size)]
            await _until(lambda: len(held) == pool_size)
            for task in hanging:
                task.cancel()
            results = await asyncio.gather(*hanging, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results)
            # Every connection was closed and given back: the pool serves at once.
            assert pool_of(http).connections == []
            answer = await http.get(f"{url}/after")
    assert answer.text == "ok"
    for conn in held:
        conn.close()


def test_a_version_of_httpcore_laid_out_otherwise_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert asyncio_sync._layout_known()
    monkeypatch.setattr(httpcore, "__version__", "1.1.0")
    assert not asyncio_sync._layout_known()


def test_names_httpcore_might_look_up_later_are_anyio_s() -> None:
    import anyio

    assert asyncio_sync.PRIMITIVES.sleep is anyio.sleep
    assert asyncio_sync.PRIMITIVES.Lock is asyncio.Lock


def test_a_request_of_a_plain_http_backend_loads_no_anyio_backend() -> None:
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
            "print(json.dumps([status, 'anyio._backends._asyncio' in sys.modules]))\n"
        )
        assert json.loads(run_python(code)) == [200, False]
