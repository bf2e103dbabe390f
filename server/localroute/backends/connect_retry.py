"""A connect timeout that the event loop caused, not the host, is tried once more.

On a loaded machine the event loop can be held up (a long garbage collection, another
thread holding the GIL) past a connect deadline while the connection was in fact made:
asyncio then runs the deadline's timer and the connect's completion in the same turn, the
timer wins, and a live loopback server looks dead. A dead host's timer fires on time, so a
`ConnectTimeout` raised well after its deadline is retried once. Nothing is sent before a
connection exists, so the retry can never send a request twice; a host that is really
dead costs its connect timeout again only when the machine was too busy to tell.
"""

from __future__ import annotations

import logging
import time

import httpx

__all__ = ["LATE_S", "LateConnectRetry"]

log = logging.getLogger(__name__)

LATE_S = 0.1
"""How far past its deadline a connect timeout must fire to be blamed on the event loop:
a timer of an idle loop fires within a few milliseconds."""


class LateConnectRetry(httpx.AsyncBaseTransport):
    """Wraps a transport; see the module's docstring. The deadline is the request's own
    connect timeout (httpx puts the client's or the call's timeouts on every request)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        start = time.perf_counter()
        try:
            return await self._inner.handle_async_request(request)
        except httpx.ConnectTimeout:
            deadline = (request.extensions.get("timeout") or {}).get("connect")
            late = 0.0 if deadline is None else time.perf_counter() - start - deadline
            if late < LATE_S:
                raise
            log.info("connect timeout fired %.0f ms late (a busy machine): trying once more",
                     late * 1000)  # fmt: skip
            return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
