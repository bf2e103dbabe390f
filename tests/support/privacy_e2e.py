"""Helpers for the end-to-end privacy tests: a recording cloud fake, a local model that is
down, the real CLI and a real language server started with any `initialize` a client
may send.

Every private document in these tests carries marker words; a test proves a leak did
not happen by looking for them in every byte the cloud fake received (any path, any
method), not only in the chat requests it parsed.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import textwrap
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.ports import closed_port_url
from tests.support import cli

# An AWS access key id (the detector's best-known kind), split so that scanners of this
# repository do not flag the test itself.
AWS_KEY = "AKIA" + "Q3T7WX2LPZK5N8RV"
REQUEST_FAILED = -32803
NO_FINDINGS = '{"findings": []}'


def cloud_config(
    cloud: FakeOpenAI | str,
    *,
    local_url: str | None = None,
    extra: str = "",
    cloud_extra: str = "",
    local_extra: str = "",
) -> str:
    """A user file: `local` where nothing listens, `cloud` the recording fake (marked
    cloud), review/explain and custom tasks `ask` (hover) and `lint` (diagnostics), all
    routed local first, then cloud."""
    url = cloud.url if isinstance(cloud, FakeOpenAI) else cloud
    return textwrap.dedent(
        """
        [backends.local]
        kind = "openai"
        url = "{local}"
        connect_timeout_s = 0.5
        {local_extra}
        [backends.cloud]
        kind = "openai"
        url = "{cloud}"
        locality = "cloud"
        connect_timeout_s = 1.0
        {cloud_extra}
        [tasks.review]
        route = ["local:coder", "cloud:big"]
        [tasks.explain]
        route = ["local:coder", "cloud:big"]
        [tasks.ask]
        title = "Ask"
        prompt = "Answer about {{path}}:\\n{{code}}"
        output = "hover"
        route = ["local:coder", "cloud:big"]
        [tasks.lint]
        prompt = "Lint {{path}}:\\n{{numbered_code}}"
        output = "diagnostics"
        route = ["local:coder", "cloud:big"]
        """
    ).format(
        local=local_url or closed_port_url(),
        cloud=url,
        local_extra=local_extra,
        cloud_extra=cloud_extra,
    ) + textwrap.dedent(extra)


def received(fake: FakeOpenAI) -> str:
    """Every byte the fake received, every request, decoded (JSON escapes undone too)."""
    parts: list[str] = []
    for request in fake.requests:
        parts.append(request.path)
        parts.append(request.body.decode("utf-8", "replace"))
        if request.json is not None:
            parts.append(json.dumps(request.json, ensure_ascii=False))
    return "\n".join(parts)


def assert_not_received(fake: FakeOpenAI, *markers: str) -> None:
    """No marker of a private document reached ``fake`` in any form."""
    seen = received(fake)
    leaked = [m for m in markers if m in seen]
    assert not leaked, f"private text reached the cloud fake: {leaked}"


def prompts(fake: FakeOpenAI) -> list[str]:
    return [r.json["messages"][-1]["content"] for r in fake.chat_requests]


# -- the command line -------------------------------------------------------------------


def cli_env(home: Path, config: str | None, **extra: str) -> dict[str, str]:
    """The environment of a CLI run or server: configuration, state and home under ``home``
    (the user file ``user-config.toml``, written from ``config``; None: no user file)."""
    home.mkdir(parents=True, exist_ok=True)
    path = None
    if config is not None:
        path = home / "user-config.toml"
        path.write_text(textwrap.dedent(config))
    return cli.localroute_env(
        config=path, config_home=home / ".config", state_home=home / ".state", home=home, **extra
    )


def run_cli(
    home: Path,
    config: str | None,
    *args: str,
    cwd: Path,
    timeout: float = 60,
    **extra_env: str,
) -> subprocess.CompletedProcess[str]:
    return cli.run_localroute(
        *args, env=cli_env(home, config, **extra_env), cwd=cwd, timeout=timeout
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def audit_entries(home: Path) -> list[dict[str, Any]]:
    return cli.audit_entries(home / ".state")


def project(base: Path, files: dict[str, str], *, marker: str = ".git") -> Path:
    """A project directory with a root marker (``.git`` directory, or a workspace file
    when ``marker`` ends in ``.toml``) and ``files`` (relative path → text)."""
    base.mkdir(parents=True, exist_ok=True)
    if marker == ".git":
        (base / ".git").mkdir(exist_ok=True)
    elif marker:
        (base / marker).write_text("")
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, newline="")
    return base


# -- the language server ------------------------------------------------------------------


class Lsp:
    """One real `localroute serve` and helpers to drive it."""

    def __init__(self, client: LanguageClient, home: Path) -> None:
        self.client = client
        self.home = home
        self._versions: dict[str, int] = {}

    def open(self, uri: str, text: str, language: str = "python") -> str:
        self._versions[uri] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language, version=1, text=text
                )
            )
        )
        return uri

    def replace(self, uri: str, text: str) -> None:
        """Replace the whole text of an open document (a full-text change)."""
        self._versions[uri] = self._versions.get(uri, 1) + 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=self._versions[uri]
                ),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    async def command(self, name: str, argument: dict[str, Any]) -> Any:
        return await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=name, arguments=[argument])
        )

    async def error(self, name: str, argument: dict[str, Any]) -> JsonRpcException:
        """Run a command that must fail; its JSON-RPC error."""
        try:
            result = await self.command(name, argument)
        except JsonRpcException as exc:
            return exc
        raise AssertionError(f"{name} {argument} succeeded: {result}")

    async def refused(self, name: str, argument: dict[str, Any]) -> JsonRpcException:
        """A command that must be refused for privacy (RequestFailed, says so, sent nothing)."""
        exc = await self.error(name, argument)
        assert exc.code == REQUEST_FAILED, exc
        assert exc.message.startswith("refused: "), exc.message
        assert "Nothing was sent." in exc.message, exc.message
        return exc

    async def action_titles(self, uri: str, start: int, end: int) -> list[str]:
        result = await self.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(
                    start=types.Position(line=start, character=0),
                    end=types.Position(line=end + 1, character=0),
                ),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        return [action.title for action in result or []]

    def folders_changed(self, added: Iterable[Path] = (), removed: Iterable[Path] = ()) -> None:
        def folders(paths: Iterable[Path]) -> list[types.WorkspaceFolder]:
            return [types.WorkspaceFolder(uri=p.as_uri(), name=p.name) for p in paths]

        self.client.workspace_did_change_workspace_folders(
            types.DidChangeWorkspaceFoldersParams(
                event=types.WorkspaceFoldersChangeEvent(
                    added=folders(added), removed=folders(removed)
                )
            )
        )

    def messages(self, kind: types.MessageType | None = None) -> list[str]:
        return [m.message for m in self.client.messages if kind is None or m.type == kind]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.02)


def range_json(start: int, end: int, end_character: int = 0) -> dict[str, Any]:
    """Lines start..end (0-based, inclusive) as an editor sends a line selection."""
    if end_character:
        return {
            "start": {"line": start, "character": 0},
            "end": {"line": end, "character": end_character},
        }
    return {"start": {"line": start, "character": 0}, "end": {"line": end + 1, "character": 0}}


_UNSET: Any = object()


def _uri(folder: Path | str) -> str:
    """A folder as a URI (a string is one already, e.g. a Windows client's)."""
    return folder if isinstance(folder, str) else folder.as_uri()


@asynccontextmanager
async def lsp_server(
    home: Path,
    config: str | None,
    *,
    folders: Iterable[Path | str] | None = None,
    root_uri: str | None = _UNSET,
    root_path: str | None = None,
    settings: Any = None,
    configuration: dict[str, Any] | None = None,
    client: str = "visual-studio-code",
    env: dict[str, str] | None = None,
) -> AsyncIterator[Lsp]:
    """Start a server the way a client of ``client``'s capabilities would, with exactly
    the workspace information given (``folders=None`` sends no workspace folders;
    ``root_uri`` defaults to the first folder's URI; a folder given as a string is a URI)."""
    folder_list = None if folders is None else [_uri(f) for f in folders]
    if root_uri is _UNSET:
        root_uri = folder_list[0] if folder_list else None
    lsp_client = make_test_lsp_client()
    if configuration is not None:
        lsp_client.set_configuration(configuration)
    await lsp_client.start_io(*cli.LOCALROUTE, "serve", env=cli_env(home, config, **(env or {})))
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(client),
            root_uri=root_uri,
            root_path=root_path,
            workspace_folders=None
            if folder_list is None
            else [types.WorkspaceFolder(uri=u, name=u.rsplit("/", 1)[-1]) for u in folder_list],
            initialization_options=settings,
        )
    )
    try:
        yield Lsp(lsp_client, home)
    finally:
        await lsp_client.shutdown_session()
        await lsp_client.stop()


def run_cli_on_tty(
    home: Path, config: str | None, *args: str, cwd: Path, answer: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the CLI with a terminal as its standard input, typing ``answer`` into it."""
    import pty

    controller, terminal = pty.openpty()
    try:
        os.write(controller, answer.encode())
        return subprocess.run(
            [*cli.LOCALROUTE, *args],
            cwd=cwd,
            env=cli_env(home, config),
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    finally:
        os.close(terminal)
        os.close(controller)
