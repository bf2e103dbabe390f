"""The review task: a prompt asking for JSON findings, and a lenient parser for the answer.

The prompt shows the code with its 1-based file line numbers and asks for::

    {"findings": [{"line": int, "end_line": int?, "severity": "error"|"warning"|"info"|"hint",
                   "message": str, "suggestion": str?}]}

It describes that shape in words and shows one worked example about other code, never a
template with placeholder values: small models copy whatever the prompt shows into their
answer, and a copied example is recognisable (it is the prompt's text) where a filled-in
template slot is not always.

Models (tiny local ones in particular) often answer with something close to that rather
than that, so :func:`parse_findings` accepts fences, prose around the JSON, bare arrays,
other key spellings, severity synonyms, broken and truncated JSON
(:mod:`~localroute.tasks.findings_json`, :mod:`~localroute.tasks.findings_items`).

What the model copied rather than wrote is not shown: a finding whose message is a template
placeholder, empty, or a copy of the prompt (its instructions, its example or its code) is
dropped. When nothing usable can be read, the whole answer becomes one info finding so
nothing the model said is lost - unless the answer is itself no answer (a placeholder, a
copy of the prompt, or degenerate text such as a loop): that was not said by the model but
repeated by it, and showing it would present junk as a review.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from localroute.tasks.copied import PromptText, is_placeholder, is_slot
from localroute.tasks.degenerate import DegenerateDetector
from localroute.tasks.findings import SEVERITIES, Finding, Prompt
from localroute.tasks.findings_items import Vet, to_findings
from localroute.tasks.findings_json import extract_raw_findings

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

# One worked example about code that is not the user's, on a kind of mistake reviews
# rarely report, so that a real finding is never mistaken for a copy of it.
_EXAMPLE = (
    'For example, if line 7 of another file read `print("Helo, " + name)`, '
    "the answer would be:\n"
    '{"findings": [{"line": 7, "severity": "hint", "message": "The greeting is misspelled '
    'as Helo.", "suggestion": "print(\\"Hello, \\" + name)"}]}'
)

FINDINGS_INSTRUCTIONS = (
    'Answer with one JSON object only. Its "findings" list holds one object per problem, '
    'with the keys "line" (the file line number shown at the left), "severity" (one of '
    '"error", "warning", "info" or "hint"), "message" (one sentence: what goes wrong, and '
    'when) and, if you know the fix, "suggestion" (the corrected code for that line); '
    '"end_line" too when the problem spans several lines.\n'
    f"{_EXAMPLE}\n"
    'If the code has no problem, answer {"findings": []}.'
)
"""The answer format every findings task asks for (review and custom diagnostics tasks)."""


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
        "Report each real problem in this code: a crash, a wrong result, a leak, a security "
        "hole, an error nobody handles.\n"
        f"{FINDINGS_INSTRUCTIONS}"
    )
    return Prompt(system=REVIEW_SYSTEM, user=user, json_schema=FINDINGS_SCHEMA)


def numbered_lines(lines: Sequence[str], first_line: int) -> str:
    """``lines`` prefixed with their 1-based file line numbers (``  12 | code``)."""
    shown = [line.rstrip("\r\n") for line in lines] or [""]
    width = len(str(first_line + len(shown)))
    numbers = range(first_line + 1, first_line + 1 + len(shown))
    # rjust, not a format spec with a nested width: half the cost, on every request.
    return "\n".join(
        [
            str(number).rjust(width) + " | " + text
            for number, text in zip(numbers, shown, strict=True)
        ]
    )


def parse_findings(
    answer: str, *, first_line: int, last_line: int, prompt: Prompt | None = None
) -> list[Finding]:
    """Turn a model's review answer into findings on 0-based file lines.

    ``first_line``/``last_line`` are the reviewed range, 0-based and inclusive. The answer's
    line numbers are 1-based file lines. ``prompt``, when given, is the prompt the answer
    replies to: text copied from it is recognised and dropped.

    Accepted: ``{"findings": [...]}`` (alone, in a fence, or surrounded by prose), a bare
    array of findings, a single finding object, and broken JSON (trailing commas, quotes,
    truncated after at least one complete finding). Keys are matched case-insensitively
    with common alternates; severities are mapped from common synonyms (unknown ones become
    ``warning``).

    Range policy: a finding starting outside the range is clamped to the nearest edge when
    its span overlaps the range, and dropped otherwise - unless *every* finding would be
    dropped, in which case they are all kept on ``first_line`` with ``Line N:`` prefixed to
    the message, so an answer that only got line numbers wrong is not lost. Spans are cut at
    ``last_line``. Duplicates are removed.

    Dropped: findings without a message, or whose message is a placeholder (``<short,
    concrete>``, ``...``) or a copy of the prompt, or whose suggestion is a template slot or
    a copy of the prompt's instructions. A suggestion that only repeats the reviewed code,
    or says ``n/a``, is removed from its finding.

    Returns ``[]`` for an empty answer or an empty findings list. Any other answer that
    cannot be read as findings becomes one ``info`` finding on ``first_line`` holding the
    answer text (cut to :data:`MAX_FALLBACK_CHARS`), marked ``unstructured`` - unless that
    text is a placeholder, a copy of the prompt or degenerate (see
    :mod:`~localroute.tasks.degenerate`): then ``[]``.
    """
    text = answer.strip()
    if not text:
        return []
    if last_line < first_line:
        first_line, last_line = last_line, first_line
    source = PromptText(f"{prompt.system}\n{prompt.user}") if prompt is not None else None
    raw = extract_raw_findings(text)
    if raw is None:
        if _no_answer(text, prompt, source):
            return []
        return [_fallback(text, first_line)]
    return to_findings(raw, first_line=first_line, last_line=last_line, vet=_vet(source))


def _vet(source: PromptText | None) -> Vet:
    def vet(finding: Finding) -> Finding | None:
        if is_placeholder(finding.message):
            return None
        if source is not None and source.echoes(finding.message):
            return None
        suggestion = finding.suggestion
        if suggestion is None:
            return finding
        if is_slot(suggestion) or (source is not None and source.copies_instructions(suggestion)):
            return None  # the answer format filled with its own words: the message is too
        if is_placeholder(suggestion) or (source is not None and source.echoes(suggestion)):
            return replace(finding, suggestion=None)  # "n/a", or the code as it already is
        return finding

    return vet


def _no_answer(text: str, prompt: Prompt | None, source: PromptText | None) -> bool:
    """Whether free text is no answer: a placeholder, the prompt copied, or degenerate."""
    if is_placeholder(text) or (source is not None and source.echoes(text)):
        return True
    detector = DegenerateDetector(f"{prompt.system}\n{prompt.user}" if prompt else "")
    return detector.feed(text) is not None or detector.finish(text) is not None


def _fallback(text: str, first_line: int) -> Finding:
    if len(text) > MAX_FALLBACK_CHARS:
        text = text[: MAX_FALLBACK_CHARS - 1].rstrip() + "…"
    return Finding(
        line=first_line, end_line=first_line, severity="info", message=text, unstructured=True
    )
