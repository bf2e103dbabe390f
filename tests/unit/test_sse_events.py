"""Server-sent events decoded from bytes give what httpx-sse gives, however the bytes are
cut into reads: line endings (a ``\\r\\n`` cut in two), comments, fields, ``id`` kept
from event to event, ``retry``, undecodable bytes, an event the stream ends in."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import httpx
from httpx_sse import EventSource
from hypothesis import given, settings
from hypothesis import strategies as st

from localroute.backends import sse
from tests.support.reads import cut


class Pieces(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            yield piece


def response(pieces: list[bytes], **headers: str) -> httpx.Response:
    return httpx.Response(
        200,
        headers={"content-type": "text/event-stream", **headers},
        stream=Pieces(pieces),
    )


async def with_httpx_sse(pieces: list[bytes]) -> list[tuple[str, str]]:
    answer = response(pieces)
    answer.encoding = "utf-8"  # an event stream is UTF-8 (the SSE standard)
    return [(event.event, event.data) async for event in EventSource(answer).aiter_sse()]


async def with_decoder(pieces: list[bytes], **headers: str) -> list[tuple[str, str]]:
    return [event async for group in sse.events(response(pieces, **headers)) for event in group]


ENDINGS = st.sampled_from([b"\n", b"\r\n", b"\r"])
VALUES = st.one_of(
    st.text(max_size=12).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(max_size=8),  # undecodable bytes, a character cut short
    st.sampled_from(
        [b"", b" ", b"  x", b"[DONE]", b'{"a": 1}', b"12", b" 7", b"x\0y", b"\xe2\x82"]
    ),
)
LINES = st.one_of(
    st.tuples(
        st.sampled_from([b"data", b"event", b"id", b"retry", b"other", b"", b"dat\xc3", b"data "]),
        st.sampled_from([b":", b": ", b""]),
        VALUES,
    ).map(b"".join),
    st.just(b""),  # a blank line: the event is dispatched
    VALUES.map(lambda value: b":" + value),  # a comment
)


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.tuples(LINES, ENDINGS), max_size=12))
    stream = b"".join(line + ending for line, ending in lines)
    return stream + draw(st.sampled_from([b"", b"\n", b"\r", b"data: cut", b"\r\n\r\n"]))


@settings(max_examples=400, deadline=None)
@given(streams(), st.lists(st.integers(0, 300), max_size=8))
async def test_events_are_httpx_sse_events_however_the_bytes_are_cut(
    stream: bytes, cuts: list[int]
) -> None:
    pieces = cut(stream, cuts)
    assert await with_decoder(pieces) == await with_httpx_sse(pieces)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=30), max_size=6))
async def test_any_bytes_give_httpx_sse_events(pieces: list[bytes]) -> None:
    assert await with_decoder(pieces) == await with_httpx_sse(pieces)


async def test_a_crlf_cut_between_reads_ends_one_line() -> None:
    pieces = [b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]
    assert await with_decoder(pieces) == [("message", "a\nb")]


async def test_an_id_without_nul_makes_each_blank_line_an_event_a_retry_only_if_valid() -> None:
    stream = b"retry: soon\n\nid: a\0b\n\nretry: 10\n\nid: 1\n\n\nevent: error\ndata: x\n\n"
    assert await with_decoder([stream]) == [
        ("message", ""),  # the valid retry
        ("message", ""),  # the id
        ("message", ""),  # the id is kept: another blank line, another event
        ("error", "x"),
    ]


async def test_an_event_the_stream_ends_in_is_not_dispatched() -> None:
    assert await with_decoder([b"data: a\n\ndata: b"]) == [("message", "a")]
    assert await with_decoder([b"data: a\n\ndata: b\n"]) == [("message", "a")]


async def test_undecodable_bytes_read_as_replacement_characters() -> None:
    stream = "data: é€\n".encode() + b"data: \xff\xe2\x82\n\n"
    assert await with_decoder([stream[:8], stream[8:]]) == [("message", "é€\n\ufffd\ufffd")]


async def test_a_compressed_stream_is_decompressed_first() -> None:
    body = gzip.compress(b"data: 1\n\ndata: 2\n\n")
    pieces = [body[:10], body[10:]]
    events = await with_decoder(pieces, **{"content-encoding": "gzip"})
    assert events == [("message", "1"), ("message", "2")]


def test_groups_are_the_events_each_read_completes() -> None:
    decoder = sse.EventDecoder()
    assert decoder.feed(b"data: 1\n\ndata: 2\n") == [("message", "1")]
    assert decoder.feed(b"\ndata: 3\n\n") == [("message", "2"), ("message", "3")]
    assert decoder.feed(b"") == []
    assert decoder.end() == []
