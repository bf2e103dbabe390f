"""The client's messages read from stdin by the event loop itself.

pygls reads stdin in a worker thread: one `run_in_executor` per header line and per body,
four thread round trips a message, which cost each request a few tenths of a millisecond
on two cores (``bench/profile_server.py``). When stdin is a pipe or a socket, as every
editor starts a language server, asyncio reads it directly. A terminal, a regular file or
a platform without pipe transports keeps pygls' reader: asyncio would leave a terminal in
non-blocking mode for the shell, and cannot watch a regular file.

pygls chooses its reader inside ``start_io`` and offers no way to pass another one, so
:func:`serve_pipe` is that method again, a dozen lines, with this reader.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import threading
from typing import TYPE_CHECKING, BinaryIO

from pygls.io_ import StdoutWriter, run_async

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

log = logging.getLogger(__name__)

LINE_LIMIT = 2**24
"""A header line longer than this is dropped (asyncio's buffer limit)."""

DROPPED_LINE = b"X-Dropped: an overlong header line\r\n"
"""What an overlong header line reads as: a header nobody knows, which pygls skips (so is
the rest of that line, when it comes)."""


class PipeReader:
    """pygls' reader interface (``readline``, ``readexactly``) over an asyncio stream."""

    def __init__(self, stdin: BinaryIO) -> None:
        self._stdin = stdin
        self._stream: asyncio.StreamReader | None = None

    async def _opened(self) -> asyncio.StreamReader:
        if self._stream is None:
            stream = asyncio.StreamReader(limit=LINE_LIMIT)
            loop = asyncio.get_running_loop()
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), self._stdin)
            self._stream = stream
        return self._stream

    async def readline(self) -> bytes:
        """The next line; empty at the end of input."""
        stream = await self._opened()
        try:
            return await stream.readline()
        except ValueError:  # past LINE_LIMIT: asyncio has dropped it
            log.warning("dropped a header line of more than %d bytes", LINE_LIMIT)
            return DROPPED_LINE

    async def readexactly(self, n: int) -> bytes:
        """``n`` bytes, or fewer when the input ends first (as a file's ``read`` does)."""
        stream = await self._opened()
        try:
            return await stream.readexactly(n)
        except asyncio.IncompleteReadError as exc:
            return exc.partial


def reads_on_loop(stdin: BinaryIO) -> bool:
    """Whether ``stdin`` is a pipe or a socket the event loop can read (POSIX only)."""
    if os.name != "posix":
        return False
    try:
        mode = os.fstat(stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def serve_pipe(server: LanguageServer, stdin: BinaryIO, stdout: BinaryIO) -> None:
    """pygls' ``start_io`` with :class:`PipeReader` in place of its thread reader."""
    log.debug("reading the client from a pipe on the event loop")
    server._stop_event = threading.Event()
    server.protocol.set_writer(StdoutWriter(stdout))
    try:
        asyncio.run(
            run_async(
                stop_event=server._stop_event,
                reader=PipeReader(stdin),
                protocol=server.protocol,
                logger=log,
                error_handler=server.report_server_error,
            )
        )
    except BrokenPipeError:
        log.error("Connection to the client is lost! Shutting down the server.")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()  # type: ignore[no-untyped-call]  # pygls leaves it untyped
