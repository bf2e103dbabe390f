"""Backend URLs that name a unix socket instead of a host and port.

``unix:/run/llama/llama.sock`` is a server listening on that socket file (llama.cpp's
``llama-server --host /run/llama/llama.sock``, uvicorn's ``--uds``). Unlike a loopback
port, which every user of the machine can reach, a socket file is guarded by its
permissions. Such a backend is always ``local``.

The HTTP path of the API follows the socket's path after a colon:
``unix:/run/llama/llama.sock:/v1``. Without one, a kind uses the path its servers serve
at their root: ``/v1`` for ``openai`` (llama-server, llama-swap, llama-cpp-python),
nothing for ``ollama``. ``unix:///run/llama.sock`` (three slashes, as Docker writes it)
is the same socket as ``unix:/run/llama.sock``; ``~`` at the start is the home folder. A
socket path that itself holds ``:/`` cannot be written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["UNIX", "UnixURL", "is_unix", "parse_unix_url"]

UNIX = "unix:"

HOST = "localhost"
"""The host an HTTP request to a socket names (the server does not look at it)."""


@dataclass(frozen=True)
class UnixURL:
    socket: str
    """The socket file's absolute path."""
    path: str
    """The HTTP path of the API (``""`` for the server's root, else ``/…``)."""

    @property
    def http(self) -> str:
        """The URL the backend's requests are built on (their connection is the socket's)."""
        return f"http://{HOST}{self.path}"


def is_unix(url: str | None) -> bool:
    return url is not None and url.startswith(UNIX)


def parse_unix_url(url: str, default_path: str = "") -> UnixURL:
    """The socket and HTTP path of a ``unix:`` URL; ``ValueError`` names what is wrong."""
    if not is_unix(url):
        raise ValueError(f"not a unix-socket URL: {url!r}")
    rest = url[len(UNIX) :]
    if rest.startswith("//"):
        rest = rest[2:]
    socket, separator, path = rest.partition(":/")
    path = f"/{path}".rstrip("/") if separator else default_path
    socket = os.path.expanduser(socket)
    if not socket:
        raise ValueError(f"{url!r} names no socket file (write unix:/path/to/server.sock)")
    if not os.path.isabs(socket):
        raise ValueError(
            f"the socket in {url!r} must be an absolute path: a language server's working "
            "folder is whatever the editor chose"
        )
    if "\0" in socket or any(c in path for c in " \0?#"):
        raise ValueError(f"{url!r} is not a usable socket path and HTTP path")
    # As given: resolving `..` by hand could lead past a symlink to another socket.
    return UnixURL(socket, path)
