"""Answers kept on disk, so a review of unchanged code sends nothing, across restarts.

One SQLite database (`$XDG_CACHE_HOME/localroute/answers.sqlite3`) shared by every
localroute process of the user — CLI runs and language servers at once. The pipeline's
in-memory LRU stays in front of it.

**The key** is a SHA-256 digest of what decides the answer: the prompt as sent (system
and user text, JSON Schema — so the code, its path label and line numbers, the task's
prompt template), the task's name, output kind and answer budget, the route entry that
answered (``backend:model``, the backend's locality) and the backend's settings that can
change an answer (kind, URL, ``num_ctx``, a command's argv and environment…; not its
limits, timeouts or key names), and localroute's version. A lookup tries the request's
candidates in route order and returns the first answer found.

**What is stored, and when** (the rule):

- only the answer — findings or markdown, with the route entry, reason and line span —
  never the prompt (the key is a digest of it): code or a path is in an entry only where
  the model's answer quotes it;
- answers are redacted (:func:`localroute.privacy.redact.redact`) before they are stored,
  as the pipeline already does before it shows them, so no credential a model quoted is
  written;
- a *private* document's answer is stored only when it came from a ``local`` or
  ``private-network`` backend that its verdict allows; an answer from any other place is
  never stored (it cannot happen without consent, and then it is not stored either);
- a consented send is never stored, and a lookup never answers a request that carries
  consent;
- a lookup returns an entry only for a candidate of the request's own decision (so a
  private or bulk request never gets a cloud answer) whose locality still matches.

**Bounded and shared**: see :mod:`localroute.results_store` (SQLite in WAL mode, least
recently used out past ``[cache] max_disk_bytes``). The directory is private to the user
(0700, the database 0600).

**Opened when first needed, in a thread.** Nothing is opened, and SQLite is not even
loaded (about 1.5 MiB), until a request looks an answer up or stores one: a language
server that is never asked for a review does without it, and the event loop of one that
is goes on while the file opens. A bulk run opens it before its first file.

A cache that cannot be opened or read (a full disk, a corrupt file, a file system without
locking) is turned off for the process with one warning; a review never fails for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from localroute.config import paths
from localroute.config.models import CacheConfig
from localroute.requests import TaskOutcome, TaskRequest
from localroute.results_key import answer_key, decode, encode, may_answer, may_store
from localroute.routing.router import Candidate, RouteDecision
from localroute.tasks.findings import Prompt

if TYPE_CHECKING:
    from localroute.results_store import AnswerStore

log = logging.getLogger(__name__)

FILE_NAME = "answers.sqlite3"

BATCH_WAIT_S = 0.05
"""How long answers gather before they are written together."""


class ResultsCache:
    """The pipeline's disk cache: the store, asked under the rule and the key of
    :mod:`localroute.results_key`.

    Lookups read the file directly (a WAL reader never waits for a writer); answers are
    written in the background, in batches — whatever arrived while the last batch was
    being written — so a request never waits for the disk. The file is opened on first
    use (see the module docstring).

    SQLite's module is imported with the store, not here: its errors are caught as
    :data:`localroute.results_store.StoreError`, looked up once the store exists.
    """

    def __init__(self, path: Path, *, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.store: AnswerStore | None = None
        """The open file; None until :meth:`ready` has opened it."""
        self._opening: asyncio.Future[AnswerStore | None] | None = None
        self._off = False
        self._puts: list[tuple[str, TaskOutcome]] = []
        self._fresh: list[tuple[TaskRequest, Prompt, Candidate, TaskOutcome]] = []
        """Answers to store whose keys are made with the batch, not on the request's path."""
        """Answers to store, encoded (redacted, serialized) by the writer, not the request."""
        self._touches: list[str] = []
        self._deletes: list[str] = []
        self._writer: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()
        """Set by :meth:`flush`: write what is queued now, without gathering a batch."""

    @classmethod
    def open(cls, config: CacheConfig, env: Mapping[str, str] | None = None) -> ResultsCache | None:
        """The user's cache, or None when ``max_disk_bytes`` is 0. Nothing is opened yet:
        the file is, on first use; one that cannot be opened is said once in the log."""
        if config.max_disk_bytes <= 0:
            return None
        return cls(
            paths.cache_home(env) / "localroute" / FILE_NAME, max_bytes=config.max_disk_bytes
        )

    def open_soon(self) -> None:
        """Start opening the file now, in a thread; :meth:`ready` waits for it."""
        if self._opening is None and not self._off:
            self._opening = asyncio.ensure_future(asyncio.to_thread(self._open_store))

    async def ready(self) -> AnswerStore | None:
        """The open store, opened now if need be; None when the cache is off."""
        if self._off:
            return None
        if self.store is None:
            self.open_soon()
            assert self._opening is not None
            # Shielded: a request cancelled while the file opens leaves it to the next.
            self.store = await asyncio.shield(self._opening)
            if self.store is None:
                self._off = True
        return self.store

    def _open_store(self) -> AnswerStore | None:
        """Open (or create) the file; None, said once, when it cannot be. Blocking."""
        # Imported here, in the opening thread: SQLite is loaded only by a process that
        # uses the cache.
        from localroute.results_store import AnswerStore, StoreDamaged, StoreError

        path = self.path
        try:
            try:
                return AnswerStore(path, max_bytes=self.max_bytes)
            except StoreDamaged as exc:
                # A damaged cache is only a cache: start it afresh, once.
                log.warning("the answer cache %s was damaged (%s); starting it afresh", path, exc)
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
                return AnswerStore(path, max_bytes=self.max_bytes)
        except (OSError, StoreError) as exc:
            log.warning("answers are not cached on disk: cannot open %s: %s", path, exc)
            return None

    @property
    def enabled(self) -> bool:
        return not self._off

    def _failed(self, exc: Exception) -> None:
        if not self._off:
            log.warning("answers are no longer cached on disk (%s): %s", self.path, exc)
        self._off = True

    async def lookup(
        self, request: TaskRequest, prompt: Prompt, decision: RouteDecision
    ) -> TaskOutcome | None:
        """A stored answer for this request from one of its candidates, first in route
        order; None when there is none or the request may not be answered from disk."""
        if self._off:
            return None
        keyed = [
            (key, c)
            for c in decision.candidates
            if may_answer(request, c) and (key := answer_key(request, prompt, c)) is not None
        ]
        if not keyed:
            return None
        store = await self.ready()
        if store is None:
            return None
        from localroute.results_store import StoreError  # loaded with the store

        try:
            found = store.get_first([key for key, _ in keyed])
        except StoreError as exc:
            self._failed(exc)
            return None
        if found is None:
            return None
        key, value, stale = found
        candidate = next(c for k, c in keyed if k == key)
        try:
            outcome = decode(value)
        except (ValueError, KeyError, TypeError):
            self._schedule(deletes=[key])
            return None
        if (outcome.backend, outcome.model, outcome.locality) != (
            candidate.backend,
            candidate.model,
            candidate.locality,
        ):
            return None
        if stale:
            self._schedule(touches=[key])
        return outcome

    async def remember(
        self, request: TaskRequest, prompt: Prompt, candidate: Candidate, outcome: TaskOutcome
    ) -> None:
        """Store a fresh answer where the rule allows it, in the background: the request
        does not wait for the disk (an interrupt right after an answer keeps it in the
        report); :meth:`flush` and :meth:`aclose` wait for what is pending."""
        if self._off or outcome.cached or not may_store(request, candidate, outcome):
            return
        self._fresh.append((request, prompt, candidate, outcome))
        self._schedule()

    def _schedule(
        self,
        puts: Sequence[tuple[str, TaskOutcome]] = (),
        touches: Sequence[str] = (),
        deletes: Sequence[str] = (),
    ) -> None:
        self._puts += puts
        self._touches += touches
        self._deletes += deletes
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_batches())

    async def _write_batches(self) -> None:
        while not self._off and (self._puts or self._fresh or self._touches or self._deletes):
            # Let a batch gather: one transaction (and one thread hop) for many answers.
            # A flush (the end of a run) does not wait for more.
            if not self._hurry.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), BATCH_WAIT_S)
            fresh, self._fresh = self._fresh, []
            self._puts += [
                (key, outcome)
                for request, prompt, candidate, outcome in fresh
                if (key := answer_key(request, prompt, candidate)) is not None
            ]
            puts = [(key, encode(outcome)) for key, outcome in self._puts]
            self._puts = []
            touches, self._touches = self._touches, []
            deletes, self._deletes = self._deletes, []
            store = await self.ready()
            if store is None:
                return
            from localroute.results_store import StoreError  # loaded with the store

            try:
                await asyncio.to_thread(store.write, puts, touches, deletes)
            except StoreError as exc:
                self._failed(exc)

    async def flush(self, timeout_s: float = 10.0) -> None:
        """Wait for the writes under way and queued (they are short)."""
        if self._writer is not None and not self._writer.done():
            self._hurry.set()
            try:
                await asyncio.wait({self._writer}, timeout=timeout_s)
            finally:
                self._hurry.clear()

    async def aclose(self) -> None:
        """Finish the writes, then close the file (once an opening under way is done)."""
        await self.flush()
        self._off = True
        store = self.store
        if store is None and self._opening is not None:
            store = await asyncio.shield(self._opening)
        if store is None:
            return
        from localroute.results_store import StoreError  # loaded with the store

        with contextlib.suppress(StoreError):
            await asyncio.to_thread(store.close)
