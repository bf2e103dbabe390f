"""Expand command-line paths to the files a bulk review reads.

Directories are walked recursively. Inside them ``.gitignore`` files are honoured with
git's semantics: the repository's root ``.gitignore`` and ``.git/info/exclude``, every
``.gitignore`` between the repository root and the directory given, and nested ones met
on the way down, a deeper file overriding a shallower one and ``!pattern`` re-including.
The directories ``.git``, ``.venv``, ``node_modules`` and ``__pycache__`` are never
entered (silently: they never hold code to review). Symlinks to directories met while
walking are not followed.

Files named explicitly are never skipped for ``.gitignore`` (the user asked for them), but
like every other file they are skipped when binary (a NUL byte, or bytes that are not
UTF-8, in the first 8 KiB) or larger than ``max_bytes``. Every skip is reported with its
reason in :attr:`Expansion.skipped`, so nothing is left out silently.

This module is pure: it reads the file system and imports neither pygls nor httpx.
"""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from localroute.config.small_file import NotRegularFile, read_head, read_small_text

if TYPE_CHECKING:
    import pathspec

DEFAULT_EXCLUDED_DIRS: frozenset[str] = frozenset({".git", ".venv", "node_modules", "__pycache__"})
"""Directory names never entered while walking, whatever the ``.gitignore`` files say."""

SNIFF_BYTES = 8192
"""How much of a file's head is read to decide whether it is binary."""

REASON_BINARY = "binary"
REASON_IGNORED = "ignored by .gitignore"
REASON_NOT_FOUND = "not found"
REASON_NOT_REGULAR = "not a regular file"
REASON_NOT_READABLE = "not readable"
REASON_SYMLINK_DIR = "symlink to a directory (not followed)"


def reason_too_large(max_bytes: int) -> str:
    """The skip reason for a file larger than ``max_bytes``."""
    return f"larger than {max_bytes} bytes"


@dataclass(frozen=True)
class Expansion:
    """The outcome of :func:`expand_paths`.

    ``files`` are resolved absolute paths, sorted and without duplicates. ``skipped``
    pairs an absolute path (as named or as met while walking, not resolved through a
    symlink of its own) with the reason it is not reviewed: ``"binary"``, ``"larger
    than N bytes"``, ``"ignored by .gitignore"``, ``"not found"``, ``"not a regular
    file"``, ``"not readable"`` or ``"symlink to a directory (not followed)"``; sorted by
    path. A directory ignored as a whole is reported once, not file by file.
    """

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    names: dict[Path, tuple[Path, ...]] = field(default_factory=dict)
    """Every name each file was reached by (a symlink's own name, the directory link it
    sat under): privacy globs must see them all, not only the resolved path."""


def expand_paths(
    paths: Sequence[str | os.PathLike[str]],
    *,
    root: Path | None = None,
    max_bytes: int = 1_000_000,
) -> Expansion:
    """Expand files and directories to the files to review, saying why others are skipped.

    ``root`` is the repository root whose ``.gitignore`` applies; by default it is the
    nearest ancestor of each directory argument that holds a ``.git`` entry, or the
    directory itself when there is none. A directory argument is followed even when it
    is a symlink; an argument that is itself ignored by its ancestors' ``.gitignore`` is
    still walked (the user named it), with only the ``.gitignore`` files inside it.
    """
    if max_bytes < 0:
        raise ValueError("max_bytes must not be negative")
    walker = _Walker(max_bytes)
    root_resolved = root.resolve() if root is not None else None
    for raw in paths:
        path = Path(os.path.abspath(raw))
        if not os.path.lexists(path):
            walker.skip(path, REASON_NOT_FOUND)
        elif path.is_dir():
            directory = path.resolve()
            walker.walk(directory, _initial_rules(directory, root_resolved), named=path)
        else:
            walker.consider_file(path)
    return walker.result()


class _Rules:
    """The ``.gitignore`` layers in force for one directory, shallowest first."""

    __slots__ = ("_layers",)

    def __init__(self, layers: tuple[tuple[Path, pathspec.GitIgnoreSpec], ...] = ()) -> None:
        self._layers = layers

    def with_file(self, base: Path, ignore_file: Path) -> _Rules:
        """These rules plus the patterns of ``ignore_file``, relative to ``base``."""
        lines = _read_patterns(ignore_file)
        if not lines:
            return self
        # Imported on the first `.gitignore` with patterns: pathspec costs a review about
        # 8 ms of start-up, which a folder without one need not pay.
        import pathspec

        spec = pathspec.GitIgnoreSpec.from_lines(lines)
        return _Rules((*self._layers, (base, spec)))

    def entering(self, directory: Path) -> _Rules:
        """The rules for the entries of ``directory``: its own ``.gitignore`` added.

        A directory holding ``.git`` is another repository (a submodule, a vendored
        checkout): its parent's rules stop there and its ``info/exclude`` starts.
        """
        rules = self
        if self._layers and os.path.lexists(directory / ".git"):
            rules = _Rules().with_file(directory, directory / ".git" / "info" / "exclude")
        return rules.with_file(directory, directory / ".gitignore")

    def ignored(self, path: Path, *, is_dir: bool) -> bool:
        """Whether git would ignore ``path``; the deepest layer with a match decides."""
        for base, spec in reversed(self._layers):
            try:
                rel = path.relative_to(base).as_posix()
            except ValueError:
                continue
            if rel == ".":
                continue
            result = spec.check_file(rel + "/" if is_dir else rel)
            if result.include is not None:
                return result.include
        return False


def _read_patterns(ignore_file: Path) -> list[str]:
    try:
        text = read_small_text(ignore_file, errors="replace")
    except OSError:
        return []  # only what is walked depends on it: each file is still classified
    return text.splitlines()


def _find_repo_root(start: Path) -> Path | None:
    for candidate in (start, *start.parents):
        if os.path.lexists(candidate / ".git"):
            return candidate
    return None


def _initial_rules(directory: Path, root: Path | None) -> _Rules:
    """The rules from the repository root down to ``directory``'s parent."""
    if root is not None and directory.is_relative_to(root):
        top = root
    else:
        top = _find_repo_root(directory) or directory
    rules = _Rules().with_file(top, top / ".git" / "info" / "exclude")
    ancestors = [top, *(p for p in reversed(directory.parents) if p.is_relative_to(top))]
    seen: set[Path] = set()
    for ancestor in ancestors:
        if ancestor == directory or ancestor in seen:
            continue
        seen.add(ancestor)
        rules = rules.with_file(ancestor, ancestor / ".gitignore")
    if rules.ignored(directory, is_dir=True):
        # Named on the command line: reviewed anyway, with only its own rules.
        return _Rules()
    return rules


class _Walker:
    """Collects files and skips while the arguments are expanded."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._files: set[Path] = set()
        self._skipped: dict[Path, str] = {}
        self._names: dict[Path, list[Path]] = {}

    def skip(self, path: Path, reason: str) -> None:
        self._skipped.setdefault(path, reason)

    def consider_file(self, path: Path, named: Path | None = None) -> None:
        """Keep ``path`` unless it is missing, irregular, too large or binary; ``named`` is
        the name it was reached by when that differs (under a directory link)."""
        reason = _file_problem(path, self._max_bytes)
        if reason is None:
            resolved = path.resolve()
            self._files.add(resolved)
            names = self._names.setdefault(resolved, [])
            for name in (path, named):
                if name is not None and name != resolved and name not in names:
                    names.append(name)
        else:
            self.skip(path, reason)

    def walk(self, top: Path, rules: _Rules, named: Path | None = None) -> None:
        """Walk ``top`` depth-first, honouring ``rules`` and the ignore files met; ``named``
        is the (unresolved) name the user gave ``top`` by."""
        stack: list[tuple[Path, _Rules]] = [(top, rules)]
        while stack:
            directory, inherited = stack.pop()
            here = inherited.entering(directory)
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError:
                self.skip(directory, REASON_NOT_READABLE)
                continue
            subdirs: list[tuple[Path, _Rules]] = []
            for entry in entries:
                path = Path(entry.path)
                try:
                    real_dir = entry.is_dir(follow_symlinks=False)
                    is_link = entry.is_symlink()
                except OSError:
                    self.skip(path, REASON_NOT_READABLE)
                    continue
                if real_dir:
                    if entry.name in DEFAULT_EXCLUDED_DIRS:
                        continue
                    if here.ignored(path, is_dir=True):
                        self.skip(path, REASON_IGNORED)
                    else:
                        subdirs.append((path, here))
                    continue
                # Files, symlinks and special files: git matches all of them as files.
                if here.ignored(path, is_dir=False):
                    self.skip(path, REASON_IGNORED)
                elif is_link and _is_dir_quietly(path):
                    self.skip(path, REASON_SYMLINK_DIR)
                else:
                    alias = named / path.relative_to(top) if named and named != top else None
                    self.consider_file(path, alias)
            stack.extend(reversed(subdirs))

    def result(self) -> Expansion:
        files = sorted(self._files)
        kept = set(files)
        skipped = sorted(
            (path, reason)
            for path, reason in self._skipped.items()
            # A file named explicitly wins over the same file ignored in a walk.
            if _resolve_quietly(path) not in kept
        )
        names = {path: tuple(self._names.get(path, ())) for path in files}
        return Expansion(files=files, skipped=skipped, names=names)


def _is_dir_quietly(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _resolve_quietly(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path


def _file_problem(path: Path, max_bytes: int) -> str | None:
    """Why ``path`` cannot be reviewed, or ``None`` when it can."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return REASON_NOT_FOUND  # includes a dangling symlink
    except (OSError, RuntimeError):
        return REASON_NOT_READABLE
    if not stat.S_ISREG(st.st_mode):
        return REASON_NOT_REGULAR
    if st.st_size > max_bytes:
        return reason_too_large(max_bytes)
    try:
        # Opened without waiting and looked at again once open: a file swapped for a
        # pipe since the look above is not waited for.
        head = read_head(path, SNIFF_BYTES)
    except NotRegularFile:
        return REASON_NOT_REGULAR
    except OSError:
        return REASON_NOT_READABLE
    if looks_binary(head, complete=len(head) < SNIFF_BYTES):
        return REASON_BINARY
    return None


def looks_binary(head: bytes, *, complete: bool = False) -> bool:
    """Whether a file starting with ``head`` is binary: a NUL byte, or not UTF-8.

    ``complete`` says ``head`` is the whole file; otherwise a multi-byte character cut
    at the end of ``head`` is not held against it.
    """
    if b"\0" in head:
        return True
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=complete)
    except UnicodeDecodeError:
        return True
    return False
