"""Sending one cleared request to one backend: endpoints, slots, queues, busy retries, health.

The pipeline decides *where* a request may go; this module only delivers a
:class:`~localroute.backends.base.ChatRequest` that already carries the privacy
gate's clearance, within the backend's `max_concurrency` and `max_queue`, waiting
out a short "busy" (429 with a short Retry-After) instead of moving the code on,
and marking the backend down when it is unavailable.

A backend with several endpoints (`urls`) takes each try to the least busy one
(:mod:`localroute.routing.endpoints`); an endpoint that fails (refused, reset, 5xx)
is marked down and the request tried again on another endpoint of the same backend
before the pipeline moves on to its next candidate. Every try is recorded once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from localroute.backends import sent
from localroute.backends.base import (
    Backend,
    BackendError,
    BackendUnavailable,
    ChatRequest,
    ChatResult,
    ProbeResult,
    StatusCallback,
    TextCallback,
)
from localroute.config.locality import effective_locality
from localroute.config.models import BackendConfig
from localroute.routing.budget import Budget
from localroute.routing.endpoints import Endpoint, EndpointGroup
from localroute.routing.health import HealthMonitor

BUSY_RETRIES = 3
"""How often a backend that answers 429 with a short Retry-After is asked again."""
BUSY_WAIT_MAX_S = 5.0
DEADLINE_GRACE_S = 1.0

Record = Callable[[str, float, bool, ChatResult | None], None]
"""Audit one try: outcome, start time, whether bytes were sent, the result."""


@dataclass
class _Tries:
    """What the tries of one request on one backend's endpoints have done so far."""

    began: float = field(default_factory=time.monotonic)
    """When the current try started."""
    delivered: bool = False
    """An earlier try (on another endpoint) did receive the prompt."""
    failures: list[str] = field(default_factory=list)
    on_slot: Callable[[], None] | None = None
    """Called once a slot is had: the request's budget starts then."""
    handed_on: bool = False
    """The last try's slot went to a request that waited for one."""


def _busy(exc: BackendUnavailable) -> bool:
    wait = exc.retry_after_s
    return exc.status == 429 and wait is not None and wait <= BUSY_WAIT_MAX_S


class BackendPool:
    """The live backend instances of one configuration and their limits."""

    def __init__(self, backends: dict[str, BackendConfig], health: HealthMonitor) -> None:
        self.configs = backends
        self.health = health
        self.budget = Budget()
        self._groups: dict[str, EndpointGroup] = {}
        self._retired: list[EndpointGroup] = []
        self._sends = sent.SendsInFlight()

    def group(self, name: str) -> EndpointGroup:
        """The endpoints of a backend, made on first use."""
        group = self._groups.get(name)
        if group is None:
            config = self.configs[name]
            group = EndpointGroup(name, config, effective_locality(config))
            self._groups[name] = group
        return group

    def backend(self, name: str) -> Backend:
        """The backend instance of the backend's (first) endpoint."""
        return self.group(name).endpoints[0].backend

    async def probe(self, name: str) -> ProbeResult:
        """Probe every endpoint of a backend (see :meth:`EndpointGroup.probe`)."""
        return await self.group(name).probe()

    def in_flight(self, name: str) -> dict[str, int]:
        """Requests in flight on each endpoint of a backend, by URL."""
        group = self._groups.get(name)
        return {e.url: e.in_flight for e in group.endpoints} if group is not None else {}

    def reconfigure(self, backends: dict[str, BackendConfig]) -> set[str]:
        """Switch to new settings; backends whose settings changed start afresh (their old
        instances are closed at :meth:`aclose` or by :meth:`close_retired`)."""
        old, self.configs = self.configs, backends
        changed = {n for n in old.keys() | backends.keys() if old.get(n) != backends.get(n)}
        for name in changed:
            self.health.forget(name)
            group = self._groups.pop(name, None)
            if group is not None:
                self._retired.append(group)
        return changed

    async def close_retired(self) -> None:
        retired, self._retired = self._retired, []
        for group in retired:
            await group.aclose()

    async def aclose(self) -> None:
        await self.close_retired()
        groups, self._groups = list(self._groups.values()), {}
        for group in groups:
            await group.aclose()

    def budget_spent(self, name: str) -> str | None:
        return self.budget.exhausted(name, self.configs[name])

    async def send(
        self,
        request: ChatRequest,
        *,
        on_text: TextCallback,
        record: Record,
        estimated_tokens: int,
        check: Callable[[ChatResult], None] | None = None,
        on_status: StatusCallback | None = None,
        restart: Callable[[], None] | None = None,
    ) -> ChatResult:
        """One backend, waiting out busy answers; any other failure is recorded and raised,
        marking the backend down when it is unavailable. Before a try on another endpoint
        after one that failed, ``restart`` is called (what ``on_text`` saw is void)."""
        name = request.clearance.backend
        budget_s = self.configs[name].timeout_s
        # The backend enforces its own budget and closes its connection when it expires;
        # this outer deadline only bounds waiting out busy answers, so it comes a little
        # later: two deadlines firing together could interrupt that close. It starts when
        # the request has a slot: waiting behind others (a bulk run on a one-slot local
        # model) is not the backend being slow, and `max_queue` bounds it.
        deadline: float | None = None
        delivered = False  # an earlier try (answered "busy") did receive the prompt
        for busy_retry in range(BUSY_RETRIES + 1):
            tries = _Tries()
            try:
                async with asyncio.timeout(None) as window:

                    def on_slot(window: asyncio.Timeout = window) -> None:
                        nonlocal deadline
                        if deadline is None:
                            deadline = time.monotonic() + budget_s + DEADLINE_GRACE_S
                        window.reschedule(_loop_deadline(deadline))

                    tries.on_slot = on_slot
                    result = await self._tries(
                        request, on_text, on_status, check, record, restart, tries
                    )
            except TimeoutError:
                exc = BackendUnavailable(name, f"no answer within {budget_s:g} s (busy)")
                record(f"unavailable: {exc.message}", tries.began, True, None)
                self.health.mark_down(name, exc.message)
                raise exc from None
            except BackendError as exc:
                unavailable = isinstance(exc, BackendUnavailable)
                kind = "unavailable" if unavailable else "rejected"
                record(f"{kind}: {exc.message}", tries.began, not exc.nothing_sent, None)
                delivered = delivered or tries.delivered
                wait = exc.retry_after_s if isinstance(exc, BackendUnavailable) else None
                busy = isinstance(exc, BackendUnavailable) and _busy(exc)
                end = deadline if deadline is not None else time.monotonic() + budget_s
                fits = wait is not None and time.monotonic() + wait < end - DEADLINE_GRACE_S
                if busy and fits and wait is not None and busy_retry < BUSY_RETRIES:
                    delivered = delivered or not exc.nothing_sent
                    await asyncio.sleep(wait)
                    continue
                if isinstance(exc, BackendUnavailable):
                    self.health.mark_down(name, exc.message, retry_after_s=wait)
                exc.nothing_sent = exc.nothing_sent and not delivered
                raise
            except asyncio.CancelledError:
                record("cancelled", tries.began, True, None)
                raise
            record("ok", tries.began, True, result)
            tokens = (result.prompt_tokens or 0) + (result.completion_tokens or 0)
            self.budget.record(name, tokens or estimated_tokens)
            if tries.handed_on:
                # The slot went to a waiting request: let it go out before this answer's
                # work (parsing, storing) — see localroute.backends.sent. After the try is
                # recorded (a cancel here loses no audit line) and outside its deadline.
                await self._sends.out()
            return result
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _tries(
        self,
        request: ChatRequest,
        on_text: TextCallback,
        on_status: StatusCallback | None,
        check: Callable[[ChatResult], None] | None,
        record: Record,
        restart: Callable[[], None] | None,
        tries: _Tries,
    ) -> ChatResult:
        """Try the backend's endpoints, one at a time, until one answers; the failure of
        the last one is raised (earlier ones are recorded here)."""
        name = request.clearance.backend
        group = self.group(name)
        tried: set[str] = set()
        while True:
            endpoint, waited = await group.acquire(
                tried, lambda url: self.health.endpoint_state(name, url)
            )
            tried.add(endpoint.url)
            tries.began = time.monotonic()
            if tries.on_slot is not None:
                tries.on_slot()
            # A request that waited for its slot took it from an answer, which lets it go
            # out first (below): it says when it is written.
            watch = sent.watching(self._sends) if waited else contextlib.nullcontext()
            try:
                with watch:
                    result = await endpoint.backend.chat(request, on_text, on_status=on_status)
                if check is not None:
                    check(result)  # an answer that is no answer fails like any other error
            except BackendUnavailable as exc:
                self._failed(group, endpoint, exc, tries)
                if not group.untried(tried):
                    if len(tries.failures) > 1:
                        exc.message = f"every endpoint failed: {'; '.join(tries.failures)}"
                        exc.args = (exc.message,)
                    exc.nothing_sent = exc.nothing_sent and not tries.delivered
                    raise
                record(f"unavailable: {exc.message}", tries.began, not exc.nothing_sent, None)
                tries.delivered = tries.delivered or not exc.nothing_sent
                if restart is not None:
                    restart()
                continue
            finally:
                tries.handed_on = group.release(endpoint)
            latency_ms = (time.monotonic() - tries.began) * 1000
            if endpoint.url:
                self.health.mark_endpoint_up(name, endpoint.url, latency_ms=latency_ms)
            self.health.mark_up(name, latency_ms=latency_ms)
            return result

    def _failed(
        self, group: EndpointGroup, endpoint: Endpoint, exc: BackendUnavailable, tries: _Tries
    ) -> None:
        """One endpoint failed: it is down (unless merely busy), and the message names it
        when the backend has several."""
        if endpoint.url and not _busy(exc):
            self.health.mark_endpoint_down(group.name, endpoint.url, exc.message)
        if group.several:
            exc.message = f"{endpoint.label}: {exc.message}"
            exc.args = (exc.message,)
            tries.failures.append(exc.message)


def _loop_deadline(monotonic_deadline: float) -> float:
    """A `time.monotonic()` deadline on the running loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_deadline - time.monotonic())
