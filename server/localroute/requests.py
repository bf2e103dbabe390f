"""The values a request is made of and ends as: what to do, what came of it, why not.

A request is built in three steps that cannot be skipped: a :class:`Document` (which
file, its whole text), a :class:`ClassifiedDocument` (its policy and its privacy
verdict, made once on the whole text by :meth:`localroute.pipeline.Pipeline.classify`),
then any number of :class:`TaskRequest` over it — a selection or a chunk is a range of
a classified document and inherits its verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Protocol

from localroute.config.models import Locality
from localroute.identity import DocumentIdentity, lsp_lines
from localroute.policy import Policy
from localroute.privacy.classify import PrivacyVerdict, content_hash
from localroute.privacy.consent import ConsentOffer
from localroute.routing.router import Candidate
from localroute.tasks.findings import Finding


@dataclass(frozen=True)
class Document:
    """A snapshot of one document: which file it is and its whole text."""

    identity: DocumentIdentity
    text: str
    language: str | None = None
    owner_text: str | None = None
    """For a view of a file (a `git:` version, a notebook cell): the file's own text, which
    the verdict also covers."""

    @cached_property
    def lines(self) -> list[str]:
        """The lines as LSP counts them (``\\n``, ``\\r\\n``, ``\\r``), without endings."""
        return lsp_lines(self.text)

    @cached_property
    def content_hash(self) -> str:
        return content_hash(self.text)

    @property
    def uri(self) -> str:
        return self.identity.uri


@dataclass(frozen=True)
class ClassifiedDocument:
    """A document with the policy that holds for it and its privacy verdict."""

    document: Document
    policy: Policy
    verdict: PrivacyVerdict

    def __post_init__(self) -> None:
        # A verdict belongs to one text: never pair it with another.
        if self.verdict.content_hash != self.document.content_hash:
            raise ValueError("the verdict was made for another text")

    @property
    def private(self) -> bool:
        return self.verdict.private

    @property
    def label(self) -> str:
        """The document's name relative to its project root: what prompts and reports show."""
        return self.policy.relative_label(self.document.identity)


@dataclass(frozen=True)
class TaskRequest:
    """One task over a classified document: the whole file or a line range of it."""

    task: str
    document: ClassifiedDocument
    start_line: int | None = None  # 0-based, inclusive; None = whole file
    end_line: int | None = None
    refresh: bool = False
    consent: str | None = None
    """A consent token from an earlier refusal of the same request."""
    allow_cloud: bool = True
    """False in bulk runs unless the user opted in: only local and private-network."""

    def but(self, **changes: Any) -> TaskRequest:
        return replace(self, **changes)

    @property
    def lines(self) -> list[str]:
        return self.document.document.lines

    @property
    def uri(self) -> str:
        return self.document.document.uri

    @property
    def language(self) -> str | None:
        return self.document.document.language

    @property
    def verdict(self) -> PrivacyVerdict:
        return self.document.verdict

    @property
    def label(self) -> str:
        return self.document.label

    def line_span(self) -> tuple[int, int]:
        last = max(_last_text_line(self.lines), 0)
        if self.start_line is None:
            return 0, last
        start = min(max(self.start_line, 0), last)
        end = min(max(self.end_line if self.end_line is not None else start, start), last)
        return start, end

    def selected_lines(self) -> list[str]:
        start, end = self.line_span()
        return self.lines[start : end + 1]


def _last_text_line(lines: list[str]) -> int:
    """The index of the last line; a final line break does not start a line of its own."""
    if len(lines) > 1 and lines[-1] == "":
        return len(lines) - 2
    return len(lines) - 1


@dataclass(frozen=True)
class TaskOutcome:
    """The result of a task request: who answered, why that backend, and the findings or
    markdown."""

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
    consented: bool = False
    sent_to: tuple[str, ...] = ()
    """Backends that received the prompt this time: the one that answered, and any that
    failed after receiving it (none for a cached answer)."""


class TaskError(Exception):
    """A request that produced no result; the message says why and what was tried."""

    def __init__(self, message: str, *, sent_to: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.sent_to = sent_to
        """Backends that received (part of) the prompt before failing."""


class RequestRefused(TaskError):
    """Private code and no allowed backend could take it."""

    def __init__(
        self,
        message: str,
        *,
        sent_to: tuple[str, ...] = (),
        consent: ConsentOffer | None = None,
    ) -> None:
        super().__init__(message, sent_to=sent_to)
        self.consent = consent


class RequestFailed(TaskError):
    """Every candidate failed."""


class Observer(Protocol):
    def attempting(self, candidate: Candidate) -> None: ...
    def received(self, characters: int) -> None: ...
    def status(self, state: str) -> None:
        """What the backend's server is doing before it answers (``loading``)."""
        ...


class NoObserver:
    """An observer that ignores everything (the CLI, tests)."""

    def attempting(self, candidate: Candidate) -> None:
        return None

    def received(self, characters: int) -> None:
        return None

    def status(self, state: str) -> None:
        return None
