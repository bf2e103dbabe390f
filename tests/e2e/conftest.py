"""End-to-end harness: a real `localroute serve` over stdio, driven by pytest-lsp's client."""

from __future__ import annotations

import asyncio
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

from tests.fakes.ports import closed_port_url as closed_port_url
from tests.support.cli import LOCALROUTE, localroute_env
from tests.support.cli import ROOT as ROOT


class Session:
    """One language server process and the workspace it was started on."""

    def __init__(self, client: LanguageClient, workspace: Path) -> None:
        self.client = client
        self.workspace = workspace
        self._versions: dict[str, int] = {}

    def open(self, relpath: str, text: str, language: str = "python") -> str:
        path = self.workspace / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        uri = path.as_uri()
        self._versions[uri] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language, version=1, text=text
                )
            )
        )
        return uri

    def insert(self, uri: str, line: int, text: str) -> None:
        """Insert text at the start of a line, as an editor's incremental change."""
        self._versions[uri] += 1
        position = types.Position(line=line, character=0)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=self._versions[uri]
                ),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=position, end=position), text=text
                    )
                ],
            )
        )

    async def command(self, name: str, argument: dict[str, Any]) -> Any:
        return await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=name, arguments=[argument])
        )

    def start_command(
        self, name: str, argument: dict[str, Any]
    ) -> tuple[asyncio.Future[Any], Callable[[], None]]:
        """Send a command without waiting: its pending answer, and what sends
        `$/cancelRequest` for it."""
        msg_id = str(uuid.uuid4())
        # pytest-lsp's send_request_async is a coroutine: it sends when first run.
        pending = asyncio.ensure_future(
            self.client.protocol.send_request_async(
                types.WORKSPACE_EXECUTE_COMMAND,
                types.ExecuteCommandParams(command=name, arguments=[argument]),
                msg_id=msg_id,
            )
        )

        def cancel() -> None:
            self.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))

        return pending, cancel

    async def hover(self, uri: str, line: int) -> types.Hover | None:
        return await self.client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=2),
            )
        )

    async def action_titles(self, uri: str, start: int, end: int) -> list[str]:
        result = await self.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=lines_range(start, end),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        # The client's converter reads a CodeAction that carries a command as a Command
        # (the union is ambiguous to it); both have the title, which is what is checked.
        return [action.title for action in result or []]

    def diagnostics(self, uri: str) -> list[types.Diagnostic]:
        return list(self.client.diagnostics.get(uri, []))

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.02)


def lines_range(start: int, end: int) -> types.Range:
    """Lines start..end (0-based, inclusive) as a selection ending at the next line's start."""
    return types.Range(
        start=types.Position(line=start, character=0),
        end=types.Position(line=end + 1, character=0),
    )


def range_json(start: int, end: int) -> dict[str, Any]:
    return {
        "start": {"line": start, "character": 0},
        "end": {"line": end + 1, "character": 0},
    }


@pytest.fixture
def start_session(tmp_path: Path) -> Callable[..., Any]:
    @asynccontextmanager
    async def start(
        config: str,
        *,
        settings: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        workspace_files: dict[str, str] | None = None,
        log_file: Path | None = None,
    ) -> AsyncIterator[Session]:
        home = tmp_path / "home"
        workspace = tmp_path / "workspace"
        workspace.mkdir(exist_ok=True)
        for name, text in (workspace_files or {}).items():
            (workspace / name).write_text(text)
        config_path = tmp_path / "config.toml"
        config_path.write_text(textwrap.dedent(config))
        server_env = localroute_env(
            config=config_path,
            config_home=home / ".config",
            state_home=home / ".state",
            cache_home=tmp_path / "cache",  # the one tests.support.cli.env_in gives a CLI run
            **(env or {}),
        )
        client = make_test_lsp_client()
        log_args = ["--log-file", str(log_file)] if log_file else []
        await client.start_io(*LOCALROUTE, "serve", *log_args, env=server_env)
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities("visual-studio-code"),
                root_uri=workspace.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="ws")],
                initialization_options=settings,
            )
        )
        try:
            yield Session(client, workspace)
        finally:
            await client.shutdown_session()
            await client.stop()

    return start
