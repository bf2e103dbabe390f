"""A chat request's POST on a plain-HTTP client (``plain_http.stream_json``) goes out
without an ``httpx.Request``: the same bytes as httpx's way, told when written, tried
again after a connect the event loop held up, and httpx's way whenever the client needs
one of its layers. Against real loopback servers."""

from __future__ import annotations

import asyncio
import socket
import string
import time
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localroute.backends import plain_http
from localroute.backends.http import client_for
from localroute.backends.plain_http import PlainHTTPClient, json_head, json_payload
from localroute.config.models import backend_config
from tests.unit.test_plain_http import raw_server, read_request

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"

NAMES = st.one_of(
    st.sampled_from(
        ["Accept", "accept", "User-Agent", "content-type", "Content-Length", "Host", "host"]
    ),
    st.text(string.ascii_letters + "-", min_size=1, max_size=12),
)
VALUES = st.text(string.printable.strip(), max_size=20)
VALUES_IN_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
BODIES = st.lists(VALUES_IN_JSON, max_size=3) | st.dictionaries(st.text(max_size=5), VALUES_IN_JSON)
"""A chat request's body is an object (httpx sends no body for ``json=None``)."""


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(NAMES, VALUES, max_size=5), BODIES, st.sampled_from(["", ":8080"]))
def test_the_head_and_body_are_those_httpx_makes(
    headers: dict[str, str], body: Any, port: str
) -> None:
    client = PlainHTTPClient(
        transport=plain_http.PlainHTTPTransport(httpx.Limits()), headers={"User-Agent": "lr"}
    )
    url = httpx.URL(f"http://gpu.lan{port}/v1/chat/completions?x=1")
    try:
        made = client.build_request("POST", url, json=body, headers=headers)
    except ValueError:  # NaN and infinities are not JSON, for either
        with pytest.raises(ValueError):
            json_payload(body)
        return
    payload = json_payload(body)
    assert payload == made.content
    assert json_head(client.headers.raw, headers, url.netloc, len(payload)) == made.headers.raw


def test_a_header_httpx_cannot_encode_is_refused_as_httpx_refuses_it() -> None:
    client = PlainHTTPClient(transport=plain_http.PlainHTTPTransport(httpx.Limits()))
    headers = {"Authorization": "Bearer clé"}
    with pytest.raises(UnicodeEncodeError):
        client.build_request("POST", "http://gpu.lan/", json={}, headers=headers)
    with pytest.raises(UnicodeEncodeError):
        json_head(client.headers.raw, headers, b"gpu.lan", 2)


def recording(requests: list[bytes]) -> Any:
    def handle(conn: socket.socket, n: int) -> None:
        with conn:
            while True:
                head = read_request(conn)
                if not head:
                    return
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                body = head.split(b"\r\n\r\n", 1)[1]
                while len(body) < length:
                    body += conn.recv(65536)
                requests.append(head.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" + body)
                conn.sendall(ANSWER)

    return handle


async def test_the_short_way_writes_what_httpx_s_way_writes_and_keeps_the_connection() -> None:
    requests: list[bytes] = []
    body = {"model": "coder", "messages": [{"role": "user", "content": "é ∑ 1"}]}
    headers = {"Accept": "text/event-stream", "Authorization": "Bearer k"}
    written: list[float] = []
    with raw_server(recording(requests)) as url:
        config = backend_config(kind="openai", url=url)
        async with client_for(config, "local") as http:
            assert isinstance(http, PlainHTTPClient)
            async with http.stream("POST", f"{url}/v1/chat", json=body, headers=headers) as old:
                assert await old.aread() == b"ok"
            async with plain_http.stream_json(
                http,
                f"{url}/v1/chat",
                body,
                headers,
                on_sent=lambda: written.append(time.monotonic()),
            ) as new:
                assert new.status_code == 200
                assert new.headers["content-type"] == "text/plain"
                assert await new.aread() == b"ok"
            counted = plain_http.connection_count(http._transport)
    assert len(requests) == 2
    assert requests[1] == requests[0]
    assert len(written) == 1
    assert counted == (1, 1)  # both on one connection, idle again


async def test_a_client_with_httpx_s_layers_takes_httpx_s_way() -> None:
    requests: list[bytes] = []
    seen: list[str] = []
    written: list[bool] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.method)

    with raw_server(recording(requests)) as url:
        config = backend_config(kind="openai", url=url)
        async with client_for(config, "local") as http:
            assert isinstance(http, PlainHTTPClient)
            http.event_hooks = {"request": [hook], "response": []}
            async with plain_http.stream_json(
                http, f"{url}/v1/chat", {"a": 1}, {}, on_sent=lambda: written.append(True)
            ) as response:
                assert await response.aread() == b"ok"
    assert seen == ["POST"]
    assert written == [True]  # told by httpx's trace
    assert len(requests) == 1


async def test_a_closed_client_sends_nothing() -> None:
    requests: list[bytes] = []
    with raw_server(recording(requests)) as url:
        http = client_for(backend_config(kind="openai", url=url), "local")
        assert isinstance(http, PlainHTTPClient)
        await http.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            async with plain_http.stream_json(http, f"{url}/v1/chat", {}, {}):
                pass
    assert requests == []


async def test_a_connect_timeout_the_event_loop_caused_is_tried_once_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    requests: list[bytes] = []
    tries: list[int] = []
    real_open = plain_http.open_connection

    async def held_up_once(*args: Any) -> Any:
        tries.append(1)
        if len(tries) == 1:
            time.sleep(0.35)  # noqa: ASYNC251 - the loop held past the connect deadline
            raise httpx.ConnectTimeout("connect timed out")
        return await real_open(*args)

    monkeypatch.setattr(plain_http, "open_connection", held_up_once)
    with raw_server(recording(requests)) as url:
        config = backend_config(kind="openai", url=url, connect_timeout_s=0.3)
        async with client_for(config, "local") as http:
            assert isinstance(http, PlainHTTPClient)
            async with plain_http.stream_json(http, f"{url}/v1/chat", {"a": 1}, {}) as response:
                assert await response.aread() == b"ok"
    assert len(tries) == 2
    assert len(requests) == 1


async def test_a_dead_host_s_connect_timeout_is_not_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tries: list[int] = []

    async def timing_out(*args: Any) -> Any:
        tries.append(1)
        await asyncio.sleep(0.3)  # the loop ran: the host did not answer
        raise httpx.ConnectTimeout("connect timed out")

    monkeypatch.setattr(plain_http, "open_connection", timing_out)
    config = backend_config(kind="openai", url="http://127.0.0.1:9", connect_timeout_s=0.3)
    async with client_for(config, "local") as http:
        assert isinstance(http, PlainHTTPClient)
        with pytest.raises(httpx.ConnectTimeout):
            async with plain_http.stream_json(http, "http://127.0.0.1:9/v1/chat", {}, {}):
                pass
    assert len(tries) == 1
