"""A chunked answer body decoded past h11 gives what h11 gives, however its bytes are cut
into reads, and refuses what h11 refuses."""

from __future__ import annotations

import h11
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localroute.backends.chunked import ChunkedBody

HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def with_h11(body: bytes) -> tuple[bytes, bool]:
    """The data h11 reads from ``body`` (after a chunked head), and whether it ended."""
    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    connection.send(h11.EndOfMessage())
    connection.receive_data(HEAD + body)
    out, ended = b"", False
    while True:
        event = connection.next_event()
        if isinstance(event, h11.Data):
            out += event.data
        elif isinstance(event, h11.EndOfMessage):
            ended = True
            break
        elif event is h11.NEED_DATA:
            break
    return out, ended


def decoded(body: bytes, cuts: list[int]) -> tuple[bytes, ChunkedBody]:
    chunks = ChunkedBody(100_000)
    out, start = b"", 0
    for cut in [*sorted(cuts), len(body)]:
        out += chunks.feed(body[start:cut])
        start = max(start, cut)
    return out, chunks


@st.composite
def chunked_bodies(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=8))
    body = b""
    for part in parts:
        size = b"%x" % len(part)
        if draw(st.booleans()):
            size = size.upper()
        ext = draw(st.sampled_from([b"", b";name=value", b" ", b";x\t"]))
        body += size + ext + b"\r\n" + part + b"\r\n"
    trailers = draw(st.sampled_from([b"", b"Expires: never\r\n", b"A: 1\r\nB: 2\r\n"]))
    return body + b"0\r\n" + trailers + b"\r\n"


@settings(max_examples=300, deadline=None)
@given(chunked_bodies(), st.lists(st.integers(0, 400), max_size=6))
def test_the_data_is_h11_s_however_the_reads_are_cut(body: bytes, cuts: list[int]) -> None:
    out, chunks = decoded(body, cuts)
    assert (out, chunks.done) == with_h11(body)
    assert not chunks.extra


@settings(max_examples=100, deadline=None)
@given(chunked_bodies(), st.integers(1, 400))
def test_a_body_cut_short_is_not_done(body: bytes, keep: int) -> None:
    short = body[: min(keep, len(body) - 1)]
    out, chunks = decoded(short, [])
    assert not chunks.done
    assert with_h11(body)[0].startswith(out)  # what came is given, nothing more


def test_bytes_after_the_end_keep_the_connection_from_another_request() -> None:
    _out, chunks = decoded(b"2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n", [])
    assert chunks.done and chunks.extra


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"zz\r\nok\r\n", "illegal chunk header"),
        (b"2\r\nokXY0\r\n\r\n", "malformed chunk footer"),
        (b"2\r\nok\rX", "malformed chunk footer"),
        (b"1" * 21 + b"\r\n", "illegal chunk header"),
        (b"2" + b";x" * 60_000, "chunk header too long"),
    ],
)
def test_what_h11_refuses_is_a_protocol_error(body: bytes, error: str) -> None:
    with pytest.raises(h11.RemoteProtocolError):
        with_h11_strict(body)
    with pytest.raises(httpx.RemoteProtocolError, match=error):
        ChunkedBody(100_000).feed(body)


def with_h11_strict(body: bytes) -> None:
    connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=100_000)
    connection.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    connection.send(h11.EndOfMessage())
    connection.receive_data(HEAD + body)
    while connection.next_event() is not h11.NEED_DATA:
        pass
