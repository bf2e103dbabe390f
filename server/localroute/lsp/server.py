"""The language server: owns the policy store, the pipeline and the per-document results."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from localroute import __version__
from localroute.identity import identify, identify_path
from localroute.lsp.documents import DocumentAnchors
from localroute.lsp.protocol import LocalrouteProtocol

if TYPE_CHECKING:
    from localroute.lsp.results import ExplanationRecord, FindingRecord
    from localroute.pipeline import Pipeline
    from localroute.policy import PolicyStore

log = logging.getLogger(__name__)

SHUTDOWN_WAIT_S = 2.0


class LocalrouteServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("localroute", __version__, protocol_cls=LocalrouteProtocol)
        self._store: PolicyStore | None = None
        self._pipeline: Pipeline | None = None
        self.findings: DocumentAnchors[FindingRecord] = DocumentAnchors()
        self.explanations: DocumentAnchors[ExplanationRecord] = DocumentAnchors()
        self.init_settings: Any = None
        self.pulled_settings: Any = None
        self.deliver_later = False
        """Answer long commands at once and deliver their results by notification
        (clients that wait for `workspace/executeCommand` with a short timeout)."""
        self.last_fallback: tuple[str, ...] = ()
        """The fallback last reported to the user (shown again only when it changes)."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._audit_config: object = None

    @property
    def store(self) -> PolicyStore:
        """Made on first use, from the folders and settings known by then: answering
        `initialize` waits for no configuration (nor for the modules that read it)."""
        if self._store is None:
            from localroute.policy import PolicyStore

            self._store = PolicyStore(
                editor_settings=self.current_settings(),
                workspace_folders=self.workspace_paths(),
                client_root=self.client_root(),
            )
        return self._store

    @property
    def pipeline(self) -> Pipeline:
        """Made on first use, like :attr:`store`."""
        if self._pipeline is None:
            from localroute.pipeline import Pipeline
            from localroute.results_cache import ResultsCache

            cache = ResultsCache.open(self.store.base().config.cache)
            self._pipeline = Pipeline(self.store, results=cache)
            self._refresh_audit()
        return self._pipeline

    @property
    def config(self) -> Any:
        return self.pipeline.config

    def _refresh_audit(self) -> None:
        from localroute.audit import audit_log_for

        pipeline = self.pipeline
        if pipeline.config.audit != self._audit_config:
            self._audit_config = pipeline.config.audit
            if pipeline.audit is not None:
                pipeline.audit.close()
            pipeline.audit = audit_log_for(pipeline.config.audit)

    # -- the workspace and the settings -----------------------------------------------

    def workspace_paths(self) -> tuple[str, ...]:
        try:
            folders = list(self.workspace.folders.values())
        except RuntimeError:
            return ()
        paths = (identify(folder.uri).path for folder in folders)
        return tuple(p for p in paths if p)

    def client_root(self) -> str | None:
        try:
            root_uri = self.workspace.root_uri
        except RuntimeError:
            return None
        return identify(root_uri).path if root_uri else None

    def update_workspace(self) -> None:
        if self._store is not None:  # else the store reads the folders when it is made
            self._store.set_workspace(self.workspace_paths(), self.client_root())

    def current_settings(self) -> Any:
        return self.pulled_settings if self.pulled_settings else self.init_settings

    def apply_settings(self) -> None:
        """Use the latest editor settings; report what is wrong with any source."""
        self.store.set_editor_settings(self.current_settings())
        if self.pipeline.sync():
            self._refresh_audit()
            self.health_watch()
        # Read each folder's workspace files now, so their problems show before a request.
        for folder in self.workspace_paths():
            self.store.policy_for(identify_path(os.path.join(folder, ".localroute")))
        self.report_problems()

    def report_problems(self) -> None:
        """Show each configuration problem once (file, key, reason, and what happens)."""
        for problem in self.store.new_problems():
            if problem.severity == "error":
                kind = types.MessageType.Error
                suffix = (
                    "; files it covers are treated as private until it is fixed"
                    if problem.key.startswith("privacy") or not problem.key
                    else "; its backends and routes are not used"
                )
            else:
                kind, suffix = types.MessageType.Warning, ""
            self.show(f"localroute configuration: {problem}{suffix}", kind)

    # -- background work --------------------------------------------------------------

    def run_task(self, coroutine: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        """Keep a background task alive and log its failure."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("%s failed: %s", what, t.exception())

        task.add_done_callback(done)
        return task

    def health_watch(self) -> None:
        """Keep the availability of local and private-network backends fresh.

        Cloud backends are probed only on demand (status, predicting a route for
        code that may go there): no background chatter leaves the network.
        """
        pipeline = self.pipeline
        pipeline.health.start(
            lambda: [name for name, loc in pipeline.localities().items() if loc != "cloud"]
        )

    def report_server_error(self, error: Exception, source: Any) -> None:
        """pygls would show every unreadable notification as an error popup (a client's
        harmless race, like a change before an open, among them): log it instead."""
        log.warning("%s: %s", getattr(source, "__name__", source), error)

    def show(self, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        log.info("showMessage: %s", message)
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    async def aclose(self) -> None:
        """Shut down: cancel the requests still running (their clients get -32800 and
        their HTTP streams close), then the background tasks, then the backends."""
        current = asyncio.current_task()
        running: list[asyncio.Future[Any]] = []
        futures: list[object] = list(self.protocol._request_futures.values())
        for future in futures:
            # Requests run by async handlers are asyncio tasks; the rest finish by themselves.
            if isinstance(future, asyncio.Future) and future is not current and not future.done():
                running.append(future)
        for future in running:
            future.cancel()
        for task in list(self._tasks):
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=SHUTDOWN_WAIT_S)
        if self._pipeline is not None:
            await self._pipeline.aclose()
