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


def status_of(result: FileResult) -> str:
    """`reviewed`, `refused` (privacy) or `not reviewed` (no backend answered)."""
    if result.error is None:
        return "reviewed"
    return "refused" if result.refused else "not reviewed"


def _problem(result: FileResult) -> str:
    """`refused: <why>` / `not reviewed: <why>` (the reason's own "refused: " not twice)."""
    status = status_of(result)
    error = result.error or ""
    if error.startswith(f"{status}: "):
        error = error[len(status) + 2 :]
    return f"{status}: {error}"


def text_lines(result: FileResult) -> list[str]:
    if result.error is not None and not result.findings:
        return [f"{result.path}: {_problem(result)}"]
    where = f"{result.model} @ {result.backend} ({result.locality})"
    if result.error is not None:
        head = f"{result.path}: {_problem(result)}"
        lines = [head, f"{result.path}: {len(result.findings)} finding(s) from the rest ({where})"]
    elif not result.findings:
        return [f"{result.path}: no findings ({where})"]
    else:
        lines = [f"{result.path}: {len(result.findings)} finding(s) ({where})"]
    for finding in result.findings:
        lines.append(f"{result.path}:{finding.line + 1}: {finding.severity}: {finding.message}")
    return lines


def json_line(result: FileResult) -> str:
    data = asdict(result)
    data["status"] = status_of(result)
    data["findings"] = [
        {**asdict(f), "line": f.line + 1, "end_line": f.end_line + 1} for f in result.findings
    ]
    return json.dumps(data)


def summary(results: Sequence[FileResult], total: int, *, interrupted: bool) -> str:
    """One line that counts reviewed, refused and not reviewed files apart."""
    counts = {"reviewed": 0, "refused": 0, "not reviewed": 0}
    for result in results:
        counts[status_of(result)] += 1
    findings = sum(len(r.findings) for r in results)
    parts = [
        f"{counts['reviewed']}/{total} file(s) reviewed",
        f"{counts['refused']} refused",
        f"{counts['not reviewed']} not reviewed",
        f"{findings} finding(s)",
    ]
    missing = total - len(results)
    if interrupted and missing:
        parts.append(f"{missing} not started (interrupted)")
    elif interrupted:
        parts.append("interrupted")
    return "localroute: " + ", ".join(parts)


class Progress:
    """`[12/40] 3 in flight … local ×3` redrawn on a terminal from the start; silent
    otherwise."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.live = stream.isatty()
        self.last = ""

    def start(self, jobs: int) -> None:
        """Show the line at once: nothing is answered yet, but work has begun."""
        if self.live:
            in_flight = min(jobs, self.total)
            self._draw(f"[0/{self.total}] {self.total} queued, {in_flight} in flight")

    def advance(self, result: FileResult) -> None:
        self.done += 1
        if self.live:
            where = result.backend or status_of(result)
            self._draw(f"[{self.done}/{self.total}] {result.path} → {where}")

    def _draw(self, text: str) -> None:
        self.last = text
        self.stream.write(f"\r\x1b[K{text}")
        self.stream.flush()

    def clear(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
