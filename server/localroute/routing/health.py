"""What is known of each backend's availability, and keeping it fresh.

"Up" answers are cached with a TTL (cachetools) and refreshed in the background
when they expire. "Down" is kept until a probe says otherwise, so a host known to
be down costs the next request nothing; a background task probes down backends
again every ``recheck_s`` seconds. A failed request marks its backend down.

A backend with several endpoints (``urls``) is up while one of them is; each endpoint's
own state is kept beside it (:meth:`HealthMonitor.endpoint_state`), learned from the
backend's probe (which asks every endpoint) and from requests: an endpoint that failed
stays down — skipped by the next request — until a probe or a request says otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from cachetools import TTLCache

from localroute.backends.base import ProbeResult

log = logging.getLogger(__name__)

Prober = Callable[[str], Awaitable[ProbeResult]]


@dataclass(frozen=True)
class BackendHealth:
    """What the last probe (or request) taught about a backend."""

    state: str  # "up" | "down" | "unknown"
    detail: str = ""
    latency_ms: float | None = None
    models: tuple[str, ...] = ()
    checked_at: float | None = None


class HealthMonitor:
    def __init__(self, prober: Prober, *, ttl_s: float, recheck_s: float) -> None:
        self._prober = prober
        self._up: TTLCache[str, BackendHealth] = TTLCache(maxsize=1024, ttl=ttl_s)
        self._down: dict[str, tuple[BackendHealth, float]] = {}  # name → (health, not before)
        self._last: dict[str, BackendHealth] = {}
        # What the last successful probe taught, kept while the backend is down.
        self._models: dict[str, tuple[str, ...]] = {}
        self._context: dict[str, dict[str, int]] = {}  # name → model → context window
        self._endpoints: dict[str, dict[str, BackendHealth]] = {}  # name → url → health
        self._probing: dict[str, asyncio.Task[BackendHealth]] = {}
        self._probe_began: dict[str, float] = {}
        """When the probe in flight began (`time.monotonic()`), per backend."""
        self._recheck_s = recheck_s
        self._loop_task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[str, BackendHealth], None]] = []

    # -- what is known ---------------------------------------------------------------

    def state(self, name: str) -> str:
        if name in self._down:
            return "down"
        if name in self._up:
            return "up"
        return "unknown"

    def health(self, name: str) -> BackendHealth:
        if name in self._down:
            return self._down[name][0]
        cached = self._up.get(name)
        if cached is not None:
            return cached
        last = self._last.get(name)
        return BackendHealth("unknown", last.detail if last else "not checked yet")

    def context_tokens(self, name: str, model: str) -> int | None:
        """The model's context window as the backend's last probe reported it."""
        return self._context.get(name, {}).get(model)

    def on_change(self, listener: Callable[[str, BackendHealth], None]) -> None:
        self._listeners.append(listener)

    def endpoint_state(self, name: str, url: str) -> str:
        """``up``, ``down`` or ``unknown``: what the last probe or request said of one URL."""
        health = self._endpoints.get(name, {}).get(url)
        return health.state if health is not None else "unknown"

    def endpoints(self, name: str) -> dict[str, BackendHealth]:
        """What is known of each endpoint of a backend, by URL (those seen so far)."""
        return dict(self._endpoints.get(name, {}))

    # -- what requests and probes teach us ----------------------------------------------

    def mark_down(self, name: str, detail: str, *, retry_after_s: float | None = None) -> None:
        was = self.state(name)
        health = BackendHealth("down", detail, checked_at=time.monotonic())
        not_before = time.monotonic() + (retry_after_s or 0.0)
        self._down[name] = (health, not_before)
        self._up.pop(name, None)
        self._last[name] = health
        if was != "down":
            log.info("backend %s is down: %s", name, detail)
            self._notify(name, health)

    def mark_up(self, name: str, *, latency_ms: float | None = None) -> None:
        was = self.state(name)
        previous = self._last.get(name)
        health = BackendHealth(
            "up",
            "answered",
            latency_ms if latency_ms is not None else (previous.latency_ms if previous else None),
            self._models.get(name, ()),
            time.monotonic(),
        )
        self._record_up(name, health)
        if was != "up":
            self._notify(name, health)

    def mark_endpoint_down(self, name: str, url: str, detail: str) -> None:
        """One endpoint failed a request: the next requests go to the others."""
        known = self._endpoints.setdefault(name, {})
        if url not in known or known[url].state != "down":
            log.info("backend %s: endpoint %s is down: %s", name, url, detail)
        known[url] = BackendHealth("down", detail, checked_at=time.monotonic())

    def mark_endpoint_up(self, name: str, url: str, *, latency_ms: float | None = None) -> None:
        """One endpoint answered a request."""
        known = self._endpoints.setdefault(name, {})
        previous = known.get(url)
        known[url] = BackendHealth(
            "up",
            "answered",
            latency_ms if latency_ms is not None else (previous.latency_ms if previous else None),
            previous.models if previous else (),
            time.monotonic(),
        )

    def forget(self, name: str) -> None:
        """Drop what is known of a backend (its configuration changed)."""
        self._endpoints.pop(name, None)
        self._down.pop(name, None)
        self._up.pop(name, None)
        self._last.pop(name, None)
        self._context.pop(name, None)
        self._models.pop(name, None)

    def _record_up(self, name: str, health: BackendHealth) -> None:
        self._down.pop(name, None)
        self._up[name] = health
        self._last[name] = health

    def _notify(self, name: str, health: BackendHealth) -> None:
        for listener in self._listeners:
            try:
                listener(name, health)
            except Exception:  # a listener must not break routing
                log.exception("health listener failed")

    # -- probing ---------------------------------------------------------------------

    async def probe(self, name: str) -> BackendHealth:
        """Probe now (one probe per backend at a time) and record the answer."""
        return await asyncio.shield(self._start_probe(name))

    def _start_probe(self, name: str) -> asyncio.Task[BackendHealth]:
        """The probe of ``name`` in flight, started now if there is none. It is known to be
        in flight from this call on (:meth:`probing`), before its task first runs: a request
        handled next joins it instead of connecting to the same host itself."""
        task = self._probing.get(name)
        if task is None:
            task = asyncio.create_task(self._probe(name))
            self._probing[name] = task
            self._probe_began[name] = time.monotonic()
            task.add_done_callback(lambda _t: self._probing.pop(name, None))
        return task

    async def _probe(self, name: str) -> BackendHealth:
        result = await self._prober(name)
        if result.endpoints:
            now = time.monotonic()
            self._endpoints[name] = {
                url: BackendHealth(
                    "up" if each.up else "down",
                    each.detail or ("ok" if each.up else "probe failed"),
                    each.latency_ms,
                    each.models,
                    now,
                )
                for url, each in result.endpoints.items()
            }
        if result.up:
            was = self.state(name)
            health = BackendHealth(
                "up",
                result.detail or "ok",
                result.latency_ms,
                result.models,
                time.monotonic(),
            )
            if result.models:
                self._models[name] = result.models
            if result.context_tokens:
                self._context[name] = dict(result.context_tokens)
            self._record_up(name, health)
            if was != "up":
                self._notify(name, health)
            return health
        self.mark_down(name, result.detail or "probe failed")
        return self.health(name)

    def probing(self, name: str) -> bool:
        return name in self._probing

    async def settle(self, name: str, within_s: float) -> str:
        """Wait for a probe already in flight, until at most ``within_s`` after it began,
        then say what is known: a request joins the probe instead of connecting to a dead
        host itself. Counted from the probe's start, not from this call: the probe's own
        set-up (the backend's first import, its client) runs on the event loop before its
        connect timeout starts, and a request that gave up on it just before it ended
        would pay a second connect timeout to the same dead host."""
        task = self._probing.get(name)
        if task is not None:
            began = self._probe_began.get(name, time.monotonic())
            remaining = max(0.0, began + within_s - time.monotonic())
            with contextlib.suppress(TimeoutError, Exception):
                async with asyncio.timeout(remaining):
                    await asyncio.shield(task)
        return self.state(name)

    def refresh_soon(self, name: str) -> None:
        """Start a background probe unless the answer is fresh or a probe is running."""
        if name in self._probing or name in self._up:
            return
        if name in self._down and time.monotonic() < self._down[name][1]:
            return
        with contextlib.suppress(RuntimeError):  # no running loop (CLI teardown)
            asyncio.get_running_loop()
            self._start_probe(name).add_done_callback(_log_failure)

    async def probe_all(self, names: Mapping[str, object] | list[str]) -> dict[str, BackendHealth]:
        names_list = list(names)
        results = await asyncio.gather(*(self.probe(n) for n in names_list))
        return dict(zip(names_list, results, strict=True))

    def start(self, names: Callable[[], list[str]]) -> None:
        """Probe ``names()`` now, then in a background loop probe down and expired backends
        every ``recheck_s``. The first probes are in flight when this returns."""
        if self._loop_task is None:
            for name in names():
                self.refresh_soon(name)
            self._loop_task = asyncio.create_task(self._recheck_loop(names))

    async def _recheck_loop(self, names: Callable[[], list[str]]) -> None:
        while True:
            for name in names():
                self.refresh_soon(name)
            await asyncio.sleep(self._recheck_s)

    async def aclose(self) -> None:
        tasks = [t for t in (self._loop_task, *self._probing.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loop_task = None


def _log_failure(task: asyncio.Task[BackendHealth]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background probe failed: %s", task.exception())
