"""Privacy globs: gitignore-like patterns matched against a document's paths.

A document is matched through every name it can be reached by: its absolute
path, the same with symlinks resolved, and its path relative to each workspace
folder that contains it. Matching is case-insensitive everywhere, because
macOS and Windows file systems are, and a missed match leaks code to a cloud
while an extra match only keeps it local.

Why a matcher of our own rather than `pathspec` (which bulk review uses for
`.gitignore`): privacy globs may come from an untrusted workspace file, and
pathspec's regexes backtrack catastrophically on hostile patterns (measured:
``*a*a*a*a*a*b`` against a 40-character name takes 65 ms, and the time grows
with each star and character); privacy matching must also be case-insensitive,
see absolute and symlink-resolved forms, and never honour a negation that would
loosen it. The translation below keeps gitignore's semantics (a property test
checks it against pathspec on benign patterns) with atomic groups that keep
matching linear.

This module is pure: it imports neither pygls nor httpx.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
from collections.abc import Sequence

from localroute.identity import nfc

_SLASHES = re.compile(r"/{2,}")
_ABSOLUTE = re.compile(r"[/\\]|[A-Za-z]:")


@functools.lru_cache(maxsize=1024)
def glob_to_regex(glob: str) -> re.Pattern[str]:
    """Compile a privacy glob to a case-insensitive, whole-string regex.

    Semantics follow gitignore: a pattern that matches a directory matches everything
    under it (``internal`` and ``confidential/`` cover the files below); ``**`` spans
    any number of path segments (zero included, so ``**/.env`` matches ``.env``),
    ``*`` and ``?`` stay within one segment, ``[abc]``/``[!abc]`` are character
    classes. A glob
    without a ``/`` matches the basename at any depth; a leading ``/``
    anchors it at the root (the workspace root for relative paths, the file
    system root for absolute ones); a trailing ``/`` or ``/**`` matches
    everything below that directory. Backslashes are path separators, not
    escapes, so Windows-style globs work. The pattern is anchored at both
    ends, so ``match``, ``fullmatch`` and ``search`` agree.

    Globs may come from an untrusted workspace file (adding one only makes
    privacy stricter), so the regex never backtracks catastrophically: like
    :func:`fnmatch.translate`, every wildcard but the last of its run is an
    atomic, leftmost match (see :func:`_translate`), and matching stays
    linear-ish in the path's length whatever the glob.
    """
    g = _SLASHES.sub("/", nfc(glob.strip()).replace("\\", "/"))
    anchored = g.startswith("/")
    g = g.lstrip("/")
    # gitignore decides "anywhere vs. anchored" before the trailing slash.
    floating = bool(g) and not anchored and "/" not in g.rstrip("/")
    if g.endswith("/"):
        g += "**"
    # Optional slash when anchored: the same glob anchors a relative path at
    # the workspace root and an absolute path at the file system root.
    prefix = "/?" if anchored else ""
    # gitignore: a pattern that matches a directory covers everything under it.
    # (Only a whole `**` segment ends it: `secret**` is `secret*`, which covers `secrets/`.)
    below = "" if _is_double_star(g.rsplit("/", 1)[-1]) else "(?:/.*)?"
    try:
        return re.compile(
            rf"\A{prefix}{_translate(g, floating=floating)}{below}\Z", re.IGNORECASE | re.DOTALL
        )
    except re.error:
        # A malformed class (e.g. a reversed range) must not take the server
        # down; the glob then only matches its own literal text.
        if floating:
            prefix = "(?:.*/)?"
        return re.compile(rf"\A{prefix}{re.escape(g)}{below}\Z", re.IGNORECASE | re.DOTALL)


def _is_double_star(segment: str) -> bool:
    return len(segment) >= 2 and not segment.strip("*")


def _translate(g: str, *, floating: bool) -> str:
    """The regex body for a normalized glob (no leading slash, ``/**`` for a trailing one).

    The glob is read as blocks of segments separated by ``**`` segments
    (consecutive ones merged: ``**/**`` is ``**``). A block between two
    ``**`` is matched atomically at the leftmost place where it fits:
    any later place could be traded for it, since the ``**`` after it
    absorbs whole segments. Without that, ``**/*/**/*/**/x`` would make the
    engine try every way of splitting the path.
    """
    if not g:
        return ""
    elements: list[list[str] | None] = [None] if floating else []  # None: a ``**``
    for segment in g.split("/"):
        if _is_double_star(segment):
            if not elements or elements[-1] is not None:
                elements.append(None)
        elif elements and elements[-1] is not None:
            elements[-1].append(segment)
        else:
            elements.append([segment])
    last = len(elements) - 1
    out: list[str] = []
    for index, element in enumerate(elements):
        if element is None:
            if last == 0:
                out.append(".*")  # a bare "**" is anything
            elif index == last:
                out.append(".+")  # "dir/**" is everything inside dir
            continue
        block = "/".join(_translate_segment(segment) for segment in element)
        after_star, before_star = index > 0, index < last
        if after_star and before_star:
            out.append(f"(?>(?:.*?/)??{block}/)")
        elif after_star:
            out.append(f"(?:.*/)?{block}")
        elif before_star:
            out.append(f"{block}/")
        else:
            out.append(block)
    return "".join(out)


def _translate_segment(segment: str) -> str:
    """One segment: ``*`` (any run of stars) and ``?`` never cross a ``/``.

    As in :func:`fnmatch.translate`, every star but the last matches
    atomically up to the leftmost occurrence of the fixed-length text that
    follows it; the star after that text absorbs any difference.
    """
    chunks: list[list[str]] = [[]]
    i, n = 0, len(segment)
    while i < n:
        c = segment[i]
        if c == "*":
            while i < n and segment[i] == "*":
                i += 1
            chunks.append([])
        elif c == "?":
            chunks[-1].append("[^/]")
            i += 1
        elif c == "[":
            cls, i = _translate_class(segment, i)
            chunks[-1].append(cls)
        else:
            chunks[-1].append(re.escape(c))
            i += 1
    texts = ["".join(chunk) for chunk in chunks]
    out = [texts[0]]
    for k, text in enumerate(texts[1:], start=1):
        if k == len(texts) - 1:
            out.append(f"[^/]*{text}")
        else:
            out.append(f"(?>[^/]*?{text})")
    return "".join(out)


def _translate_class(g: str, start: int) -> tuple[str, int]:
    j = start + 1
    negate = j < len(g) and g[j] in "!^"
    if negate:
        j += 1
    content_start = j
    if j < len(g) and g[j] == "]":
        j += 1  # a leading "]" is a literal member, as in fnmatch
    close = g.find("]", j)
    if close < 0:
        return re.escape("["), start + 1
    content = g[content_start:close]
    members = "".join("-" if ch == "-" else re.escape(ch) for ch in content)
    # A class never matches the separator, like "*" and "?".
    return (f"[^/{members}]" if negate else f"(?!/)[{members}]"), close + 1


def normalize_path(path: str) -> str:
    """Return ``path`` with ``/`` separators, ``.``/``..`` and repeated slashes collapsed.

    Purely lexical: the file system is not consulted, so symlinks are kept.
    """
    if not path:
        return path
    p = _SLASHES.sub("/", path.replace("\\", "/"))
    return posixpath.normpath(p)


def _realpath(path: str) -> str | None:
    # realpath of a relative path would resolve against our cwd, which says
    # nothing about where the document lives.
    if not os.path.isabs(path):
        return None
    try:
        return normalize_path(os.path.realpath(path))
    except (OSError, ValueError):
        return None


def _is_absolute(path: str) -> bool:
    """``/x``, ``\\x``, ``C:`` and UNC paths; anything else is relative to a workspace root."""
    return _ABSOLUTE.match(path) is not None


def _relative_to(path: str, root: str) -> str | None:
    prefix = root if root.endswith("/") else root + "/"
    if len(path) > len(prefix) and path.lower().startswith(prefix.lower()):
        return path[len(prefix) :]
    return None


def _absolute_candidates(path: str) -> list[str]:
    out = [normalize_path(path)]
    # The path as given (the kernel's "..": "link/.." is the link target's
    # parent) and with Windows separators read as "/", which this OS needs
    # to follow symlinks in "\\home\\u\\ws\\link".
    for form in dict.fromkeys((path, path.replace("\\", "/"))):
        real = _realpath(form)
        if real is not None and real not in out:
            out.append(real)
    return out


def candidate_paths(path: str, workspace_roots: Sequence[str]) -> list[str]:
    """List the strings a document's path is matched as, deduplicated, in a stable order.

    First the normalized path, then the same with symlinks resolved (skipped
    when resolution fails), then the path relative to every workspace root
    containing it. Containment compares the lexical and the resolved forms of
    both sides, case-insensitively, so a symlink inside the workspace is also
    seen under the relative name of its target. A relative path is also read
    against every workspace root, lexically and resolved, so a relative name
    cannot hide a symlink into a private directory.
    """
    absolutes = _absolute_candidates(path)
    if not _is_absolute(path):
        for root in workspace_roots:
            if root:
                joined = root.rstrip("/\\") + "/" + path
                absolutes += [p for p in _absolute_candidates(joined) if p not in absolutes]
    out = list(absolutes)
    for root in workspace_roots:
        if not root:
            continue
        for root_form in _absolute_candidates(root):
            for abs_form in absolutes:
                rel = _relative_to(abs_form, root_form)
                if rel is not None and rel not in out:
                    out.append(rel)
    return out


def match_privacy_glob(
    path: str, workspace_roots: Sequence[str], globs: Sequence[str]
) -> str | None:
    """Return the first glob (in ``globs`` order) matching any candidate of ``path``, else None.

    Every glob is tried on the relative and the absolute candidates: a
    relative glob such as ``**/secrets/**`` must also catch files outside any
    workspace, and an absolute glob such as ``/home/u/secret/**`` matches the
    absolute forms (a leading ``/`` also anchors at a workspace root; when the
    two readings disagree the file is treated as private, the safe side). A
    leading ``~`` is expanded to the home directory.
    """
    # Names are compared in NFC, but symlinks are resolved by the names on disk: take the
    # path and the roots in both spellings.
    roots = list(dict.fromkeys([*workspace_roots, *(nfc(r) for r in workspace_roots if r)]))
    forms = dict.fromkeys((path, nfc(path)))
    candidates = list(dict.fromkeys(nfc(c) for form in forms for c in candidate_paths(form, roots)))
    for glob in globs:
        pattern_text = glob.strip()
        if not pattern_text:
            continue
        if pattern_text.startswith("~"):
            pattern_text = os.path.expanduser(pattern_text)
        pattern = glob_to_regex(pattern_text)
        if any(pattern.match(candidate) for candidate in candidates):
            return glob
    return None
