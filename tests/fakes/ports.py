"""Loopback ports that do not answer: one where connects are refused, one where they hang."""

from __future__ import annotations

import select
import socket
from types import TracebackType


class BlackHole:
    """A loopback port where TCP connects hang until the client's connect timeout.

    A listening socket with ``listen(0)`` is never ``accept()``-ed; its accept queue is filled
    with non-blocking connects, after which the kernel drops further SYNs (so they are
    retransmitted and the connect times out) instead of answering RST.

    Found on this machine (Linux 6.18, ``tcp_syncookies=1``, ``tcp_abort_on_overflow=0``):
    ``listen(0)`` queues exactly one connection; the first connect completes at once, every
    later one hangs (a blocking connect with a 1 s timeout raised ``TimeoutError`` after 1.0 s,
    also with 1 or 4 fillers). The constructor does not rely on that number: it keeps adding
    connects until one does not complete within 0.1 s, and fails loudly if that never happens.

    ``port`` 0 takes a free port; another one is taken over (e.g. the port of a server that
    just stopped listening).
    """

    def __init__(self, max_fillers: int = 64, *, port: int = 0) -> None:
        self._max_fillers = max_fillers
        self._listener: socket.socket | None = None
        self._fillers: list[socket.socket] = []
        self.port = port
        self.fillers_used = 0

    def __enter__(self) -> BlackHole:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self.port:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(0)
        self._listener = listener
        self.port = listener.getsockname()[1]
        for _ in range(self._max_fillers):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", self.port))
            self._fillers.append(filler)
            _, writable, _ = select.select([], [filler], [], 0.1)
            if not writable:  # this SYN got no answer: the queue is full
                self.fillers_used = len(self._fillers) - 1
                return self
        self.close()
        raise RuntimeError("could not fill the accept queue: connects keep completing")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        for sock in self._fillers:
            sock.close()
        self._fillers.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.root}/v1"


def closed_port() -> int:
    """A loopback port nobody listens on (connects are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def closed_port_url(path: str = "/v1") -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    return f"http://127.0.0.1:{closed_port()}{path}"
