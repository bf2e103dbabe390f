"""HTTP/1.1 as the plain-HTTP transport writes and reads it is h11's: the same request
bytes (or the same refusal), and from the same answer bytes, however they are cut into
reads, the same head, body, end and keep-alive (or an error where h11 raises one)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import h11
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localroute.backends.http1 import RequestBody, request_head
from localroute.backends.http11 import HEAD_LIMIT, Connection
from tests.support.reads import cut

# -- writing -----------------------------------------------------------------------------

NAMES = st.sampled_from(
    [b"Host", b"host", b"Accept", b"Content-Length", b"content-length", b"Transfer-Encoding",
     b"Connection", b"X-Key", b"Bad Name", b"", b"A:B", b"\xff"]
)  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(
        [b"x", b"127.0.0.1:8080", b"5", b"5, 5", b"5,6", b" 7 ", b"0" * 21, b"chunked",
         b"Chunked", b"gzip", b"close", b"keep-alive, close", b"", b" lead", b"trail ",
         b"a\tb", b"bad\r\nX: 1", b"nul\x00", b"\x7f\x80"]
    ),
    st.binary(max_size=6),
)  # fmt: skip
HEADERS = st.lists(st.tuples(NAMES, VALUES), max_size=6)
METHODS = st.sampled_from([b"POST", b"GET", b"HEAD", b"PUT", b"B@D", b""])
TARGETS = st.sampled_from([b"/v1/chat/completions?x=1", b"/", b"*", b"/a b", b"", b"/\x80"])


def h11_request(
    method: bytes, target: bytes, headers: Sequence[tuple[bytes, bytes]], body: Sequence[bytes]
) -> tuple[bytes, bytes, bool] | None:
    """(head, body bytes, keep-alive) as h11 writes them, or None where it refuses."""
    connection = h11.Connection(h11.CLIENT)
    try:
        head = connection.send(h11.Request(method=method, target=target, headers=list(headers)))
    except h11.LocalProtocolError:
        return None
    assert head is not None
    try:
        data = b"".join(connection.send(h11.Data(data=piece)) or b"" for piece in body if piece)
        data += connection.send(h11.EndOfMessage()) or b""
    except h11.LocalProtocolError:
        return head, b"<refused>", False
    return head, data, connection.our_state is h11.DONE


def our_request(
    method: bytes, target: bytes, headers: Sequence[tuple[bytes, bytes]], body: Sequence[bytes]
) -> tuple[bytes, bytes, bool] | None:
    try:
        head = request_head(method, target, headers)
    except httpx.LocalProtocolError:
        return None
    framing = RequestBody(head.framing)
    try:
        data = b"".join(framing.data(piece) for piece in body) + framing.end()
    except httpx.LocalProtocolError:
        return head.data, b"<refused>", False
    return head.data, data, head.keep_alive


@settings(max_examples=500, deadline=None)
@given(METHODS, TARGETS, HEADERS, st.lists(st.binary(max_size=8), max_size=3))
def test_a_request_is_written_as_h11_writes_it(
    method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: list[bytes]
) -> None:
    assert our_request(method, target, headers, body) == h11_request(method, target, headers, body)


@settings(max_examples=300, deadline=None)
@given(HEADERS, st.lists(st.binary(max_size=8), max_size=3))
def test_a_request_with_one_host_is_written_as_h11_writes_it(
    headers: list[tuple[bytes, bytes]], body: list[bytes]
) -> None:
    headers = [(b"Host", b"gpu.lan:8080"), *((n, v) for n, v in headers if n.lower() != b"host")]
    expected = h11_request(b"POST", b"/v1", headers, body)
    assert our_request(b"POST", b"/v1", headers, body) == expected


@pytest.mark.parametrize("length", [None, 11, 12])
async def test_a_streamed_body_is_written_as_h11_writes_it(length: int | None) -> None:
    async def parts() -> Any:
        yield b"hello "
        yield b""
        yield b"world"

    headers = {"Content-Length": str(length)} if length is not None else {}
    request = httpx.Request("POST", "http://gpu.lan/v1", headers=headers, content=parts())
    written = Writes()
    connection = Connection(("gpu.lan", 80), Reads([], True), written)  # type: ignore[arg-type]
    pieces = [b"hello ", b"", b"world"]
    expected = h11_request(b"POST", b"/v1", request.headers.raw, pieces)
    assert expected is not None
    if expected[1] == b"<refused>":
        with pytest.raises(httpx.LocalProtocolError):
            await connection.send(request, None)
        return
    await connection.send(request, None)
    assert written.data == expected[0] + expected[1]


def test_a_refused_header_value_is_not_in_the_message() -> None:
    key = b"sk-live-4f9a\r\nX-Injected: 1"  # a key pasted with a line break
    with pytest.raises(httpx.LocalProtocolError) as refused:
        request_head(b"POST", b"/", [(b"Host", b"x"), (b"Authorization", b"Bearer " + key)])
    assert "Authorization" in str(refused.value)
    assert "sk-live" not in str(refused.value)


@pytest.mark.parametrize(
    ("method", "headers"),
    [(b"CONNECT", []), (b"GET", [(b"Upgrade", b"websocket"), (b"Connection", b"upgrade")])],
)
def test_a_protocol_switch_is_refused(method: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(httpx.LocalProtocolError, match="protocol switch"):
        request_head(method, b"/", [(b"Host", b"x"), *headers])


# -- reading -----------------------------------------------------------------------------


def mostly(valid: list[bytes], invalid: list[bytes]) -> st.SearchStrategy[bytes]:
    """One of ``valid``, or now and then one of ``invalid``."""
    return st.sampled_from(valid * 5 + invalid)


STATUS_LINES = mostly(
    [b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK", b"HTTP/1.1 204 No Content", b"HTTP/1.1 304 Same",
     b"HTTP/1.1 404 Not Found", b"HTTP/1.1 200", b"HTTP/1.1 200 ", b"HTTP/2.0 201 Made",
     b"HTTP/1.1 500 \xe9chec\tx"],
    [b"HTTP/1.1 099 Low", b"HTTP/1.1 101 Switching", b"HTTP/11 200 OK", b"HTTP/1.1 20 OK",
     b" HTTP/1.1 200 OK", b"junk", b""],
)  # fmt: skip
INFORMATIONAL = st.sampled_from([b"HTTP/1.1 100 Continue", b"HTTP/1.1 103 Early Hints"])
HEADER_LINES = mostly(
    [b"Content-Type: text/event-stream", b"Content-Length: 5", b"Content-Length: 5, 5",
     b"content-length:5", b"Content-Length: 3", b"Content-Length: 0", b"Transfer-Encoding: chunked",
     b"transfer-encoding: Chunked", b"Connection: close", b"Connection: keep-alive, Close",
     b"Connection: keep-alive", b"X-Pad:   spaced   ", b"X-Empty:", b" folded on", b"\tfolded",
     b"X-Bin: \x80\x01"],
    [b"Content-Length: 5,6", b"Content-Length: -1", b"Content-Length: " + b"1" * 21,
     b"Transfer-Encoding: gzip", b"Bad Line", b"X-Nul: a\x00b", b": no name"],
)  # fmt: skip
BODIES = st.sampled_from(
    [b"", b"hello", b"hel", b"hello world", b"5\r\nhello\r\n0\r\n\r\n",
     b"5\r\nhello\r\n0\r\nTrailer: x\r\n\r\n", b"5\r\nhel", b"zz\r\n", b"0\r\n\r\nextra"]
)  # fmt: skip


@st.composite
def answers(draw: st.DrawFn) -> bytes:
    newline = draw(st.sampled_from([b"\r\n", b"\n"]))
    heads = [*draw(st.lists(INFORMATIONAL, max_size=2)), draw(STATUS_LINES)]
    out = b""
    for status in heads:
        lines = [status, *draw(st.lists(HEADER_LINES, max_size=4))]
        out += b"".join(line + newline for line in lines) + newline
    before = draw(st.sampled_from([b""] * 12 + [b"\r\n", b"\n"]))  # a blank line first: an error
    return before + out + draw(BODIES)


class Reads:
    """A reader that gives ``pieces`` one read at a time, then the end (or, without
    ``eof``, stops the test there: more would have to come)."""

    def __init__(self, pieces: list[bytes], eof: bool) -> None:
        self._pieces = list(pieces)
        self._eof = eof

    async def read(self, n: int) -> bytes:
        if self._pieces:
            return self._pieces.pop(0)
        if self._eof:
            return b""
        raise Waiting


class Waiting(Exception):
    pass


class Writes:
    def __init__(self) -> None:
        self.transport = self
        self.data = b""

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data: bytes) -> None:
        self.data += data


Outcome = tuple[Any, ...]


def h11_reads(method: bytes, close: bool, pieces: list[bytes], eof: bool) -> Outcome:
    """What h11 reads: ("error",), or the head, the body, how it ended and whether the
    connection could carry another request."""
    connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=HEAD_LIMIT)
    headers = [(b"Host", b"x"), *([(b"Connection", b"close")] if close else [])]
    connection.send(h11.Request(method=method, target=b"/", headers=headers))
    connection.send(h11.EndOfMessage())
    head: Outcome | None = None
    body = b""
    feed = [*pieces, *([b""] if eof else [])]
    try:
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                if not feed:
                    return (head, body, "waiting") if head else ("waiting",)
                connection.receive_data(feed.pop(0))
            elif isinstance(event, h11.Response):
                head = (event.status_code, event.reason, event.http_version,
                        event.headers.raw_items())  # fmt: skip
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                # (bytes in reads not made yet are the socket's, which the pool looks at;
                # a body that ended with the connection leaves none to keep)
                extra = bool(connection.trailing_data[0])
                closed = connection.trailing_data[1]
                keep = connection.their_state is h11.DONE and connection.our_state is h11.DONE
                return head, body, "ended", keep and not extra and not closed
            elif isinstance(event, h11.InformationalResponse):
                continue
            else:
                raise AssertionError(event)
    except h11.RemoteProtocolError:
        return ("error",)


async def our_reads(method: bytes, close: bool, pieces: list[bytes], eof: bool) -> Outcome:
    connection = Connection(("x", 80), Reads(pieces, eof), Writes())  # type: ignore[arg-type]
    headers = [(b"Host", b"x"), *([(b"Connection", b"close")] if close else [])]
    await connection.send_bytes(method, b"/", headers, b"", None)
    try:
        found = await connection.head(None)
    except Waiting:
        return ("waiting",)
    except httpx.RemoteProtocolError:
        return ("error",)
    head = (found.status_code, found.reason, found.http_version, found.headers)
    body = b""
    try:
        while (piece := await connection.next_piece(None)) is not None:
            body += piece
    except Waiting:
        return head, body, "waiting"
    except httpx.RemoteProtocolError:
        return ("error",)
    return head, body, "ended", connection.finished()


@settings(max_examples=1500, deadline=None)
@given(
    answers(),
    st.lists(st.integers(0, 300), max_size=5),
    st.sampled_from([b"GET", b"POST", b"HEAD"]),
    st.booleans(),
    st.booleans(),
)
async def test_an_answer_is_read_as_h11_reads_it(
    answer: bytes, cuts: list[int], method: bytes, close: bool, eof: bool
) -> None:
    pieces = cut(answer, cuts)
    assert await our_reads(method, close, pieces, eof) == h11_reads(method, close, pieces, eof)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60), st.lists(st.integers(0, 60), max_size=3), st.booleans())
async def test_any_bytes_are_read_as_h11_reads_them(
    answer: bytes, cuts: list[int], eof: bool
) -> None:
    pieces = cut(answer, cuts)
    assert await our_reads(b"GET", False, pieces, eof) == h11_reads(b"GET", False, pieces, eof)


async def test_a_head_longer_than_the_limit_is_refused() -> None:
    endless = b"HTTP/1.1 200 OK\r\nX: " + b"a" * (HEAD_LIMIT + 10)
    assert await our_reads(b"GET", False, [endless], False) == ("error",)
    assert h11_reads(b"GET", False, [endless], False) == ("error",)
