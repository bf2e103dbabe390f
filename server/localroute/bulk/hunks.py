"""Hunks of a ``git diff -U0`` patch, and the line ranges a review of them covers.

Pure: parsing and arithmetic on bytes and numbers, no git, no I/O.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_CONTEXT = 3
"""Lines of context kept on each side of a changed hunk."""

_HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_C_ESCAPES = {
    ord("a"): 7,
    ord("b"): 8,
    ord("t"): 9,
    ord("n"): 10,
    ord("v"): 11,
    ord("f"): 12,
    ord("r"): 13,
    ord('"'): 34,
    ord("\\"): 92,
}


@dataclass(frozen=True)
class LineRange:
    """Lines ``start..end`` of a file, 0-based and inclusive."""

    start: int
    end: int


def parse_hunks(patch: bytes) -> dict[str, list[tuple[int, int]]]:
    """The new-side hunks of a ``git diff -U0`` patch, by new path (decoded, ``b/`` cut).

    Each hunk is ``(first, count)`` in 1-based new-file lines; a pure deletion has count 0
    and ``first`` is the line before the deletion (0 at the top of the file). Content lines
    are skipped by the counts in the hunk headers, so a changed line that looks like a
    header is never read as one.
    """
    hunks: dict[str, list[tuple[int, int]]] = {}
    current: str | None = None
    old_left = new_left = 0
    for line in patch.split(b"\n"):
        if old_left > 0 or new_left > 0:
            if line.startswith(b"-"):
                old_left -= 1
            elif line.startswith(b"+"):
                new_left -= 1
            elif line.startswith(b" "):  # not with -U0, but harmless
                old_left -= 1
                new_left -= 1
            continue
        if line.startswith(b"diff --git "):
            current = None
        elif line.startswith(b"+++ "):
            # Git ends an unquoted name holding a space with a tab (for GNU patch).
            target = line[4:].removesuffix(b"\t")
            current = None if target == b"/dev/null" else _strip_prefix(unquote_path(target))
        elif line.startswith(b"@@ ") and current is not None:
            match = _HUNK.match(line)
            if match is None:
                continue
            old_left = int(match.group(2) or b"1")
            first = int(match.group(3))
            new_left = int(match.group(4) or b"1")
            hunks.setdefault(current, []).append((first, new_left))
    return hunks


def _strip_prefix(path: str) -> str:
    return path[2:] if path.startswith("b/") else path


def unquote_path(raw: bytes) -> str:
    """A path as git prints it in a patch: as is, or C-quoted (``"a\\303\\251.py"``)."""
    if not (len(raw) >= 2 and raw.startswith(b'"') and raw.endswith(b'"')):
        return os.fsdecode(raw)
    body = raw[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        byte = body[i]
        if byte != 0x5C or i + 1 >= len(body):
            out.append(byte)
            i += 1
            continue
        nxt = body[i + 1]
        if 0x30 <= nxt <= 0x37:
            digits = body[i + 1 : i + 4]
            out.append(int(digits, 8) & 0xFF)
            i += 1 + len(digits)
        else:
            out.append(_C_ESCAPES.get(nxt, nxt))
            i += 2
    return os.fsdecode(bytes(out))


def review_ranges(
    hunks: Iterable[tuple[int, int]], *, context: int = DEFAULT_CONTEXT
) -> tuple[LineRange, ...]:
    """The 0-based line ranges to review for a file's hunks (see :func:`parse_hunks`).

    Each hunk is widened by ``context`` lines on each side (a deletion becomes the lines
    around where it was); ranges that overlap or lie at most ``context`` lines apart are
    merged. Ranges may run past the end of the file; a request clamps them.
    """
    if context < 0:
        raise ValueError("context must not be negative")
    spans: list[tuple[int, int]] = []
    for first, count in hunks:
        if count > 0:
            start, end = first - 1, first + count - 2
        else:
            # A deletion after 1-based line `first`: the lines on both sides of the gap.
            start, end = max(first - 1, 0), first
        spans.append((max(start - context, 0), end + context))
    merged: list[LineRange] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1].end + 1 + context:
            last = merged[-1]
            merged[-1] = LineRange(last.start, max(last.end, end))
        else:
            merged.append(LineRange(start, end))
    return tuple(merged)
