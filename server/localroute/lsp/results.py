"""What the server keeps per document: review findings and explanations, as LSP values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lsprotocol import types

from localroute.tasks.findings import Finding

SOURCE = "localroute"

_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}


@dataclass(frozen=True)
class FindingRecord:
    """A finding as it was received; its lines are tracked by the anchors store."""

    finding: Finding
    backend: str
    model: str
    locality: str

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "backend": self.backend,
            "model": self.model,
            "locality": self.locality,
        }
        if self.finding.suggestion:
            data["suggestion"] = self.finding.suggestion
        return data


@dataclass(frozen=True)
class ExplanationRecord:
    markdown: str
    backend: str
    model: str
    locality: str


def line_range(lines: Sequence[str], start: int, end: int) -> types.Range:
    """From the first non-blank character of ``start`` to the end of ``end``."""
    last = max(len(lines) - 1, 0)
    start, end = min(start, last), min(max(end, start), last)
    first_text = lines[start] if lines else ""
    indent = len(first_text) - len(first_text.lstrip())
    end_text = lines[end].rstrip("\r\n") if lines else ""
    return types.Range(
        start=types.Position(line=start, character=indent),
        end=types.Position(line=end, character=len(end_text)),
    )


def to_diagnostic(
    record: FindingRecord, span: tuple[int, int], lines: Sequence[str]
) -> types.Diagnostic:
    return types.Diagnostic(
        range=line_range(lines, span[0], span[1]),
        message=record.finding.message,
        severity=_SEVERITY.get(record.finding.severity, types.DiagnosticSeverity.Warning),
        source=SOURCE,
        data=record.data(),
    )
