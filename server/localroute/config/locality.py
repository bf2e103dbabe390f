"""Where a backend runs, derived from its kind and URL — never guessed upward."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from localroute.config.models import BackendConfig, Locality

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


def locality_of_url(url: str) -> Locality:
    if url.startswith("unix:"):
        return "local"
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return "cloud"
    return locality_of_host(host)


def derived_locality(config: BackendConfig) -> Locality:
    """The locality the kind and URL imply, ignoring any configured value."""
    if config.kind in ("copilot", "anthropic", "command"):
        return "cloud"
    return locality_of_url(config.endpoint or "")


def effective_locality(config: BackendConfig) -> Locality:
    """The configured locality when set (only trusted sources may set it), else derived.

    `copilot` and `anthropic` are cloud services whatever the configuration says.
    """
    if config.kind in ("copilot", "anthropic"):
        return "cloud"
    return config.locality if config.locality is not None else derived_locality(config)
