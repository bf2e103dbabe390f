"""The explain task: a prompt asking for a short markdown explanation, and hover text.

Explain answers are markdown and are used as they are; :func:`clean_explanation` only trims
them and unwraps an answer the model wrapped whole in a ```` ```markdown ```` fence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from localroute.tasks.findings import Prompt

NO_TEXT = "(the model returned no text)"
"""Shown instead of an empty explanation, so the hover never looks broken."""

EXPLAIN_SYSTEM = (
    "You explain code to a developer, clearly and briefly. Answer in markdown, without preamble."
)

# The whole answer wrapped in one markdown fence: opening fence with a markdown info
# string, closing fence of the same character at least as long, nothing outside.
_WRAPPING_FENCE_RE = re.compile(
    r"\A(?P<fence>`{3,}|~{3,})[ \t]*(?:markdown|md)[ \t]*\n"
    r"(?P<body>.*?)\n[ \t]*(?P=fence)[`~]*\s*\Z",
    re.DOTALL | re.IGNORECASE,
)
_BACKTICK_RUN_RE = re.compile(r"`+")
_MARKDOWN_SPECIAL_RE = re.compile(r"([\\`*_\[\]])")


def build_explain_prompt(
    *,
    path_label: str,
    language: str | None,
    lines: Sequence[str],
    first_line: int,
    whole_file: bool,
) -> Prompt:
    """Build the explain prompt for ``lines``, whose first is 0-based file line ``first_line``.

    ``whole_file`` says the lines are the entire file, which changes only the wording.
    """
    code = "\n".join(line.rstrip("\r\n") for line in lines)
    fence = fence_for(code)
    if whole_file:
        subject = f"the file {path_label}"
    else:
        start = first_line + 1
        end = first_line + max(len(lines), 1)
        span = f"line {start}" if start == end else f"lines {start}-{end}"
        subject = f"{span} of {path_label}"
    lang = f" ({language})" if language else ""
    user = (
        f"Explain {subject}{lang}:\n"
        f"\n{fence}{language or ''}\n{code}\n{fence}\n\n"
        "In concise markdown, say what the code does, how it does it, and anything "
        "surprising or easy to get wrong. No preamble."
    )
    return Prompt(system=EXPLAIN_SYSTEM, user=user, json_schema=None)


def clean_explanation(answer: str) -> str:
    """The answer trimmed, unwrapped from a whole-answer ```` ```markdown ```` fence.

    Any other markdown (code blocks included) is kept as it is. An empty answer becomes
    :data:`NO_TEXT`.
    """
    text = answer.strip()
    match = _WRAPPING_FENCE_RE.match(text)
    if match:
        text = match.group("body").strip()
    return text or NO_TEXT


def attribution_line(model: str, backend: str, locality: str) -> str:
    """One italic markdown line naming who wrote the text, e.g. ``*— coder @ local (local)*``."""
    return f"*— {_escape(model)} @ {_escape(backend)} ({_escape(locality)})*"


def explanation_markdown(answer: str, *, model: str, backend: str, locality: str) -> str:
    """Hover markdown: the cleaned explanation, then the attribution line last."""
    return clean_explanation(answer) + "\n\n" + attribution_line(model, backend, locality)


def fence_for(code: str) -> str:
    """A backtick fence longer than any backtick run in ``code``, so the code cannot close it."""
    longest = max((len(run) for run in _BACKTICK_RUN_RE.findall(code)), default=0)
    return "`" * max(3, longest + 1)


def _escape(text: str) -> str:
    # Names like "qwen2.5_coder" would otherwise turn italics on and off inside the line.
    return _MARKDOWN_SPECIAL_RE.sub(r"\\\1", text)
