"""The lines diagnostics are placed on are the document's as it is now: the last ones
are kept for the same text, never for another."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from localroute.lsp.publish import document_lines


def server_with(uri: str, text: str, version: int) -> Any:
    document = SimpleNamespace(source=text, language_id="python", version=version)
    return SimpleNamespace(workspace=SimpleNamespace(text_documents={uri: document}))


def test_the_lines_follow_the_text() -> None:
    uri = "file:///ws/a.py"
    first = document_lines(server_with(uri, "a = 1\nb = 2\n", 1), uri)
    assert first == ("a = 1\n", "b = 2\n")
    assert document_lines(server_with(uri, "a = 1\nb = 2\n", 1), uri) is first  # kept
    edited = document_lines(server_with(uri, "a = 1\r\nc = 3\rd\n", 2), uri)
    assert edited == ("a = 1\r\n", "c = 3\r", "d\n")
    other = document_lines(
        server_with("file:///ws/b.py", "a = 1\r\nc = 3\rd\n", 1), "file:///ws/b.py"
    )
    assert other == edited
    assert document_lines(server_with(uri, "a = 1\nb = 2\n", 3), uri) == first  # undone
