"""Sending one cleared request to one backend: slots, queues, busy retries, health.

The pipeline decides *where* a request may go; this module only delivers a
:class:`~localroute.backends.base.ChatRequest` that already carries the privacy
gate's clearance, within the backend's `max_concurrency` and `max_queue`, waiting
out a short "busy" (429 with a short Retry-After) instead of moving the code on,
and marking the backend down when it is unavailable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from localroute.backends.base import (
    Backend,
    BackendError,
    BackendRequestError,
    BackendUnavailable,
    ChatRequest,
    ChatResult,
    TextCallback,
)
from localroute.backends.registry import create_backend
from localroute.config.locality import effective_locality
from localroute.config.models import BackendConfig
from localroute.routing.budget import Budget
from localroute.routing.health import HealthMonitor

BUSY_RETRIES = 3
"""How often a backend that answers 429 with a short Retry-After is asked again."""
BUSY_WAIT_MAX_S = 5.0
DEADLINE_GRACE_S = 1.0

Record = Callable[[str, float, bool, ChatResult | None], None]
"""Audit one try: outcome, start time, whether bytes were sent, the result."""


class BackendPool:
    """The live backend instances of one configuration and their limits."""

    def __init__(self, backends: dict[str, BackendConfig], health: HealthMonitor) -> None:
        self.configs = backends
        self.health = health
        self.budget = Budget()
        self._backends: dict[str, Backend] = {}
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._waiting: dict[str, int] = {}
        self._retired: list[Backend] = []

    def backend(self, name: str) -> Backend:
        backend = self._backends.get(name)
        if backend is None:
            config = self.configs[name]
            backend = create_backend(name, config, effective_locality(config))
            self._backends[name] = backend
            self._limits[name] = asyncio.Semaphore(config.max_concurrency)
        return backend

    def reconfigure(self, backends: dict[str, BackendConfig]) -> set[str]:
        """Switch to new settings; backends whose settings changed start afresh (their old
        instances are closed at :meth:`aclose` or by :meth:`close_retired`)."""
        old, self.configs = self.configs, backends
        changed = {n for n in old.keys() | backends.keys() if old.get(n) != backends.get(n)}
        for name in changed:
            self.health.forget(name)
            self._limits.pop(name, None)
            instance = self._backends.pop(name, None)
            if instance is not None:
                self._retired.append(instance)
        return changed

    async def close_retired(self) -> None:
        retired, self._retired = self._retired, []
        for backend in retired:
            await backend.aclose()

    async def aclose(self) -> None:
        await self.close_retired()
        backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            await backend.aclose()

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
    ) -> ChatResult:
        """One backend, waiting out busy answers; any other failure is recorded and raised,
        marking the backend down when it is unavailable."""
        name = request.clearance.backend
        budget_s = self.configs[name].timeout_s
        # The backend enforces its own budget and closes its connection when it expires;
        # this outer deadline only bounds waiting out busy answers, so it comes a little
        # later: two deadlines firing together could interrupt that close.
        deadline = time.monotonic() + budget_s + DEADLINE_GRACE_S
        delivered = False  # an earlier try (answered "busy") did receive the prompt
        for busy_retry in range(BUSY_RETRIES + 1):
            began = time.monotonic()
            try:
                async with asyncio.timeout_at(_loop_deadline(deadline)):
                    result = await self._chat(request, on_text, check)
            except TimeoutError:
                exc = BackendUnavailable(name, f"no answer within {budget_s:g} s (busy)")
                record(f"unavailable: {exc.message}", began, True, None)
                self.health.mark_down(name, exc.message)
                raise exc from None
            except BackendError as exc:
                unavailable = isinstance(exc, BackendUnavailable)
                kind = "unavailable" if unavailable else "rejected"
                record(f"{kind}: {exc.message}", began, not exc.nothing_sent, None)
                wait = exc.retry_after_s if isinstance(exc, BackendUnavailable) else None
                busy = exc.status == 429 and wait is not None and wait <= BUSY_WAIT_MAX_S
                fits = wait is not None and time.monotonic() + wait < deadline - DEADLINE_GRACE_S
                if busy and fits and wait is not None and busy_retry < BUSY_RETRIES:
                    delivered = delivered or not exc.nothing_sent
                    await asyncio.sleep(wait)
                    continue
                if isinstance(exc, BackendUnavailable):
                    self.health.mark_down(name, exc.message, retry_after_s=wait)
                exc.nothing_sent = exc.nothing_sent and not delivered
                raise
            except asyncio.CancelledError:
                record("cancelled", began, True, None)
                raise
            record("ok", began, True, result)
            tokens = (result.prompt_tokens or 0) + (result.completion_tokens or 0)
            self.budget.record(name, tokens or estimated_tokens)
            return result
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _chat(
        self,
        request: ChatRequest,
        on_text: TextCallback,
        check: Callable[[ChatResult], None] | None,
    ) -> ChatResult:
        name = request.clearance.backend
        backend = self.backend(name)
        limit = self._limits[name]
        config = self.configs[name]
        waiting = self._waiting.get(name, 0)
        if limit.locked() and waiting >= config.max_queue:
            raise BackendRequestError(
                name,
                f"queue full: {waiting} requests already wait for its "
                f"{config.max_concurrency} slots",
                nothing_sent=True,
            )
        self._waiting[name] = waiting + 1
        try:
            await limit.acquire()
        finally:
            self._waiting[name] -= 1
        try:
            started = time.monotonic()
            result = await backend.chat(request, on_text)
            if check is not None:
                check(result)  # an answer that is no answer fails like any other error
        finally:
            limit.release()
        self.health.mark_up(name, latency_ms=(time.monotonic() - started) * 1000)
        return result


def _loop_deadline(monotonic_deadline: float) -> float:
    """A `time.monotonic()` deadline on the running loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_deadline - time.monotonic())
