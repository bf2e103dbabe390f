"""The answer guard: a degenerate answer is stopped while it streams and fails its attempt.

The request pipeline makes one guard per attempt and passes its :meth:`AnswerGuard.feed` as
(part of) the backend's ``on_text`` callback::

    guard = AnswerGuard(prompt, candidate.backend)
    result = await backend.chat(chat_request, guard.feed)
    guard.finish(result.text)

:meth:`~AnswerGuard.feed` raises :class:`~localroute.backends.base.DegenerateAnswer` as soon
as the answer loops, echoes the prompt or streams only whitespace; every backend lets an
exception from ``on_text`` end the request at once, closing its connection (or killing its
process), and passes it on unchanged. The pipeline then treats it like any failed attempt:
audited, and the next candidate tried where the route allows. :meth:`~AnswerGuard.finish`
judges the whole answer once more (an explanation that is only the prompt pasted back).
"""

from __future__ import annotations

from localroute.backends.base import DegenerateAnswer
from localroute.tasks.degenerate import DegenerateDetector
from localroute.tasks.findings import Prompt

BATCH_CHARS = 256
"""Pieces are judged together once this much has come: a piece is a token or a few, and
the detector's cost is mostly per call. A loop is still stopped within a few hundred
characters of where it is seen, in an answer that would run to thousands."""


class AnswerGuard:
    """Watches one answer to ``prompt`` from ``backend``."""

    def __init__(self, prompt: Prompt, backend: str) -> None:
        self.backend = backend
        self.free_text = prompt.json_schema is None
        self.detector = DegenerateDetector(f"{prompt.system}\n{prompt.user}")
        self._pieces: list[str] = []
        self._held = 0

    def feed(self, piece: str) -> None:
        """Take the next streamed piece; raises :class:`DegenerateAnswer` to stop the stream."""
        self._pieces.append(piece)
        self._held += len(piece)
        if self._held >= BATCH_CHARS:
            self._judge()

    def _judge(self) -> None:
        text = "".join(self._pieces)
        self._pieces, self._held = [], 0
        reason = self.detector.feed(text)
        if reason is not None:
            raise DegenerateAnswer(self.backend, reason)

    def finish(self, text: str) -> None:
        """Judge the complete answer ``text``; raises :class:`DegenerateAnswer` when it is
        no answer."""
        if self._pieces:
            self._judge()
        reason = self.detector.finish(text, free_text=self.free_text)
        if reason is not None:
            raise DegenerateAnswer(self.backend, reason)
