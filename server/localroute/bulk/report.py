"""How bulk results reach the terminal: streamed per file, a progress line on a TTY."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import TextIO

from localroute.bulk.sarif import FileResult

SEVERITY_RANK = {"hint": 0, "info": 1, "warning": 2, "error": 3}


def worst_at_least(results: Sequence[FileResult], threshold: str) -> bool:
    """Whether any finding is at or above `threshold` (exit code 1 for `--fail-on`)."""
    floor = SEVERITY_RANK[threshold]
    return any(SEVERITY_RANK.get(f.severity, 0) >= floor for r in results for f in r.findings)


def text_lines(result: FileResult) -> list[str]:
    if result.error is not None:
        return [f"{result.path}: not reviewed: {result.error}"]
    where = f"{result.model} @ {result.backend} ({result.locality})"
    if not result.findings:
        return [f"{result.path}: no findings ({where})"]
    lines = [f"{result.path}: {len(result.findings)} finding(s) ({where})"]
    for finding in result.findings:
        lines.append(f"{result.path}:{finding.line + 1}: {finding.severity}: {finding.message}")
    return lines


def json_line(result: FileResult) -> str:
    data = asdict(result)
    data["findings"] = [
        {**asdict(f), "line": f.line + 1, "end_line": f.end_line + 1} for f in result.findings
    ]
    return json.dumps(data)


class Progress:
    """`[12/40] reviewing … local ×3 copilot ×1` redrawn on a terminal; silent otherwise."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.live = stream.isatty()

    def advance(self, result: FileResult) -> None:
        self.done += 1
        if self.live:
            where = result.backend or "refused"
            self.stream.write(f"\r\x1b[K[{self.done}/{self.total}] {result.path} → {where}")
            self.stream.flush()

    def clear(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
