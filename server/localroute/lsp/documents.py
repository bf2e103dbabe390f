"""Line-range tracking, so results never land at the wrong place.

Findings and explanations are anchored to inclusive spans of 0-based lines. When the
document changes - while a request runs or after its results are shown - each span moves
with its lines, and is dropped as soon as an edit touches any of its lines.

Pure: the LSP layer converts ``didChange`` content changes into :class:`LineEdit` values
and calls :meth:`DocumentAnchors.apply_edits`. Not thread-safe; the server uses it from its
single event loop.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from localroute.identity import lsp_lines

T = TypeVar("T")

Span = tuple[int, int]
"""An inclusive span of 0-based lines, ``start <= end``."""

MAX_LOGGED_EDITS = 1000
"""Edits remembered per document for :meth:`DocumentAnchors.map_span_since`."""


@dataclass(frozen=True)
class LineEdit:
    """One LSP content change, in coordinates of the document before this change.

    Positions are 0-based. ``full=True`` is a change without a range (the whole text
    replaced); its positions are ignored.
    """

    start_line: int
    start_char: int
    end_line: int
    end_char: int
    new_text: str
    full: bool = False

    @classmethod
    def full_replace(cls, new_text: str = "") -> LineEdit:
        """A change that replaces the whole document."""
        return cls(0, 0, 0, 0, new_text, full=True)


FULL_REPLACE = LineEdit.full_replace()
"""A whole-document replacement; it drops every span."""


def map_line_span(start: int, end: int, edit: LineEdit) -> Span | None:
    """Where the inclusive line span ``[start, end]`` is after ``edit``.

    Returns ``None`` when the edit touched any of the span's lines (the result no longer
    describes them) or replaced the whole document.

    A *whole-line* edit (both positions at column 0, new text empty or ending in a newline)
    replaces lines ``sl..el-1`` with the new text's lines, so it leaves line ``el`` itself
    alone: that is how editors report deleting or inserting whole lines. A pure insertion
    of whole lines (``sl == el``) never drops a span; one it falls inside grows by the
    inserted lines. Any other edit touches lines ``sl..el`` inclusive.
    """
    if edit.full:
        return None
    if end < start:
        start, end = end, start
    sl, sc, el, ec = edit.start_line, edit.start_char, edit.end_line, edit.end_char
    if (el, ec) < (sl, sc):
        sl, sc, el, ec = el, ec, sl, sc
    # LSP's line model: "\n", "\r\n" and "\r" each end a line.
    delta = len(lsp_lines(edit.new_text)) - 1 - (el - sl)
    whole_lines = (
        sc == 0 and ec == 0 and (edit.new_text == "" or edit.new_text.endswith(("\n", "\r")))
    )
    if whole_lines:
        if end < sl:
            return start, end
        if start >= el:
            return start + delta, end + delta
        if sl == el:
            # Lines inserted inside the span: its own lines are untouched, just further apart.
            return start, end + delta
        return None
    if end < sl:
        return start, end
    if start > el:
        return start + delta, end + delta
    return None


@dataclass
class _DocState(Generic[T]):
    items: list[tuple[Span, T]] = field(default_factory=list)
    revision: int = 0
    # Every edit applied after revision `floor` is in `log`; older ones were forgotten.
    floor: int = 0
    log: deque[tuple[int, LineEdit]] = field(default_factory=lambda: deque(maxlen=MAX_LOGGED_EDITS))


class DocumentAnchors(Generic[T]):
    """Items anchored to line spans, per document URI, kept in place across edits.

    Also keeps a bounded log of recent edits per document, so a request can record
    :meth:`revision` when it starts and later map the span it computed through whatever
    changed meanwhile (:meth:`map_span_since`).
    """

    def __init__(self, max_logged_edits: int = MAX_LOGGED_EDITS) -> None:
        self._docs: dict[str, _DocState[T]] = {}
        self._max_logged_edits = max_logged_edits

    def _state(self, uri: str) -> _DocState[T]:
        state = self._docs.get(uri)
        if state is None:
            state = _DocState(log=deque(maxlen=self._max_logged_edits))
            self._docs[uri] = state
        return state

    def put(self, uri: str, span: Span, item: T) -> None:
        """Anchor ``item`` to ``span`` (inclusive 0-based lines) in ``uri``."""
        self._state(uri).items.append((_ordered(span), item))

    def items(self, uri: str) -> list[tuple[Span, T]]:
        """The items of ``uri`` with their current spans, in insertion order."""
        state = self._docs.get(uri)
        return list(state.items) if state else []

    def replace(self, uri: str, items_with_spans: Iterable[tuple[Span, T]]) -> None:
        """Make ``items_with_spans`` the only items of ``uri``."""
        self._state(uri).items = [(_ordered(span), item) for span, item in items_with_spans]

    def remove_overlapping(self, uri: str, span: Span) -> list[T]:
        """Remove and return the items whose span shares a line with ``span``.

        For re-running a task on a range: the old results there are superseded.
        """
        state = self._docs.get(uri)
        if state is None:
            return []
        start, end = _ordered(span)
        kept: list[tuple[Span, T]] = []
        removed: list[T] = []
        for item_span, item in state.items:
            if item_span[1] < start or item_span[0] > end:
                kept.append((item_span, item))
            else:
                removed.append(item)
        state.items = kept
        return removed

    def clear(self, uri: str) -> None:
        """Remove the items of ``uri``; its revision and edit log are kept."""
        state = self._docs.get(uri)
        if state is not None:
            state.items = []

    def find(self, uri: str, line: int) -> list[T]:
        """The items of ``uri`` whose span contains ``line``."""
        state = self._docs.get(uri)
        if state is None:
            return []
        return [item for (start, end), item in state.items if start <= line <= end]

    def apply_edits(self, uri: str, edits: Sequence[LineEdit]) -> bool:
        """Apply one ``didChange`` worth of edits, in order; record them in the edit log.

        Returns ``True`` when any item moved or was dropped (the caller republishes).
        """
        if not edits:
            return False
        state = self._state(uri)
        state.revision += 1
        for edit in edits:
            log = state.log
            if log.maxlen is not None and len(log) == log.maxlen:
                # The oldest entry is about to fall out: mapping from before it is now
                # impossible, so such requests get None (dropped) rather than a wrong place.
                state.floor = max(state.floor, log[0][0])
            log.append((state.revision, edit))
        changed = False
        kept: list[tuple[Span, T]] = []
        for span, item in state.items:
            mapped = _map_through(span, edits)
            if mapped != span:
                changed = True
            if mapped is not None:
                kept.append((mapped, item))
        state.items = kept
        return changed

    def revision(self, uri: str) -> int:
        """The current revision of ``uri``: it grows with each :meth:`apply_edits` call."""
        state = self._docs.get(uri)
        return state.revision if state else 0

    def map_span_since(self, uri: str, span: Span, revision: int) -> Span | None:
        """Map ``span``, computed at ``revision``, through every edit recorded since.

        Returns ``None`` (drop) when an edit touched the span, or when the edits since
        ``revision`` are no longer all known (log overflow, document closed and reopened,
        or a revision this document never had).
        """
        state = self._docs.get(uri)
        if state is None:
            return _ordered(span) if revision == 0 else None
        if revision > state.revision or revision < state.floor:
            return None
        return _map_through(
            _ordered(span), [edit for edit_revision, edit in state.log if edit_revision > revision]
        )

    def close(self, uri: str) -> None:
        """Forget the items and the edit log of ``uri``.

        The revision number still grows, so a request started before the close can never
        map its span into the reopened document.
        """
        revision = self.revision(uri) + 1
        self._docs[uri] = _DocState(
            revision=revision, floor=revision, log=deque(maxlen=self._max_logged_edits)
        )


def _map_through(span: Span, edits: Iterable[LineEdit]) -> Span | None:
    mapped = span
    for edit in edits:
        result = map_line_span(mapped[0], mapped[1], edit)
        if result is None:
            return None
        mapped = result
    return mapped


def _ordered(span: Span) -> Span:
    start, end = span
    return (start, end) if start <= end else (end, start)
