"""Line spans follow their lines through edits, and are dropped where lines were edited."""

from __future__ import annotations

import pytest

from localroute.lsp.documents import (
    FULL_REPLACE,
    DocumentAnchors,
    LineEdit,
    map_line_span,
)

URI = "file:///p/a.py"


def insert_lines(line: int, text: str) -> LineEdit:
    """Whole lines inserted before ``line`` (an editor's paste at column 0)."""
    return LineEdit(line, 0, line, 0, text)


def delete_lines(start: int, end_exclusive: int) -> LineEdit:
    """Lines ``start..end_exclusive-1`` deleted whole (range ends at column 0)."""
    return LineEdit(start, 0, end_exclusive, 0, "")


def typed(line: int, char: int, text: str) -> LineEdit:
    """Text typed at one position."""
    return LineEdit(line, char, line, char, text)


# --- map_line_span ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "edit", "expected"),
    [
        # Whole lines inserted above move the span down.
        ((10, 12), insert_lines(3, "a\nb\n"), (12, 14)),
        # ... at the span's first line move it down too (nothing of it was touched).
        ((10, 12), insert_lines(10, "a\n"), (11, 13)),
        # ... inside it: the span grows, its own lines are untouched.
        ((10, 12), insert_lines(11, "a\nb\n"), (10, 14)),
        # ... right after it: unchanged.
        ((10, 12), insert_lines(13, "a\n"), (10, 12)),
        # Whole lines deleted above move it up.
        ((10, 12), delete_lines(2, 5), (7, 9)),
        ((10, 12), delete_lines(9, 10), (9, 11)),
        # Deleting one of its lines, or a range overlapping it, drops it.
        ((10, 12), delete_lines(10, 11), None),
        ((10, 12), delete_lines(12, 14), None),
        ((10, 12), delete_lines(8, 11), None),
        # Deleting lines below leaves it.
        ((10, 12), delete_lines(13, 20), (10, 12)),
        # Whole lines replaced by others, above: shifted by the difference.
        ((10, 12), LineEdit(4, 0, 6, 0, "x\ny\nz\nw\n"), (12, 14)),
        # Typing inside a line of the span drops it; on a line above or below leaves it.
        ((10, 12), typed(11, 4, "x"), None),
        ((10, 12), typed(10, 0, "x"), None),
        ((10, 12), typed(12, 99, "x"), None),
        ((10, 12), typed(9, 4, "x"), (10, 12)),
        ((10, 12), typed(13, 0, "x"), (10, 12)),
        # Newline typed at the end of the line above: the span moves down.
        ((10, 12), typed(9, 17, "\n"), (11, 13)),
        ((10, 12), typed(9, 17, "\n\n    "), (12, 14)),
        # Newline typed inside the span drops it.
        ((10, 12), typed(10, 3, "\n"), None),
        # Joining the line above with the one before it (backspace at column 0).
        ((10, 12), LineEdit(8, 20, 9, 0, ""), (9, 11)),
        # Joining the span's first line into the line above touches it.
        ((10, 12), LineEdit(9, 20, 10, 0, ""), None),
        # A general multi-line edit above.
        ((10, 12), LineEdit(2, 3, 5, 1, "q"), (7, 9)),
        ((10, 12), LineEdit(2, 3, 5, 1, "q\nr\ns\nt\nu\nv"), (12, 14)),
        # A range given end-first is read start-first.
        ((10, 12), LineEdit(5, 1, 2, 3, "q"), (7, 9)),
        # Single-line spans.
        ((0, 0), insert_lines(0, "#!/bin/sh\n"), (1, 1)),
        ((0, 0), typed(0, 0, "x"), None),
        ((5, 5), delete_lines(0, 5), (0, 0)),
        # A whole-document replacement drops everything.
        ((10, 12), FULL_REPLACE, None),
        ((10, 12), LineEdit.full_replace("new text\n"), None),
    ],
)
def test_map_line_span(
    span: tuple[int, int], edit: LineEdit, expected: tuple[int, int] | None
) -> None:
    assert map_line_span(span[0], span[1], edit) == expected


def test_map_line_span_accepts_a_reversed_span() -> None:
    assert map_line_span(12, 10, insert_lines(0, "\n")) == (11, 13)


# --- DocumentAnchors -------------------------------------------------------------------


def test_put_items_find() -> None:
    anchors: DocumentAnchors[str] = DocumentAnchors()
    anchors.put(URI, (2, 4), "a")
    anchors.put(URI, (4, 4), "b")
    anchors.put(URI, (9, 7), "c")  # reversed span stored start-first
    assert anchors.items(URI) == [((2, 4), "a"), ((4, 4), "b"), ((7, 9), "c")]
    assert anchors.find(URI, 4) == ["a", "b"]
    assert anchors.find(URI, 2) == ["a"]
    assert anchors.find(URI, 5) == []
    assert anchors.find(URI, 9) == ["c"]
    assert anchors.items("file:///other") == []
    assert anchors.find("file:///other", 4) == []


def test_replace_clear_and_remove_overlapping() -> None:
    anchors: DocumentAnchors[int] = DocumentAnchors()
    anchors.put(URI, (0, 0), 0)
    anchors.replace(URI, [((1, 2), 1), ((5, 6), 2), ((8, 8), 3)])
    assert anchors.items(URI) == [((1, 2), 1), ((5, 6), 2), ((8, 8), 3)]
    assert anchors.remove_overlapping(URI, (2, 5)) == [1, 2]
    assert anchors.items(URI) == [((8, 8), 3)]
    anchors.clear(URI)
    assert anchors.items(URI) == []


def test_items_returns_a_copy() -> None:
    anchors: DocumentAnchors[str] = DocumentAnchors()
    anchors.put(URI, (1, 1), "a")
    anchors.items(URI).clear()
    assert anchors.find(URI, 1) == ["a"]


def test_apply_edits_moves_and_drops_items() -> None:
    anchors: DocumentAnchors[str] = DocumentAnchors()
    anchors.replace(URI, [((2, 3), "above"), ((10, 12), "edited"), ((20, 20), "below")])
    changed = anchors.apply_edits(URI, [typed(11, 0, "x"), insert_lines(0, "import os\n")])
    assert changed
    assert anchors.items(URI) == [((3, 4), "above"), ((21, 21), "below")]
    assert anchors.find(URI, 21) == ["below"]


def test_apply_edits_reports_no_change_when_nothing_moved() -> None:
    anchors: DocumentAnchors[str] = DocumentAnchors()
    anchors.put(URI, (2, 3), "a")
    assert not anchors.apply_edits(URI, [typed(10, 0, "x")])
    assert not anchors.apply_edits(URI, [])
    assert anchors.items(URI) == [((2, 3), "a")]
    # Another document's edits leave this one alone.
    assert not anchors.apply_edits("file:///other", [insert_lines(0, "\n")])
    assert anchors.items(URI) == [((2, 3), "a")]


def test_apply_edits_in_order() -> None:
    """Each edit is in coordinates of the document after the previous one."""
    anchors: DocumentAnchors[str] = DocumentAnchors()
    anchors.put(URI, (5, 6), "a")
    # Insert 2 lines at the top (span -> 7..8), then delete line 7 (drops it if applied in
    # order; applied to the original coordinates it would leave 5..6 alone).
    anchors.apply_edits(URI, [insert_lines(0, "x\ny\n"), delete_lines(7, 8)])
    assert anchors.items(URI) == []

    anchors.put(URI, (5, 6), "b")
    # Delete 2 lines at the top (-> 3..4), then type on line 5 (below it now).
    assert anchors.apply_edits(URI, [delete_lines(0, 2), typed(5, 0, "z")])
    assert anchors.items(URI) == [((3, 4), "b")]


def test_full_replace_drops_everything() -> None:
    anchors: DocumentAnchors[str] = DocumentAnchors()
    anchors.replace(URI, [((1, 1), "a"), ((4, 5), "b")])
    assert anchors.apply_edits(URI, [FULL_REPLACE])
    assert anchors.items(URI) == []


def test_sequence_of_keystrokes() -> None:
    anchors: DocumentAnchors[str] = DocumentAnchors()
    anchors.put(URI, (10, 11), "finding")
    # Typing a new line above, character by character, then an Enter at its end.
    anchors.apply_edits(URI, [typed(8, 30, "\n")])
    for char, letter in enumerate("pass"):
        anchors.apply_edits(URI, [typed(9, 4 + char, letter)])
    anchors.apply_edits(URI, [typed(9, 8, "\n")])
    assert anchors.items(URI) == [((12, 13), "finding")]
    # Then an edit below, then backspace joining the now-empty line 10 into line 9.
    anchors.apply_edits(URI, [typed(30, 0, "x")])
    anchors.apply_edits(URI, [LineEdit(9, 8, 10, 0, "")])
    assert anchors.items(URI) == [((11, 12), "finding")]
    # Finally a keystroke inside it.
    assert anchors.apply_edits(URI, [typed(12, 1, "y")])
    assert anchors.items(URI) == []


# --- revisions and in-flight requests -------------------------------------------------


def test_revision_counts_edit_batches() -> None:
    anchors: DocumentAnchors[str] = DocumentAnchors()
    assert anchors.revision(URI) == 0
    anchors.apply_edits(URI, [typed(0, 0, "a"), typed(0, 1, "b")])
    assert anchors.revision(URI) == 1
    anchors.apply_edits(URI, [])
    assert anchors.revision(URI) == 1
    anchors.apply_edits(URI, [typed(0, 2, "c")])
    assert anchors.revision(URI) == 2
    assert anchors.revision("file:///other") == 0


@pytest.mark.parametrize(
    ("edits_while_running", "expected"),
    [
        ([], (10, 12)),
        ([[insert_lines(0, "a\n")]], (11, 13)),
        ([[insert_lines(0, "a\n")], [delete_lines(0, 3)]], (8, 10)),
        ([[typed(9, 5, "\n")], [typed(30, 0, "x")], [insert_lines(0, "a\nb\n")]], (13, 15)),
        ([[insert_lines(0, "a\n")], [typed(12, 0, "x")]], None),
        ([[typed(11, 0, "x")], [insert_lines(0, "a\n")]], None),
        ([[FULL_REPLACE]], None),
    ],
)
def test_map_span_since_a_request_started(
    edits_while_running: list[list[LineEdit]], expected: tuple[int, int] | None
) -> None:
    anchors: DocumentAnchors[str] = DocumentAnchors()
    anchors.apply_edits(URI, [typed(50, 0, "before the request")])
    started = anchors.revision(URI)
    for batch in edits_while_running:
        anchors.apply_edits(URI, batch)
    assert anchors.map_span_since(URI, (10, 12), started) == expected


def test_map_span_since_ignores_edits_before_the_request() -> None:
    anchors: DocumentAnchors[str] = DocumentAnchors()
    anchors.apply_edits(URI, [insert_lines(0, "a\nb\nc\n")])
    started = anchors.revision(URI)
    anchors.apply_edits(URI, [delete_lines(0, 1)])
    assert anchors.map_span_since(URI, (10, 12), started) == (9, 11)
    assert anchors.map_span_since(URI, (10, 12), anchors.revision(URI)) == (10, 12)
    assert anchors.map_span_since(URI, (10, 12), 0) == (12, 14)


def test_map_span_since_unknown_revisions_drop() -> None:
    anchors: DocumentAnchors[str] = DocumentAnchors()
    assert anchors.map_span_since(URI, (1, 2), 0) == (1, 2)
    assert anchors.map_span_since(URI, (1, 2), 1) is None
    anchors.apply_edits(URI, [typed(9, 0, "x")])
    assert anchors.map_span_since(URI, (1, 2), 5) is None


def test_the_edit_log_is_bounded() -> None:
    anchors: DocumentAnchors[str] = DocumentAnchors(max_logged_edits=10)
    started_at_zero = anchors.revision(URI)
    batch = [typed(100, 0, "x"), typed(100, 1, "y"), typed(100, 2, "z")]
    for _ in range(4):
        anchors.apply_edits(URI, batch)
    # 12 edits in room for 10: part of batch 1 is forgotten, so only requests started at
    # revision 1 or later can still be mapped.
    assert anchors.map_span_since(URI, (1, 2), started_at_zero) is None
    for revision in range(1, 5):
        assert anchors.map_span_since(URI, (1, 2), revision) == (1, 2)
    anchors.apply_edits(URI, batch)
    # 15 edits: batch 1 is gone entirely and batch 2 partly.
    assert anchors.map_span_since(URI, (1, 2), 1) is None
    for revision in range(2, 6):
        assert anchors.map_span_since(URI, (1, 2), revision) == (1, 2)


def test_the_default_log_keeps_a_thousand_edits() -> None:
    anchors: DocumentAnchors[str] = DocumentAnchors()
    for _ in range(1000):
        anchors.apply_edits(URI, [typed(0, 0, "\n")])
    assert anchors.map_span_since(URI, (1, 2), 0) == (1001, 1002)
    anchors.apply_edits(URI, [typed(0, 0, "\n")])
    assert anchors.map_span_since(URI, (1, 2), 0) is None
    assert anchors.map_span_since(URI, (1, 2), 1) == (1001, 1002)


def test_close_forgets_the_document_and_its_history() -> None:
    anchors: DocumentAnchors[str] = DocumentAnchors()
    anchors.put(URI, (1, 2), "a")
    started = anchors.revision(URI)
    anchors.close(URI)
    assert anchors.items(URI) == []
    assert anchors.find(URI, 1) == []
    # A request started before the close never lands in the reopened document.
    assert anchors.map_span_since(URI, (1, 2), started) is None
    anchors.apply_edits(URI, [typed(9, 0, "x")])
    assert anchors.map_span_since(URI, (1, 2), started) is None
    assert anchors.revision(URI) > started
