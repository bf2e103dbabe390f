"""What a streamed chat request costs through each HTTP client stack, in one run.

The loopback fake (``tests/fakes/openai_fake.py``) runs in its own process, so that
only the client's work is in this one. Each round sends the same review-sized chat
request (streamed, read to its end) once through each stack, in turn:

- ``httpx + httpcore``: httpx's client with its own transport (httpcore's pool), as a
  cloud backend's client is;
- ``httpx + plain_http``: httpx's client on :class:`localroute.backends.plain_http.
  PlainHTTPTransport` (h11 on asyncio's streams);
- ``PlainHTTPClient``: what ``client_for`` gives a plain-HTTP backend: the same
  transport, reached past httpx's authentication, redirect and cookie layers.

Prints each stack's median and p90 and its median against the first, in the same run.

Run: ``python -m bench.plain_http [-n 500]`` from the checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable

import httpx
from tests.fakes.ports import closed_port

from bench.common import PYTHON, ROOT, SOURCE, median, p90

BODY = {
    "model": "coder",
    "messages": [
        {"role": "system", "content": "You review code."},
        {"role": "user", "content": f"Review this file.\n```python\n{SOURCE}```"},
    ],
    "stream": True,
    "stream_options": {"include_usage": True},
}


async def _fake_up(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                await client.get(f"{url}/models")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise RuntimeError("the fake did not start")


def _chat(client: httpx.AsyncClient, url: str) -> Callable[[], Awaitable[None]]:
    async def chat() -> None:
        async with client.stream("POST", f"{url}/chat/completions", json=BODY) as response:
            async for _ in response.aiter_bytes():
                pass

    return chat


async def measure(n: int) -> list[tuple[str, list[float]]]:
    from localroute.backends.http import client_for
    from localroute.backends.plain_http import PlainHTTPTransport
    from localroute.config.models import backend_config

    port = closed_port()
    url = f"http://127.0.0.1:{port}/v1"
    fake = await asyncio.create_subprocess_exec(
        PYTHON, "-m", "tests.fakes.openai_fake", "--port", str(port),
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await _fake_up(url)
        limits = httpx.Limits(max_connections=6)
        clients = {
            "httpx + httpcore": httpx.AsyncClient(trust_env=False, limits=limits),
            "httpx + plain_http": httpx.AsyncClient(
                transport=PlainHTTPTransport(limits), trust_env=False
            ),
            "PlainHTTPClient": client_for(backend_config(kind="openai", url=url), "local"),
        }
        chats = {name: _chat(client, url) for name, client in clients.items()}
        for chat in chats.values():
            for _ in range(20):
                await chat()
        samples: dict[str, list[float]] = {name: [] for name in chats}
        for _ in range(n):
            for name, chat in chats.items():
                began = time.perf_counter()
                await chat()
                samples[name].append((time.perf_counter() - began) * 1000)
        for client in clients.values():
            await client.aclose()
    finally:
        fake.terminate()
        await fake.wait()
    return list(samples.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=500, help="rounds (default 500)")
    args = parser.parse_args()
    rows = asyncio.run(measure(args.n))
    base = median(rows[0][1])
    print(f"streamed chat request, {args.n} rounds; ms")
    print(f"{'stack':<22} {'median':>8} {'p90':>8} {'vs first':>9}")
    for name, values in rows:
        print(f"{name:<22} {median(values):8.3f} {p90(values):8.3f} {median(values) - base:+9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
