"""Text a model copied instead of writing: template placeholders and echoes of the prompt.

Small models fill an answer format with the format's own words (``"<short, concrete>"``) or
repeat the prompt back. Such text is not an answer; these checks let the parser drop it and
let the evaluation count it. Both are pure and cheap (a few hundred characters per check).
"""

from __future__ import annotations

import re

_PLACEHOLDER_WORDS = frozenset(
    {
        "",
        "string",
        "str",
        "text",
        "message",
        "msg",
        "suggestion",
        "optional fix",
        "optional",
        "fix",
        "description",
        "issue",
        "problem",
        "todo",
        "tbd",
        "n/a",
        "na",
        "none",
        "null",
        "nil",
        "undefined",
        "example",
        "placeholder",
        "your message here",
        "short, concrete",
        "short concrete message",
        "int",
        "integer",
        "line",
        "severity",
        "error",
        "warning",
        "info",
        "hint",
    }
)
"""Whole messages that only name a slot of the answer format (compared trimmed, lower case)."""

_ANGLE_SLOT_RE = re.compile(r"<[^<>\n]{1,60}>|\{\{[^{}\n]{1,60}\}\}|\[[A-Z _-]{2,40}\]")
"""``<short, concrete>``, ``{{message}}``, ``[YOUR FIX]``: a template slot, alone."""
_FILLER_RE = re.compile(r"[\s.…_\-*#`'\"]*")
_QUOTES = "\"'`“”‘’ \t\r\n"
_LINE_PREFIX_RE = re.compile(r"^\s*\d+\s*\|", re.MULTILINE)
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_MIN_ECHO_TRIGRAMS = 3
_ECHO_COVERAGE = 0.8


def is_placeholder(text: str) -> bool:
    """Whether ``text`` is empty, filler (``...``) or only a template slot."""
    stripped = text.strip(_QUOTES)
    if _FILLER_RE.fullmatch(stripped):
        return True
    if _ANGLE_SLOT_RE.fullmatch(stripped):
        return True
    return stripped.lower().rstrip(".:!") in _PLACEHOLDER_WORDS


def normalize(text: str) -> str:
    """Lower case, line-number gutters (``12 |``) removed, whitespace collapsed."""
    return " ".join(_LINE_PREFIX_RE.sub(" ", text).lower().split())


def tokens(text: str) -> list[str]:
    """Words and single punctuation marks of ``text``, lower case."""
    return _TOKEN_RE.findall(text.lower())


class PromptText:
    """A prompt prepared once for many :meth:`echoes` checks."""

    def __init__(self, prompt_text: str) -> None:
        self.normalized = normalize(prompt_text)
        words = tokens(_LINE_PREFIX_RE.sub(" ", prompt_text))
        self.trigrams = frozenset(zip(words, words[1:], words[2:], strict=False))

    def echoes(self, text: str) -> bool:
        """Whether ``text`` is a copy of a part of the prompt.

        True when the text (normalized) occurs in the prompt as it is, or when at least
        :data:`_ECHO_COVERAGE` of its word trigrams do (a copy with a word changed here and
        there). A message that names code from the prompt in a sentence of its own is not an
        echo: its own words make the trigrams differ.
        """
        needle = normalize(text.strip(_QUOTES))
        if not needle:
            return False
        if needle in self.normalized:
            return True
        words = tokens(needle)
        grams = list(zip(words, words[1:], words[2:], strict=False))
        if len(grams) < _MIN_ECHO_TRIGRAMS:
            return False
        copied = sum(1 for gram in grams if gram in self.trigrams)
        return copied >= _ECHO_COVERAGE * len(grams)
