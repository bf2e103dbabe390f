"""Work-done progress for a running command, naming the backend, with cancel.

Progress for a request that finishes in a few milliseconds helps nobody and costs a
round trip (`window/workDoneProgress/create` is a request the server must await) plus
a message per report. So progress starts only when a command has run for
:data:`SHOW_AFTER_S` — or at once when the client sent a `workDoneToken` with the
command — and reports are sent at most every :data:`REPORT_EVERY_S`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from localroute.backends.base import LOADING
from localroute.lsp.context import WORK_DONE_TOKEN

if TYPE_CHECKING:
    from localroute.lsp.server import LocalrouteServer
    from localroute.routing.router import Candidate

log = logging.getLogger(__name__)

SHOW_AFTER_S = 0.2
REPORT_EVERY_S = 0.25


class CommandProgress:
    """Reports `Review selection: asking coder @ local…`; a cancel from the client
    cancels the task that runs the command (and so its HTTP request)."""

    def __init__(self, ls: LocalrouteServer, title: str) -> None:
        self._ls = ls
        self._title = title
        self._token: str | int | None = None
        self._backend = ""
        self._candidate: Candidate | None = None
        self._message = "routing"
        self._last_bucket = -1
        self._last_report = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._creating: asyncio.Task[None] | None = None
        self._task: asyncio.Task[Any] | None = None
        self._ended = False

    def _supported(self) -> bool:
        window = self._ls.client_capabilities.window
        return bool(window and window.work_done_progress)

    async def begin(self) -> None:
        """Start reporting: at once with the client's token, else after a short while."""
        self._task = asyncio.current_task()
        given = WORK_DONE_TOKEN.get()
        if given is not None:
            self._start(given, created=False)
            return
        if not self._supported():
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(SHOW_AFTER_S, self._create_later)

    def _create_later(self) -> None:
        self._timer = None
        if not self._ended:
            self._creating = asyncio.ensure_future(self._create())

    async def _create(self) -> None:
        token = f"localroute-{uuid.uuid4()}"
        try:
            await self._ls.work_done_progress.create_async(token)
        except Exception as exc:  # a client that refuses progress still gets its result
            log.info("progress not created: %s", exc)
            return
        if not self._ended:
            self._start(token, created=True)

    def _start(self, token: str | int, *, created: bool) -> None:
        self._token = token
        self._ls.work_done_progress.begin(
            token,
            types.WorkDoneProgressBegin(title=self._title, cancellable=True, message=self._message),
        )
        self._last_report = time.monotonic()
        cancel_future: Future[Any] | None = self._ls.work_done_progress.tokens.get(token)
        task = self._task
        if task is not None and cancel_future is not None:
            loop = asyncio.get_running_loop()

            def on_cancel(f: Future[Any]) -> None:
                if f.cancelled():
                    loop.call_soon_threadsafe(task.cancel)

            cancel_future.add_done_callback(on_cancel)

    def report(self, message: str, *, force: bool = False) -> None:
        self._message = message
        if self._token is None:
            return
        now = time.monotonic()
        if force or now - self._last_report >= REPORT_EVERY_S:
            self._last_report = now
            self._ls.work_done_progress.report(
                self._token, types.WorkDoneProgressReport(message=message)
            )

    def attempting(self, candidate: Candidate) -> None:
        self._backend = candidate.label()
        self._candidate = candidate
        self.report(f"asking {candidate.label()}", force=True)

    def status(self, state: str) -> None:
        """`loading coder on local…` while the server loads the model."""
        if state == LOADING and self._candidate is not None:
            candidate = self._candidate
            self.report(f"loading {candidate.model} on {candidate.backend}…", force=True)

    def received(self, characters: int) -> None:
        # One report per ~200 characters at most, and not more often than REPORT_EVERY_S.
        if characters // 200 != self._last_bucket:
            self._last_bucket = characters // 200
            self.report(f"{self._backend}: {characters} characters received")

    def end(self, message: str) -> None:
        self._ended = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._creating is not None and not self._creating.done():
            self._creating.cancel()
        if self._token is not None:
            self._ls.work_done_progress.end(self._token, types.WorkDoneProgressEnd(message=message))
            self._ls.work_done_progress.tokens.pop(self._token, None)
            self._token = None
