"""The smallest pygls language server, a baseline for start-up time and memory.

``python bench/minimal_server.py`` answers `initialize` with pygls' defaults and idles;
``--import httpx,pydantic`` first imports those modules, as any server that talks HTTP
and validates configuration with them must; ``--model`` then builds and uses one
pydantic model (pydantic 2 imports its machinery only then).

``--forward URL --body FILE`` gives it the command ``localroute.review`` (P1's floor):
it POSTs FILE's bytes (read at start) to URL with httpx, reads the streamed
answer to its end, publishes one diagnostic for the ``uri`` of its argument and
answers — what any LSP server that asks a model over HTTP must do, and nothing else.
``--client localroute`` POSTs with the client localroute gives a plain-HTTP backend
(``localroute.backends.http.client_for``) instead of a plain ``httpx.AsyncClient``.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--import", dest="modules", default="", help="comma-separated modules")
    parser.add_argument("--model", action="store_true", help="build and use one pydantic model")
    parser.add_argument("--forward", metavar="URL", help="answer localroute.review via URL")
    parser.add_argument("--body", type=Path, help="the body to POST (with --forward)")
    parser.add_argument("--client", choices=("httpx", "localroute"), default="httpx")
    args = parser.parse_args()
    for name in filter(None, args.modules.split(",")):
        importlib.import_module(name)
    if args.model:
        import pydantic

        class Settings(pydantic.BaseModel):
            name: str = "minimal"
            timeout_s: float = 1.5

        Settings.model_validate({"name": "minimal"})
    server = LanguageServer("minimal", "1")
    if args.forward:
        _forwarding(server, args.forward, args.body, args.client)
    server.start_io()
    return 0


def _forwarding(server: LanguageServer, url: str, body_file: Path, client: str) -> None:
    # Run as a script, its own folder is first on sys.path: the sibling is importable.
    from raw_server import http_client

    body = body_file.read_bytes()
    state: dict[str, Any] = {}

    @server.command("localroute.review")
    async def review(ls: LanguageServer, *arguments: Any) -> dict[str, Any]:
        if "client" not in state:
            state["client"] = http_client(client, url)
        uri = arguments[0]["uri"]
        async with state["client"].stream(
            "POST", url, content=body, headers={"Content-Type": "application/json"}
        ) as response:
            async for _ in response.aiter_lines():
                pass
        where = types.Range(types.Position(1, 0), types.Position(1, 20))
        diagnostic = types.Diagnostic(where, "b may be zero", types.DiagnosticSeverity.Warning)
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[diagnostic])
        )
        return {"findings": [{"line": 2, "message": "b may be zero"}]}


if __name__ == "__main__":
    raise SystemExit(main())
