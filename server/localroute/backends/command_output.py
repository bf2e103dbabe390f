"""What a ``command`` backend writes to a CLI and reads back: the prompt on stdin, the answer
on stdout (plain text or opencode's JSON lines), and one-line error messages from stderr."""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

from localroute.backends.base import ChatRequest, TextCallback

MAX_MESSAGE = 300
"""The longest error message taken from a CLI's output, in characters."""

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_SPACE = re.compile(r"\s+")
_FRAME = re.compile(r"\s+at \S.*:\d+:\d+\)?\s*$")
UNAVAILABLE = re.compile(
    r"rate.?limit|too many requests|\b429\b|quota|resource.?exhausted|overload|at capacity|"
    r"\b50[234]\b|service unavailable|bad gateway|gateway time|network|connection (refused|"
    r"reset|closed|error)|econn(refused|reset|aborted)|etimedout|enotfound|eai_again|"
    r"getaddrinfo|name resolution|socket hang up|fetch failed|timed out|timeout|offline|"
    r"(could not|cannot|can't|unable to) connect",
    re.I,
)
"""Error text that reads like a passing failure of the service (the backend is down), not a
rejected request."""


def compose_prompt(request: ChatRequest) -> str:
    """The text written to the CLI's stdin: system message, blank line, user message."""
    return f"{request.system}\n\n{request.user}" if request.system else request.user


def tail(text: str, limit: int = MAX_MESSAGE) -> str:
    """The last lines of ``text`` as one line of at most ``limit`` characters; stack frames
    of a JavaScript trace (``at f (file.js:1:2)``) are left out, they bury the message."""
    lines = [
        line.strip()
        for line in _ANSI.sub("", text).splitlines()
        if line.strip() and not _FRAME.match(line)
    ]
    line = _SPACE.sub(" ", " ".join(lines[-5:])).strip()
    return line if len(line) <= limit else "…" + line[-(limit - 1) :]


def _error_text(event: dict[str, Any]) -> tuple[str, bool]:
    """An opencode ``error`` event's message, and whether it reads like a passing failure.

    opencode's errors are ``{"name": ..., "data": {"message", "statusCode"?, "isRetryable"?}}``;
    a plain ``{"message": ...}`` object or a string is understood too.
    """
    error = event.get("error")
    if not isinstance(error, dict):
        error = {"message": error if isinstance(error, str) else event.get("message")}
    data = error.get("data")
    fields: dict[str, Any] = {**error, **data} if isinstance(data, dict) else error
    message = fields.get("message") if isinstance(fields.get("message"), str) else error.get("name")
    message = tail(message if isinstance(message, str) else "") or "unknown error"
    status = fields.get("statusCode")
    passing = fields.get("isRetryable") is True or (
        isinstance(status, int) and (status == 429 or status >= 500)
    )
    return message, passing or bool(UNAVAILABLE.search(message))


class Output:
    """Collects one run's stdout: the answer pieces, and any opencode error event."""

    def __init__(self, mode: str, on_text: TextCallback | None) -> None:
        self.mode = mode
        self.on_text = on_text
        self.parts: list[str] = []
        self.error: tuple[str, bool] | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = b""
        self._texts = 0
        self.truncated = False
        """opencode-json output that ended inside an event (the CLI died mid-write)."""

    def feed(self, data: bytes, final: bool = False) -> None:
        """Take the next bytes of stdout (``final``: the stream has ended)."""
        if self.mode == "text":
            self._emit(self._decoder.decode(data, final))
            return
        lines = (self._pending + data).split(b"\n")
        self._pending = b"" if final else lines.pop()
        for raw in lines:
            self._line(raw.decode("utf-8", errors="replace").strip())
        if final and lines and lines[-1].strip().startswith(b"{"):
            try:
                json.loads(lines[-1])
            except ValueError:
                self.truncated = True

    def _emit(self, piece: str) -> None:
        if piece:
            self.parts.append(piece)
            if self.on_text is not None:
                self.on_text(piece)

    def _line(self, line: str) -> None:
        if not line.startswith("{"):
            return
        try:
            event = json.loads(line)
        except ValueError:
            return
        if isinstance(event, dict) and event.get("type") == "text":
            part = event.get("part")
            text = part.get("text") if isinstance(part, dict) else None
            if isinstance(text, str) and text:
                self._emit(("\n" if self._texts else "") + text)
                self._texts += 1
        elif isinstance(event, dict) and event.get("type") == "error":
            self.error = _error_text(event)

    @property
    def answer(self) -> str:
        """Everything answered so far, stripped."""
        return "".join(self.parts).strip()
