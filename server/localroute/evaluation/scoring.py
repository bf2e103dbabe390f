"""Scores of one model over the corpus: pure functions of what each review returned."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["answered", "invalid", "failed", "refused"]
"""``answered``: findings JSON (possibly empty); ``invalid``: an answer that was no findings
JSON (free text, or stopped as degenerate); ``failed``: no answer (backend down, error);
``refused``: privacy rules kept the snippet from this backend."""

LINE_TOLERANCE = 1
"""A finding counts for the seeded bug when it starts within this many lines of it."""


@dataclass(frozen=True)
class ShownFinding:
    """A finding as the user would see it, on 1-based lines."""

    line: int
    end_line: int
    severity: str
    message: str
    suggestion: str | None = None
    unstructured: bool = False
    """The model's free text shown as one finding (no findings JSON could be read)."""
    copied: bool = False
    """Its text is a template placeholder or a copy of the prompt."""


@dataclass(frozen=True)
class SnippetResult:
    """What one review of one snippet returned."""

    snippet: str
    bug_line: int | None
    status: Status
    findings: tuple[ShownFinding, ...] = ()
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    detail: str = ""

    @property
    def clean(self) -> bool:
        return self.bug_line is None

    @property
    def found(self) -> bool:
        """The seeded bug was reported (a placed finding within :data:`LINE_TOLERANCE`)."""
        bug = self.bug_line
        return bug is not None and any(hits(f, bug) for f in self.findings)

    @property
    def false_findings(self) -> int:
        """Placed findings on a clean snippet."""
        return sum(1 for f in self.findings if not f.unstructured) if self.clean else 0

    @property
    def copied(self) -> int:
        return sum(1 for f in self.findings if f.copied)


def hits(finding: ShownFinding, bug_line: int, tolerance: int = LINE_TOLERANCE) -> bool:
    """Whether ``finding`` points at ``bug_line``: it starts within ``tolerance`` lines, or it
    is a short span (at most ``2 * tolerance + 1`` lines) covering it. Free text and copied
    text (a placeholder, the prompt) never do: they are on a line by chance."""
    if finding.unstructured or finding.copied:
        return False
    if abs(finding.line - bug_line) <= tolerance:
        return True
    short = finding.end_line - finding.line <= 2 * tolerance
    return short and finding.line <= bug_line <= finding.end_line


@dataclass(frozen=True)
class ModelScore:
    """One route entry's results over the snippets it reviewed."""

    entry: str
    results: tuple[SnippetResult, ...] = field(default=(), repr=False)

    @property
    def buggy(self) -> int:
        return sum(1 for r in self.results if not r.clean)

    @property
    def clean(self) -> int:
        return sum(1 for r in self.results if r.clean)

    @property
    def found(self) -> int:
        return sum(1 for r in self.results if r.found)

    @property
    def recall(self) -> float | None:
        """Bugs found over buggy snippets (failed and invalid answers count as not found)."""
        return self.found / self.buggy if self.buggy else None

    @property
    def false_findings(self) -> int:
        return sum(r.false_findings for r in self.results)

    @property
    def clean_flagged(self) -> int:
        """Clean snippets with at least one placed finding."""
        return sum(1 for r in self.results if r.false_findings)

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def copied(self) -> int:
        """Findings shown whose text was a placeholder or an echo of the prompt."""
        return sum(r.copied for r in self.results)

    @property
    def median_latency_s(self) -> float | None:
        """Median wall time of the reviews that got an answer (valid or not)."""
        times = [
            r.latency_s
            for r in self.results
            if r.latency_s is not None and r.status in ("answered", "invalid")
        ]
        return statistics.median(times) if times else None

    @property
    def prompt_tokens(self) -> int | None:
        """Prompt tokens as the backend reported them; None when it reported none
        (llama-cpp-python's server reports no usage when it streams)."""
        return _total(r.prompt_tokens for r in self.results)

    @property
    def completion_tokens(self) -> int | None:
        return _total(r.completion_tokens for r in self.results)

    def summary(self) -> dict[str, Any]:
        """The scores as plain JSON values."""
        return {
            "entry": self.entry,
            "snippets": len(self.results),
            "buggy": self.buggy,
            "clean": self.clean,
            "found": self.found,
            "recall": self.recall,
            "false_findings": self.false_findings,
            "clean_flagged": self.clean_flagged,
            "answered": self.count("answered"),
            "invalid": self.count("invalid"),
            "failed": self.count("failed"),
            "refused": self.count("refused"),
            "copied": self.copied,
            "median_latency_s": self.median_latency_s,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


def _total(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def score(entry: str, results: Sequence[SnippetResult]) -> ModelScore:
    """The score of ``entry`` over ``results``."""
    return ModelScore(entry, tuple(results))
