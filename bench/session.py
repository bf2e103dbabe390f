"""A real LSP client (pygls') driving a language server process over stdio.

It answers `window/workDoneProgress/create` at once, as VS Code does, and records every
message the server sends (method, time) so a benchmark can count what a request cost in
messages. The server's stderr is drained in the background: a full pipe would block it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from bench.common import PYTHON, rss_mib


@dataclass(frozen=True)
class Received:
    at: float
    """``time.perf_counter()`` when the client read it."""
    method: str
    """The method, ``$/progress:begin|report|end`` for progress."""


class Session:
    """One server process and its client. ``argv`` follows the Python executable."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        *,
        progress: bool = True,
        cwd: Path | None = None,
    ) -> None:
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.progress = progress
        self.client = LanguageClient("localroute-bench", "1")
        self.received: list[Received] = []
        self._diagnostics: dict[str, asyncio.Event] = {}
        self._drain: asyncio.Task[None] | None = None
        self.stderr = bytearray()
        self.spawned_at = 0.0
        self._register()

    def _note(self, method: str) -> None:
        self.received.append(Received(time.perf_counter(), method))

    def _register(self) -> None:
        client = self.client

        @client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def create(params: types.WorkDoneProgressCreateParams) -> None:
            self._note(types.WINDOW_WORK_DONE_PROGRESS_CREATE)

        @client.feature(types.PROGRESS)
        def progress(params: types.ProgressParams) -> None:
            value: Any = params.value
            kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", "?")
            self._note(f"$/progress:{kind}")

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def diagnostics(params: types.PublishDiagnosticsParams) -> None:
            self._note(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
            event = self._diagnostics.get(params.uri)
            if event is not None and params.diagnostics:
                event.set()

        @client.feature(types.WINDOW_SHOW_MESSAGE)
        def show(params: types.ShowMessageParams) -> None:
            self._note(types.WINDOW_SHOW_MESSAGE)

        @client.feature(types.WINDOW_LOG_MESSAGE)
        def log(params: types.LogMessageParams) -> None:
            self._note(types.WINDOW_LOG_MESSAGE)

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self.spawned_at = time.perf_counter()
        kwargs: dict[str, Any] = {"env": self.env}
        if self.cwd is not None:
            kwargs["cwd"] = str(self.cwd)
        await self.client.start_io(PYTHON, *self.argv, **kwargs)
        process = self.client._server
        if process is not None and process.stderr is not None:
            self._drain = asyncio.create_task(_drain(process.stderr, self.stderr))

    @property
    def pid(self) -> int:
        process = self.client._server
        if process is None:
            raise RuntimeError("not started")
        return process.pid

    def rss_mib(self) -> float:
        return rss_mib(self.pid)

    async def initialize(self, workspace: Path) -> float:
        """Send `initialize`; return when its answer arrived (``perf_counter``)."""
        capabilities = types.ClientCapabilities(
            window=types.WindowClientCapabilities(work_done_progress=self.progress),
        )
        await self.client.initialize_async(
            types.InitializeParams(
                capabilities=capabilities,
                process_id=None,
                root_uri=workspace.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="ws")],
            )
        )
        return time.perf_counter()

    def initialized(self) -> None:
        self.client.initialized(types.InitializedParams())

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.client.shutdown_async(None), 10)
            self.client.exit(None)
            await asyncio.wait_for(self.client.stop(), 10)
        except (TimeoutError, RuntimeError):
            process = self.client._server
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()
        if self._drain is not None:
            await asyncio.wait([self._drain], timeout=2)
            self._drain.cancel()

    # -- requests --------------------------------------------------------------------------

    def open(self, path: Path, text: str, language: str = "python") -> str:
        path.write_text(text)
        uri = path.as_uri()
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language, version=1, text=text
                )
            )
        )
        return uri

    async def review(self, uri: str, *, refresh: bool = True) -> Any:
        """`localroute.review` of the whole file; returns once its answer and its
        (non-empty) diagnostics have both arrived."""
        event = self._diagnostics.setdefault(uri, asyncio.Event())
        event.clear()
        result = await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="localroute.review", arguments=[{"uri": uri, "refresh": refresh}]
            )
        )
        await asyncio.wait_for(event.wait(), 30)
        return result

    async def timed_review(self, uri: str) -> tuple[float, Any]:
        """Milliseconds from sending the command to having its answer and diagnostics."""
        began = time.perf_counter()
        result = await self.review(uri)
        return (time.perf_counter() - began) * 1000, result

    def messages_since(self, since: float) -> Counter[str]:
        return Counter(r.method for r in self.received if r.at >= since)


async def _drain(stream: asyncio.StreamReader, into: bytearray) -> None:
    while chunk := await stream.read(65536):
        into.extend(chunk)
