"""The review task: a prompt asking for JSON findings, and a lenient parser for the answer.

The prompt shows the code with its 1-based file line numbers and asks for::

    {"findings": [{"line": int, "end_line": int?, "severity": "error"|"warning"|"info"|"hint",
                   "message": str, "suggestion": str?}]}

Models (tiny local ones in particular) often answer with something close to that rather
than that, so :func:`parse_findings` accepts fences, prose around the JSON, bare arrays,
other key spellings, severity synonyms, trailing commas and truncated output. When nothing
usable can be read, the whole answer becomes one info finding so nothing the model said is
lost.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from localroute.tasks.findings import SEVERITIES, Finding, Prompt, Severity

FINDINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "line": {"type": "integer"},
                    "end_line": {"type": "integer"},
                    "severity": {"type": "string", "enum": list(SEVERITIES)},
                    "message": {"type": "string"},
                    "suggestion": {"type": "string"},
                },
                "required": ["line", "severity", "message"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["findings"],
    "additionalProperties": False,
}
"""JSON Schema of the review answer. Deliberately plain (types, enum, required; no ``$ref``,
no ``format``) so llama.cpp's schema-to-grammar converter accepts it."""

MAX_FALLBACK_CHARS = 2000
"""How much of an unparseable answer is kept in the fallback info finding."""

REVIEW_SYSTEM = "You are a careful code reviewer. You reply with JSON only: no prose, no markdown."

# The shape is spelled out literally rather than as an example with made-up values: tiny
# models copy example values (line numbers, messages) into their answers.
_SHAPE = (
    '{"findings": [{"line": <int>, "end_line": <int, optional>, '
    '"severity": "error" | "warning" | "info" | "hint", '
    '"message": "<short, concrete>", "suggestion": "<optional fix>"}]}'
)

FINDINGS_INSTRUCTIONS = (
    "Use the file line numbers shown at the left.\n"
    f"Answer with JSON only, in this shape:\n{_SHAPE}\n"
    'If the code is fine, answer {"findings": []}.'
)
"""The answer format every findings task asks for (review and custom diagnostics tasks)."""

# Scanning for JSON is quadratic in the worst case; a review answer is a few thousand
# characters (the backends cap output tokens), so longer ones are read as truncated.
_MAX_SCAN_CHARS = 20_000
# Bounds the number of cut points tried when repairing truncated JSON.
_MAX_REPAIR_ATTEMPTS = 200


def build_review_prompt(
    *, path_label: str, language: str | None, lines: Sequence[str], first_line: int
) -> Prompt:
    """Build the review prompt for ``lines``, whose first is 0-based file line ``first_line``.

    Each line is shown prefixed with its 1-based file line number (``  12 | code``) so the
    model can answer in file line numbers directly.
    """
    start = first_line + 1
    end = first_line + max(len(lines), 1)
    span = f"line {start}" if start == end else f"lines {start}-{end}"
    lang = f" ({language})" if language else ""
    user = (
        f"Review {span} of {path_label}{lang}:\n"
        f"\n```{language or ''}\n{numbered_lines(lines, first_line)}\n```\n\n"
        "Report each real problem: bugs, security issues, missing error handling, "
        "unclear code. One short, concrete message per problem.\n"
        f"{FINDINGS_INSTRUCTIONS}"
    )
    return Prompt(system=REVIEW_SYSTEM, user=user, json_schema=FINDINGS_SCHEMA)


def numbered_lines(lines: Sequence[str], first_line: int) -> str:
    """``lines`` prefixed with their 1-based file line numbers (``  12 | code``)."""
    shown = [line.rstrip("\r\n") for line in lines] or [""]
    width = len(str(first_line + len(shown)))
    return "\n".join(
        f"{number:>{width}} | {text}" for number, text in enumerate(shown, start=first_line + 1)
    )


def parse_findings(answer: str, *, first_line: int, last_line: int) -> list[Finding]:
    """Turn a model's review answer into findings on 0-based file lines.

    ``first_line``/``last_line`` are the reviewed range, 0-based and inclusive. The answer's
    line numbers are 1-based file lines.

    Accepted: ``{"findings": [...]}`` (alone, in a fence, or surrounded by prose), a bare
    array of findings, a single finding object, trailing commas, and JSON truncated after at
    least one complete finding. Keys are matched case-insensitively with common alternates;
    severities are mapped from common synonyms (unknown ones become ``warning``).

    Range policy: a finding starting outside the range is clamped to the nearest edge when
    its span overlaps the range, and dropped otherwise - unless *every* finding would be
    dropped, in which case they are all kept on ``first_line`` with ``Line N:`` prefixed to
    the message, so an answer that only got line numbers wrong is not lost. Spans are cut at
    ``last_line``. Findings without a message are dropped; duplicates are removed.

    Returns ``[]`` for an empty answer or an empty findings list. Any answer that cannot be
    read as findings becomes one ``info`` finding on ``first_line`` holding the answer text
    (cut to :data:`MAX_FALLBACK_CHARS`).
    """
    text = answer.strip()
    if not text:
        return []
    if last_line < first_line:
        first_line, last_line = last_line, first_line
    raw = _extract_raw_findings(text)
    if raw is None:
        return [_fallback(text, first_line)]
    return _to_findings(raw, first_line=first_line, last_line=last_line)


# --- extraction ------------------------------------------------------------------------

_FINDINGS_KEYS = ("findings", "issues", "problems", "results", "comments", "diagnostics")
_LINE_KEYS = ("line", "line_number", "lineno", "line_no", "start_line", "line_start", "start")
_END_KEYS = ("end_line", "line_end", "end_line_number", "endline", "end")
_SEVERITY_KEYS = ("severity", "level", "priority", "type", "kind")
_MESSAGE_KEYS = ("message", "text", "description", "issue", "comment", "msg", "problem")
_SUGGESTION_KEYS = ("suggestion", "fix", "suggested_fix", "recommendation", "solution")

_FENCE_RE = re.compile(r"\A(`{3,}|~{3,})[^\n]*\n(?P<body>.*?)\n?\1\s*\Z", re.DOTALL)
_TRAILING_COMMA_RE = re.compile(r",(\s*[}\]])")
_CAMEL_HUMP_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _extract_raw_findings(text: str) -> list[Any] | None:
    """The raw findings list found in ``text``, or ``None`` when there is none."""
    text = text[:_MAX_SCAN_CHARS]
    # A bare empty array counts only when it is the whole answer: "[]" inside prose is more
    # likely code than a verdict.
    if _strip_fence(text).strip() == "[]":
        return []
    single: list[Any] | None = None
    repaired = _TRAILING_COMMA_RE.sub(r"\1", text)
    for candidate in dict.fromkeys((text, repaired)):
        found, one = _best_candidate(_decode_all(candidate))
        if found is not None:
            return found
        single = single or one
    # A lone finding-shaped object ranks below a truncated findings list: the elements of
    # a list cut short decode as lone objects too.
    return _repair_truncated(repaired) or single


def _strip_fence(text: str) -> str:
    match = _FENCE_RE.match(text)
    return match.group("body") if match else text


def _decode_all(text: str) -> Iterator[Any]:
    """Every JSON object or array that decodes starting at some ``{``/``[``, left to right.

    A decoded value's inside is not searched again (its nested values are reachable through
    the value itself).
    """
    decoder = json.JSONDecoder()
    start = _next_open(text, 0)
    while start is not None:
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            start = _next_open(text, start + 1)
            continue
        yield value
        start = _next_open(text, end)


def _best_candidate(values: Iterator[Any]) -> tuple[list[Any] | None, list[Any] | None]:
    """The findings of the first object with a findings key, else of the first array of
    findings; and separately the first lone finding-shaped object, as a one-item list."""
    array: list[Any] | None = None
    single: list[Any] | None = None
    for value in values:
        found = _findings_of(value)
        if found is not None:
            return found, single
        if array is None and isinstance(value, list) and _is_findings_array(value):
            array = value
        if single is None and isinstance(value, dict) and _looks_like_finding(value):
            single = [value]
    return array, single


def _findings_of(value: Any, depth: int = 0) -> list[Any] | None:
    """The findings list of an object (or of an object nested one level down)."""
    if not isinstance(value, dict):
        return None
    keys = _normalized(value)
    for key in _FINDINGS_KEYS:
        if key in keys:
            inner = keys[key]
            if isinstance(inner, list):
                return inner
            if inner is None:
                return []
            if isinstance(inner, dict):
                return [inner]
    if depth == 0:
        for inner in value.values():
            found = _findings_of(inner, depth + 1)
            if found is not None:
                return found
    return None


def _is_findings_array(value: list[Any]) -> bool:
    return (
        bool(value)
        and all(isinstance(item, dict) for item in value)
        and any(_looks_like_finding(item) for item in value)
    )


def _looks_like_finding(value: Mapping[str, Any]) -> bool:
    keys = _normalized(value)
    has_message = any(key in keys for key in _MESSAGE_KEYS)
    return has_message and any(key in keys for key in (*_LINE_KEYS, *_SEVERITY_KEYS))


def _repair_truncated(text: str) -> list[Any] | None:
    """Salvage the complete findings of JSON cut off mid-way (e.g. by a token limit).

    Finds the value still open at the end of the text, cuts it after each of its closing
    brackets (last first), closes whatever is still open and tries to decode. Only a result
    holding at least one usable finding counts: closing ``{"findings": [`` into an empty
    list would silently lose the answer.
    """
    cuts = _truncation_cuts(text)
    if cuts is None:
        return None
    start, points = cuts
    for index, closers in reversed(points[-_MAX_REPAIR_ATTEMPTS:]):
        try:
            value = json.loads(text[start : index + 1] + closers)
        except ValueError:
            continue
        found = _findings_of(value)
        if found is None and isinstance(value, list):
            found = value
        if found and any(
            isinstance(item, str) or (isinstance(item, dict) and _looks_like_finding(item))
            for item in found
        ):
            return found
    return None


def _truncation_cuts(text: str) -> tuple[int, list[tuple[int, str]]] | None:
    """Where the value left open at the end of ``text`` starts, and its cut points.

    A cut point is the index of a closing bracket inside that value together with the
    brackets that would close the rest. Complete values and bracketed prose before it are
    skipped: :func:`_decode_all` has already judged them.
    """
    start = _next_open(text, 0)
    while start is not None:
        cuts: list[tuple[int, str]] = []
        stack: list[str] = []
        in_string = False
        escaped = False
        index = start
        restart: int | None = None
        while index < len(text):
            char = text[index]
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char in "{[":
                stack.append("}" if char == "{" else "]")
            elif char in "}]":
                if not stack or stack[-1] != char:
                    restart = start + 1  # mismatched: this was not JSON
                    break
                stack.pop()
                if not stack:
                    restart = index + 1  # complete: not truncated
                    break
                cuts.append((index, "".join(reversed(stack))))
            index += 1
        if restart is None:
            return start, cuts
        start = _next_open(text, restart)
    return None


def _next_open(text: str, pos: int) -> int | None:
    starts = [i for i in (text.find("{", pos), text.find("[", pos)) if i >= 0]
    return min(starts) if starts else None


# --- conversion ------------------------------------------------------------------------

_SEVERITY_SYNONYMS: dict[str, Severity] = {
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


def _to_findings(raw: list[Any], *, first_line: int, last_line: int) -> list[Finding]:
    in_range: list[Finding] = []
    outside: list[Finding] = []
    for item in raw:
        finding = _to_finding(item, default_line=first_line)
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


def _to_finding(item: Any, *, default_line: int) -> Finding | None:
    """One finding on 0-based lines (not yet clamped), or ``None`` without a message."""
    if isinstance(item, str):
        # {"findings": ["null check missing", ...]}: a message without a place.
        message = item.strip()
        if not message:
            return None
        return Finding(line=default_line, end_line=default_line, severity="info", message=message)
    if not isinstance(item, dict):
        return None
    keys = _normalized(item)
    message = _first_text(keys, _MESSAGE_KEYS)
    if not message:
        return None
    line, range_end = _line_of(_first(keys, _LINE_KEYS))
    end, _ = _line_of(_first(keys, _END_KEYS))
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
        severity=_severity_of(_first(keys, _SEVERITY_KEYS)),
        message=message,
        suggestion=_first_text(keys, _SUGGESTION_KEYS) or None,
    )


def _clamp(finding: Finding, first_line: int, last_line: int) -> Finding | None:
    if finding.end_line < first_line or finding.line > last_line:
        return None
    line = max(finding.line, first_line)
    end = min(finding.end_line, last_line)
    if (line, end) == (finding.line, finding.end_line):
        return finding
    return Finding(line, end, finding.severity, finding.message, finding.suggestion)


def _normalized(value: Mapping[Any, Any]) -> dict[str, Any]:
    """Keys in snake case: ``End-Line``, ``end line`` and ``endLine`` become ``end_line``."""
    out: dict[str, Any] = {}
    for key, inner in value.items():
        if isinstance(key, str):
            snake = _CAMEL_HUMP_RE.sub("_", key.strip())
            out.setdefault(snake.lower().replace("-", "_").replace(" ", "_"), inner)
    return out


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


_NUMBER_RE = re.compile(r"\d+")


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
        return _SEVERITY_SYNONYMS.get(value.strip().lower(), "warning")
    return "warning"


def _fallback(text: str, first_line: int) -> Finding:
    if len(text) > MAX_FALLBACK_CHARS:
        text = text[: MAX_FALLBACK_CHARS - 1].rstrip() + "…"
    return Finding(
        line=first_line, end_line=first_line, severity="info", message=text, unstructured=True
    )
