"""The values a request is made of and ends as: what to do, what came of it, why not."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Protocol

from localroute.config.models import Locality
from localroute.routing.router import Candidate
from localroute.tasks.findings import Finding


@dataclass(frozen=True)
class TaskRequest:
    """One request: a task over a document snapshot, a whole file or a line range."""

    task: str
    uri: str
    path: str | None
    text: str
    start_line: int | None = None  # 0-based, inclusive; None = whole file
    end_line: int | None = None
    workspace_roots: tuple[str, ...] = ()
    language: str | None = None
    refresh: bool = False

    @cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def but(self, **changes: Any) -> TaskRequest:
        """A copy with `changes` (task, range …) sharing this one's split lines (same text)."""
        other = replace(self, **changes)
        if "text" not in changes and "lines" in self.__dict__:
            other.__dict__["lines"] = self.lines
        return other

    def line_span(self) -> tuple[int, int]:
        last = max(len(self.lines) - 1, 0)
        if self.start_line is None:
            return 0, last
        start = min(max(self.start_line, 0), last)
        end = min(max(self.end_line if self.end_line is not None else start, start), last)
        return start, end

    def selected_lines(self) -> list[str]:
        start, end = self.line_span()
        return self.lines[start : end + 1]

    @property
    def label(self) -> str:
        return self.path or self.uri


@dataclass(frozen=True)
class TaskOutcome:
    task: str
    backend: str
    model: str
    locality: Locality
    reason: str
    cached: bool
    first_line: int
    last_line: int
    findings: tuple[Finding, ...] = ()
    markdown: str | None = None
    attempts: tuple[str, ...] = field(default_factory=tuple)


class TaskError(Exception):
    """A request that produced no result; the message says why and what was tried."""


class RequestRefused(TaskError):
    """Private code and no allowed backend available: nothing was sent."""


class RequestFailed(TaskError):
    """Every candidate failed."""


class Observer(Protocol):
    def attempting(self, candidate: Candidate) -> None: ...
    def received(self, characters: int) -> None: ...


class NoObserver:
    """An observer that ignores everything (the CLI, tests)."""

    def attempting(self, candidate: Candidate) -> None:
        return None

    def received(self, characters: int) -> None:
        return None
