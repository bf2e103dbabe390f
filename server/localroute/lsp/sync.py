"""Document sync: results follow their lines as the document changes; registered in
:mod:`localroute.lsp.registry`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from localroute.lsp import publish
from localroute.lsp.documents import LineEdit

if TYPE_CHECKING:
    from localroute.lsp.server import LocalrouteServer


def to_line_edits(changes: list[types.TextDocumentContentChangeEvent]) -> list[LineEdit]:
    edits: list[LineEdit] = []
    for change in changes:
        if isinstance(change, types.TextDocumentContentChangePartial):
            r = change.range
            edits.append(
                LineEdit(
                    start_line=r.start.line,
                    start_char=r.start.character,
                    end_line=r.end.line,
                    end_char=r.end.character,
                    new_text=change.text,
                )
            )
        else:
            edits.append(LineEdit.full_replace())
    return edits


def did_change(ls: LocalrouteServer, params: types.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    edits = to_line_edits(list(params.content_changes))
    moved = ls.findings.apply_edits(uri, edits)
    ls.explanations.apply_edits(uri, edits)
    if moved:
        publish.diagnostics(ls, uri)


def did_close(ls: LocalrouteServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    had_findings = bool(ls.findings.items(uri))
    ls.findings.close(uri)
    ls.explanations.close(uri)
    if had_findings:
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )
