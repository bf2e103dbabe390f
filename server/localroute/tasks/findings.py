"""The value types shared by the tasks: a prompt to send and a finding to show."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info", "hint"]
"""Diagnostic severity, named as in the review JSON the model is asked for."""

SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info", "hint")


@dataclass(frozen=True)
class Finding:
    """One review result, anchored to an inclusive span of 0-based file lines.

    ``end_line >= line`` always holds for findings produced by
    :func:`localroute.tasks.review.parse_findings`.
    """

    line: int
    end_line: int
    severity: Severity
    message: str
    suggestion: str | None = None
    unstructured: bool = field(default=False, compare=False)
    """The model's free text kept as it is, because no findings could be read from it (not
    part of equality: it says how the finding was made, not what it says)."""


@dataclass(frozen=True)
class Prompt:
    """A chat prompt: system and user message, plus a JSON Schema for structured output.

    ``json_schema`` is ``None`` when the answer is free text (explain).
    """

    system: str
    user: str
    json_schema: dict[str, Any] | None
