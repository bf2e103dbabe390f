"""What every HTTP backend shares: its client, and a probe that never raises or hangs."""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from collections.abc import Awaitable, Callable

import httpx

from localroute.backends.base import BackendRequestError, BackendUnavailable, ProbeResult
from localroute.config.models import BackendConfig, Locality

log = logging.getLogger(__name__)

PROBE_READ_S = 5.0
"""A probe's read timeout: a healthy server answers at once."""

MAX_ANSWER_CHARS = 16 * 1024 * 1024
"""A streamed answer larger than this is cut off: a runaway model must not fill memory."""


def answer_too_large(backend: str) -> BackendRequestError:
    return BackendRequestError(
        backend, f"the answer grew past {MAX_ANSWER_CHARS // (1024 * 1024)} MiB; stopped reading it"
    )


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
) -> httpx.AsyncClient:
    """Short connect timeout, a read budget long enough for a model to load, a pool
    a little larger than the backend's concurrency."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=config.connect_timeout_s,
            read=config.timeout_s,
            write=30.0,
            pool=config.timeout_s,
        ),
        limits=httpx.Limits(max_connections=pool_size(config)),
        transport=transport,
        # Proxy variables are for reaching the internet: a local or private-network
        # backend is always reached directly, never through a proxy.
        trust_env=locality == "cloud",
        # Loading the CA bundle costs tens of ms (and memory): only for TLS endpoints.
        verify=False if _plain_http(config) else tls_context(),
        headers={"User-Agent": "localroute", **(headers or {})},
    )


def _plain_http(config: BackendConfig) -> bool:
    """Every URL the backend uses is `http://` (or a unix socket): no TLS to set up."""
    endpoint = config.endpoint
    return endpoint is not None and endpoint.startswith(("http://", "unix:"))


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
    except Exception as exc:  # a probe never raises
        log.debug("%s: probe failed", name, exc_info=True)
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
