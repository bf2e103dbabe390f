"""One scripted in-memory backend, and the way to put it behind the real backend registry.

:class:`FakeBackend` speaks the backend protocol (``localroute.backends.base.Backend``)
without a network: each chat takes the next behaviour of its ``script``, else asks
``answer_fn(request)``, else uses ``default``. A behaviour is an answer (a string), an
exception to raise, or a :class:`Midstream` (text streamed, then an error). It records what
it was handed and how it went::

    fakes = {"local": FakeBackend("local", config.backends["local"], "local")}
    fakes["local"].script = [BackendUnavailable("local", "connection refused")]
    with fakes_behind_the_registry(fakes):
        outcome = await pipeline.run(request)
    assert fakes["local"].calls == 1

The fakes go behind ``localroute.backends.registry._implementation``, so the registry still
wraps each one in its privacy guard, as in production: a fake records only what passed the
gate and the guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import pytest

import localroute.backends.registry as registry_module
from localroute.backends.base import (
    BackendError,
    BackendRequestError,
    BackendUnavailable,
    ChatRequest,
    ChatResult,
    ProbeResult,
    TextCallback,
)
from localroute.config.models import BackendConfig, Locality

NO_FINDINGS = '{"findings": []}'


@dataclass(frozen=True)
class Midstream:
    """Stream ``text``, then fail with ``error``: a connection lost in the middle of an answer."""

    text: str
    error: BaseException


Behaviour = str | BaseException | Midstream
AnswerFn = Callable[[ChatRequest], Behaviour]


class FakeBackend:
    """A scripted backend: answers or raises per call, records what it was sent.

    Settable at any time: ``script`` (behaviours consumed first, one per chat), ``answer_fn``
    (asked next), ``default`` (the behaviour otherwise), ``delay`` (seconds before answering;
    every chat yields to the event loop at least once, as a network call does), ``pieces``
    (how many ``on_text`` calls an answer is streamed in), ``probe_result``, ``probe_delay``
    (seconds before the probe answers).

    Records: ``requests`` (every request handed to it), ``received`` (those that left this
    machine: all but the ones failed with an error saying ``nothing_sent``), ``answered``,
    ``probes``, ``active`` / ``peak`` (chats in flight, now and at most), ``cancelled``,
    ``closed``; ``started`` is set when a first chat began.
    """

    def __init__(
        self,
        name: str,
        config: BackendConfig,
        locality: Locality,
        *,
        script: Sequence[Behaviour] = (),
        answer_fn: AnswerFn | None = None,
        default: Behaviour = NO_FINDINGS,
        delay: float = 0.0,
        pieces: int = 2,
        probe_result: ProbeResult | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.locality = locality
        self.script: list[Behaviour] = list(script)
        self.answer_fn = answer_fn
        self.default = default
        self.delay = delay
        self.pieces = pieces
        self.probe_result = probe_result or ProbeResult(up=True, latency_ms=1.0, models=("coder",))
        self.probe_delay = 0.0
        self.started = asyncio.Event()
        self.requests: list[ChatRequest] = []
        self.received: list[ChatRequest] = []
        self.answered: list[ChatRequest] = []
        self.probes = 0
        self.active = 0
        self.peak = 0
        self.cancelled = 0
        self.closed = False

    @property
    def calls(self) -> int:
        return len(self.requests)

    async def probe(self) -> ProbeResult:
        self.probes += 1
        if self.probe_delay:
            await asyncio.sleep(self.probe_delay)
        return self.probe_result

    async def chat(
        self, request: ChatRequest, on_text: TextCallback | None = None, **_: object
    ) -> ChatResult:
        self.requests.append(request)
        self.active += 1
        self.peak = max(self.peak, self.active)
        self.started.set()
        try:
            await asyncio.sleep(self.delay)
            behaviour = self._next(request)
            if isinstance(behaviour, BackendError) and behaviour.nothing_sent:
                raise behaviour
            self.received.append(request)
            if isinstance(behaviour, BaseException):
                raise behaviour
            if isinstance(behaviour, Midstream):
                self._stream(behaviour.text, on_text)
                raise behaviour.error
            self._stream(behaviour, on_text)
            self.answered.append(request)
            return ChatResult(text=behaviour, model=request.model)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.active -= 1

    async def aclose(self) -> None:
        self.closed = True

    def _next(self, request: ChatRequest) -> Behaviour:
        if self.script:
            return self.script.pop(0)
        if self.answer_fn is not None:
            return self.answer_fn(request)
        return self.default

    def _stream(self, text: str, on_text: TextCallback | None) -> None:
        if on_text is None:
            return
        count = max(1, self.pieces)
        cuts = [len(text) * i // count for i in range(count + 1)]
        for start, end in itertools.pairwise(cuts):
            on_text(text[start:end])


# -- errors a backend raises, by the words of the tests ----------------------------------------


def unavailable(
    name: str,
    message: str = "connection refused",
    *,
    retry_after_s: float | None = None,
    nothing_sent: bool = False,
) -> BackendUnavailable:
    """The backend is down (it is marked down and the next candidate tried)."""
    return BackendUnavailable(name, message, retry_after_s=retry_after_s, nothing_sent=nothing_sent)


def rejected(name: str, message: str = "unknown model 'coder'") -> BackendRequestError:
    """The backend is up but refused this request (HTTP 404)."""
    return BackendRequestError(name, message, status=404)


# -- behind the registry -----------------------------------------------------------------------

Maker = Callable[[str, BackendConfig, Locality], FakeBackend]


def install_fakes(
    monkeypatch: pytest.MonkeyPatch, fakes: Mapping[str, FakeBackend] | Maker
) -> None:
    """Make the registry hand out ``fakes`` (still wrapped in its privacy guard): the fake
    of each name, or whatever a maker makes for a backend. A fake must have the locality
    the configuration gives its backend."""

    def implementation(name: str, config: BackendConfig, locality: Locality) -> FakeBackend:
        fake = fakes(name, config, locality) if callable(fakes) else fakes[name]
        assert fake.locality == locality, (name, fake.locality, locality)
        return fake

    monkeypatch.setattr(registry_module, "_implementation", implementation)


@contextlib.contextmanager
def fakes_behind_the_registry(fakes: Mapping[str, FakeBackend] | Maker) -> Iterator[None]:
    """:func:`install_fakes` for the duration of a ``with`` block."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        install_fakes(monkeypatch, fakes)
        yield
