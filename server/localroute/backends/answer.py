"""One answer as it streams in, whatever the wire format: its text, model and usage."""

from __future__ import annotations

from dataclasses import dataclass, field

from localroute.backends.base import BackendRequestError, ChatResult, TextCallback

MAX_ANSWER_CHARS = 16 * 1024 * 1024
"""A streamed answer larger than this is cut off: a runaway model must not fill memory."""


def answer_too_large(backend: str) -> BackendRequestError:
    return BackendRequestError(
        backend, f"the answer grew past {MAX_ANSWER_CHARS // (1024 * 1024)} MiB; stopped reading it"
    )


@dataclass
class Answer:
    """The pieces of one answer, passed on to ``on_text`` as they come; bounded by
    :data:`MAX_ANSWER_CHARS`. Each backend's reader fills it from its own framing."""

    backend: str
    model: str
    on_text: TextCallback | None = None
    parts: list[str] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finished: bool = False
    """The server said the answer is complete (a finish reason, ``done``, ``message_stop``)."""
    size: int = 0

    def add(self, piece: str) -> None:
        """One piece of text; raises (and so stops reading) past the size bound, or when
        ``on_text`` raises (a degenerate answer)."""
        if not piece:
            return
        self.size += len(piece)
        if self.size > MAX_ANSWER_CHARS:
            raise answer_too_large(self.backend)
        self.parts.append(piece)
        if self.on_text is not None:
            self.on_text(piece)

    def result(self, structured: str = "none") -> ChatResult:
        return ChatResult(
            text="".join(self.parts),
            model=self.model,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            structured=structured,
        )
