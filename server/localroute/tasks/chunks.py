"""Split a file too large for a model's window, and merge the findings of the pieces.

A file is cut between top-level blocks: a block starts at a line in column 0 that opens
a definition (``def``, ``class``, ``function``, ``fn``, ``func``, ``impl``, ``type``,
``interface``, ``export``, ``const f = (``…), or at any other column-0 line that follows
a blank line and is neither a comment, a closing bracket, a continuation nor a clause
such as ``else:``/``except``. Decorators, attributes and comments directly above a block
belong to it. Consecutive blocks are packed greedily into chunks of at most ``max_lines``
lines; a single block longer than that is cut into windows of ``max_lines`` lines that
overlap by ``overlap`` lines, so a finding near a cut is seen whole at least once.

Chunks are 0-based, inclusive, in file order, and cover every line.

This module is pure: no I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from localroute.tasks.findings import Finding


@dataclass(frozen=True)
class Chunk:
    """An inclusive span of 0-based file lines: ``start_line..end_line``."""

    start_line: int
    end_line: int

    @property
    def line_count(self) -> int:
        """How many lines the chunk holds."""
        return self.end_line - self.start_line + 1

    def slice(self, lines: Sequence[str]) -> Sequence[str]:
        """The chunk's lines out of the whole file's ``lines``."""
        return lines[self.start_line : self.end_line + 1]


_DEFINITION = r"""
    (?:export\s+)?(?:default\s+)?(?:declare\s+)?(?:abstract\s+)?(?:async\s+)?
    (?:
        def | class | function\*? | interface | enum | namespace | module
    )\b
    | export\b
    | (?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+"[^"]*"\s+)?
      fn\b
    | (?:pub(?:\([^)]*\))?\s+)?(?:unsafe\s+)?
      (?:impl|struct|enum|trait|mod|union|type|static|macro_rules!)\b
    | func\b | fun\b | defmodule\b | defp?\b | sub\b | object\b
    | (?:local\s+)?function\b
    | (?:const|let|var)\s+[\w$]+\s*(?::[^=]+)?=\s*(?:async\s*)?(?:\(|function\b|[\w$]+\s*=>)
    | (?:public|private|protected|internal|static|final|abstract|sealed|open|data|inline)\s
    | template\s*<
    | typedef\b
    """
"""Column-0 openers of a definition in the common languages (verbose)."""

_PREFIX = r"@|#|//|/\*|\*/|--|;"
"""Column-0 lines that belong to the block below: decorators, attributes, comments."""

_COMMENT_BODY = r"\s+(?:\*|\*/)"
"""Indented lines inside a ``/** ... */`` doc comment."""

_NOT_A_START = r"""
    [{})\].,+*/%&|^~?:=\\'"`]
    | (?:else|elif|except|finally|catch|case|default|end|fi|done|esac|then|do|in|where)\b
      (?!\s*[=(.\[])
    """
"""Column-0 lines that continue the block above rather than start one (verbose)."""

_TRIPLE_QUOTE = r'"""|\'\'\''


@functools.cache
def _compiled(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """The patterns above, compiled when a file first needs splitting: most files fit
    their model's window, and compiling them at import cost about 1 ms of every start."""
    return re.compile(pattern, flags)


def split_for_window(
    lines: Sequence[str],
    *,
    max_lines: int,
    overlap: int = 20,
    language: str | None = None,
) -> list[Chunk]:
    """Split ``lines`` into chunks of at most ``max_lines`` lines, at top-level blocks.

    A file that fits is one chunk; an empty file is no chunk. ``overlap`` applies only to
    the line windows of a block longer than ``max_lines`` and is capped at half of
    ``max_lines``. ``language`` (an LSP language id such as ``"python"``) refines the
    rules: in Markdown a ``#`` heading starts a block instead of being a comment.
    """
    if max_lines < 1:
        raise ValueError("max_lines must be at least 1")
    if overlap < 0:
        raise ValueError("overlap must not be negative")
    n = len(lines)
    if n == 0:
        return []
    if n <= max_lines:
        return [Chunk(0, n - 1)]
    overlap = min(overlap, max_lines // 2)

    chunks: list[Chunk] = []
    current: Chunk | None = None
    for start, end in _blocks(lines, language):
        if end - start + 1 > max_lines:
            if current is not None:
                chunks.append(current)
                current = None
            chunks.extend(_windows(start, end, max_lines, overlap))
        elif current is None:
            current = Chunk(start, end)
        elif end - current.start_line + 1 <= max_lines:
            current = Chunk(current.start_line, end)
        else:
            chunks.append(current)
            current = Chunk(start, end)
    if current is not None:
        chunks.append(current)
    return chunks


def block_starts(lines: Sequence[str], language: str | None = None) -> list[int]:
    """The 0-based lines where top-level blocks start; always begins with 0 (if any)."""
    if not lines:
        return []
    markdown = (language or "").lower() in {"markdown", "md"}
    starts = [0]
    pending: int | None = None  # first line of the decorators/comments above a block
    in_string = False
    previous_blank = True
    for i, line in enumerate(lines):
        blank = not line.strip()
        was_in_string = in_string
        if len(_compiled(_TRIPLE_QUOTE).findall(line)) % 2 == 1:
            in_string = not in_string
        if blank:
            pending = None
            previous_blank = True
            continue
        if was_in_string:
            previous_blank = False
            continue
        column0 = not line[0].isspace()
        if markdown and line.startswith("#"):
            is_prefix = False
        else:
            is_prefix = column0 and _compiled(_PREFIX).match(line) is not None
        if is_prefix:
            if pending is None:
                pending = i
        elif pending is not None and (
            _compiled(_COMMENT_BODY).match(line) or not column0 or line[0] in ")]}"
        ):
            pass  # the inside of a doc comment or of a decorator's arguments
        elif column0 and _starts_block(line, i, pending, lines, previous_blank, markdown):
            start = pending if pending is not None else i
            if start > starts[-1]:
                starts.append(start)
            pending = None
        else:
            pending = None
        previous_blank = False
    return starts


def _starts_block(
    line: str,
    i: int,
    pending: int | None,
    lines: Sequence[str],
    previous_blank: bool,
    markdown: bool,
) -> bool:
    if markdown and line.startswith("#"):
        return True
    if _compiled(_DEFINITION, re.VERBOSE).match(line):
        return True
    if _compiled(_NOT_A_START, re.VERBOSE).match(line):
        return False
    run_start = pending if pending is not None else i
    after_blank = run_start == 0 or not lines[run_start - 1].strip()
    return after_blank if pending is not None else previous_blank


def _blocks(lines: Sequence[str], language: str | None) -> Iterator[tuple[int, int]]:
    starts = block_starts(lines, language)
    for k, start in enumerate(starts):
        end = starts[k + 1] - 1 if k + 1 < len(starts) else len(lines) - 1
        yield start, end


def _windows(start: int, end: int, max_lines: int, overlap: int) -> Iterator[Chunk]:
    step = max_lines - overlap
    while True:
        stop = min(start + max_lines - 1, end)
        yield Chunk(start, stop)
        if stop >= end:
            return
        start += step


def merge_findings(per_chunk: Sequence[tuple[Chunk, Sequence[Finding]]]) -> list[Finding]:
    """Merge the findings of a file's chunks into one list, sorted by line.

    The findings are already in file coordinates. A finding reported twice (from the
    overlap of two windows) with the same line, severity and message (whitespace
    ignored) is kept once, with a suggestion if either copy has one. The sort is stable,
    so findings on the same line keep their chunk order.
    """
    kept: dict[tuple[int, str, str], Finding] = {}
    for _chunk, findings in per_chunk:
        for finding in findings:
            key = (finding.line, finding.severity, " ".join(finding.message.split()))
            seen = kept.get(key)
            if seen is None or (seen.suggestion is None and finding.suggestion is not None):
                kept[key] = finding
    return sorted(kept.values(), key=lambda f: f.line)
