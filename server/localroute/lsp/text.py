"""Where a command gets a document's text: the editor's copy, or a small regular file.

pygls would read any URI the client has not opened straight from disk, on the
event loop: a FIFO, `/dev/stdin` or `/dev/zero` would hang the server. Here an
unopened document must be a regular file of bounded size, opened without waiting and
looked at once open (:func:`~localroute.config.small_file.read_small_text`): a pipe put
in its place between a look and the open is refused too.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from localroute.config.small_file import (
    NotRegularFile,
    TooLarge,
    as_text_mode,
    read_small_text,
)
from localroute.identity import DocumentIdentity, identify
from localroute.requests import Document

if TYPE_CHECKING:
    from localroute.lsp.server import LocalrouteServer

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
    identity = identify(uri)
    if identity.source != "file" or identity.fs_path is None:
        raise UnreadableDocument(f"{uri} is not open in the editor")
    return DocumentText(read_file(identity.fs_path, uri), None, None)


def read_file(path: str, name: str) -> str:
    """A small regular file's text; :class:`UnreadableDocument` says why not."""
    try:
        data = read_small_text(Path(path), MAX_UNOPENED_BYTES, errors="replace")
    except (NotRegularFile, IsADirectoryError) as exc:
        raise UnreadableDocument(f"{name} is not open and not a regular file") from exc
    except TooLarge as exc:
        raise UnreadableDocument(
            f"{name} is not open and larger than {MAX_UNOPENED_BYTES // 1_000_000} MB"
        ) from exc
    except OSError as exc:
        raise UnreadableDocument(f"cannot read {name}: {exc.strerror or exc}") from exc
    except ValueError as exc:  # a NUL byte in the path
        raise UnreadableDocument(f"cannot read {name}: not a valid path") from exc
    text = as_text_mode(data)  # as it was read before, and as a bulk review reads a file
    if "\0" in text:
        # Binary, or UTF-16/32 text (Windows tools): read as UTF-8 its words, credentials
        # included, are spread over NUL bytes that no detector sees. Bulk review skips it too.
        raise UnreadableDocument(f"{name} is not open and is not UTF-8 text")
    return clean(text)


def load_document(ls: LocalrouteServer, uri: str) -> Document:
    """The document a command works on: the editor's text, and for a view of a file (a
    `git:` version, a notebook cell) the file's own text too, so its verdict is the file's."""
    text = document_text(ls, uri)
    identity = identify(uri)
    owner: str | None = None
    if identity.source in ("vcs", "notebook") and identity.path:
        # The file as it is on disk and as the editor has it now (unsaved edits count);
        # for a notebook, its other cells too: the notebook is one document.
        parts = [
            document.source
            for other, document in ls.workspace.text_documents.items()
            if other != uri and _stands_for(other, identity)
        ]
        if identity.fs_path:
            with contextlib.suppress(UnreadableDocument):
                parts.insert(0, read_file(identity.fs_path, identity.fs_path))
        owner = "\n".join(parts) if parts else None
    return Document(identity, text.text, text.language, owner_text=owner)


def _stands_for(uri: str, view: DocumentIdentity) -> bool:
    """Whether the open document ``uri`` is the file ``view`` shows, or a cell of its notebook."""
    other = identify(uri)
    if other.path != view.path:
        return False
    return other.source == "file" or (view.source == other.source == "notebook")
