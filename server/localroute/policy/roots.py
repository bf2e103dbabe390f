"""A file's project root, found from the file — the same way for the editor and the shell.

The root is the workspace folder that holds the file (the deepest one); else the
client's `rootUri`/`rootPath` when it holds the file; else the nearest directory
above the file holding `.localroute.toml`, `localroute.toml` or `.git`. How the
editor or shell was opened never hides a project's rules: every workspace file in
the file's directory or above applies (each can only make privacy stricter), and
privacy globs are matched relative to every candidate root, so a glob written
for the repository also holds when only a sub-folder is open.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from localroute.config.paths import WORKSPACE_FILE_NAMES
from localroute.identity import nfc

ROOT_MARKERS = (*WORKSPACE_FILE_NAMES, ".git")


@dataclass(frozen=True)
class ProjectRoot:
    """The root of the project a file belongs to, and how it was found."""

    path: str
    found_by: str
    """`workspace folder`, `client root`, or the marker found (`.git`, `.localroute.toml` …)."""


@dataclass(frozen=True)
class Placement:
    """Where a file sits: its root, the workspace files that apply, the bases of its globs."""

    root: ProjectRoot | None
    config_files: tuple[str, ...]
    """Workspace files in the file's directory or above, outermost first."""
    bases: tuple[str, ...]
    """Directories the file's relative path is taken against when matching privacy globs."""


def contains(folder: str, path: str) -> bool:
    """Whether ``path`` is ``folder`` or inside it (canonical paths)."""
    folder = folder.rstrip("/") or "/"
    if folder == "/":
        return path.startswith("/")
    return path == folder or path.startswith(folder + "/")


def _contains_loosely(folder: str, path: str) -> bool:
    # On a case-insensitive file system the same folder may be spelled differently.
    return contains(folder, path) or contains(folder.casefold(), path.casefold())


def _exists(path: str) -> bool:
    """Whether there is an entry by that name, even one that cannot be followed (a dangling
    or looping link): a workspace file that cannot be read must fail closed, not vanish."""
    try:
        os.lstat(path)
    except (OSError, ValueError):
        return False
    return True


def _ancestors(path: str) -> list[str]:
    """The directories above ``path``, nearest first; none for paths not on this system."""
    if not path.startswith("/") or path.startswith("//"):
        return []  # a Windows or UNC path: there is nothing to look at here
    out: list[str] = []
    current = posixpath.dirname(path)
    while True:
        out.append(current)
        parent = posixpath.dirname(current)
        if parent == current:
            return out
        current = parent


def place(
    path: str, *, workspace_folders: Sequence[str] = (), client_root: str | None = None
) -> Placement:
    """Find the project root of ``path`` (as the file system spells it), its workspace files
    and glob bases. Folders are compared in Unicode NFC, as canonical paths are."""
    named = nfc(path)
    folders = [f for f in workspace_folders if f and _contains_loosely(f, named)]
    root: ProjectRoot | None = None
    if folders:
        root = ProjectRoot(max(folders, key=len), "workspace folder")
    elif client_root and _contains_loosely(client_root, named):
        root = ProjectRoot(client_root, "client root")
    bases: list[str] = [f for f in folders]
    if client_root and _contains_loosely(client_root, named):
        bases.append(client_root)
    files: list[str] = []
    for directory in _ancestors(path):
        inside = directory.rstrip("/") + "/"  # (posixpath.join costs more than the lstat)
        found = [m for m in ROOT_MARKERS if _exists(inside + m)]
        if not found:
            continue
        bases.append(directory)
        if root is None:
            root = ProjectRoot(directory, found[0])
        for name in WORKSPACE_FILE_NAMES:
            # Anything by that name counts; one that is not a readable file is reported
            # as unreadable by the store, which then fails closed.
            if name in found:
                files.append(posixpath.join(directory, name))
    return Placement(root, tuple(reversed(files)), tuple(dict.fromkeys(bases)))
