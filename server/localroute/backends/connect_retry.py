"""A connect timeout that the event loop caused, not the host, is tried once more.

On a loaded machine the event loop can be held up (a long garbage collection, the fork
of a subprocess, another thread holding the GIL) past a connect deadline while the
connection was in fact made: asyncio then sees the connect's completion and the
deadline's timer in the same turn, the timer wins, and a live loopback server looks
dead. That can only happen when one hold-up covers the whole time from the moment the
host answered (within a round trip of the start) to the deadline: had the loop run a
turn in between, it would have taken the connection.

So each connect also sets a check halfway to its deadline (:class:`LateConnectRetry` sets
it for each request of httpx's transport, :func:`connect_retrying` for each connection the
plain-HTTP transport opens). If one turn of the
loop held everything from the host's answer to the deadline, that turn held the check
too, which then ran only at the deadline: about half the deadline late. On a connect
timeout:

- the check ran on time, or only a little late: the loop took a turn between the host's
  answer (had there been one) and the deadline, so the host did not answer in time — a
  dead host, not tried again (a start-up import that holds the loop for a while does not
  count, it has to cover the deadline);
- the check ran nearly half the deadline late (:data:`HELD_FRACTION`), or the timeout
  itself fired :data:`LATE_S` late: the loop may have hidden an answer — tried once more.

Nothing is sent before a connection exists, so the retry can never send a request twice;
a host that is really dead costs its connect timeout again only when the machine was too
busy to tell.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

__all__ = ["CHECK_AT", "HELD_FRACTION", "LATE_S", "LateConnectRetry", "connect_retrying"]

T = TypeVar("T")

log = logging.getLogger(__name__)

LATE_S = 0.1
"""How far past its deadline a connect timeout must fire to be blamed on the event loop
whatever the check says: a timer of an idle loop fires within a few milliseconds."""

CHECK_AT = 0.5
"""Where the check is set, as a fraction of the connect deadline."""

HELD_FRACTION = 0.45
"""How late the check must run, as a fraction of the connect deadline, for the loop to be
blamed: one turn over the deadline makes it half the deadline late; a little less allows
for the timers' granularity and for the connect starting after the request."""


class _HalfwayCheck:
    """A timer halfway to the connect deadline that notes how late it ran."""

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline_s: float) -> None:
        self.loop = loop
        self.started = loop.time()
        self.deadline_s = deadline_s
        self.due = self.started + deadline_s * CHECK_AT
        self.late_s: float | None = None
        self._handle = loop.call_at(self.due, self._ran)

    def _ran(self) -> None:
        self.late_s = self.loop.time() - self.due

    def stop(self) -> None:
        self._handle.cancel()

    def loop_was_held(self) -> str | None:
        """Why the timeout may be the loop's doing, or None when the host did not answer."""
        late = self.loop.time() - self.started - self.deadline_s
        if late >= LATE_S:
            return f"the connect timeout fired {late * 1000:.0f} ms late"
        if self.late_s is None:  # the timeout came before the check could run
            return "the halfway check had not run when the connect timed out"
        if self.late_s >= self.deadline_s * HELD_FRACTION:
            return f"the halfway check ran {self.late_s * 1000:.0f} ms late"
        return None


async def connect_retrying(deadline: float | None, attempt: Callable[[], Awaitable[T]]) -> T:
    """``attempt()``, made again once when it timed out connecting within ``deadline``
    while the event loop was held up. The plain-HTTP transport wraps its connects in it
    (:mod:`localroute.backends.plain_http`): a request on a kept connection sets no check."""
    if not deadline:
        return await attempt()
    check = _HalfwayCheck(asyncio.get_running_loop(), deadline)
    try:
        return await attempt()
    except httpx.ConnectTimeout:
        why = check.loop_was_held()
        if why is None:
            raise
        log.info("connect timeout while the event loop was held up (%s): trying once more",
                 why)  # fmt: skip
        return await attempt()
    finally:
        check.stop()


class LateConnectRetry(httpx.AsyncBaseTransport):
    """Wraps a transport; see the module's docstring. The deadline is the request's own
    connect timeout (httpx puts the client's or the call's timeouts on every request)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        deadline = (request.extensions.get("timeout") or {}).get("connect")
        return await connect_retrying(deadline, lambda: self._inner.handle_async_request(request))

    async def aclose(self) -> None:
        await self._inner.aclose()
