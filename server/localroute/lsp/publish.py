"""Sending what the server knows of a document back to the editor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lsprotocol import types

from localroute.identity import lsp_lines_keepends
from localroute.lsp.results import to_diagnostic
from localroute.lsp.text import UnreadableDocument, document_text

if TYPE_CHECKING:
    from localroute.lsp.server import LocalrouteServer


_last: tuple[str, str, tuple[str, ...]] | None = None
"""The lines of the document published last (uri, text, lines): a document is often
published again unchanged (another review of it, a selection, a clear)."""


def document_lines(ls: LocalrouteServer, uri: str) -> Sequence[str]:
    global _last
    try:
        text = document_text(ls, uri).text
    except UnreadableDocument:
        return ()
    if _last is not None and _last[0] == uri and _last[1] == text:
        return _last[2]
    lines = tuple(lsp_lines_keepends(text))
    _last = (uri, text, lines)
    return lines


def diagnostics(ls: LocalrouteServer, uri: str) -> None:
    lines = document_lines(ls, uri)
    items = [to_diagnostic(record, span, lines) for span, record in ls.findings.items(uri)]
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=items))
