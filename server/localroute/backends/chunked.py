"""A chunked answer body (``Transfer-Encoding: chunked``), decoded as its bytes come.

h11 parses a chunked body one event at a time: every chunk costs its state machine a few
passes of Python, and a streamed answer is one chunk per token. Measured on a review's
answer (sixteen chunks) that was most of the time the transport spent on it, so
:mod:`localroute.backends.http11` decodes chunked bodies here: what is already read comes
out as one piece. The rules are h11's (``tests/unit/test_chunked_body.py`` holds it to
them): a chunk size of 1 to 20 hex digits, extensions after ``;`` and trailing blanks
ignored, ``\\r\\n`` after each chunk's data, trailers skipped, and a line longer than the
head limit an error.
"""

from __future__ import annotations

import re

import httpx

_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;[^\r\n]*)?[ \t]*\r\n")
_CRLF = b"\r\n"


class ChunkedBody:
    """The state of one chunked body: fed the bytes read, it gives back the data."""

    def __init__(self, line_limit: int) -> None:
        self._buffer = bytearray()
        self._line_limit = line_limit
        self._left = 0
        """Data bytes of the current chunk still to come."""
        self._footer = False
        """The current chunk's data is all here; its ``\\r\\n`` is next."""
        self._trailer = False
        """The last (empty) chunk was read; trailers up to a blank line are next."""
        self.done = False
        self.extra = False
        """Bytes came after the body's end (the connection must not carry another)."""

    def eof(self) -> None:
        """The connection ended: an error unless the body had."""
        if not self.done:
            raise httpx.RemoteProtocolError(INCOMPLETE)

    def feed(self, data: bytes) -> bytes:
        """Take ``data`` as it was read; return the body's data it completes (maybe b"")."""
        buffer = self._buffer
        buffer += data
        out: list[bytes] = []
        while buffer and not self.done:
            if self._left:
                take = min(self._left, len(buffer))
                out.append(bytes(buffer[:take]))
                del buffer[:take]
                self._left -= take
                self._footer = not self._left
            elif self._footer:
                if len(buffer) < 2:
                    if buffer != _CRLF[: len(buffer)]:
                        raise _malformed_footer(buffer)
                    break
                if buffer[:2] != _CRLF:
                    raise _malformed_footer(buffer[:2])
                del buffer[:2]
                self._footer = False
            elif self._trailer:
                if not self._end_of_trailers():
                    break
            else:
                if not self._size_line():
                    break
        if self.done and buffer:
            self.extra = True
        return b"".join(out)

    def _size_line(self) -> bool:
        buffer = self._buffer
        end = buffer.find(b"\n")
        if end < 0:
            if len(buffer) > self._line_limit:
                raise httpx.RemoteProtocolError("chunk header too long")
            return False
        match = _SIZE_LINE.fullmatch(buffer, 0, end + 1)
        if match is None:
            raise httpx.RemoteProtocolError(f"illegal chunk header: {bytes(buffer[: end + 1])!r}")
        size = int(match.group(1), 16)
        del buffer[: end + 1]
        if size:
            self._left = size
        else:
            self._trailer = True
        return True

    def _end_of_trailers(self) -> bool:
        buffer = self._buffer
        if buffer[:1] == b"\n" or buffer[:2] == _CRLF:  # no trailers
            del buffer[: 1 if buffer[:1] == b"\n" else 2]
            self.done = True
            return True
        end = _blank_line_end(buffer)
        if end < 0:
            if len(buffer) > self._line_limit:
                raise httpx.RemoteProtocolError("chunked trailers too long")
            return False
        del buffer[:end]
        self.done = True
        return True


def _blank_line_end(buffer: bytearray) -> int:
    """Where the first blank line (``\\n\\n`` or ``\\n\\r\\n``) ends, or -1."""
    ends = [i + n for i, n in ((buffer.find(b"\n\n"), 2), (buffer.find(b"\n\r\n"), 3)) if i >= 0]
    return min(ends) if ends else -1


def _malformed_footer(data: bytes | bytearray) -> httpx.RemoteProtocolError:
    expected = "(expected b'\\r\\n')"
    return httpx.RemoteProtocolError(f"malformed chunk footer: {bytes(data)!r} {expected}")


INCOMPLETE = (
    "peer closed connection without sending complete message body (incomplete chunked read)"
)
"""h11's words for a chunked body cut off, kept so that errors read as they did."""
