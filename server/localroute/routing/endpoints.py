"""The endpoints of one backend: where the next try goes, and the slots of each.

A backend has one endpoint, or several when it lists ``urls`` (one server per GPU box).
Each endpoint is a backend instance of its own (its own client, connect timeout and
probe), made by the registry and so behind the privacy guard, under the backend's name
and locality. A request may go to any endpoint of the backend it was cleared for only
because none is more public than the backend: :func:`~localroute.config.locality.
check_endpoints` holds that before an endpoint is used, and one that breaks it is never
used (it stands in as unavailable).

A try goes to the endpoint with the fewest requests in flight (then the one that had
fewest so far), among those not tried yet for this request and not known to be down —
all of them when every one is — within ``max_concurrency`` each; without a free slot it
waits, up to ``max_queue`` requests per backend.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from localroute.backends.base import Backend, BackendRequestError, ProbeResult
from localroute.backends.registry import UnavailableKind, create_backend
from localroute.config.locality import check_endpoints, display_url, endpoint_localities
from localroute.config.models import BackendConfig, Locality


@dataclasses.dataclass(eq=False)
class Endpoint:
    """One URL of a backend (``""`` for kinds without one) and its requests in flight."""

    url: str
    locality: Locality
    backend: Backend
    usable: bool = True
    """False for an endpoint more public than its backend: never chosen."""
    in_flight: int = 0
    started: int = 0

    @property
    def label(self) -> str:
        return display_url(self.url)


class EndpointGroup:
    """Every endpoint of one backend, their slots and the choice among them."""

    def __init__(self, name: str, config: BackendConfig, locality: Locality) -> None:
        self.name = name
        self.config = config
        self.locality = locality
        urls = endpoint_localities(config) or {"": locality}
        self.endpoints = [self._endpoint(url, own) for url, own in urls.items()]
        self.waiting = 0
        self._waiters: list[asyncio.Future[None]] = []

    def _endpoint(self, url: str, own: Locality) -> Endpoint:
        try:
            check_endpoints(self.name, self.locality, {url: own})
        except ValueError as exc:  # cannot happen by construction; fail closed if it does
            refused = UnavailableKind(self.name, self.config, self.locality, str(exc))
            return Endpoint(url, own, refused, usable=False)
        config = self.config.for_endpoint(url) if url else self.config
        return Endpoint(url, own, create_backend(self.name, config, self.locality))

    @property
    def several(self) -> bool:
        return len(self.endpoints) > 1

    def untried(self, tried: set[str]) -> bool:
        return any(e.usable and e.url not in tried for e in self.endpoints)

    async def acquire(self, tried: set[str], state: Callable[[str], str]) -> tuple[Endpoint, bool]:
        """A slot on the endpoint for the next try (see the module), and whether the
        request had to wait for it; ``tried`` holds the URLs this request already tried
        and must leave one out. Raises :class:`BackendRequestError` (nothing sent) when
        too many requests wait already."""
        waited = False
        while True:
            untried = [e for e in self.endpoints if e.usable and e.url not in tried]
            if not untried:  # only when no endpoint is usable at all
                raise BackendRequestError(self.name, "no endpoint may be used", nothing_sent=True)
            alive = [e for e in untried if state(e.url) != "down"] or untried
            free = [e for e in alive if e.in_flight < self.config.max_concurrency]
            if free:
                chosen = min(free, key=lambda e: (e.in_flight, e.started))
                chosen.in_flight += 1
                chosen.started += 1
                return chosen, waited
            if self.waiting >= self.config.max_queue:
                slots = self.config.max_concurrency * len(self.endpoints)
                raise BackendRequestError(
                    self.name,
                    f"queue full: {self.waiting} requests already wait for its {slots} slots",
                    nothing_sent=True,
                )
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            self.waiting += 1
            waited = True
            try:
                await waiter
            finally:
                self.waiting -= 1
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def release(self, endpoint: Endpoint) -> bool:
        """The try on ``endpoint`` ended: its slot is free; every waiter looks again. True
        when a request was waiting for a slot."""
        endpoint.in_flight -= 1
        waiters, self._waiters = self._waiters, []
        woken = False
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
                woken = True
        return woken

    async def probe(self) -> ProbeResult:
        """Probe every endpoint at once. One endpoint: its result. Several: up while one is,
        with what the up ones say (a model's window the smallest of theirs: a prompt must
        fit whichever endpoint gets it) and each endpoint's own result."""
        results = await asyncio.gather(*(e.backend.probe() for e in self.endpoints))
        by_url = {e.url: r for e, r in zip(self.endpoints, results, strict=True) if e.url}
        if not self.several:
            return dataclasses.replace(results[0], endpoints=by_url)
        up = [r for r in results if r.up]
        models = tuple(dict.fromkeys(m for r in up for m in r.models))
        windows: dict[str, int] = {}
        for result in up:
            for model, window in result.context_tokens.items():
                windows[model] = min(window, windows.get(model, window))
        down = "; ".join(
            f"{e.label}: {r.detail}"
            for e, r in zip(self.endpoints, results, strict=True)
            if not r.up
        )
        if up:
            detail = f"{len(up)} of {len(results)} endpoints up" + (f" ({down})" if down else "")
        else:
            detail = f"every endpoint is down ({down})"
        latencies = [r.latency_ms for r in up or results if r.latency_ms is not None]
        latency = min(latencies, default=None)
        return ProbeResult(bool(up), latency, models, detail, windows, by_url)

    async def aclose(self) -> None:
        for endpoint in self.endpoints:
            await endpoint.backend.aclose()
