"""Random privacy globs, random paths, and an independent reference matcher.

The reference reads a glob segment by segment with a memoized search and no regular
expressions, following gitignore's rules as ``glob_to_regex`` documents them — including
the directory rule (ground truth changed with the privacy core): a pattern that matches
a directory covers everything under it (``internal`` and ``a/*`` cover ``internal/x`` and
``a/b/c``).
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable
from functools import cache

from tests.property.common import pick as _pick

SEG_CHARS = "abAB_-."
GLOB_PIECES = (
    ("a", "b", "A", "_", "-", ".", "ab", "ba"),
    ("*", "*", "**", "?"),
    ("[ab]", "[!a]", "[a-b]", "[^b]", "[]a]", "[-a]", "[A]"),
)


def random_glob_segment(rng: random.Random) -> str:
    """One segment of a glob: literals, ``*`` runs, ``?`` and character classes."""
    segment = "".join(rng.choice(rng.choice(GLOB_PIECES)) for _ in range(rng.randint(1, 5)))
    return segment if segment.strip(".") else segment + "a"


def random_glob(rng: random.Random) -> str:
    segments = [
        "**" if rng.random() < 0.3 else random_glob_segment(rng) for _ in range(rng.randint(1, 5))
    ]
    glob = "/".join(segments)
    if rng.random() < 0.5:
        glob = "/" + glob
    if rng.random() < 0.2:
        glob += "/"
    if rng.random() < 0.15:
        glob = glob.replace("/", "\\")
    return glob


def random_path(rng: random.Random) -> str:
    segments = []
    for _ in range(rng.randint(1, 6)):
        segment = _pick(rng, SEG_CHARS, rng.randint(1, 4))
        segments.append(segment + "a" if segment in (".", "..") else segment)
    path = "/".join(segments)
    return "/" + path if rng.random() < 0.5 else path


# The reference matcher: whole path segments, a memoized search, no regular expressions.


def _ref_class(pattern: str, i: int) -> tuple[Callable[[str], bool] | None, int]:
    """Parse a ``[...]`` class at ``pattern[i]``; (None, i + 1) when it does not close."""
    j = i + 1
    negate = j < len(pattern) and pattern[j] in "!^"
    if negate:
        j += 1
    start = j
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    close = pattern.find("]", j)
    if close < 0:
        return None, i + 1
    body = pattern[start:close]
    items: list[tuple[str, str]] = []
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            items.append((body[k], body[k + 2]))
            k += 3
        else:
            items.append((body[k], body[k]))
            k += 1

    def member(ch: str) -> bool:
        hit = any(lo <= c <= hi for lo, hi in items for c in {ch, ch.lower(), ch.upper()})
        return ch != "/" and hit != negate

    return member, close + 1


@functools.lru_cache(maxsize=1 << 16)
def _ref_segment(pattern: str, name: str) -> bool:
    @cache
    def go(p: int, n: int) -> bool:
        if p == len(pattern):
            return n == len(name)
        ch = pattern[p]
        if ch == "*":
            q = p
            while q < len(pattern) and pattern[q] == "*":
                q += 1
            return any(go(q, k) for k in range(n, len(name) + 1))
        if n == len(name):
            return False
        if ch == "?":
            return go(p + 1, n + 1)
        if ch == "[":
            member, after = _ref_class(pattern, p)
            if member is None:
                return name[n] == "[" and go(p + 1, n + 1)
            return member(name[n]) and go(after, n + 1)
        return ch.lower() == name[n].lower() and go(p + 1, n + 1)

    return go(0, 0)


@cache
def _parse(glob: str) -> tuple[bool, tuple[str, ...]]:
    """``glob`` as (anchored, segments): ``**`` runs merged, a floating glob led by ``**``."""
    g = re.sub(r"/{2,}", "/", glob.strip().replace("\\", "/"))
    anchored = g.startswith("/")
    g = g.lstrip("/")
    floating = not anchored and "/" not in g.rstrip("/")
    if g.endswith("/"):
        g += "**"
    gsegs = g.split("/") if g else []
    gsegs = [s if not (len(s) >= 2 and set(s) == {"*"}) else "**" for s in gsegs]
    if floating:
        gsegs = ["**", *gsegs]
    collapsed: list[str] = []
    for s in gsegs:
        if not (s == "**" and collapsed and collapsed[-1] == "**"):
            collapsed.append(s)
    return anchored, tuple(collapsed)


def reference_match(glob: str, path: str) -> bool:
    """gitignore-style glob semantics, as documented in ``glob_to_regex``, segment by segment."""
    anchored, gsegs = _parse(glob)

    def matches_or_below(p: str) -> bool:
        psegs = p.split("/")

        @cache
        def go(gi: int, pi: int) -> bool:
            if gi == len(gsegs):
                # The whole path, or a directory above it: gitignore's pattern that matches
                # a directory covers everything under it.
                return pi >= 1
            if gsegs[gi] == "**":
                if len(gsegs) == 1:
                    return True
                if gi == len(gsegs) - 1:
                    return pi < len(psegs) and "/".join(psegs[pi:]) != ""
                return any(go(gi + 1, k) for k in range(pi, len(psegs) + 1))
            return pi < len(psegs) and _ref_segment(gsegs[gi], psegs[pi]) and go(gi + 1, pi + 1)

        return go(0, 0)

    if not gsegs:
        return path in ("", "/") if anchored else path == ""
    candidates = [path]
    if anchored and path.startswith("/"):
        candidates.append(path[1:])
    return any(matches_or_below(p) for p in candidates)


def instantiate(glob: str, rng: random.Random) -> str:
    """A path the glob matches, built from the glob (relative to the workspace root)."""
    g = re.sub(r"/{2,}", "/", glob.strip().replace("\\", "/")).lstrip("/")
    floating = not glob.strip().replace("\\", "/").startswith("/") and "/" not in g.rstrip("/")
    if g.endswith("/"):
        g += "**"
    out: list[str] = []
    if floating:
        out += [_pick(rng, "xyz", rng.randint(1, 3)) for _ in range(rng.randint(0, 2))]
    segments = g.split("/")
    for index, seg in enumerate(segments):
        if len(seg) >= 2 and set(seg) == {"*"}:
            count = rng.randint(1, 2) if index == len(segments) - 1 else rng.randint(0, 2)
            out += [_pick(rng, "xyz", rng.randint(1, 3)) for _ in range(count)]
            continue
        out.append(_instantiate_segment(seg, rng))
    return "/".join(out)


def _instantiate_segment(seg: str, rng: random.Random) -> str:
    out: list[str] = []
    i = 0
    while i < len(seg):
        ch = seg[i]
        if ch == "*":
            while i < len(seg) and seg[i] == "*":
                i += 1
            out.append(_pick(rng, "xyz", rng.randint(0, 2)))
            continue
        if ch == "?":
            out.append(rng.choice("xyz"))
        elif ch == "[":
            member, after = _ref_class(seg, i)
            if member is not None:
                choices = [c for c in "abxyzAB_-.]" if member(c)]
                out.append(rng.choice(choices or ["?"]))
                i = after
                continue
            out.append("[")
        else:
            out.append(ch.swapcase() if rng.random() < 0.3 else ch)
        i += 1
    text = "".join(out)
    # An empty or dot-only name would be collapsed by normalization: not a real segment.
    return text if text.strip(".") else text + "x"
