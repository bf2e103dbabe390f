"""Sending what the server knows of a document back to the editor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from localroute.identity import lsp_lines_keepends
from localroute.lsp.results import to_diagnostic
from localroute.lsp.text import UnreadableDocument, document_text

if TYPE_CHECKING:
    from localroute.lsp.server import LocalrouteServer


def document_lines(ls: LocalrouteServer, uri: str) -> list[str]:
    try:
        return lsp_lines_keepends(document_text(ls, uri).text)
    except UnreadableDocument:
        return []


def diagnostics(ls: LocalrouteServer, uri: str) -> None:
    lines = document_lines(ls, uri)
    items = [to_diagnostic(record, span, lines) for span, record in ls.findings.items(uri)]
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=items))
