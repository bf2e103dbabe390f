"""Process plumbing of the ``command`` backend: signalling a CLI's process group, waiting for
its exit, feeding stdin and reading stderr (with an optional pattern that stops the CLI)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import Callable

READ_CHUNK = 64 * 1024
STDERR_KEEP = 64 * 1024
"""The last bytes of stderr kept for error messages."""

_EXIT_POLL_S = 0.02
_DISCARD_S = 0.5
_LINE_MAX = 8 * 1024  # a stderr line longer than this is matched on its first part only


def signal_group(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group ``proc`` leads; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


async def exit_code(proc: asyncio.subprocess.Process) -> int:
    """Wait for the child's exit (``proc.wait()`` on 3.11 also waits for its pipes to close)."""
    while proc.returncode is None:  # noqa: ASYNC110 - asyncio offers no exit-only event
        await asyncio.sleep(_EXIT_POLL_S)
    return proc.returncode


async def discard(proc: asyncio.subprocess.Process) -> None:
    """Read what is left in the pipes of a stopped CLI so that asyncio can release them."""
    streams = [s for s in (proc.stdout, proc.stderr) if s is not None]
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_DISCARD_S):
            for stream in streams:
                while await stream.read(READ_CHUNK):
                    pass


async def feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    """Write the prompt and close stdin; a CLI that does not read it is not an error."""
    try:
        stdin.write(data)
        await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        stdin.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await stdin.wait_closed()


class Stderr:
    """Reads a CLI's stderr to its end, keeping the last :data:`STDERR_KEEP` bytes.

    With ``stop`` set, the first complete line that matches it is kept in :attr:`stopped_by`
    and ``on_stop`` is called once (the backend then stops the CLI).
    """

    def __init__(
        self, stop: re.Pattern[str] | None = None, on_stop: Callable[[], None] | None = None
    ) -> None:
        self.kept = bytearray()
        self.stop = stop
        self.on_stop = on_stop
        self.stopped_by: str | None = None
        self._line = bytearray()

    @property
    def text(self) -> str:
        return self.kept.decode("utf-8", "replace")

    async def read(self, stream: asyncio.StreamReader) -> None:
        """Read ``stream`` until it ends."""
        while chunk := await stream.read(READ_CHUNK):
            self.kept.extend(chunk)
            if len(self.kept) > STDERR_KEEP:
                del self.kept[: len(self.kept) - STDERR_KEEP]
            if self.stop is not None and self.stopped_by is None:
                self._scan(chunk)

    def _scan(self, chunk: bytes) -> None:
        *complete, rest = chunk.split(b"\n")
        for piece in complete:
            self._line.extend(piece[: max(0, _LINE_MAX - len(self._line))])
            self._check(bytes(self._line))
            self._line.clear()
            if self.stopped_by is not None:
                return
        self._line.extend(rest[: max(0, _LINE_MAX - len(self._line))])

    def _check(self, raw: bytes) -> None:
        assert self.stop is not None
        line = raw.decode("utf-8", "replace").strip()
        if line and self.stop.search(line):
            self.stopped_by = line
            if self.on_stop is not None:
                self.on_stop()
