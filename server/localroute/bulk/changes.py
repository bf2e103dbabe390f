"""What changed since a git ref: the files, and per file the line ranges to review.

``changed_since(ref, paths)`` asks git for the changes between the point where ``HEAD``
left ``ref`` (``git merge-base REF HEAD`` — ``ref`` itself when it is an ancestor, as on a
pull request's base) and the working tree: committed, staged and unstaged alike. Renames
are followed (``-M``: the file is reviewed under its new name, only where it changed);
deleted files and submodules are left out. A file that is new since the base is reviewed
whole; any other file by its changed hunks, each widened by a few lines of context, with
hunks that end up close together merged into one range.

Untracked files are not changes git knows of: one is reviewed (whole) only when it is
named among ``paths`` or when ``include_untracked`` is set. Ignored files are never
picked up by a walk, but one named explicitly is reviewed like an untracked file.

Every git command runs with a timeout and a fixed output format (no colour, no external
diff or textconv, ``a/``/``b/`` prefixes, paths relative to the top level) so a user's
git configuration cannot change what is parsed. Nor does git run a command that the
repository's own configuration names (an unpacked archive or a shared folder may carry
one in ``.git/config``): ``core.fsmonitor`` is off, and so is every clean filter
defined there (the user's and the system's filters, such as Git LFS, still apply).
Anything that stops the question being answered — git missing, not a repository, an
unknown ref, no common history — raises :class:`ChangesError` with a message that names
the cause.

Git is driven as a subprocess rather than through a binding (pygit2, GitPython): the
command line is what users and CI already have, and its output formats are stable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from localroute.bulk.hunks import DEFAULT_CONTEXT, LineRange, parse_hunks, review_ranges

GIT_TIMEOUT_S = 60.0

REASON_UNCHANGED = "unchanged since the base"
REASON_OUTSIDE = "outside the repository"
REASON_SYMLINK = "a symbolic link"
REASON_NOT_FILE = "not a regular file"
REASON_NO_LINES = "renamed or mode changed, no changed lines"


class ChangesError(Exception):
    """The changes could not be listed; the message names the cause."""


@dataclass(frozen=True)
class ChangedFile:
    """One file to review: whole (``ranges`` is None) or by its changed line ranges."""

    path: Path
    """Absolute path in the working tree."""
    status: str
    """``added``, ``modified``, ``renamed``, ``type changed``, ``unmerged`` or
    ``untracked``."""
    ranges: tuple[LineRange, ...] | None
    old_path: Path | None = None
    """For a rename: where the file was at the base."""


@dataclass(frozen=True)
class ChangeSet:
    """The outcome of :func:`changed_since`."""

    ref: str
    base: str
    """The commit compared against (full object name)."""
    root: Path
    """The repository's top level."""
    files: list[ChangedFile] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    """Files named or met that are not reviewed, with the reason."""
    deleted: int = 0
    """Files deleted since the base (nothing to review)."""
    untracked: list[Path] = field(default_factory=list)
    """Untracked files in scope left out (neither named nor ``include_untracked``)."""


# -- git ---------------------------------------------------------------------------------


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    # Never take the index lock for a stat refresh, never ask for a password, no pager.
    env.update(
        GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0", GIT_PAGER="cat", LC_ALL="C", LANG="C"
    )
    return env


def _git(
    args: Sequence[str], cwd: Path, timeout_s: float, settings: Sequence[str] = ()
) -> subprocess.CompletedProcess[bytes]:
    """git ``args`` in ``cwd``, with ``settings`` (``-c`` options) and no fsmonitor hook."""
    executable = shutil.which("git")
    if executable is None:
        raise ChangesError("git is not installed (or not on PATH); --changed-since needs it")
    try:
        return subprocess.run(
            [executable, "-c", "core.fsmonitor=false", *settings, *args],
            cwd=cwd,
            env=_git_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ChangesError(f"git {args[0]} did not finish within {timeout_s:g} s") from exc
    except OSError as exc:
        raise ChangesError(f"cannot run git: {exc.strerror or exc}") from exc


def _checked(
    args: Sequence[str], cwd: Path, timeout_s: float, what: str, settings: Sequence[str] = ()
) -> subprocess.CompletedProcess[bytes]:
    done = _git(args, cwd, timeout_s, settings)
    if done.returncode != 0:
        detail = _first_line(done.stderr) or f"exit status {done.returncode}"
        raise ChangesError(f"{what} failed: {detail}")
    return done


def _first_line(data: bytes) -> str:
    for line in data.decode("utf-8", "replace").splitlines():
        if line.strip():
            return line.strip().removeprefix("fatal: ").removeprefix("error: ")
    return ""


def repository_root(start: Path, *, timeout_s: float = GIT_TIMEOUT_S) -> Path:
    """The top level of the git work tree holding ``start`` (a directory)."""
    done = _git(["rev-parse", "--show-toplevel"], start, timeout_s)
    if done.returncode != 0:
        detail = _first_line(done.stderr)
        if "not a git repository" in detail.lower():
            raise ChangesError(f"{start} is not inside a git repository")
        raise ChangesError(f"cannot find the git repository of {start}: {detail}")
    top = os.fsdecode(done.stdout).strip()
    if not top:
        raise ChangesError(f"{start} is not inside a git work tree (a bare repository?)")
    return Path(top).resolve()


def _base_commit(ref: str, root: Path, timeout_s: float) -> str:
    if not ref or ref.startswith("-") or any(c in ref for c in "\0\n\r"):
        raise ChangesError(f"{ref!r} is not a git ref")
    done = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root, timeout_s)
    if done.returncode != 0:
        shallow = _git(["rev-parse", "--is-shallow-repository"], root, timeout_s)
        hint = ""
        if shallow.stdout.strip() == b"true":
            hint = " (this clone is shallow: fetch the ref, e.g. actions/checkout fetch-depth: 0)"
        raise ChangesError(f"unknown git ref {ref!r} in {root}{hint}")
    commit = done.stdout.decode().strip()
    head = _git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], root, timeout_s)
    if head.returncode != 0:
        return commit  # no commit yet on this branch: compare with the ref itself
    base = _git(["merge-base", commit, "HEAD"], root, timeout_s)
    if base.returncode != 0 or not base.stdout.strip():
        raise ChangesError(
            f"{ref!r} and HEAD have no common history in {root} "
            "(a shallow clone? fetch more history, e.g. actions/checkout fetch-depth: 0)"
        )
    return base.stdout.decode().strip()


_REPOSITORY_SCOPES = (b"local", b"worktree")
"""Configuration that comes with the repository, not from the user or the system."""


def _own_filters_off(root: Path, timeout_s: float) -> list[str]:
    """``-c`` options that empty every clean filter the repository's configuration defines
    (git runs a clean filter on each working-tree file it compares)."""
    done = _git(
        ["config", "-z", "--show-scope", "--get-regexp", r"^filter\..*\.(clean|process)$"],
        root,
        timeout_s,
    )
    if done.returncode not in (0, 1):  # 1: no filter defined (git 2.26+ knows --show-scope)
        why = _first_line(done.stderr) or f"exit status {done.returncode}"
        raise ChangesError(f"cannot list the repository's git filters: {why}")
    # Each entry is "scope NUL key LF value NUL": a driver's name may hold spaces.
    fields = done.stdout.split(b"\0")
    settings: list[str] = []
    for scope, entry in zip(fields[0::2], fields[1::2], strict=False):
        key = entry.split(b"\n", 1)[0].decode("utf-8", "surrogateescape")
        if scope not in _REPOSITORY_SCOPES:
            continue
        if "=" in key:  # `-c` cannot name it, so it cannot be switched off: refuse
            raise ChangesError(f"the repository's git configuration defines filter {key!r}")
        settings += ["-c", f"{key}="]
    return settings


_DIFF_FLAGS = (
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-relative",
    "--ignore-submodules=all",
    "-M",
)


def _name_status(
    base: str, root: Path, timeout_s: float, settings: Sequence[str]
) -> list[tuple[str, str, str | None]]:
    """``(status letter, path, old path for a rename)`` of every change, base → work tree."""
    done = _checked(
        ["diff", "--name-status", "-z", *_DIFF_FLAGS, base, "--"],
        root,
        timeout_s,
        "git diff",
        settings,
    )
    fields = done.stdout.split(b"\0")
    changes: list[tuple[str, str, str | None]] = []
    i = 0
    while i < len(fields) and fields[i]:
        letter = fields[i].decode("ascii", "replace")[:1]
        if letter in ("R", "C") and i + 2 < len(fields):
            changes.append((letter, os.fsdecode(fields[i + 2]), os.fsdecode(fields[i + 1])))
            i += 3
        else:
            changes.append((letter, os.fsdecode(fields[i + 1]), None))
            i += 2
    return changes


def _patch_hunks(
    base: str, root: Path, timeout_s: float, settings: Sequence[str]
) -> dict[str, list[tuple[int, int]]]:
    done = _checked(
        ["diff", "-U0", "--src-prefix=a/", "--dst-prefix=b/", *_DIFF_FLAGS, base, "--"],
        root,
        timeout_s,
        "git diff",
        settings,
    )
    return parse_hunks(done.stdout)


def _listed(args: Sequence[str], root: Path, timeout_s: float, settings: Sequence[str]) -> set[str]:
    command = next(a for a in args if not a.startswith("-"))
    done = _checked(args, root, timeout_s, f"git {command}", settings)
    return {os.fsdecode(p) for p in done.stdout.split(b"\0") if p}


# -- the change set ----------------------------------------------------------------------


@dataclass
class _Scope:
    """Which part of the repository the user asked about."""

    dirs: list[Path]
    named: list[Path]

    def covers(self, path: Path) -> bool:
        if not self.dirs and not self.named:
            return True
        return path in self.named or any(path == d or d in path.parents for d in self.dirs)


def changed_since(
    ref: str,
    paths: Sequence[str | os.PathLike[str]] = (),
    *,
    cwd: Path | None = None,
    include_untracked: bool = False,
    context: int = DEFAULT_CONTEXT,
    timeout_s: float = GIT_TIMEOUT_S,
) -> ChangeSet:
    """The files changed since ``ref`` under ``paths`` (default: the whole repository).

    The repository is the one holding the first path (or ``cwd``, default the current
    directory). Relative paths are taken from ``cwd``. See the module docstring.
    """
    here = Path(cwd or Path.cwd()).absolute()
    given = [Path(os.path.abspath(here / p)) for p in paths]
    start = here
    if given:
        first = given[0]
        start = first if first.is_dir() else first.parent
        if not start.is_dir():
            raise ChangesError(f"{given[0]} does not exist")
    root = repository_root(start, timeout_s=timeout_s)
    base = _base_commit(ref, root, timeout_s)

    skipped: list[tuple[Path, str]] = []
    scope = _Scope([], [])
    for path in given:
        resolved = path.resolve()
        if resolved != root and root not in resolved.parents:
            skipped.append((path, REASON_OUTSIDE))
        elif resolved.is_dir():
            scope.dirs.append(resolved)
        elif os.path.lexists(path):
            scope.named.append(resolved)
        else:
            skipped.append((path, "not found"))
    if given and not scope.dirs and not scope.named:
        return ChangeSet(ref, base, root, [], skipped)

    settings = _own_filters_off(root, timeout_s)
    hunks = _patch_hunks(base, root, timeout_s, settings)
    files: dict[Path, ChangedFile] = {}
    deleted = 0
    for letter, rel, old in _name_status(base, root, timeout_s, settings):
        path = root / rel
        if not scope.covers(path):
            continue
        if letter == "D":
            deleted += 1
            continue
        problem = _not_reviewable(path)
        if problem is not None:
            skipped.append((path, problem))
            continue
        old_path = root / old if old is not None else None
        if letter == "A":
            files[path] = ChangedFile(path, "added", None)
        elif letter in ("T", "U"):
            status = "type changed" if letter == "T" else "unmerged"
            files[path] = ChangedFile(path, status, None)
        elif letter in ("M", "R"):
            found = hunks.get(rel)
            if not found:
                skipped.append((path, REASON_NO_LINES))
                continue
            status = "renamed" if letter == "R" else "modified"
            ranges = review_ranges(found, context=context)
            files[path] = ChangedFile(path, status, ranges, old_path)
        else:
            skipped.append((path, f"git status {letter!r} is not reviewed"))

    named_left = [p for p in scope.named if p not in files]
    tracked: set[Path] = set()
    if named_left:
        rels = [p.relative_to(root).as_posix() for p in named_left]
        listed = _listed(
            ["--literal-pathspecs", "ls-files", "-z", "--", *rels], root, timeout_s, settings
        )
        tracked = {root / rel for rel in listed}
    for path in named_left:
        if path in tracked:
            skipped.append((path, REASON_UNCHANGED))
        elif (problem := _not_reviewable(path)) is not None:
            skipped.append((path, problem))
        else:
            # Named but unknown to git (untracked or ignored): the user asked for it.
            files[path] = ChangedFile(path, "untracked", None)
    untracked: list[Path] = []
    listed = _listed(
        ["ls-files", "-z", "--others", "--exclude-standard"], root, timeout_s, settings
    )
    for path in sorted(root / rel for rel in listed):
        if path in files or not scope.covers(path):
            continue
        if not include_untracked:
            untracked.append(path)
        elif (problem := _not_reviewable(path)) is not None:
            skipped.append((path, problem))
        else:
            files[path] = ChangedFile(path, "untracked", None)
    ordered = [files[p] for p in sorted(files)]
    return ChangeSet(ref, base, root, ordered, sorted(skipped), deleted, untracked)


def _not_reviewable(path: Path) -> str | None:
    """Why a changed path is no file to review (its content checks come later)."""
    if os.path.islink(path):
        return REASON_SYMLINK
    if not path.is_file():
        return REASON_NOT_FILE
    return None
