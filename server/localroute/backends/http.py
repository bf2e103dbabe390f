"""What every HTTP backend shares: its client, bounded reads, a probe that never raises or
hangs, and one chat frame (budget, transport errors, cancellation, the loading watch).

Each kind (:mod:`~localroute.backends.openai`, :mod:`~localroute.backends.ollama`,
:mod:`~localroute.backends.anthropic`, :mod:`~localroute.backends.copilot`) subclasses
:class:`HttpBackend` and keeps only its protocol: the request body, the answer's framing,
its error shapes and its probe path.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import ClassVar

import httpx

from localroute.backends import plain_http
from localroute.backends.answer import MAX_ANSWER_CHARS, answer_too_large
from localroute.backends.base import (
    BackendError,
    BackendUnavailable,
    ChatRequest,
    ChatResult,
    ProbeResult,
    StatusCallback,
    TextCallback,
)
from localroute.backends.connect_retry import LateConnectRetry
from localroute.backends.loading import LoadingWatch
from localroute.backends.openai_errors import transport_error
from localroute.backends.sent import request_starting
from localroute.config.locality import endpoint_localities
from localroute.config.models import LOCALITY_ORDER, BackendConfig, Locality
from localroute.config.unix_url import UnixURL, is_unix, parse_unix_url

__all__ = [
    "ANSWER_BODY_LIMIT",
    "ERROR_BODY_LIMIT",
    "MAX_ANSWER_CHARS",
    "PROBE_READ_S",
    "HttpBackend",
    "answer_too_large",
    "client_for",
    "guarded_probe",
    "read_limited",
]

log = logging.getLogger(__name__)

PROBE_READ_S = 5.0
"""A probe's read timeout: a healthy server answers at once."""

ERROR_BODY_LIMIT = 64 * 1024
"""How much of an error answer is read to say what went wrong."""

ANSWER_BODY_LIMIT = 16 * 1024 * 1024
"""How much of a non-streamed answer is read."""

UNIX_UNSUPPORTED = "this kind of backend is not reached through a unix socket: give its URL"
"""Why a backend of a cloud kind (anthropic, copilot) at a ``unix:`` URL is down: only the
``openai`` and ``ollama`` kinds serve one."""

ErrorFor = Callable[[httpx.Response, bytes], BaseException]
"""The exception for a non-2xx answer, given the response and the start of its body."""


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context, built once: loading the CA bundle costs tens of ms,
    on the event loop, every time a backend is (re)created."""
    return httpx.create_ssl_context()


def client_for(
    config: BackendConfig,
    locality: Locality,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    headers: dict[str, str] | None = None,
    uds: str | None = None,
) -> httpx.AsyncClient:
    """Short connect timeout, a read budget long enough for a model to load, a pool
    a little larger than the backend's concurrency. With ``uds``, every connection is to
    that unix socket (whatever host a URL names)."""
    limits = httpx.Limits(max_connections=pool_size(config))
    # Proxy variables are for reaching the internet: a local or private-network
    # backend is always reached directly, never through a proxy.
    trust_env = locality == "cloud"
    # Loading the CA bundle costs tens of ms (and memory): only for TLS endpoints.
    verify: ssl.SSLContext | bool = False if _plain_http(config) else tls_context()
    plain: plain_http.PlainHTTPTransport | None = None
    if transport is None and uds is not None:  # no proxy stands before a socket file
        trust_env, verify = False, False
        transport = plain = plain_http.PlainHTTPTransport(limits, uds=uds)
    elif transport is None and not trust_env:
        if verify is False:  # plain HTTP: no TLS ever starts on its connections
            transport = plain = plain_http.PlainHTTPTransport(limits)
        else:
            transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits, trust_env=False)
    if transport is not None and plain is None:  # the plain transport retries its connects
        transport = LateConnectRetry(transport)
    # A cloud client keeps httpx's own transport: given one, httpx would ignore the proxy
    # variables. Its connect timeout (5 s) is far beyond any hold-up of the event loop.
    timeout = httpx.Timeout(
        connect=config.connect_timeout_s, read=config.timeout_s, write=30.0, pool=config.timeout_s
    )
    all_headers = {"User-Agent": "localroute", **(headers or {})}
    if plain is not None and transport is not None:
        return plain_http.PlainHTTPClient(
            transport=transport, timeout=timeout, limits=limits, trust_env=False,
            verify=False, headers=all_headers,
        )  # fmt: skip
    return httpx.AsyncClient(
        timeout=timeout,
        limits=limits,
        transport=transport,
        trust_env=trust_env,
        verify=verify,
        headers=all_headers,
    )


def _plain_http(config: BackendConfig) -> bool:
    """Every URL the backend uses is `http://` (or a unix socket): no TLS to set up."""
    urls = config.endpoints
    return bool(urls) and all(url.startswith(("http://", "unix:")) for url in urls)


def pool_size(config: BackendConfig) -> int:
    return config.max_concurrency + 2


def probe_timeout(config: BackendConfig) -> tuple[httpx.Timeout, float]:
    """The timeout of one probe request, and its read part."""
    read = min(PROBE_READ_S, config.timeout_s)
    return httpx.Timeout(connect=config.connect_timeout_s, read=read, write=read, pool=read), read


async def guarded_probe(
    name: str,
    config: BackendConfig,
    probe: Callable[[httpx.Timeout, float], Awaitable[ProbeResult]],
    transport_error: Callable[[httpx.HTTPError, float], BackendUnavailable],
    *,
    requests: int = 2,
) -> ProbeResult:
    """Run ``probe(timeout, start)`` (up to ``requests`` requests) within a bound; any
    failure becomes ``up=False`` with a short reason."""
    timeout, read = probe_timeout(config)
    budget = requests * (config.connect_timeout_s + read) + 0.5
    start = time.perf_counter()
    try:
        async with asyncio.timeout(budget):
            return await probe(timeout, start)
    except TimeoutError:
        detail = f"no answer within {budget:g} s"
    except httpx.PoolTimeout:
        return ProbeResult(up=True, detail="busy: all connections in use")
    except httpx.HTTPError as exc:
        detail = transport_error(exc, read).message
    except BackendError as err:
        detail = err.message
    except Exception as exc:  # a probe never raises
        # The type only: an exception's text may hold a credential.
        log.debug("%s: probe failed (%s)", name, type(exc).__name__)
        detail = f"probe failed ({type(exc).__name__})"
    return ProbeResult(up=False, latency_ms=(time.perf_counter() - start) * 1000, detail=detail)


async def read_limited(response: httpx.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of a response body (error bodies, non-streamed answers)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


class HttpBackend:
    """The frame of an HTTP backend; subclasses fill in :meth:`_probe` and :meth:`_chat`.

    ``locality`` is the backend's, which the privacy gate checks; the client's choices
    (proxies, TLS, connect timeout) follow this URL's own, which is never more public.
    """

    probe_requests: ClassVar[int] = 2
    """The most requests one probe makes (its time budget)."""
    serves_unix: ClassVar[bool] = False
    """Whether a ``unix:`` URL reaches this kind's servers (the local kinds)."""
    unix_http_path: ClassVar[str] = ""
    """The HTTP path of the API on a socket whose URL gives none."""
    watches_loading: ClassVar[bool] = False
    """Whether :meth:`_loading` can tell that the server is loading a model."""

    def __init__(
        self,
        name: str,
        config: BackendConfig,
        locality: Locality,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.locality: Locality = locality
        own = endpoint_localities(config).get(config.endpoint or "", locality)
        self.own_locality: Locality = min(locality, own, key=LOCALITY_ORDER.__getitem__)
        self.unix: UnixURL | None = None
        """The socket (and HTTP path) of a ``unix:`` URL, for the kinds that serve one."""
        if self.serves_unix and is_unix(config.endpoint):
            self.unix = parse_unix_url(config.endpoint or "", self.unix_http_path)
        socket = self.unix.socket if self.unix is not None else None
        self._client = client_for(config, self.own_locality, transport=transport, uds=socket)
        self._setup()

    # -- what each kind says ---------------------------------------------------------------

    def _setup(self) -> None:
        """Set what the kind keeps besides the client (its URLs, what it learned)."""

    def _url(self) -> str:
        """The configured URL, which kinds that have no default need (for a ``unix:`` URL,
        the ``http://`` URL its requests are built on)."""
        if self.unix is not None:
            return self.unix.http
        url = self.config.endpoint
        if not url:
            raise ValueError(f"backend '{self.name}' needs a url")
        return url

    def _secret(self) -> str | None:
        """The credential to blank out of messages, if any."""
        return None

    def _not_ready(self) -> str | None:
        """Why a probe need not even ask the server (no key, no token), or None."""
        return None

    def _unreachable(self) -> str | None:
        """Why no request can even be tried: a URL no transport serves, or None."""
        if is_unix(self.config.endpoint) and not self.serves_unix:
            return UNIX_UNSUPPORTED
        return None

    async def _probe(self, timeout: httpx.Timeout, start: float) -> ProbeResult:
        raise NotImplementedError

    async def _chat(
        self, request: ChatRequest, on_text: TextCallback | None, watch: LoadingWatch
    ) -> ChatResult:
        raise NotImplementedError

    async def _loading(self, model: str) -> bool:
        """Whether the server says it is loading ``model`` now (see ``watches_loading``)."""
        return False

    # -- the shared frame -------------------------------------------------------------------

    def _transport_error(self, exc: httpx.HTTPError, read_s: float) -> BackendUnavailable:
        return transport_error(
            self.name, exc, connect_s=self.config.connect_timeout_s, read_s=read_s,
            pool_size=pool_size(self.config), secret=self._secret(),
        )  # fmt: skip

    async def probe(self) -> ProbeResult:
        """A cheap availability check (see each kind), bounded by the connect timeout plus a
        short read per request. Never raises."""
        why = self._unreachable() or self._not_ready()
        if why is not None:
            return ProbeResult(up=False, detail=why)
        return await guarded_probe(
            self.name, self.config, self._probe, self._transport_error,
            requests=self.probe_requests,
        )  # fmt: skip

    async def chat(
        self,
        request: ChatRequest,
        on_text: TextCallback | None = None,
        *,
        on_status: StatusCallback | None = None,
    ) -> ChatResult:
        """One chat completion within ``timeout_s``; see :class:`~localroute.backends.base.
        Backend`. Failures below HTTP (refused, reset, timeouts) make the backend unavailable."""
        if (why := self._unreachable()) is not None:
            raise BackendUnavailable(self.name, why, nothing_sent=True)
        check = None
        if self.watches_loading and self.own_locality != "cloud":
            check = functools.partial(self._loading, request.model)
        watch = LoadingWatch(on_status, check)
        try:
            async with asyncio.timeout(self.config.timeout_s), watch.watching():
                return await self._chat(request, watch.text(on_text), watch)
        except TimeoutError:
            raise BackendUnavailable(
                self.name, f"no answer within {self.config.timeout_s:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, self.config.timeout_s) from exc

    @contextlib.asynccontextmanager
    async def _post(
        self, url: str | httpx.URL, body: object, headers: dict[str, str], error: ErrorFor
    ) -> AsyncIterator[httpx.Response]:
        """POST ``body`` as JSON and stream the answer; a non-2xx answer raises
        ``error(response, start of its body)``. Leaving the block closes the connection.

        When the pool watches its sends (:mod:`localroute.backends.sent`), it is told once
        the request is written."""
        sent = request_starting()
        try:
            async with plain_http.stream_json(
                self._client, url, body, headers, on_sent=sent
            ) as response:
                if sent is not None:
                    sent()  # answered, so written (a trace that did not fire)
                if not response.is_success:
                    raise error(response, await read_limited(response, ERROR_BODY_LIMIT))
                yield response
        finally:
            if sent is not None:
                sent()

    async def aclose(self) -> None:
        """Close the HTTP client and its connections."""
        await self._client.aclose()
