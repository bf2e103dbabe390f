"""Putting findings into a document: one function for single and bulk review.

Findings were computed for the text as it was when the request started; the document
may have changed since. Each finding is mapped through every edit made meanwhile
(moved with its lines, dropped where its lines were edited), earlier findings for the
reviewed lines are replaced, and the diagnostics are published.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from localroute.identity import identify
from localroute.lsp import publish
from localroute.lsp.documents import Span
from localroute.lsp.results import FindingRecord
from localroute.tasks.findings import Finding

if TYPE_CHECKING:
    from localroute.lsp.server import LocalrouteServer


def place_findings(
    ls: LocalrouteServer,
    uri: str,
    findings: Sequence[Finding],
    *,
    backend: str,
    model: str,
    locality: str,
    revision: int,
    reviewed: Span | None,
) -> int:
    """Replace the findings of the ``reviewed`` lines (None: the whole file) of ``uri``
    with ``findings`` (computed at ``revision``); publish; return how many were placed."""
    store = ls.findings
    now = store.map_span_since(uri, reviewed, revision) if reviewed is not None else None
    kept = [
        (span, record)
        for span, record in store.items(uri)
        if reviewed is not None and not (now and now[0] <= span[0] and span[1] <= now[1])
    ]
    placed = 0
    for finding in findings:
        where = store.map_span_since(uri, (finding.line, finding.end_line), revision)
        if where is not None:
            kept.append((where, FindingRecord(finding, backend, model, locality)))
            placed += 1
    store.replace(uri, kept)
    publish.diagnostics(ls, uri)
    return placed


def open_uri_for(ls: LocalrouteServer, path: str, default: str) -> str:
    """The URI under which the editor has the file at ``path`` open, else ``default``:
    diagnostics must go to the spelling the client knows."""
    uris: list[str] = list(ls.workspace.text_documents)
    for uri in uris:
        if identify(uri).path == path:
            return uri
    return default
