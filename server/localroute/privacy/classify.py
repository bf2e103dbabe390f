"""The privacy verdict for a document: its path and the text about to be sent.

This module is pure: it imports neither pygls nor httpx.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from localroute.privacy.globs import match_privacy_glob
from localroute.privacy.secrets import find_secrets

MAX_REASONS = 10

_DRIVE_PATH = re.compile(r"/[A-Za-z]:(?:/|$)")


@dataclass(frozen=True)
class PrivacyVerdict:
    """Whether a document is private, and why (globs, secret kinds and lines; never secrets)."""

    private: bool
    reasons: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """The reasons joined with ``"; "``, or ``"not private"``."""
        return "; ".join(self.reasons) if self.reasons else "not private"


def _article(kind: str) -> str:
    return "an" if kind[:1].lower() in "aeiou" else "a"


def classify(
    *,
    path: str | None,
    workspace_roots: Sequence[str],
    text: str,
    globs: Sequence[str],
    detect_secrets: bool,
    first_line: int = 1,
) -> PrivacyVerdict:
    """Classify a document as private or not.

    ``path`` is the document's absolute file system path, or None when it is
    not a file (untitled documents; for a notebook cell pass the notebook's
    path, see :func:`path_from_uri`). ``text`` is exactly the text that would
    be sent, and ``first_line`` the 1-based file line of its first line, so
    reasons name lines of the file. The verdict collects the first matching
    glob and, when ``detect_secrets`` is on, every secret kind and line,
    at most :data:`MAX_REASONS` of them followed by "and N more".
    """
    reasons: list[str] = []
    if path is not None:
        glob = match_privacy_glob(path, workspace_roots, globs)
        if glob is not None:
            reasons.append(f"path matches privacy glob '{glob}'")
    if detect_secrets:
        for hit in find_secrets(text, first_line=first_line):
            reasons.append(f"contains {_article(hit.kind)} {hit.kind} (line {hit.line})")
    if len(reasons) > MAX_REASONS:
        extra = len(reasons) - MAX_REASONS
        reasons = [*reasons[:MAX_REASONS], f"and {extra} more"]
    return PrivacyVerdict(private=bool(reasons), reasons=tuple(reasons))


def _uri_path(uri: str) -> str | None:
    parts = urlsplit(uri)
    path = unquote(parts.path)
    if not path:
        return None
    if _DRIVE_PATH.match(path):
        # file:///C:/x (and VS Code's file:///c%3A/x) name the Windows path C:/x.
        return path[1:]
    if parts.netloc and parts.netloc.lower() != "localhost":
        # file://server/share/x is a UNC path.
        return f"//{unquote(parts.netloc)}{path}"
    return path


def path_from_uri(uri: str) -> str | None:
    """Return the file system path a document URI stands for, or None.

    ``file:`` URIs give their percent-decoded path (``file:///C:/x`` gives
    ``C:/x``); ``vscode-notebook-cell:`` URIs give the path of the owning
    notebook file, so a cell is private when its notebook is; an ``untitled:``
    URI with an absolute path (VS Code's new file at a chosen place, e.g.
    ``code secrets/new.py``) gives the path it will be saved as. Plain
    ``untitled:Untitled-1`` and any other scheme give None: such documents
    are classified by text.
    """
    scheme, sep, _ = uri.partition(":")
    if not sep:
        return None
    scheme = scheme.lower()
    if scheme == "file":
        return _uri_path(uri)
    if scheme in ("vscode-notebook-cell", "untitled"):
        path = _uri_path(uri)
        if path is not None and (path.startswith("/") or _DRIVE_PATH.match("/" + path)):
            return path
    return None
