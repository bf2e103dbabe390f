"""Turning raw finding objects into :class:`Finding` values on the reviewed lines.

Keys are matched case-insensitively with common alternates, severities mapped from common
synonyms, line numbers read from ints, floats and strings (``"L12"``, ``"12-14"``), and
spans clamped to the reviewed range.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from localroute.tasks.findings import Finding, Severity
from localroute.tasks.findings_json import (
    END_KEYS,
    LINE_KEYS,
    MESSAGE_KEYS,
    SEVERITY_KEYS,
    SUGGESTION_KEYS,
    normalized,
)

Vet = Callable[[Finding], Finding | None]
"""Judges one finding before it is placed: itself, a corrected copy, or None to drop it."""

SEVERITY_SYNONYMS: dict[str, Severity] = {
    "error": "error",
    "err": "error",
    "critical": "error",
    "high": "error",
    "fatal": "error",
    "severe": "error",
    "blocker": "error",
    "bug": "error",
    "security": "error",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "moderate": "warning",
    "major": "warning",
    "info": "info",
    "information": "info",
    "informational": "info",
    "low": "info",
    "minor": "info",
    "note": "info",
    "suggestion": "info",
    "hint": "hint",
    "style": "hint",
    "nit": "hint",
    "nitpick": "hint",
    "trivial": "hint",
}

_NUMBER_RE = re.compile(r"\d+")


def to_findings(
    raw: list[Any], *, first_line: int, last_line: int, vet: Vet | None = None
) -> list[Finding]:
    """The findings of ``raw`` placed on the range ``first_line..last_line`` (0-based).

    A finding starting outside the range is clamped to the nearest edge when its span
    overlaps the range, and dropped otherwise - unless *every* finding would be dropped,
    in which case they are all kept on ``first_line`` with ``Line N:`` prefixed to the
    message. ``vet`` sees each finding first and may drop or change it.
    """
    in_range: list[Finding] = []
    outside: list[Finding] = []
    for item in raw:
        finding = to_finding(item, default_line=first_line)
        if finding is not None and vet is not None:
            finding = vet(finding)
        if finding is None:
            continue
        clamped = _clamp(finding, first_line, last_line)
        if clamped is not None:
            in_range.append(clamped)
        else:
            outside.append(finding)
    if not in_range and outside:
        # Every finding missed the range: more likely wrong numbering (a tiny model counting
        # from 1) than remarks about unseen code, so keep them where the user will see them.
        in_range = [
            Finding(
                line=first_line,
                end_line=first_line,
                severity=f.severity,
                message=f"Line {f.line + 1}: {f.message}",
                suggestion=f.suggestion,
            )
            for f in outside
        ]
    return list(dict.fromkeys(in_range))


def to_finding(item: Any, *, default_line: int) -> Finding | None:
    """One finding on 0-based lines (not yet clamped), or ``None`` without a message."""
    if isinstance(item, str):
        # {"findings": ["null check missing", ...]}: a message without a place.
        message = item.strip()
        if not message:
            return None
        return Finding(line=default_line, end_line=default_line, severity="info", message=message)
    if not isinstance(item, dict):
        return None
    keys = normalized(item)
    message = _first_text(keys, MESSAGE_KEYS)
    if not message:
        return None
    line, range_end = _line_of(_first(keys, LINE_KEYS))
    end, _ = _line_of(_first(keys, END_KEYS))
    if end is None:
        end = range_end
    if line is None:
        # A finding without a usable line still says something: put it at the range start.
        line0 = default_line
        end0 = default_line if end is None else max(end - 1, 0)
    else:
        # Models sometimes count from 0; line 0 cannot be a 1-based line, so read it as 1.
        line0 = max(line - 1, 0)
        end0 = line0 if end is None else max(end - 1, 0)
    if end0 < line0:
        line0, end0 = end0, line0
    return Finding(
        line=line0,
        end_line=end0,
        severity=_severity_of(_first(keys, SEVERITY_KEYS)),
        message=message,
        suggestion=_first_text(keys, SUGGESTION_KEYS) or None,
    )


def _clamp(finding: Finding, first_line: int, last_line: int) -> Finding | None:
    if finding.end_line < first_line or finding.line > last_line:
        return None
    line = max(finding.line, first_line)
    end = min(finding.end_line, last_line)
    if (line, end) == (finding.line, finding.end_line):
        return finding
    return Finding(line, end, finding.severity, finding.message, finding.suggestion)


def _first(keys: Mapping[str, Any], names: Sequence[str]) -> Any:
    for name in names:
        if name in keys and keys[name] is not None:
            return keys[name]
    return None


def _first_text(keys: Mapping[str, Any], names: Sequence[str]) -> str:
    for name in names:
        value = keys.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _line_of(value: Any) -> tuple[int | None, int | None]:
    """A 1-based line from an int, integral float or string (``"12"``, ``"L12"``, ``"12-14"``).

    Returns ``(line, end)``, where ``end`` comes from a ``"12-14"`` style range.
    """
    if isinstance(value, bool):
        return None, None
    if isinstance(value, int):
        return value, None
    if isinstance(value, float) and value.is_integer():
        return int(value), None
    if isinstance(value, str):
        numbers = _NUMBER_RE.findall(value)
        if numbers:
            return int(numbers[0]), int(numbers[1]) if len(numbers) > 1 else None
    if isinstance(value, list) and value:
        # "line": [12, 14]
        line, _ = _line_of(value[0])
        end, _ = _line_of(value[-1]) if len(value) > 1 else (None, None)
        return line, end
    return None, None


def _severity_of(value: Any) -> Severity:
    if isinstance(value, str):
        return SEVERITY_SYNONYMS.get(value.strip().lower(), "warning")
    return "warning"
