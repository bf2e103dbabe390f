"""The language server: owns the configuration, the pipeline and the per-document results."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from localroute import __version__
from localroute.audit import audit_log_for
from localroute.config import sources
from localroute.config.models import Config, default_config
from localroute.lsp.documents import DocumentAnchors
from localroute.lsp.protocol import LocalrouteProtocol
from localroute.lsp.results import ExplanationRecord, FindingRecord
from localroute.pipeline import Pipeline

log = logging.getLogger(__name__)

SHUTDOWN_WAIT_S = 2.0


class LocalrouteServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("localroute", __version__, protocol_cls=LocalrouteProtocol)
        self.loaded = sources.LoadedConfig(default_config(copilot_available=False))
        self.pipeline = Pipeline(self.loaded.config)
        self.findings: DocumentAnchors[FindingRecord] = DocumentAnchors()
        self.explanations: DocumentAnchors[ExplanationRecord] = DocumentAnchors()
        self.init_settings: Any = None
        self.pulled_settings: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reported: set[str] = set()

    @property
    def config(self) -> Config:
        return self.pipeline.config

    def workspace_roots(self) -> tuple[str, ...]:
        from localroute.privacy import path_from_uri

        roots: list[str] = []
        try:
            folders = self.workspace.folders.values()
        except RuntimeError:
            return ()
        for folder in folders:
            path = path_from_uri(folder.uri)
            if path:
                roots.append(path)
        return tuple(roots)

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

    def load_initial_config(self) -> None:
        """Read the files and init options at `initialize`, so the first requests already
        route by the user's configuration; problems are shown once `initialized` arrives."""
        self.loaded = sources.load(
            workspace_folders=self.workspace_roots(), editor_settings=self.init_settings
        )
        self.pipeline = Pipeline(self.loaded.config, audit=audit_log_for(self.loaded.config.audit))

    async def reload_config(self) -> None:
        """Re-read every source; report problems; keep the last valid configuration."""
        settings = self.pulled_settings if self.pulled_settings else self.init_settings
        loaded = sources.load(workspace_folders=self.workspace_roots(), editor_settings=settings)
        fresh = [p for p in loaded.problems if str(p) not in self._reported]
        for problem in fresh:
            self._reported.add(str(problem))
            kind = (
                types.MessageType.Error
                if problem.severity == "error"
                else types.MessageType.Warning
            )
            suffix = "; using the rest of the configuration" if problem.severity == "error" else ""
            self.show(f"localroute configuration: {problem}{suffix}", kind)
        self.loaded = loaded
        if loaded.config != self.pipeline.config:
            await self.pipeline.reconfigure(loaded.config)
            self.pipeline.audit = audit_log_for(loaded.config.audit)
            self.health_watch()

    def health_watch(self) -> None:
        """Keep the availability of local and private-network backends fresh.

        Cloud backends are probed only on demand (status, predicting a route for
        code that may go there): no background chatter leaves the network.
        """
        pipeline = self.pipeline
        self.pipeline.health.start(
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
        await self.pipeline.aclose()
