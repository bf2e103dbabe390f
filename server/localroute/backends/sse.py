"""Server-sent events read from an answer's bytes (OpenAI-shaped and Anthropic streams).

httpx-sse, the library for this, reads an answer through three generator layers of
httpx's and its own (bytes to text, text to lines, lines to events) and makes an object
per event: a streamed answer is an event per token, and on a review's answer that was
a tenth of the backend's whole time in the process (see docs/benchmarks.md). This
decoder is its rules applied to the bytes as they are read, one call per piece read:

- the stream is UTF-8, undecodable bytes read as U+FFFD (a line ending never falls
  inside a character, so lines are decoded one by one);
- lines end at ``\\r\\n``, ``\\n`` or ``\\r`` (a ``\\r`` that ends a piece waits for the
  next one, which may begin with the ``\\n`` of the same ending);
- ``field: value`` (one space after the colon dropped), ``:`` begins a comment, ``data``
  lines are joined with ``\\n``; a blank line dispatches the event when it has an
  ``event``, ``data`` or ``retry``, or when the stream has had an ``id`` (which is kept
  from event to event); an event without a type is a ``message``;
- an event the stream ends in before its blank line is not dispatched.

A property test holds it to httpx-sse's events however the bytes are cut
(``tests/unit/test_sse_events.py``); httpx-sse stays a test dependency for that.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import httpx

Event = tuple[str, str]
"""An event's type and its data."""

_CR = b"\r"
_LF = b"\n"
_COLON = 0x3A


class EventDecoder:
    """The state of one event stream: fed the bytes read, it gives back the events."""

    __slots__ = ("_cr", "_data", "_event", "_id", "_rest", "_retry")

    def __init__(self) -> None:
        self._rest = b""
        """The start of a line whose end has not been read."""
        self._cr = False
        """The last piece ended with ``\\r``, held back."""
        self._event = ""
        self._data: list[str] = []
        self._id = ""
        self._retry = False
        """A valid ``retry`` came in this event (its value is of no use here)."""

    def feed(self, piece: bytes) -> list[Event]:
        """The events that the bytes ``piece``, read after the earlier ones, complete."""
        if self._cr:
            piece = _CR + piece
            self._cr = False
        if piece.endswith(_CR):
            self._cr = True
            piece = piece[:-1]
        if not piece:
            return []
        text = self._rest + piece if self._rest else piece
        if _CR in text:
            text = text.replace(b"\r\n", _LF).replace(_CR, _LF)
        lines = text.split(_LF)
        self._rest = lines.pop()
        events: list[Event] = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def end(self) -> list[Event]:
        """The stream ended: its last line, if it had no ending, is read as a line."""
        if not self._rest and not self._cr:
            return []
        line, self._rest, self._cr = self._rest, b"", False
        event = self._line(line)
        return [] if event is None else [event]

    def _line(self, line: bytes) -> Event | None:
        if not line:
            if not (self._event or self._data or self._id or self._retry):
                return None
            event = (self._event or "message", "\n".join(self._data))
            self._event, self._data, self._retry = "", [], False
            return event
        if line[0] == _COLON:
            return None
        field, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            self._data.append(value.decode("utf-8", "replace"))
        elif field == b"event":
            self._event = value.decode("utf-8", "replace")
        elif field == b"id":
            if b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
        elif field == b"retry":
            try:
                int(value.decode("utf-8", "replace"))
            except ValueError:
                return None
            self._retry = True
        return None


async def events(response: httpx.Response) -> AsyncGenerator[list[Event], None]:
    """The events of ``response``'s body, in the groups each read completes (never an
    empty group); the body is read with its content encoding undone."""
    decoder = EventDecoder()
    async for piece in response.aiter_bytes():
        found = decoder.feed(piece)
        if found:
            yield found
    found = decoder.end()
    if found:
        yield found
