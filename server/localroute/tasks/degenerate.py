"""Telling a degenerate answer from a real one while it streams.

Small models fail in a few recognisable ways: they loop (the same phrase, line or finding
over and over until the token limit), they copy the prompt's instructions back, or they
emit nothing but whitespace. :class:`DegenerateDetector` is fed the answer piece by piece
and says so as soon as one of these is certain, so the stream can be stopped at once
instead of running to its token limit.

Pure and bounded: no I/O, constant work per token, memory bounded by a sliding window.

How each is recognised (the thresholds are far from what real answers do):

* **repetition**: every one of the last :data:`RUN_TOKENS` tokens completes an n-gram of
  :data:`NGRAM` tokens already seen at least twice in the last :data:`WINDOW_TOKENS`
  tokens. A loop of period *p* tokens is stopped after about ``2p + RUN_TOKENS`` tokens.
  Lists and code that repeat a structure do not trip it: what differs between their items
  (names, numbers, messages) breaks the run.
* **prompt echo**: a stretch of at least ``ECHO_NGRAM + ECHO_RUN - 1`` tokens copied
  verbatim from the prompt's instructions (its text outside code fences). Quoting the
  code is what answers do, so code is not counted; a loop over it is repetition.
* **whitespace**: :data:`MAX_BLANK_CHARS` whitespace characters in a row.

:meth:`DegenerateDetector.finish` adds one check on the complete answer of a free-text
task: an answer made almost only of the prompt's words (the code pasted back with a few
words around it) is an echo too.
"""

from __future__ import annotations

import functools
import re
from collections import deque

from localroute.tasks.copied import instructions_of

NGRAM = 6
RUN_TOKENS = 60
WINDOW_TOKENS = 4096
SEEN_BEFORE = 2
"""An n-gram counts as repeated from its third occurrence on."""

ECHO_NGRAM = 8
ECHO_RUN = 12
MAX_BLANK_CHARS = 400
MAX_TOKEN_CHARS = 64
"""Longer tokens are cut into pieces this long (an endless run of one character is a loop)."""

WHOLE_ECHO_MIN_TOKENS = 20
WHOLE_ECHO_COVERAGE = 0.8
WHOLE_ECHO_OWN_TOKENS = 8
""":meth:`DegenerateDetector.finish`: an answer of at least ``MIN_TOKENS`` tokens with at
least ``COVERAGE`` of them inside prompt trigrams and fewer than ``OWN_TOKENS`` outside."""

# Words, and runs of one punctuation character ("-----" is one token, so a ruler line in
# markdown or a comment banner is not a loop).
_TOKEN_RE = re.compile(r"\w+|([^\w\s])\1*")


def tokenize(text: str) -> list[str]:
    """The tokens of ``text``, lower case."""
    return [m.group(0).lower() for m in _TOKEN_RE.finditer(text)]


@functools.lru_cache(maxsize=1024)
def _line_tokens(line: str) -> tuple[str, ...]:
    return tuple(tokenize(line))


@functools.lru_cache(maxsize=32)
def _echo_grams(instructions: str) -> frozenset[tuple[str, ...]]:
    """The n-grams of a prompt's instructions. A task's instructions hardly change from one
    request to the next (its code is left out), but one line names the file: the tokens
    are kept line by line (no token spans a line break), and only the n-grams are built
    afresh for each file."""
    words = [word for line in instructions.split("\n") for word in _line_tokens(line)]
    return frozenset(zip(*(words[i:] for i in range(ECHO_NGRAM)), strict=False))


class DegenerateDetector:
    """Fed an answer piece by piece; :meth:`feed` returns why it is degenerate, or None.

    Once a reason is returned, every later call returns it again.
    """

    def __init__(self, prompt_text: str = "") -> None:
        # The whole prompt (code included) is tokenized only if finish() needs it: that
        # costs about a millisecond per request, which a review (findings, not free text)
        # would pay for nothing.
        self._prompt_text = prompt_text
        self._echo_grams = _echo_grams(instructions_of(prompt_text))
        self._recent: deque[str] = deque(maxlen=max(NGRAM, ECHO_NGRAM))
        self._window: deque[int] = deque()
        self._counts: dict[int, int] = {}
        self._repeat_run = 0
        self._echo_run = 0
        self._blank_run = 0
        self._pending = ""
        self.tokens = 0
        self.reason: str | None = None

    def feed(self, piece: str) -> str | None:
        """Take the next piece of the answer; the reason it is degenerate, or None."""
        if self.reason is not None or not piece:
            return self.reason
        text = self._pending + piece
        self._pending = ""
        end = len(text)
        pos = 0
        for match in _TOKEN_RE.finditer(text):
            start, stop = match.span()
            if start != pos:
                self._blank(start - pos)
            pos = stop
            word = match.group(0)
            token = word.lower()
            if stop != end and len(token) <= MAX_TOKEN_CHARS:  # the usual token
                if self._token(token) is not None:
                    return self.reason
                continue
            at_end = stop == end
            # Long tokens are judged in pieces of MAX_TOKEN_CHARS; a token (or its last
            # piece) that reaches the end of the text may go on in the next piece of the
            # answer, so it waits for it.
            cut = len(token) - len(token) % MAX_TOKEN_CHARS if at_end else len(token)
            if at_end and cut == len(token):
                cut -= MAX_TOKEN_CHARS
            for i in range(0, cut, MAX_TOKEN_CHARS):
                if self._token(token[i : min(i + MAX_TOKEN_CHARS, cut)]) is not None:
                    return self.reason
            if at_end:
                self._pending = word[cut:]
                return self.reason
        self._blank(end - pos)
        return self.reason

    def finish(self, answer: str | None = None, *, free_text: bool = True) -> str | None:
        """The verdict once the answer is complete (``answer``: its whole text, when the
        pieces fed were not all of it). ``free_text``: also judge the answer as a whole
        (an explanation, not findings JSON) for being the prompt pasted back."""
        if self.reason is None and self._pending:
            pending, self._pending = self._pending, ""
            self._token(pending.lower()[:MAX_TOKEN_CHARS])
        free = self.reason is None and free_text and answer is not None
        if free and _mostly_prompt(tokenize(answer or ""), tokenize(self._prompt_text)):
            self.reason = "prompt echo"
        return self.reason

    # -- one token at a time --------------------------------------------------------------

    def _blank(self, length: int) -> None:
        """``length`` whitespace characters (all that lies between tokens)."""
        self._blank_run += length
        if self._blank_run >= MAX_BLANK_CHARS:
            self.reason = "whitespace"

    def _token(self, token: str) -> str | None:
        self._blank_run = 0
        self.tokens += 1
        recent = self._recent
        recent.append(token)
        n = len(recent)
        if n < NGRAM:
            return self.reason
        last = tuple(recent)
        gram = hash(last[n - NGRAM :])
        window, counts = self._window, self._counts
        window.append(gram)
        seen = counts.get(gram, 0) + 1
        counts[gram] = seen
        if len(window) > WINDOW_TOKENS:
            old = window.popleft()
            left = counts[old] - 1
            if left:
                counts[old] = left
            else:
                del counts[old]
            if old == gram:
                seen = left
        self._repeat_run = self._repeat_run + 1 if seen > SEEN_BEFORE else 0
        if self._repeat_run >= RUN_TOKENS:
            self.reason = "repetition"
            return self.reason
        if n >= ECHO_NGRAM and self._echo_grams:
            copied = last[n - ECHO_NGRAM :] in self._echo_grams
            self._echo_run = self._echo_run + 1 if copied else 0
            if self._echo_run >= ECHO_RUN:
                self.reason = "prompt echo"
        return self.reason


def _mostly_prompt(answer: list[str], prompt: list[str]) -> bool:
    if len(answer) < WHOLE_ECHO_MIN_TOKENS:
        return False
    grams = set(zip(prompt, prompt[1:], prompt[2:], strict=False))
    covered = [False] * len(answer)
    for i in range(len(answer) - 2):
        if (answer[i], answer[i + 1], answer[i + 2]) in grams:
            covered[i] = covered[i + 1] = covered[i + 2] = True
    inside = sum(covered)
    own = len(answer) - inside
    return inside >= WHOLE_ECHO_COVERAGE * len(answer) and own < WHOLE_ECHO_OWN_TOKENS
