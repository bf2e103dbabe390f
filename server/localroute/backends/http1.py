"""HTTP/1.1 heads, by h11's rules, without h11's state machine: a request's head written,
an answer's head read, and how each body is framed.

:mod:`localroute.backends.http11` spoke HTTP/1.1 with h11 (as httpcore does). For each
request h11 validated every header into an event object, ran both sides' state machines
and parsed the answer's head line by line into another: about a tenth of a millisecond
of a review's round trip on this machine (``bench.compare_p1``, docs/benchmarks.md),
for a head of eight lines. Its rules are kept here, and ``tests/unit/test_http1.py``
holds this module to h11 on generated requests and answers (h11 stays a test
dependency for that):

- written: the method a token, the target visible ASCII, header names tokens and values
  h11's field values; one ``Host``, written first; ``Content-Length`` one run of digits
  (repeats must agree); ``Transfer-Encoding`` only ``chunked``, once, which frames the
  body in chunks (else ``Content-Length``, else no body);
- read: a head ends at the first blank line (``\\r\\n`` or ``\\n`` endings), a blank line
  before it is an error; the status line ``HTTP/x.y NNN reason``; header lines folded
  (obsolete line folding) and matched as written, names compared in lower case; 1xx
  answers skipped (101, a switch this client never asks for, is an error); an answer to
  HEAD, a 204 or a 304 has no body, else chunked, else ``Content-Length``, else the body
  runs to the end of the connection;
- kept alive: neither side said ``Connection: close``, the answer is HTTP/1.1 or later,
  and its body has an end of its own.

A request that asks for a protocol switch (``Upgrade``, ``CONNECT``) is refused: no
backend needs one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

# h11's grammar (h11/_abnf.py).
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_FIELD_VCHAR = rb"[^\x00\s]"
_FIELD_VALUE = rb"(?:" + _FIELD_VCHAR + rb"+(?:[ \t]+" + _FIELD_VCHAR + rb"+)*)?"
_NAME_RE = re.compile(_TOKEN)
_VALUE_RE = re.compile(_FIELD_VALUE)
_TARGET_RE = re.compile(rb"[\x21-\x7e]+")
_HEADER_LINE_RE = re.compile(
    rb"(?P<name>" + _TOKEN + rb"):[ \t]*(?P<value>" + _FIELD_VALUE + rb")[ \t]*"
)
_STATUS_LINE_RE = re.compile(
    rb"HTTP/(?P<version>[0-9]\.[0-9]) (?P<status>[0-9]{3})"
    rb"(?: (?P<reason>(?:[ \t]|" + _FIELD_VCHAR + rb")*))?"
)
_CONTENT_LENGTH_RE = re.compile(rb"[0-9]+")
_CONTENT_LENGTH_MAX_DIGITS = 20
_BLANK_LINE_RE = re.compile(rb"\n\r?\n")
_FOLD_RE = re.compile(rb"[ \t]+")

Headers = list[tuple[bytes, bytes]]

CHUNKED = -1
"""A body framed in chunks (else its length, or :data:`TO_CLOSE`)."""
TO_CLOSE = -2
"""An answer's body that runs to the end of the connection."""


@dataclass(frozen=True)
class Head:
    """An answer's head as read: its headers as they came (``Content-Length`` and
    ``Transfer-Encoding`` values as h11 normalises them)."""

    status_code: int
    reason: bytes
    http_version: bytes
    headers: Headers
    framing: int
    """The body's length, :data:`CHUNKED` or :data:`TO_CLOSE` (final answers only)."""
    keep_alive: bool
    """The answer lets the connection carry another request."""


def _normal(headers: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes, bytes]]:
    """(name, lower-case name, value) of each header, with h11's rules for
    ``Content-Length`` and ``Transfer-Encoding``; ValueError names what is wrong."""
    out: list[tuple[bytes, bytes, bytes]] = []
    length: bytes | None = None
    chunked = False
    for name, value in headers:
        lower = name.lower()
        if lower == b"content-length":
            lengths = {each.strip() for each in value.split(b",")}
            if len(lengths) != 1:
                raise ValueError("conflicting Content-Length headers")
            value = lengths.pop()
            if not _CONTENT_LENGTH_RE.fullmatch(value) or len(value) > _CONTENT_LENGTH_MAX_DIGITS:
                raise ValueError("bad Content-Length")
            if length is None:
                length = value
            elif length != value:
                raise ValueError("conflicting Content-Length headers")
            else:
                continue
        elif lower == b"transfer-encoding":
            if chunked:
                raise ValueError("multiple Transfer-Encoding headers")
            value = value.lower()
            if value != b"chunked":
                raise ValueError("Only Transfer-Encoding: chunked is supported")
            chunked = True
        out.append((name, lower, value))
    return out


def _framing(items: list[tuple[bytes, bytes, bytes]]) -> int:
    length = CHUNKED if any(lower == b"transfer-encoding" for _, lower, _ in items) else None
    if length is None:
        length = next((int(v) for _, lower, v in items if lower == b"content-length"), None)
    return TO_CLOSE if length is None else length


def _closes(items: list[tuple[bytes, bytes, bytes]]) -> bool:
    return any(
        b"close" in (token.strip() for token in value.lower().split(b","))
        for _, lower, value in items
        if lower == b"connection"
    )


# -- writing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestHead:
    """A request's head as written, and how its body is framed."""

    data: bytes
    framing: int
    """The body's length, or :data:`CHUNKED`."""
    keep_alive: bool
    """The request lets the connection carry another one (no ``Connection: close``)."""


def request_head(
    method: bytes, target: bytes, headers: Sequence[tuple[bytes, bytes]]
) -> RequestHead:
    """The head of a request; :class:`httpx.LocalProtocolError` for one h11 would not write."""
    for name, value in headers:
        if not _NAME_RE.fullmatch(name):
            raise httpx.LocalProtocolError(f"Illegal header name {name!r}")
        if not _VALUE_RE.fullmatch(value):  # (a credential's header: the value is not shown)
            raise httpx.LocalProtocolError(f"Illegal value of the header {name!r}")
    try:
        items = _normal(headers)
    except ValueError as exc:
        raise httpx.LocalProtocolError(str(exc)) from None
    hosts = sum(1 for _, lower, _ in items if lower == b"host")
    if hosts != 1:
        found = "Found multiple Host: headers" if hosts else "Missing mandatory Host: header"
        raise httpx.LocalProtocolError(found)
    if not _NAME_RE.fullmatch(method):
        raise httpx.LocalProtocolError("Illegal method characters")
    if not _TARGET_RE.fullmatch(target):
        raise httpx.LocalProtocolError("Illegal target characters")
    if method == b"CONNECT" or any(lower == b"upgrade" for _, lower, _ in items):
        raise httpx.LocalProtocolError("a protocol switch is not supported here")
    lines = [b"%s %s HTTP/1.1\r\n" % (method, target)]
    lines += [b"%s: %s\r\n" % (name, value) for name, lower, value in items if lower == b"host"]
    lines += [b"%s: %s\r\n" % (name, value) for name, lower, value in items if lower != b"host"]
    lines.append(b"\r\n")
    framing = _framing(items)
    return RequestHead(b"".join(lines), 0 if framing == TO_CLOSE else framing, not _closes(items))


class RequestBody:
    """A request's body as its head frames it: h11's refusals of a body that does not
    match its ``Content-Length``."""

    def __init__(self, framing: int) -> None:
        self._left = framing

    def data(self, data: bytes) -> bytes:
        if not data:
            return b""
        if self._left == CHUNKED:
            return b"%x\r\n%s\r\n" % (len(data), data)
        self._left -= len(data)
        if self._left < 0:
            raise httpx.LocalProtocolError("Too much data for declared Content-Length")
        return data

    def end(self) -> bytes:
        if self._left == CHUNKED:
            return b"0\r\n\r\n"
        if self._left != 0:
            raise httpx.LocalProtocolError("Too little data for declared Content-Length")
        return b""


# -- reading ---------------------------------------------------------------------------


def head_lines(data: bytes) -> tuple[list[bytes], int] | None:
    """The lines of the head at the start of ``data`` and the bytes they take, or None
    while it has not all come (h11's ReceiveBuffer.maybe_extract_lines)."""
    if data[:1] == b"\n":
        return [], 1
    if data[:2] == b"\r\n":
        return [], 2
    match = _BLANK_LINE_RE.search(data)
    if match is None:
        if data and data[0] < 0x21:
            raise httpx.RemoteProtocolError("illegal request line")
        return None
    end = match.end()
    lines = data[:end].split(b"\n")[:-2]
    return [line[:-1] if line.endswith(b"\r") else line for line in lines], end


def _unfolded(lines: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for line in lines:
        fold = _FOLD_RE.match(line)
        if fold is None:
            out.append(line)
        elif not out:
            raise httpx.RemoteProtocolError("continuation line at start of headers")
        else:
            out[-1] += b" " + line[fold.end() :]
    return out


def parse_head(lines: list[bytes], method: bytes, keep_alive: bool) -> Head:
    """The answer whose head is ``lines`` (see :func:`head_lines`), to a request made with
    ``method``; ``keep_alive``: the request's own say. RemoteProtocolError as h11 raises."""
    if not lines:
        raise httpx.RemoteProtocolError("no response line received")
    status = _STATUS_LINE_RE.fullmatch(lines[0])
    if status is None:
        raise httpx.RemoteProtocolError(f"illegal status line: {lines[0]!r}")
    headers: Headers = []
    for line in _unfolded(lines[1:]):
        field = _HEADER_LINE_RE.fullmatch(line)
        if field is None:
            raise httpx.RemoteProtocolError(f"illegal header line: {line!r}")
        headers.append((field["name"], field["value"]))
    try:
        items = _normal(headers)
    except ValueError as exc:
        raise httpx.RemoteProtocolError(str(exc)) from None
    code = int(status["status"])
    version = status["version"]
    if code < 100:
        raise httpx.RemoteProtocolError(f"status code {code} is not a status")
    if code == 101:
        raise httpx.RemoteProtocolError("a protocol switch nobody asked for")
    framing = 0 if code < 200 or code in (204, 304) or method == b"HEAD" else _framing(items)
    return Head(
        status_code=code,
        reason=status["reason"] or b"",
        http_version=version,
        headers=[(name, value) for name, _, value in items],
        framing=framing,
        keep_alive=keep_alive and version >= b"1.1" and not _closes(items) and framing != TO_CLOSE,
    )


class LengthBody:
    """A body of a known length; more bytes than that are ``extra``."""

    def __init__(self, length: int) -> None:
        self.length = length
        self._left = length
        self.done = not length
        self.extra = False

    def feed(self, data: bytes) -> bytes:
        if self.done:
            self.extra = self.extra or bool(data)
            return b""
        piece = data[: self._left]
        self._left -= len(piece)
        self.done = not self._left
        self.extra = len(piece) < len(data)
        return piece

    def eof(self) -> None:
        if not self.done:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body "
                f"(received {self.length - self._left} bytes, expected {self.length})"
            )


class BodyToClose:
    """A body that runs to the end of the connection."""

    extra = False

    def __init__(self) -> None:
        self.done = False

    def feed(self, data: bytes) -> bytes:
        return data

    def eof(self) -> None:
        self.done = True
