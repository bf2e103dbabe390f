"""Hover: the explanation written for the range under the cursor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from localroute.lsp.publish import document_lines
from localroute.lsp.results import line_range

if TYPE_CHECKING:
    from localroute.lsp.server import LocalrouteServer


def hover(ls: LocalrouteServer, params: types.HoverParams) -> types.Hover | None:
    uri = params.text_document.uri
    line = params.position.line
    matches = [
        (span, record) for span, record in ls.explanations.items(uri) if span[0] <= line <= span[1]
    ]
    if not matches:
        return None
    # The innermost explanation is the most specific one.
    span, record = min(matches, key=lambda m: m[0][1] - m[0][0])
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=record.markdown),
        range=line_range(document_lines(ls, uri), span[0], span[1]),
    )
