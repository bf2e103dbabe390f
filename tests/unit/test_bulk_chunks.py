"""Tests for localroute.tasks.chunks: splitting large files and merging chunk findings."""

from __future__ import annotations

import itertools
import random

import pytest

from localroute.tasks.chunks import Chunk, block_starts, merge_findings, split_for_window
from localroute.tasks.findings import Finding


def assert_partition(chunks: list[Chunk], n: int, max_lines: int) -> None:
    """Chunks in order, each within the window, covering 0..n-1 without gaps."""
    assert chunks[0].start_line == 0
    assert chunks[-1].end_line == n - 1
    for chunk in chunks:
        assert chunk.start_line <= chunk.end_line
        assert chunk.line_count <= max_lines
    for before, after in itertools.pairwise(chunks):
        assert before.start_line < after.start_line
        assert after.start_line <= before.end_line + 1  # no gap
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.start_line, chunk.end_line + 1))
    assert covered == set(range(n))


def synthetic_python(total: int, seed: int = 7) -> tuple[list[str], list[int]]:
    """A Python file of about ``total`` lines: imports, then decorated/plain functions.

    Returns the lines and the 0-based line where each top-level block starts (the
    decorator or comment above a def counts as its start).
    """
    rng = random.Random(seed)
    lines = ['"""A generated module."""', "", "import os", "import sys", "", ""]
    starts = [0]
    k = 0
    while len(lines) < total:
        starts.append(len(lines))
        if k % 5 == 0:
            lines.append(f"# Helper number {k}.")
        if k % 3 == 0:
            lines.append("@decorator(")
            lines.append("    option=True,")
            lines.append(")")
        lines.append(f"def function_{k}(value):")
        lines.append(f'    """Docstring of function {k}."""')
        for j in range(rng.randint(10, 140)):
            if j % 17 == 16:
                lines.append("")
            lines.append(f"    value = value + {j}  # step {j}")
        lines.append("    return value")
        lines.append("")
        lines.append("")
        k += 1
    return lines, starts


def test_a_file_that_fits_is_one_chunk() -> None:
    lines = ["x = 1"] * 500
    assert split_for_window(lines, max_lines=500) == [Chunk(0, 499)]
    assert split_for_window(["only"], max_lines=1) == [Chunk(0, 0)]


def test_an_empty_file_has_no_chunk() -> None:
    assert split_for_window([], max_lines=10) == []


def test_3000_line_file_splits_at_definitions_within_500_lines() -> None:
    lines, starts = synthetic_python(3000)
    assert len(lines) >= 3000

    chunks = split_for_window(lines, max_lines=500, language="python")

    assert_partition(chunks, len(lines), 500)
    # Blocks are small, so no windows were needed: chunks are disjoint and adjacent.
    for before, after in itertools.pairwise(chunks):
        assert after.start_line == before.end_line + 1
    # Every cut is at a top-level block: a def, or the comment/decorator just above it.
    for chunk in chunks[1:]:
        assert chunk.start_line in starts
        first = lines[chunk.start_line]
        assert first.startswith(("def ", "@decorator(", "# Helper"))
    # Greedy packing: two neighbouring chunks could not have been one.
    for before, after in itertools.pairwise(chunks):
        next_block_end = min([s - 1 for s in starts if s > after.start_line] + [after.end_line])
        assert next_block_end - before.start_line + 1 > 500
    assert len(chunks) <= 8


def test_block_starts_of_the_synthetic_file_match_the_generator() -> None:
    lines, starts = synthetic_python(1000, seed=3)
    assert block_starts(lines, "python") == [0, 2, *starts[1:]]


def test_a_single_long_function_falls_back_to_overlapping_windows() -> None:
    lines = ["def huge():"] + [f"    x{i} = {i}" for i in range(1, 1199)] + ["    return x1"]
    assert len(lines) == 1200

    chunks = split_for_window(lines, max_lines=500, overlap=20)

    assert chunks == [Chunk(0, 499), Chunk(480, 979), Chunk(960, 1199)]
    assert_partition(chunks, 1200, 500)


def test_a_long_block_between_small_ones_is_windowed_alone() -> None:
    small_a = ["def a():", "    return 1", ""]
    huge = ["def huge():"] + ["    pass"] * 249
    small_b = ["", "def b():", "    return 2"]
    lines = small_a + huge + small_b

    chunks = split_for_window(lines, max_lines=100, overlap=10)

    assert chunks[0] == Chunk(0, 2)
    assert chunks[1] == Chunk(3, 102)
    assert chunks[-1] == Chunk(254, 255)  # the blank line 253 stays with the huge block
    assert_partition(chunks, len(lines), 100)
    windows = chunks[1:-1]
    for before, after in itertools.pairwise(windows):
        assert before.end_line - after.start_line + 1 == 10
    assert windows[-1].end_line == 253


def test_overlap_is_capped_at_half_the_window() -> None:
    lines = ["x"] * 30  # one block: no blank lines, no definitions
    chunks = split_for_window(lines, max_lines=10, overlap=50)
    assert chunks[:2] == [Chunk(0, 9), Chunk(5, 14)]
    assert_partition(chunks, 30, 10)
    assert split_for_window(lines, max_lines=1, overlap=20) == [Chunk(i, i) for i in range(30)]


@pytest.mark.parametrize(("max_lines", "overlap"), [(0, 0), (10, -1)])
def test_invalid_arguments(max_lines: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        split_for_window(["a", "b"], max_lines=max_lines, overlap=overlap)


def test_decorators_and_comments_belong_to_the_block_below() -> None:
    lines = [
        "import os",  # 0
        "",
        "",
        "# Explain foo.",  # 3
        "@cache",
        "@route(",
        '    "/x",',
        ")",
        "def foo():",
        "    pass",
    ]
    assert block_starts(lines) == [0, 3]


def test_strings_and_clauses_are_not_cut() -> None:
    lines = [
        "SQL = '''",  # 0
        "",
        "SELECT 1",  # column 0 inside a string: not a block
        "def not_code():",
        "'''",
        "",
        "try:",  # 6
        "    import x",
        "",
        "except ImportError:",  # a clause continues the try
        "    x = None",
        "",
        "else:",
        "    pass",
        "",
        "value = compute(",  # 15
        "",
        ")",  # a closing bracket continues the call
        "",
        "end = 3",  # 19: an assignment, not Ruby's `end`
    ]
    assert block_starts(lines, "python") == [0, 6, 15, 19]


def test_other_languages_definitions() -> None:
    lines = [
        'import x from "y";',  # 0
        "const a = 1;",
        "",
        "/**",  # 3: doc comment above the function
        " * Doc.",
        " */",
        "export function f() {",
        "  return 1;",
        "}",
        "const g = (a) => {",  # 9
        "  return a;",
        "};",
        "#[derive(Debug)]",  # 12
        "pub struct S {",
        "    a: i32,",
        "}",
        "impl S {",  # 16
        "    pub fn new() -> Self { S { a: 1 } }",
        "}",
        "func main() {",  # 19
        "}",
        "interface I {}",  # 21
        "type T = number;",  # 22
    ]
    assert block_starts(lines, "typescript") == [0, 3, 9, 12, 16, 19, 21, 22]


def test_markdown_headings_start_blocks() -> None:
    lines = ["# Title", "text", "## Part", "more", "", "# Next", "x = 1"]
    assert block_starts(lines, "markdown") == [0, 2, 5]
    # Elsewhere a `#` line is a comment attached to what follows.
    assert block_starts(lines, "python") == [0, 5]


def test_chunk_slice() -> None:
    lines = ["a", "b", "c", "d"]
    assert list(Chunk(1, 2).slice(lines)) == ["b", "c"]
    assert Chunk(1, 2).line_count == 2


def f(line: int, message: str, severity: str = "warning", suggestion: str | None = None) -> Finding:
    return Finding(line, line, severity, message, suggestion)  # type: ignore[arg-type]


def test_merge_drops_duplicates_from_overlaps_and_sorts_by_line() -> None:
    first, second = Chunk(0, 499), Chunk(480, 979)
    merged = merge_findings(
        [
            (second, [f(600, "late"), f(485, "in overlap"), f(485, "in overlap", "error")]),
            (first, [f(10, "early"), f(485, "in  overlap ", suggestion="fix it")]),
        ]
    )
    assert merged == [
        f(10, "early"),
        # Reported twice (whitespace aside): kept once, the copy with a suggestion winning.
        f(485, "in  overlap ", suggestion="fix it"),
        # A different severity on the same line is another finding.
        f(485, "in overlap", "error"),
        f(600, "late"),
    ]


def test_merge_keeps_distinct_findings_on_one_line_in_chunk_order() -> None:
    chunk = Chunk(0, 9)
    merged = merge_findings([(chunk, [f(3, "b"), f(3, "a"), f(1, "c")])])
    assert [x.message for x in merged] == ["c", "b", "a"]
    assert merge_findings([]) == []


def test_findings_of_windowed_chunks_land_on_file_lines() -> None:
    """A reviewer reporting every 'BUG' line it sees: each is reported once, in place."""
    lines = ["def huge():"] + [
        "    BUG()" if i % 97 == 0 else f"    x = {i}" for i in range(1, 1500)
    ]
    chunks = split_for_window(lines, max_lines=500, overlap=20)
    assert len(chunks) > 3

    per_chunk = []
    for chunk in chunks:
        found = [
            f(chunk.start_line + offset, "call to BUG")
            for offset, text in enumerate(chunk.slice(lines))
            if "BUG" in text
        ]
        per_chunk.append((chunk, found))

    merged = merge_findings(per_chunk)

    expected = [i for i, text in enumerate(lines) if "BUG" in text]
    assert [x.line for x in merged] == expected
    assert sum(len(found) for _, found in per_chunk) >= len(expected)
