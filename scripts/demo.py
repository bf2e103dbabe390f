"""`make demo`: a real review and a real explanation through the language server.

Starts the embedded local model (llama-cpp-python + the GGUF model package) on
loopback under the alias `coder`, starts `localroute serve` on stdio with a
configuration that points at it, opens examples/sample.py, runs
`localroute.review` and `localroute.explain` on a function, prints the
diagnostics and the hover text, and stops both servers.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from localroute import embedded

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample.py"


def _function_span(lines: list[str], name: str) -> tuple[int, int]:
    start = next(i for i, line in enumerate(lines) if line.startswith(f"def {name}"))
    end = start
    for i in range(start + 1, len(lines)):
        if lines[i].strip() and not lines[i].startswith((" ", "\t")):
            break
        if lines[i].strip():
            end = i
    return start, end


async def run_client(config_path: Path) -> None:
    client = LanguageClient("localroute-demo", "1")
    diagnostics: dict[str, list[types.Diagnostic]] = {}
    progress: list[str] = []

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
        diagnostics[params.uri] = list(params.diagnostics)

    @client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
    def on_create(params: types.WorkDoneProgressCreateParams) -> None:
        return None

    @client.feature(types.PROGRESS)
    def on_progress(params: types.ProgressParams) -> None:
        value = params.value if isinstance(params.value, dict) else {}
        if value.get("message"):
            progress.append(str(value["message"]))

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def on_message(params: types.ShowMessageParams) -> None:
        print(f"[server] {params.message}")

    env = {**os.environ, "LOCALROUTE_CONFIG": str(config_path)}
    await client.start_io(sys.executable, "-m", "localroute", "serve", env=env)
    await client.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(
                window=types.WindowClientCapabilities(work_done_progress=True)
            ),
            root_uri=ROOT.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=ROOT.as_uri(), name="localroute")],
        )
    )
    client.initialized(types.InitializedParams())

    text = SAMPLE.read_text()
    uri = SAMPLE.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=text
            )
        )
    )
    start, end = _function_span(text.splitlines(), "average_ratio")
    selection = {
        "start": {"line": start, "character": 0},
        "end": {"line": end + 1, "character": 0},
    }

    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(
                start=types.Position(line=start, character=0),
                end=types.Position(line=end + 1, character=0),
            ),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    print("Code actions:")
    for action in actions or []:
        print(f"  - {action.title}")

    print(f"\nReviewing {SAMPLE.relative_to(ROOT)} lines {start + 1}-{end + 1} …")
    began = time.monotonic()
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="localroute.review", arguments=[{"uri": uri, "range": selection}]
        )
    )
    print(f"review answered in {time.monotonic() - began:.1f} s: {result}")
    print("Diagnostics:")
    for d in diagnostics.get(uri, []):
        severity = d.severity.name if d.severity else "?"
        print(f"  line {d.range.start.line + 1} [{severity}] {d.message}  ({d.data})")
    if not diagnostics.get(uri):
        print("  (none: the model found nothing to report)")

    print(f"\nExplaining {SAMPLE.relative_to(ROOT)} lines {start + 1}-{end + 1} …")
    began = time.monotonic()
    try:
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="localroute.explain", arguments=[{"uri": uri, "range": selection}]
            )
        )
    except Exception as exc:  # the server's refusal, as the editor would show it
        # A tiny model may answer with nothing but the prompt pasted back; that is stopped
        # and reported as no answer rather than shown as an explanation.
        print(f"explain gave no explanation after {time.monotonic() - began:.1f} s: {exc}")
    else:
        print(f"explain answered in {time.monotonic() - began:.1f} s by {result['backend']}")
        hover = await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=start + 1, character=4),
            )
        )
        print("Hover text:")
        if hover is not None and isinstance(hover.contents, types.MarkupContent):
            for line in hover.contents.value.splitlines():
                print(f"  | {line}")
        else:
            raise SystemExit("demo failed: no hover text")
    if progress:
        print(f"\nProgress seen: {' · '.join(dict.fromkeys(progress))}")

    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()


def main() -> int:
    print("Starting the embedded local model (llama-cpp-python, gemma3 270M as 'coder') …")
    began = time.monotonic()
    server = embedded.start()
    # The model server ends with this process, however it ends (Ctrl-C, SIGTERM, SIGKILL).
    print(
        f"model server up at {server.url} in {time.monotonic() - began:.1f} s "
        f"(its log: {server.log_path})"
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "config.toml"
            # The backend table declares the server's context window and concurrency:
            # llama-cpp-python's server reports neither.
            config.write_text(
                server.backend_toml("local")
                + """
[tasks.review]
route = ["local:coder"]
[tasks.explain]
route = ["local:coder"]
"""
            )
            asyncio.run(run_client(config))
    finally:
        server.stop()
        print("model server stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
