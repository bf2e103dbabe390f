"""How bulk results reach the terminal: streamed per file, a progress line on a TTY."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
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
    if result.lines:
        spans = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in result.lines)
        where = f"lines {spans}; {where}"
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
    """One line that counts reviewed, refused and not reviewed files apart, and the answers
    that came from the result cache."""
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
    cached = sum(r.cached_parts for r in results)
    if cached:
        answered = sum(r.parts - r.failed_parts for r in results)
        parts.append(f"{cached} of {answered} answer(s) from the cache")
    missing = total - len(results)
    if interrupted and missing:
        parts.append(f"{missing} not started (interrupted)")
    elif interrupted:
        parts.append("interrupted")
    return "localroute: " + ", ".join(parts)


def backend_summary(results: Sequence[FileResult]) -> str | None:
    """Which backends took how many files, and the prompt tokens sent to cloud backends
    (estimated; answers from the cache cost nothing). None when no file was answered."""
    files: Counter[str] = Counter()
    localities: dict[str, str] = {}
    for result in results:
        names = [n for n in (result.backend or "").split(", ") if n]
        places = [p for p in (result.locality or "").split(", ") if p]
        for name in names:
            files[name] += 1
            if len(places) == 1:
                localities.setdefault(name, places[0])
    if not files:
        return None
    shown = ", ".join(
        f"{name} ×{n}" + (f" ({localities[name]})" if name in localities else "")
        for name, n in files.most_common()
    )
    tokens = sum(r.cloud_tokens for r in results)
    cloud = "no prompt sent to a cloud backend"
    if tokens:
        cloud = f"≈{tokens:,} prompt tokens sent to cloud backends"
    return f"localroute: files by backend: {shown}; {cloud}"


class Progress:
    """`[120/4000] 3 % · 80 cached · 35.2 files/s · ETA 1m50s · src/a.py → local`, redrawn
    on a terminal (at most ten times a second) from the start; silent otherwise."""

    REDRAW_S = 0.1

    def __init__(
        self, total: int, stream: TextIO = sys.stderr, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.total = total
        self.done = 0
        self.cached = 0
        self.stream = stream
        self.live = stream.isatty()
        self.last = ""
        self._clock = clock
        self._began = clock()
        self._drawn = float("-inf")

    def start(self, jobs: int) -> None:
        """Show the line at once: nothing is answered yet, but work has begun."""
        self._began = self._clock()
        if self.live:
            in_flight = min(jobs, self.total)
            self._draw(f"[0/{self.total}] {self.total} queued, {in_flight} in flight")

    def advance(self, result: FileResult) -> None:
        self.done += 1
        if result.parts and result.cached_parts == result.parts:
            self.cached += 1
        if not self.live:
            return
        now = self._clock()
        if now - self._drawn < self.REDRAW_S and self.done < self.total:
            return
        self._draw(self.line(result, now))

    def line(self, result: FileResult, now: float) -> str:
        """The progress text after ``result``; ``now`` on the same clock as the start."""
        where = result.backend or status_of(result)
        share = self.done * 100 // max(self.total, 1)
        pieces = [f"[{self.done}/{self.total}] {share} %"]
        if self.cached:
            pieces.append(f"{self.cached} cached")
        elapsed = now - self._began
        if elapsed > 0 and self.done:
            rate = self.done / elapsed
            pieces.append(f"{rate:.1f} files/s")
            if self.done < self.total:
                pieces.append(f"ETA {_duration((self.total - self.done) / rate)}")
        pieces.append(f"{result.path} → {where}")
        return " · ".join(pieces)

    def _draw(self, text: str) -> None:
        self._drawn = self._clock()
        self.last = text
        self.stream.write(f"\r\x1b[K{text}")
        self.stream.flush()

    def clear(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = max(int(seconds + 0.5), 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02}m"
