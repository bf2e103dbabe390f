"""A connect timeout that fired late (the event loop was held up, not the host) is tried
once more; one that fired on time is a dead host and is not."""

from __future__ import annotations

import time

import httpx
import pytest

from localroute.backends.connect_retry import LATE_S, LateConnectRetry


class Scripted(httpx.AsyncBaseTransport):
    """Times out its first connect after holding the event loop for ``hold_s`` (the way a
    long garbage collection does), then answers."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls == 1:
            time.sleep(self.hold_s)  # noqa: ASYNC251 - holds the loop up, on purpose
            raise httpx.ConnectTimeout("timed out", request=request)
        return httpx.Response(200, json={"ok": True, "body": request.content.decode()})


def client(inner: httpx.AsyncBaseTransport, connect_s: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=LateConnectRetry(inner, connect_s), timeout=httpx.Timeout(5, connect=connect_s)
    )


async def test_a_late_connect_timeout_is_retried_once_with_the_same_body() -> None:
    inner = Scripted(hold_s=0.05 + LATE_S + 0.1)
    async with client(inner, 0.05) as http:
        response = await http.post("http://127.0.0.1:9/v1/chat", json={"q": 1})
    assert inner.calls == 2
    assert response.json() == {"ok": True, "body": '{"q":1}'}


async def test_a_connect_timeout_on_time_is_a_dead_host() -> None:
    inner = Scripted(hold_s=0.05)
    async with client(inner, 0.05) as http:
        with pytest.raises(httpx.ConnectTimeout):
            await http.post("http://127.0.0.1:9/v1/chat", json={"q": 1})
    assert inner.calls == 1


async def test_a_second_late_timeout_is_not_retried_again() -> None:
    class AlwaysLate(Scripted):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            self.calls += 1
            time.sleep(self.hold_s)  # noqa: ASYNC251 - holds the loop up
            raise httpx.ConnectTimeout("timed out", request=request)

    inner = AlwaysLate(hold_s=0.05 + LATE_S + 0.1)
    async with client(inner, 0.05) as http:
        with pytest.raises(httpx.ConnectTimeout):
            await http.post("http://127.0.0.1:9/v1/chat", json={"q": 1})
    assert inner.calls == 2
