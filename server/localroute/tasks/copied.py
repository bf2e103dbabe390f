"""Text a model copied instead of writing: template placeholders and echoes of the prompt.

Small models fill an answer format with the format's own words (``"<short, concrete>"``) or
repeat the prompt back. Such text is not an answer; these checks let the parser drop it and
let the evaluation count it. Both are pure and cheap (a few hundred characters per check).
"""

from __future__ import annotations

import functools
import re

_SLOT_WORDS = frozenset(
    {
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
"""Whole texts that only name a slot of the answer format (compared trimmed, lower case)."""

_NOTHING_WORDS = frozenset({"", "none", "null", "nil", "undefined", "n/a", "na", "todo", "tbd"})
"""Whole texts that say there is nothing to say."""

_ANGLE_SLOT_RE = re.compile(r"<[^<>\n]{1,60}>|\{\{[^{}\n]{1,60}\}\}|\[[A-Z _-]{2,40}\]")
"""``<short, concrete>``, ``{{message}}``, ``[YOUR FIX]``: a template slot, alone."""
_FILLER_RE = re.compile(r"[\s.…_\-*#`'\"]*")
_QUOTES = "\"'`“”‘’ \t\r\n"
_LINE_PREFIX_RE = re.compile(r"\n\s*\d+\s*\|")
"""A line-number gutter with the line break before it: a pattern that starts with a
literal is searched for that character first, where ``^`` in MULTILINE mode is tried at
every position (a quarter of the cost on a prompt; the line break is whitespace, which
:func:`normalize` collapses anyway)."""
_FENCE_RE = re.compile(r"^(`{3,}|~{3,})[^\n]*\n.*?^\1[`~]*[ \t]*$", re.DOTALL | re.MULTILINE)
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_ASCII_WORD_RE = re.compile(r"[a-z0-9]+")
_MIN_ECHO_TRIGRAMS = 3
_MIN_ECHO_TOKENS = 3
"""Shorter texts (``x``, ``b``, ``total``) occur in almost any prompt: that is no copy."""
_ECHO_COVERAGE = 0.8


def is_slot(text: str) -> bool:
    """Whether ``text`` only names a slot of an answer format (``<short, concrete>``,
    ``message``): the model filled in the template with the template."""
    stripped = text.strip(_QUOTES)
    if _ANGLE_SLOT_RE.fullmatch(stripped):
        return True
    return stripped.lower().rstrip(".:!") in _SLOT_WORDS


def is_placeholder(text: str) -> bool:
    """Whether ``text`` says nothing: empty, filler (``...``), ``n/a``, or only a slot."""
    stripped = text.strip(_QUOTES)
    if _FILLER_RE.fullmatch(stripped) or stripped.lower().rstrip(".:!") in _NOTHING_WORDS:
        return True
    return is_slot(stripped)


def normalize(text: str) -> str:
    """Lower case, line-number gutters (``12 |``) and JSON's escaped quotes (``\\"``) undone,
    whitespace collapsed."""
    text = _LINE_PREFIX_RE.sub(" ", "\n" + text).replace('\\"', '"')
    return " ".join(text.lower().split())


def tokens(text: str) -> list[str]:
    """Words and single punctuation marks of ``text``, lower case (escaped quotes undone)."""
    return _TOKEN_RE.findall(text.replace('\\"', '"').lower())


@functools.lru_cache(maxsize=8)
def instructions_of(prompt_text: str) -> str:
    """The prompt without its fenced code blocks: what it asks, not what it shows. Kept
    for the few latest prompts: a request's answer guard and its findings' checks both
    need it."""
    return _FENCE_RE.sub(" ", prompt_text)


@functools.lru_cache(maxsize=1024)
def _line_tokens(line: str) -> tuple[str, ...]:
    return tuple(tokens(line))


@functools.lru_cache(maxsize=32)
def _trigrams(instructions: str) -> frozenset[tuple[str, str, str]]:
    """The word trigrams of a prompt's instructions, which hardly change from one request
    of a task to the next (the code is left out) except for the line that names the file:
    the tokens are kept line by line (no token spans a line break)."""
    words = [word for line in instructions.split("\n") for word in _line_tokens(line)]
    return frozenset(zip(words, words[1:], words[2:], strict=False))


class PromptText:
    """A prompt prepared once for many :meth:`echoes` checks."""

    def __init__(self, prompt_text: str) -> None:
        self._text = prompt_text

    # Each is made when a check first needs it: most answers have few findings, short
    # ones need none of them, and only suggestions are compared with the instructions.
    @functools.cached_property
    def whole(self) -> str:
        return normalize(self._text)

    @functools.cached_property
    def instructions(self) -> str:
        return normalize(instructions_of(self._text))

    @functools.cached_property
    def trigrams(self) -> frozenset[tuple[str, str, str]]:
        return _trigrams(instructions_of(self._text))

    @functools.cached_property
    def _lowered(self) -> str:
        return self._text.lower()

    def echoes(self, text: str) -> bool:
        """Whether ``text`` is a copy of a part of the prompt: of its code or its words."""
        needle = normalize(text.strip(_QUOTES))
        return _long_enough(needle) and (
            self._in_whole(needle) or self._mostly_instructions(needle)
        )

    def _in_whole(self, needle: str) -> bool:
        # Normalizing the whole prompt costs more than the rest of the checks: first ask
        # whether its longest ASCII word is in the prompt at all. Normalizing only
        # lower-cases (context-free for these letters) and replaces what is no letter or
        # digit, so a run of them in the normalized prompt is in the prompt lower-cased.
        word = max(_ASCII_WORD_RE.findall(needle), key=len, default="")
        if len(word) >= 3 and word not in self._lowered:
            return False
        return needle in self.whole

    def copies_instructions(self, text: str) -> bool:
        """Whether ``text`` is a copy of a part of the prompt's words (its code left out):
        the instructions, or the worked example they give."""
        needle = normalize(text.strip(_QUOTES))
        return _long_enough(needle) and (
            needle in self.instructions or self._mostly_instructions(needle)
        )

    def _mostly_instructions(self, needle: str) -> bool:
        """At least :data:`_ECHO_COVERAGE` of the text's word trigrams are the instructions'
        (a copy with a word changed here and there). Code quoted from the prompt inside a
        sentence of the model's own does not count: the code is left out of the comparison,
        so a message in the example's words about the user's code is not an echo."""
        words = tokens(needle)
        grams = list(zip(words, words[1:], words[2:], strict=False))
        if len(grams) < _MIN_ECHO_TRIGRAMS:
            return False
        copied = sum(1 for gram in grams if gram in self.trigrams)
        return copied >= _ECHO_COVERAGE * len(grams)


def _long_enough(needle: str) -> bool:
    return len(tokens(needle)) >= _MIN_ECHO_TOKENS
