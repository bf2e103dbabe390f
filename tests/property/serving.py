"""The real language server and the real command line, against loopback fakes.

A property that is cheap in process is also run, on a sample of its generated cases,
through ``localroute serve`` (pytest-lsp over stdio) or ``localroute review|route`` in a
subprocess. The local backend is a closed port (so every wrong verdict would go to the
cloud) and the cloud backend is a :class:`~tests.fakes.openai_fake.FakeOpenAI` labelled
``cloud`` by the user file, which records every request it receives.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

from tests.fakes.ports import closed_port
from tests.support.cli import LOCALROUTE, env_in, run_localroute

REFUSED = -32803


def user_config(cloud_url: str, *, globs: Sequence[str] = (), extra: str = "") -> str:
    """A user file: local down, a cloud fake, review routed local first."""
    return f"""
[backends.local]
kind = "openai"
url = "http://127.0.0.1:{closed_port()}/v1"
connect_timeout_s = 0.5
[backends.cloud]
kind = "openai"
url = "{cloud_url}"
locality = "cloud"
[tasks.review]
route = ["local:coder", "cloud:gpt"]
[privacy]
globs = {json.dumps(list(globs))}
{extra}
"""


@dataclass(frozen=True)
class Answer:
    kind: str  # "answered" | "refused" | "error"
    detail: str


class Editor:
    """One server session: open a document, ask for a review, see what came of it."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self._version = 0

    async def review(self, uri: str, text: str) -> Answer:
        self._version += 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="python", version=self._version, text=text
                )
            )
        )
        params = types.ExecuteCommandParams(command="localroute.review", arguments=[{"uri": uri}])
        try:
            result = await self.client.workspace_execute_command_async(params)
        except JsonRpcException as exc:
            kind = "refused" if exc.code == REFUSED else "error"
            return Answer(kind, f"{exc.code} {exc.message}")
        finally:
            self.client.text_document_did_close(
                types.DidCloseTextDocumentParams(
                    text_document=types.TextDocumentIdentifier(uri=uri)
                )
            )
        return Answer("answered", str((result or {}).get("backend")))


@asynccontextmanager
async def editor(
    home: Path,
    config_text: str,
    *,
    root_uri: str | None = None,
    folders: Sequence[str] = (),
    cwd: Path | None = None,
    settings: Any = None,
) -> AsyncIterator[Editor]:
    """A real `localroute serve` opened as an editor would: any mix of `rootUri` and
    workspace folders (or none), from any directory."""
    client = make_test_lsp_client()
    await client.start_io(*LOCALROUTE, "serve", env=env_in(home, config_text), cwd=str(cwd or home))
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=root_uri,
            workspace_folders=[
                types.WorkspaceFolder(uri=uri, name=f"folder{i}") for i, uri in enumerate(folders)
            ]
            or None,
            initialization_options=settings,
        )
    )
    try:
        yield Editor(client)
    finally:
        await client.shutdown_session()
        await client.stop()  # type: ignore[no-untyped-call]


def run_cli(
    home: Path,
    config_text: str | None,
    *args: str,
    cwd: Path,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m localroute ARGS` from ``cwd``, with the user file ``config_text``."""
    return run_localroute(*args, env=env_in(home, config_text, **(extra_env or {})), cwd=cwd)


def sent_texts(fake: Any) -> str:
    """Everything a fake received, as one string."""
    return json.dumps([r.json for r in fake.chat_requests], ensure_ascii=False)
