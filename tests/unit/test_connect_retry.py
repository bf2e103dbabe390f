"""A connect timeout that fired late (the event loop was held up, not the host) is tried
once more; one that fired on time is a dead host and is not. The retry wraps local and
private-network clients only: a cloud client keeps the proxy variables."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest

from localroute.backends.connect_retry import (
    CHECK_AT,
    HELD_FRACTION,
    LATE_S,
    LateConnectRetry,
)
from localroute.backends.http import client_for
from localroute.config.models import Locality, backend_config
from tests.fakes.ports import BlackHole, closed_port


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
        transport=LateConnectRetry(inner), timeout=httpx.Timeout(5, connect=connect_s)
    )


async def test_a_late_connect_timeout_is_retried_once_with_the_same_body() -> None:
    inner = Scripted(hold_s=0.05 + LATE_S + 0.1)
    async with client(inner, 0.05) as http:
        response = await http.post("http://127.0.0.1:9/v1/chat", json={"q": 1})
    assert inner.calls == 2
    assert response.json() == {"ok": True, "body": '{"q":1}'}


class DeadHost(Scripted):
    """A host that never answers: the connect times out after ``hold_s``, every time.
    ``held_first_s`` holds the loop up at the start, for one turn that ends before the
    deadline (so it could not have hidden an answer)."""

    def __init__(self, hold_s: float, held_first_s: float = 0.0) -> None:
        super().__init__(hold_s)
        self.held_first_s = held_first_s

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        time.sleep(self.held_first_s)  # noqa: ASYNC251 - holds the loop up, on purpose
        await asyncio.sleep(self.hold_s - self.held_first_s)
        raise httpx.ConnectTimeout("timed out", request=request)


# Held up over the halfway check, but not to the deadline: the check runs late, by less
# than HELD_FRACTION of the deadline, and the loop is free when the deadline comes.
@pytest.mark.parametrize("held_first_s", [0.0, 0.02, 0.2 * (CHECK_AT + HELD_FRACTION / 2)])
async def test_a_connect_timeout_on_a_free_loop_is_a_dead_host(held_first_s: float) -> None:
    inner = DeadHost(hold_s=0.2, held_first_s=held_first_s)
    async with client(inner, 0.2) as http:
        with pytest.raises(httpx.ConnectTimeout):
            await http.post("http://127.0.0.1:9/v1/chat", json={"q": 1})
    assert inner.calls == 1


class HeldOverTheDeadline(Scripted):
    """The loop is held from just after the connect starts to a little past its deadline
    (less than LATE_S past it), as a burst of subprocess forks does; the host had answered
    at once, but the deadline's timer ran first. The retry connects."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls == 1:
            await asyncio.sleep(0)  # the connect started: the loop turned once
            time.sleep(self.hold_s)  # noqa: ASYNC251 - holds the loop up, on purpose
            await asyncio.sleep(0)  # the turn that saw both the answer and the deadline
            raise httpx.ConnectTimeout("timed out", request=request)
        return httpx.Response(200, json={"ok": True})


async def test_a_timeout_after_a_hold_up_over_the_whole_wait_is_retried() -> None:
    # Fired only a little late (the old test, LATE_S, let it through as a dead host).
    connect_s = 0.2
    inner = HeldOverTheDeadline(hold_s=connect_s + LATE_S / 4)
    async with client(inner, connect_s) as http:
        response = await http.post("http://127.0.0.1:9/v1/chat", json={"q": 1})
    assert inner.calls == 2
    assert response.json() == {"ok": True}


class Counting(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return await self.inner.handle_async_request(request)


async def test_a_real_dead_host_is_tried_once() -> None:
    # A port that drops every SYN, on a free loop: the check runs on time, no retry.
    inner = Counting(httpx.AsyncHTTPTransport())
    with BlackHole() as hole:
        async with client(inner, 0.25) as http:
            with pytest.raises(httpx.ConnectTimeout):
                await http.get(f"http://127.0.0.1:{hole.port}/health")
    assert inner.calls == 1


class RecordingProxy:
    """A loopback HTTP proxy that answers every request itself and records its request
    line (a proxied request names the whole URL)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                self.lines.append(head.split(b"\r\n", 1)[0].decode())
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")

    def close(self) -> None:
        self._server.close()


@pytest.mark.parametrize(("locality", "proxied"), [("cloud", True), ("local", False)])
async def test_only_cloud_clients_go_through_the_proxy_variables(
    locality: Locality, proxied: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = RecordingProxy()
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    # A port nothing listens on: reached directly, the request is refused.
    target = f"http://127.0.0.2:{closed_port()}/v1"
    config = backend_config(kind="openai", url=target, connect_timeout_s=0.5)
    try:
        async with client_for(config, locality) as http:
            if proxied:
                response = await http.get(f"{target}/models")
                assert response.json() == {}
                assert proxy.lines == [f"GET {target}/models HTTP/1.1"]
            else:
                with pytest.raises(httpx.ConnectError):
                    await http.get(f"{target}/models")
                assert proxy.lines == []
    finally:
        proxy.close()
