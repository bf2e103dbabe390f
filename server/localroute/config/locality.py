"""Where a backend runs, derived from its kind and URL — never guessed upward."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from localroute.config.models import LOCALITY_ORDER, BackendConfig, Locality

_PRIVATE_SUFFIXES = (".local", ".lan", ".home.arpa", ".ts.net", ".internal")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_ULA = ipaddress.ip_network("fc00::/7")


def locality_of_host(host: str) -> Locality:
    """Classify a host name or address: loopback → local, private ranges → private-network."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if not host:
        return "cloud"
    if host == "localhost" or host.endswith(".localhost"):
        return "local"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "private-network" if host.endswith(_PRIVATE_SUFFIXES) else "cloud"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "local"
    if isinstance(address, ipaddress.IPv4Address) and (
        address in _CGNAT or address.is_private or address.is_link_local
    ):
        # is_private also covers 0.0.0.0/8 and TEST-NETs, which nobody routes to a cloud.
        return "private-network"
    if isinstance(address, ipaddress.IPv6Address) and (address in _ULA or address.is_link_local):
        return "private-network"
    return "cloud"


@functools.lru_cache(maxsize=256)
def locality_of_url(url: str) -> Locality:
    """Where the host of ``url`` is (from the URL alone: no name is looked up). Cached: it
    is asked for on every request, of the few URLs a configuration has."""
    if url.startswith("unix:"):
        return "local"
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return "cloud"
    return locality_of_host(host)


def least_private(localities: Iterable[Locality]) -> Locality:
    """The least private of ``localities`` (``cloud`` when there are none)."""
    return max(localities, key=LOCALITY_ORDER.__getitem__, default="cloud")


def derived_locality(config: BackendConfig) -> Locality:
    """The locality the kind and URLs imply, ignoring any configured value: with several
    URLs the least private of theirs, so that a backend with one cloud URL is cloud."""
    if config.kind in ("copilot", "anthropic", "command"):
        return "cloud"
    return least_private(locality_of_url(url) for url in config.endpoints)


def endpoint_localities(config: BackendConfig) -> dict[str, Locality]:
    """Each URL of a backend and where it runs: the configured locality when set (a trusted
    source said so for the whole backend), else derived from that URL alone.

    Every value is at most as public as :func:`effective_locality` of the backend — the
    reason a request cleared for the backend may go to any of its endpoints;
    :func:`check_endpoints` says so before any is used.
    """
    if config.kind in ("copilot", "anthropic", "command"):
        return dict.fromkeys(config.endpoints, effective_locality(config))
    if config.locality is not None:
        return dict.fromkeys(config.endpoints, config.locality)
    return {url: locality_of_url(url) for url in config.endpoints}


def check_endpoints(backend: str, locality: Locality, endpoints: dict[str, Locality]) -> None:
    """Refuse endpoints that are more public than their backend's locality: the privacy
    gate clears a request for the backend, and so for every endpoint only while none of
    them is further away than the backend."""
    for url, own in endpoints.items():
        if LOCALITY_ORDER[own] > LOCALITY_ORDER[locality]:
            raise ValueError(
                f"backend {backend!r} is {locality} but its endpoint {display_url(url)} is "
                f"{own}: not used"
            )


def display_url(url: str) -> str:
    """A URL as reports show it: without user name or password."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return parts._replace(netloc=netloc).geturl()


ALWAYS_CLOUD_KINDS = frozenset({"copilot", "anthropic"})
"""Kinds that are cloud services whatever the configuration says."""


def effective_locality(config: BackendConfig) -> Locality:
    """The configured locality when set (only trusted sources may set it), else derived.

    `copilot` and `anthropic` are cloud services whatever the configuration says.
    """
    if config.kind in ALWAYS_CLOUD_KINDS:
        return "cloud"
    return config.locality if config.locality is not None else derived_locality(config)
