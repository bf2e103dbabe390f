"""Which requests have a slot but are not on the wire yet, so that an answer's own work
can let them go first.

In a bulk run several answers often arrive together, each freeing a slot that a waiting
request takes. Everything runs on one event loop: if each answer is parsed, checked and
stored before the waiting requests are written, the last of them goes out several
milliseconds late, and that delay adds up over every round of a run. So a try that freed
a slot for a waiting request, once it is recorded in the audit, waits until the requests
being sent are out (:meth:`SendsInFlight.out`); then the answer's work is done.

Only a request that waited for its slot is watched (the pool's :func:`watching`), and
only a backend that says when its request is written counts it as sending: the HTTP
backends do, from httpcore's ``trace`` extension (:func:`trace_extension`); other kinds
are never waited for. A request that found a slot free (an editor's single review)
costs nothing here. The wait is bounded (:data:`WAIT_MAX_S`): a request whose connect
hangs does not hold back the answers of others for longer than that.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

WAIT_MAX_S = 0.05
"""The longest an answer's work waits for the requests being sent."""

_SENT_EVENTS = frozenset(
    {
        "http11.send_request_body.complete",
        "http2.send_request_body.complete",
    }
)

Sent = Callable[[], None]
"""Called once the request is written, or its try has ended (called again, it does nothing)."""


class SendsInFlight:
    """The requests of one pool that have a slot and are not written yet."""

    def __init__(self) -> None:
        self.sending = 0
        self._none: asyncio.Event | None = None

    def started(self) -> Sent:
        """A request is being sent; call the result when it is written (or failed)."""
        self.sending += 1
        done = False

        def sent() -> None:
            nonlocal done
            if done:
                return
            done = True
            self.sending -= 1
            if self.sending == 0 and self._none is not None:
                self._none.set()

        return sent

    async def out(self, limit_s: float | None = None) -> None:
        """Wait until no request is being sent, at most ``limit_s`` (:data:`WAIT_MAX_S`).
        It first yields once, so that a request woken just now (by a slot this try freed)
        can start sending."""
        if limit_s is None:
            limit_s = WAIT_MAX_S
        await asyncio.sleep(0)
        if self.sending == 0:
            return
        if self._none is None:
            self._none = asyncio.Event()
        self._none.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._none.wait(), limit_s)


_WATCHING: contextvars.ContextVar[SendsInFlight | None] = contextvars.ContextVar(
    "localroute_sends_in_flight", default=None
)


@contextlib.contextmanager
def watching(sends: SendsInFlight) -> Iterator[None]:
    """Requests sent by the current task within the block count in ``sends``."""
    token = _WATCHING.set(sends)
    try:
        yield
    finally:
        _WATCHING.reset(token)


def request_starting() -> Sent | None:
    """For a backend about to send a request: the callback that says it was written, or
    None when nobody watches (a probe, a test calling the backend directly)."""
    sends = _WATCHING.get()
    return sends.started() if sends is not None else None


def trace_extension(sent: Sent) -> dict[str, Callable[[str, Any], Awaitable[None]]]:
    """httpx request ``extensions`` that call ``sent`` once the request body is written
    (httpcore's ``trace`` events); a failure ends the try, which calls it too."""

    async def trace(event: str, info: Any) -> None:
        if event in _SENT_EVENTS:
            sent()

    return {"trace": trace}
