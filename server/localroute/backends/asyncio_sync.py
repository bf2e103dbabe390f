"""httpcore's locks, events and shields on asyncio's own primitives.

Under asyncio, httpcore makes the locks and events of its connection pool with anyio
(``httpcore._synchronization`` looks up ``anyio.Lock``, ``anyio.Event``,
``anyio.Semaphore``, ``anyio.fail_after`` and ``anyio.CancelScope``). The first of them
imports anyio's asyncio backend and its core, 29 modules: about 1.1 MiB that a server
would hold from its first probe on, and the CLI would import before its first request.
asyncio has each of them; :func:`install` has httpcore find asyncio's instead. (A client
on httpcore's own network backend, ``https://`` and cloud ones, still loads anyio's
backend for its sockets.)

Why this is the same under asyncio, one by one:

* ``Lock``, ``Event``, ``Semaphore``: asyncio's, used through the same methods
  (``acquire``/``release``, ``set``/``wait``).
* ``fail_after``: :class:`FailAfter` raises :class:`TimeoutError` when its block has not
  finished in time, as :func:`asyncio.timeout` does (httpcore maps it to ``PoolTimeout``).
* ``CancelScope(shield=True)``: anyio's shield holds off only anyio's own cancel scopes.
  A native asyncio cancellation (``Task.cancel``, :func:`asyncio.timeout`), the only kind
  localroute uses, goes through it all the same; this shield does nothing.

Anything else httpcore may look up there is anyio's own; and a version of httpcore other
than 1.0 is left as it is (:data:`LAYOUT_KNOWN`): its pool then goes on using anyio.
"""

from __future__ import annotations

import asyncio
import logging
import types
from typing import Any

import httpcore

__all__ = ["LAYOUT_KNOWN", "FailAfter", "install", "installed"]

log = logging.getLogger(__name__)


class FailAfter:
    """``with FailAfter(delay):`` in a task raises :class:`TimeoutError` when the block
    has not finished within ``delay`` seconds (``None``: no limit)."""

    def __init__(self, delay: float | None) -> None:
        self._delay = delay
        self._task: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False

    def __enter__(self) -> FailAfter:
        if self._delay is not None:
            self._task = asyncio.current_task()
            if self._task is None:
                raise RuntimeError("FailAfter is used in a task")
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(loop.time() + self._delay, self._expire)
        return self

    def _expire(self) -> None:
        self._expired = True
        assert self._task is not None
        self._task.cancel()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        # Our cancellation is withdrawn; one from elsewhere stays a cancellation.
        expired = self._expired and self._task is not None and self._task.uncancel() == 0
        if expired and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc


class _NoShield:
    """anyio's ``CancelScope(shield=True)`` as it acts on asyncio's own cancellation."""

    def __enter__(self) -> _NoShield:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _Primitives:
    """What httpcore's synchronization module looks up on ``anyio``; any other name (a
    later httpcore's) is anyio's own."""

    Lock = asyncio.Lock
    Event = asyncio.Event
    fail_after = FailAfter

    @staticmethod
    def Semaphore(initial_value: int, max_value: int | None = None) -> asyncio.Semaphore:
        # HTTP/2 only, which localroute does not enable.
        return asyncio.BoundedSemaphore(initial_value)

    @staticmethod
    def CancelScope(*, shield: bool = False) -> _NoShield:
        return _NoShield()

    def __getattr__(self, name: str) -> Any:
        import anyio

        return getattr(anyio, name)


PRIMITIVES = _Primitives()


def _layout_known() -> bool:
    module = getattr(httpcore, "_synchronization", None)
    version = str(getattr(httpcore, "__version__", ""))
    return version.startswith("1.0.") and module is not None and hasattr(module, "anyio")


LAYOUT_KNOWN = _layout_known()
"""Whether this is httpcore 1.0, which looks up its primitives on its synchronization
module's ``anyio`` (what this was written against): :func:`install` changes nothing
otherwise."""


def _synchronization() -> Any:
    """httpcore's module that holds the primitives (private, hence looked up as Any)."""
    return httpcore._synchronization


def install() -> bool:
    """Have httpcore's async primitives use asyncio's (once per process); whether they do."""
    if not LAYOUT_KNOWN:
        return False
    module = _synchronization()
    if module.anyio is not PRIMITIVES:
        module.anyio = PRIMITIVES
        log.debug("httpcore's locks and events are asyncio's")
    return True


def installed() -> bool:
    """Whether httpcore's async primitives are asyncio's."""
    return LAYOUT_KNOWN and _synchronization().anyio is PRIMITIVES
