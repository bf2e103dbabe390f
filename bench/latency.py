"""The server's own overhead, measured over a real stdio LSP session.

With an instant fake backend (tests/fakes/openai_fake.py on loopback):
- review: `workspace/executeCommand localroute.review` → its diagnostics arrive;
- review with the local backend refused (closed port) → the fallback answers;
- code actions: `textDocument/codeAction` on a selection.

Each figure is the median (and p90) of N runs, `refresh: true` so the result cache
does not answer. Run: `make bench` or `.venv/bin/python bench/latency.py [-n 50]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.openai_fake import FakeOpenAI  # noqa: E402

SOURCE = "def divide(a, b):\n    total = a / b\n    return total\n" * 20
ANSWER = '{"findings": [{"line": 2, "severity": "warning", "message": "b may be zero"}]}'


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def config_text(local_url: str, cloud_url: str) -> str:
    return f"""
[backends.local]
kind = "openai"
url = "{local_url}"
connect_timeout_s = 0.5
[backends.cloud]
kind = "openai"
url = "{cloud_url}"
locality = "cloud"
[tasks.review]
route = ["local:coder", "cloud:big"]
[tasks.explain]
route = ["local:coder", "cloud:big"]
"""


class Session:
    def __init__(self, config: Path, workspace: Path) -> None:
        self.client = LanguageClient("localroute-bench", "1")
        self.config = config
        self.workspace = workspace
        self.diagnostics = asyncio.Event()

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
            if params.diagnostics:
                self.diagnostics.set()

    async def start(self) -> str:
        env = {**os.environ, "LOCALROUTE_CONFIG": str(self.config)}
        await self.client.start_io(sys.executable, "-m", "localroute", "serve", env=env)
        await self.client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(),
                workspace_folders=[types.WorkspaceFolder(uri=self.workspace.as_uri(), name="w")],
            )
        )
        self.client.initialized(types.InitializedParams())
        path = self.workspace / "calc.py"
        path.write_text(SOURCE)
        uri = path.as_uri()
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=SOURCE
                )
            )
        )
        return uri

    async def review(self, uri: str) -> None:
        self.diagnostics.clear()
        await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="localroute.review",
                arguments=[{"uri": uri, "refresh": True}],
            )
        )
        await self.diagnostics.wait()

    async def code_actions(self, uri: str) -> None:
        await self.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(
                    start=types.Position(line=0, character=0),
                    end=types.Position(line=3, character=0),
                ),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


async def timed(n: int, action: Callable[[], Awaitable[None]]) -> list[float]:
    await action()  # warm-up: imports, connections, first probe
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


async def measure(n: int) -> list[tuple[str, list[float]]]:
    rows: list[tuple[str, list[float]]] = []
    with FakeOpenAI() as local, FakeOpenAI() as cloud, tempfile.TemporaryDirectory() as tmp:
        local.answer = cloud.answer = ANSWER
        for label, local_url in (
            ("review → diagnostics, local answers", local.url),
            ("review → diagnostics, local refused → fallback", closed_port_url()),
        ):
            config = Path(tmp) / "config.toml"
            config.write_text(config_text(local_url, cloud.url))
            workspace = Path(tmp) / "ws"
            workspace.mkdir(exist_ok=True)
            session = Session(config, workspace)
            uri = await session.start()
            rows.append((label, await timed(n, partial(session.review, uri))))
            if local_url == local.url:
                rows.append(
                    (
                        "code actions on a selection",
                        await timed(n, partial(session.code_actions, uri)),
                    )
                )
            await session.stop()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=50, help="runs per figure (default 50)")
    args = parser.parse_args()
    rows = asyncio.run(measure(args.n))
    print(f"{'measurement':<50} {'median ms':>10} {'p90 ms':>8} {'n':>4}")
    for label, samples in rows:
        p90 = statistics.quantiles(samples, n=10)[-1]
        print(f"{label:<50} {statistics.median(samples):>10.2f} {p90:>8.2f} {len(samples):>4}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
