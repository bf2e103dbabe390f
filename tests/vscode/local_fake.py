"""The "local" backend of the VS Code e2e: tests/fakes/openai_fake.py's FakeOpenAI in a process
of its own, answering review prompts with one finding and explain prompts with markdown.

Its own process, so that stopping it closes every connection: a FakeOpenAI closed in-process
stops listening but keeps serving the keep-alive connections the server already holds.

A prompt that contains SLOW_MARKER is answered only after a minute, so that the editor's Cancel
button can be pressed while it waits; a client that leaves is counted (``disconnects``).
Files that say ``marker: NAME`` are counted by name (``markers``), so a test knows which files
a bulk review sent. What it received is written to the stats file after every change, for the
driver and the test. The Neovim e2e uses it too: a `stop_command` can then really stop it.

    python -m tests.vscode.local_fake STATS.json   # prints its base URL, runs until SIGTERM
"""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from tests.fakes.openai_fake import FakeOpenAI

FINDING = "b may be zero: guard the division"
FINDING_LINE = 2
REVIEW = json.dumps(
    {"findings": [{"line": FINDING_LINE, "severity": "warning", "message": FINDING}]}
)
EXPLAIN = "Divides **a** by **b** and returns the quotient (explained by the fake)."
SLOW_MARKER = "take_your_time"
FILE_MARKER = re.compile(r"marker: (\w+)")

CLOUD_FINDING = "the cloud says: close the session"
CLOUD_REVIEW = json.dumps(
    {"findings": [{"line": 1, "severity": "warning", "message": CLOUD_FINDING}]}
)


def is_review(body: dict[str, Any]) -> bool:
    """The review prompt asks for JSON (with a schema); explain prompts ask for markdown."""
    system = str((body.get("messages") or [{}])[0].get("content", ""))
    return "JSON" in system or bool(body.get("response_format"))


def answer(body: dict[str, Any]) -> str:
    """Review JSON for the review prompt, markdown otherwise."""
    return REVIEW if is_review(body) else EXPLAIN


def cloud_answer(body: dict[str, Any]) -> str:
    """What the "cloud" fake answers: a finding of its own, so a test sees who answered."""
    return CLOUD_REVIEW if is_review(body) else EXPLAIN


class LocalFake(FakeOpenAI):
    slow_started = 0

    def __init__(self) -> None:
        super().__init__()
        self.markers: dict[str, int] = {}

    def _chat_answer(self, handler: Any, body: dict[str, Any]) -> None:
        text = json.dumps(body)
        with self._lock:
            for name in set(FILE_MARKER.findall(text)):
                self.markers[name] = self.markers.get(name, 0) + 1
        if SLOW_MARKER in text:
            with self._lock:
                self.slow_started += 1
            # notices at once when the client closes the connection (counted as a disconnect)
            self._wait(handler, 60)
        super()._chat_answer(handler, body)


def stats(fake: LocalFake) -> dict[str, Any]:
    with fake._lock:
        markers = dict(fake.markers)
    return {
        "chat_requests": len(fake.chat_requests),
        "slow_started": fake.slow_started,
        "disconnects": fake.disconnects,
        "markers": markers,
    }


def main() -> None:
    stats_file = Path(sys.argv[1])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    fake = LocalFake()
    with fake:
        fake.answer_fn = answer
        print(fake.url, flush=True)
        last: dict[str, Any] = {}
        while not stop.wait(0.05):
            now = stats(fake)
            if now != last:
                stats_file.write_text(json.dumps(now))
                last = now
        # stopped (SIGTERM, e.g. from a stop_command): what came in since the last write
        stats_file.write_text(json.dumps(stats(fake)))


if __name__ == "__main__":
    main()
