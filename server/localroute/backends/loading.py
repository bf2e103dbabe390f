"""Telling a model that loads from a model that is down.

llama-swap starts a model on its first request and Ollama loads one on demand: the first
token may take a minute, and that is no failure. A :class:`LoadingWatch` runs beside one
chat request and says once, through the request's ``on_status``, that the server is
loading the model — when the answer stream says so (llama-swap's loading chunks), or when
no text has come for :data:`FIRST_CHECK_S` and the server's own status says so (llama-swap's
``/running``, Ollama's ``/api/ps``). It never ends or delays the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from localroute.backends.base import LOADING, StatusCallback, TextCallback

log = logging.getLogger(__name__)

FIRST_CHECK_S = 1.5
"""No text after this long: ask the server whether it is loading the model."""
RECHECK_S = 5.0
"""Ask again this often until the first text (a swap may start behind another request)."""

LoadingCheck = Callable[[], Awaitable[bool]]
"""Whether the server says it is loading the model now; bounds its own time."""


class LoadingWatch:
    """Says :data:`~localroute.backends.base.LOADING` once to ``on_status`` while a request
    waits for its first text. Without ``on_status`` it does nothing."""

    def __init__(self, on_status: StatusCallback | None, check: LoadingCheck | None) -> None:
        self._on_status = on_status
        self._check = check if on_status is not None else None
        self._said = False
        self._text = False
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def loading(self) -> None:
        """The server said it is loading the model (once is enough)."""
        if self._said or self._on_status is None:
            return
        self._said = True
        try:
            self._on_status(LOADING)
        except Exception:  # a progress report must not break the request
            log.exception("status callback failed")

    def text(self, on_text: TextCallback | None) -> TextCallback | None:
        """``on_text``, noting the first piece: from then on nothing is loading."""
        if self._check is None:
            return on_text

        def first(piece: str) -> None:
            if not self._text:
                self._text = True
                self._stop_timer()
                if self._task is not None:
                    self._task.cancel()
            if on_text is not None:
                on_text(piece)

        return first

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[LoadingWatch]:
        """Ask the server now and then while the request runs; stop when it ends."""
        if self._check is not None:
            # A timer, not a task that sleeps: most answers start well before it fires,
            # and a request then makes and cancels no task.
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(FIRST_CHECK_S, self._start, self._check)
        try:
            yield self
        finally:
            self._stop_timer()
            task, self._task = self._task, None
            if task is not None and not task.done():
                task.cancel()
                # Returns once the check has closed its connection; a cancel of this
                # request meanwhile still propagates.
                await asyncio.wait([task])

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _start(self, check: LoadingCheck) -> None:
        """No text for FIRST_CHECK_S: start asking."""
        self._timer = None
        if not (self._text or self._said):
            self._task = asyncio.get_running_loop().create_task(self._watch(check))

    async def _watch(self, check: LoadingCheck) -> None:
        while not (self._text or self._said):
            try:
                loading = await check()
            except Exception as exc:  # the request goes on; only the hint is lost
                log.debug("loading check failed (%s)", type(exc).__name__)
                return
            if self._text:
                return
            if loading:
                self.loading()
                return
            await asyncio.sleep(RECHECK_S)
