"""Where a command gets a document's text: the editor's copy, or a small regular file.

pygls would read any URI the client has not opened straight from disk, on the
event loop: a FIFO, `/dev/stdin` or `/dev/zero` would hang the server. Here an
unopened document must be a regular file of bounded size.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

from localroute.privacy import path_from_uri

if TYPE_CHECKING:
    from localroute.server import LocalrouteServer

MAX_UNOPENED_BYTES = 2_000_000


@dataclass(frozen=True)
class DocumentText:
    text: str
    language: str | None
    version: int | None


class UnreadableDocument(Exception):
    """Why a document's text cannot be had; the message is for the user."""


def clean(text: str) -> str:
    """Lone surrogates (an editor's invalid UTF-16) cannot be encoded to send; replace
    them. Positions do not move: each stays one code unit."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def document_text(ls: LocalrouteServer, uri: str) -> DocumentText:
    documents = ls.workspace.text_documents
    document = documents.get(uri) or documents.get(unquote(uri))
    if document is not None:
        return DocumentText(clean(document.source), document.language_id, document.version)
    path = path_from_uri(uri)
    if path is None:
        raise UnreadableDocument(f"{uri} is not open in the editor")
    try:
        info = os.stat(path)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        why = exc.strerror if isinstance(exc, OSError) else "not a valid path"
        raise UnreadableDocument(f"cannot read {uri}: {why}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableDocument(f"{uri} is not open and not a regular file")
    if info.st_size > MAX_UNOPENED_BYTES:
        raise UnreadableDocument(
            f"{uri} is not open and larger than {MAX_UNOPENED_BYTES // 1_000_000} MB"
        )
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return DocumentText(clean(handle.read(MAX_UNOPENED_BYTES)), None, None)
    except OSError as exc:
        raise UnreadableDocument(f"cannot read {uri}: {exc.strerror}") from exc
