"""The one identity of a document: which file a URI stands for, and its lines.

Every caller that needs to know *which file* a document is — privacy
classification, project-root discovery, the editor's commands, bulk review, the
command line — asks :func:`identify` (a URI) or :func:`identify_path` (a path),
so that a file has one canonical path however its URI is spelled:
percent-encoding (an encoded colon or slash included), ``file://localhost/``,
Windows drive letters, ``..`` and symlinks, Unicode NFC (a name typed in NFD
matches a glob written in NFC), and the URIs of version-control views
(``git:``, ``fugitive:``, diff views) that show a file of the working tree.

Lines follow LSP's model: only ``\\n``, ``\\r\\n`` and ``\\r`` end a line
(``str.splitlines`` also splits at form feed, U+2028 and others, so the text
classified and sent would differ from what the editor calls the selection).

Pure: standard library only.
"""

from __future__ import annotations

import functools
import json
import os
import posixpath
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit

Source = Literal["file", "vcs", "notebook", "untitled", "unknown"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_DRIVE = re.compile(r"^/?([A-Za-z]):(?:[/\\]|$)")
_SLASHES = re.compile(r"/{2,}")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")

# Schemes whose URI path (or the `path` in a JSON query, as VS Code's `git:` has) is the
# path of a working-tree file: a diff or history view of that file.
_PATH_SCHEMES = frozenset(
    {
        "git",
        "gitlens",
        "gitlens-git",
        "git-graph",
        "githistory",
        "hg",
        "svn",
        "jj",
        "sapling",
        "perforce",
        "p4",
        "pr",
        "review",
        "gitlab-mr",
        "github-pr",
        "vscode-scm",
        "vscode-local-history",
        "vscode-remote",
        "vscode-vfs",
        "vscode-file",
        "scm-history-item",
        "merge-conflict.conflict-diff",
    }
)
# Schemes that name a file inside a repository's `.git` directory: fugitive's
# `fugitive:///repo/.git//0/dir/f.py`, diffview.nvim's `diffview:///repo/.git/abc123/dir/f.py`.
_GIT_DIR_SCHEMES = frozenset({"fugitive", "diffview", "gitsigns", "neogit", "octo"})
_GIT_DIR_PATH = re.compile(r"^(?P<repo>.*?)/\.git/+[^/]+/+(?P<rel>.+)$")
# Documents that have no file: classified by their text alone.
_TEXT_SCHEMES = frozenset({"untitled", "inmemory"})
_NOTEBOOK_SCHEMES = frozenset({"vscode-notebook-cell", "vscode-notebook"})


@dataclass(frozen=True)
class DocumentIdentity:
    """Which document this is, and which file it stands for.

    ``path`` is the canonical absolute path of that file (see :func:`canonical_path`), or
    None when the document is not a file (an ``untitled:`` buffer, an unknown scheme).
    ``fs_path`` is the same file as the URI spells it (decoded, not resolved): the name to
    open it by, and the lexical form privacy globs are matched against besides ``path``.
    ``source`` says how the path was found; ``unknown`` documents are private by default,
    since nothing says what they hold.
    """

    uri: str
    scheme: str
    path: str | None
    source: Source
    fs_path: str | None = None
    aliases: tuple[str, ...] = ()
    """Other names the same file was reached by (symlinks met in a bulk walk)."""
    disk: str | None = field(default=None, compare=False)
    """``fs_path`` resolved on disk as ``path`` was (symlinks followed, not in NFC): where
    its project root is looked for. None when not resolved on this file system."""

    @property
    def label(self) -> str:
        return self.path or self.uri


def lsp_lines(text: str) -> list[str]:
    """The lines of ``text`` as LSP counts them, without their line endings.

    An empty text has one empty line; a final line break does not start a new line
    that holds text, but LSP positions may point at it, so it is kept as ``""``.
    """
    return _LINE_BREAK.split(text)


_LINE_WITH_END = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
"""A line and its ending (``\r\n`` is one), or a last line without one."""


def lsp_lines_keepends(text: str) -> list[str]:
    """The lines of ``text`` as LSP counts them, each with its line ending."""
    return _LINE_WITH_END.findall(text)


def line_count(text: str) -> int:
    """How many lines hold text (a final line break does not add one)."""
    if not text:
        return 0
    lines = lsp_lines(text)
    return len(lines) - 1 if lines[-1] == "" else len(lines)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def canonical_path(path: str) -> str:
    """``path`` made absolute and canonical: ``/`` separators, ``.``/``..`` and repeated
    slashes collapsed, symlinks resolved where the file system has them, Unicode NFC.

    A Windows path (``C:\\x`` or ``C:/x``) keeps its drive, lower-cased, with ``/``
    separators: this server matches it by name, not on disk.
    """
    return _resolve(path)[0]


def _resolve(path: str) -> tuple[str, str | None]:
    """:func:`canonical_path`, and for a path resolved on this file system the resolved
    path before NFC (:attr:`DocumentIdentity.disk`): one resolution serves both."""
    drive = _DRIVE.match(path)
    if drive:
        rest = path[drive.end() :].replace("\\", "/")
        rest = "/".join(_windows_name(segment) for segment in rest.split("/"))
        body = posixpath.normpath("/" + _SLASHES.sub("/", rest))
        return nfc(f"{drive.group(1).lower()}:{body}"), None
    text = path
    if text.startswith("\\"):
        # `\\server\share\x` or `\x`: Windows separators, not a name relative to the
        # directory this process happens to run in.
        text = text.replace("\\", "/")
    if text.startswith("//") and not text.startswith("///"):
        # A UNC path (//server/share/x): not on this machine's file system.
        return nfc("//" + posixpath.normpath(_SLASHES.sub("/", text[2:])).lstrip("/")), None
    text = _SLASHES.sub("/", text)
    try:
        # Not abspath first: that collapses `link/..` to the link's directory, where the
        # kernel (and realpath, component by component) goes to its target's parent.
        resolved = os.path.realpath(text)
    except (OSError, ValueError):
        return nfc(os.path.abspath(text)), None
    return nfc(resolved), (resolved if path.startswith("/") else None)


def _windows_name(segment: str) -> str:
    """The name Windows opens for ``segment``: it drops trailing dots and spaces
    (`secrets.` is `secrets`), and `name:stream` (`f::$DATA`) is a stream of `name`."""
    name = segment.split(":", 1)[0]
    stripped = name.rstrip(". ")
    return stripped if stripped else name  # `.` and `..` stay what they are


def identify_path(
    path: str | os.PathLike[str], aliases: tuple[str | os.PathLike[str], ...] = ()
) -> DocumentIdentity:
    """The identity of a file named by a path (the command line); ``aliases`` are other
    names it was reached by, all of which privacy globs see."""
    # Joined, not normalized: `link/../x` is opened through the link, as the shell does.
    given = os.path.join(os.getcwd(), os.fspath(path))
    canonical, disk = _resolve(given)
    names = tuple(dict.fromkeys(os.path.abspath(os.fspath(a)) for a in aliases))
    return DocumentIdentity(_file_uri(canonical), "file", canonical, "file", given, names, disk)


def _with_path(uri: str, scheme: str, path: str | None, source: Source) -> DocumentIdentity:
    if not path or not (path.startswith(("/", "\\")) or _DRIVE.match(path)):
        # A URI of a file scheme with no path (`file://%5Cx`), or a relative one
        # (`file:src/x.py`), names no file we know: read against this process's directory,
        # its verdict would depend on where the server was started.
        return DocumentIdentity(uri, scheme, None, "unknown")
    canonical, disk = _resolve(path)
    return DocumentIdentity(uri, scheme, canonical, source, path, disk=disk)


def identify(uri: str) -> DocumentIdentity:
    """The identity of a document URI: one canonical path for every spelling of a file."""
    scheme, path, source, on_disk = _named(uri)
    if not on_disk:
        return DocumentIdentity(uri, scheme, None, source)
    return _with_path(uri, scheme, path, source)


@functools.lru_cache(maxsize=256)
def _named(uri: str) -> tuple[str, str | None, Source, bool]:
    """What a URI names by its text alone (every request asks again: kept for a few):
    its scheme, the path it spells, its source, and whether that path is a file's."""
    match = _SCHEME.match(uri)
    if match is None or (len(match.group(1)) == 1 and _DRIVE.match(uri)):
        # No scheme (or a Windows drive): some clients send a bare path.
        if uri.startswith(("/", "\\")) or _DRIVE.match(uri):
            return "file", uri, "file", True
        return "", None, "unknown", False
    scheme = match.group(1).lower()
    if scheme == "file":
        return scheme, _uri_path(uri), "file", True
    if scheme in _TEXT_SCHEMES:
        # VS Code's new file at a chosen place (`code secrets/new.py`) is an untitled
        # document with the absolute path it will be saved as: classify it as that file.
        path = _uri_path(uri)
        if path and (path.startswith("/") or _DRIVE.match(path)):
            return scheme, path, "untitled", True
        return scheme, None, "untitled", False
    if scheme in _NOTEBOOK_SCHEMES:
        return scheme, _uri_path(uri), "notebook", True
    if scheme in _PATH_SCHEMES:
        return scheme, _query_path(uri) or _uri_path(uri), "vcs", True
    if scheme in _GIT_DIR_SCHEMES:
        path = _uri_path(uri)
        if path:
            inside = _GIT_DIR_PATH.match(path.replace("\\", "/"))
            if inside:
                path = f"{inside.group('repo')}/{inside.group('rel')}"
        return scheme, path, "vcs", True
    return scheme, None, "unknown", False


def uri_path(uri: str) -> str | None:
    """The decoded path part of any URI (for matching globs against unknown schemes)."""
    return _uri_path(uri)


def _uri_path(uri: str) -> str | None:
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    path = unquote(parts.path)
    netloc = unquote(parts.netloc)
    if netloc and netloc.lower() != "localhost":
        if _DRIVE.match(netloc) or netloc.startswith("/"):
            # `file://C:/x` and a percent-encoded slash right after `//` are not hosts.
            path = netloc + path
        else:
            return f"//{netloc}{path}" if path else None
    if not path:
        return None
    if _DRIVE.match(path):
        return path.lstrip("/")
    return path


def _query_path(uri: str) -> str | None:
    """VS Code's `git:` URIs carry the file in a JSON query: `?{"path": "...", "ref": ...}`."""
    try:
        query = unquote(urlsplit(uri).query)
    except ValueError:
        return None
    if not query.startswith("{"):
        return None
    try:
        data = json.loads(query)
    except ValueError:
        return None
    path = data.get("path") if isinstance(data, dict) else None
    return path if isinstance(path, str) and path else None


def _file_uri(path: str) -> str:
    from urllib.parse import quote

    if _DRIVE.match(path):
        return "file:///" + quote(path, safe="/:")
    return "file://" + quote(path, safe="/")
