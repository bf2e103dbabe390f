"""Work-done progress for a running command, naming the backend, with cancel."""

from __future__ import annotations

import asyncio
import logging
import uuid
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from localroute.routing.router import Candidate

if TYPE_CHECKING:
    from localroute.lsp.server import LocalrouteServer

log = logging.getLogger(__name__)


class CommandProgress:
    """Reports `Review selection: asking coder @ local…`; a cancel from the client
    cancels the task that runs the command (and so its HTTP request)."""

    def __init__(self, ls: LocalrouteServer, title: str) -> None:
        self._ls = ls
        self._title = title
        self._token: str | None = None
        self._backend = ""
        self._last_bucket = -1

    def _supported(self) -> bool:
        window = self._ls.client_capabilities.window
        return bool(window and window.work_done_progress)

    async def begin(self) -> None:
        if not self._supported():
            return
        token = f"localroute-{uuid.uuid4()}"
        try:
            await self._ls.work_done_progress.create_async(token)
        except Exception as exc:  # a client that refuses progress still gets its result
            log.info("progress not created: %s", exc)
            return
        self._token = token
        self._ls.work_done_progress.begin(
            token,
            types.WorkDoneProgressBegin(title=self._title, cancellable=True, message="routing"),
        )
        task = asyncio.current_task()
        cancel_future: Future[Any] | None = self._ls.work_done_progress.tokens.get(token)
        if task is not None and cancel_future is not None:
            loop = asyncio.get_running_loop()

            def on_cancel(f: Future[Any]) -> None:
                if f.cancelled():
                    loop.call_soon_threadsafe(task.cancel)

            cancel_future.add_done_callback(on_cancel)

    def report(self, message: str) -> None:
        if self._token is not None:
            self._ls.work_done_progress.report(
                self._token, types.WorkDoneProgressReport(message=message)
            )

    def attempting(self, candidate: Candidate) -> None:
        self.report(f"asking {candidate.label()}")
        self._backend = candidate.label()

    def received(self, characters: int) -> None:
        # One report per ~200 characters keeps the editor informed without flooding it.
        if characters // 200 != self._last_bucket:
            self._last_bucket = characters // 200
            self.report(f"{self._backend}: {characters} characters received")

    def end(self, message: str) -> None:
        if self._token is not None:
            self._ls.work_done_progress.end(self._token, types.WorkDoneProgressEnd(message=message))
            self._ls.work_done_progress.tokens.pop(self._token, None)
            self._token = None
