"""The floor below pygls: a JSON-RPC server on stdio in plain asyncio, for P1.

No pygls, no lsprotocol, no validation: it reads each message's header and body from a
pipe on the event loop, answers ``initialize`` and ``shutdown``, and gives
``workspace/executeCommand`` (any command) what ``bench/minimal_server.py --forward``
gives ``localroute.review``: it POSTs the body read at start to the URL, reads the
streamed answer to its end, publishes one diagnostic for the ``uri`` of its argument
and answers. Each message is written with one ``write`` and a flush.

``--client httpx`` (the default) POSTs with a plain ``httpx.AsyncClient``, the client
P1's direct calls use, so that its round trip minus theirs is the stdio JSON-RPC alone:
two process hops there and back, three messages. ``--client localroute`` POSTs with the
client localroute gives a plain-HTTP backend (``localroute.backends.http.client_for``):
the least any server on localroute's HTTP stack could add.

Nothing here is a language server anyone should use: it exists to show what the
machine charges for the hops themselves (``python -m bench.p1_overhead``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx


async def serve(url: str, body: bytes, client: httpx.AsyncClient) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer

    def send(message: dict[str, Any]) -> None:
        data = json.dumps({"jsonrpc": "2.0", **message}, separators=(",", ":")).encode()
        out.write(b"Content-Length: %d\r\n\r\n%s" % (len(data), data))
        out.flush()

    async def review(message: dict[str, Any]) -> None:
        uri = message["params"]["arguments"][0]["uri"]
        headers = {"Content-Type": "application/json"}
        async with client.stream("POST", url, content=body, headers=headers) as response:
            async for _ in response.aiter_lines():
                pass
        where = {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 20}}
        diagnostic = {"range": where, "message": "b may be zero", "severity": 2}
        params = {"uri": uri, "diagnostics": [diagnostic]}
        send({"method": "textDocument/publishDiagnostics", "params": params})
        findings = [{"line": 2, "message": "b may be zero"}]
        send({"id": message["id"], "result": {"findings": findings}})

    running: set[asyncio.Task[None]] = set()
    while (message := await _read(reader)) is not None:
        method = message.get("method")
        if method == "exit":
            return
        if method == "initialize":
            commands = {"executeCommandProvider": {"commands": ["localroute.review"]}}
            send({"id": message["id"], "result": {"capabilities": commands}})
        elif method == "workspace/executeCommand":
            task = asyncio.ensure_future(review(message))
            running.add(task)
            task.add_done_callback(running.discard)
        elif method is not None and "id" in message:  # shutdown, or anything else asked
            send({"id": message["id"], "result": None})


async def _read(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    length = 0
    while (line := await reader.readline()) != b"\r\n":
        if not line:
            return None
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    message: dict[str, Any] = json.loads(await reader.readexactly(length))
    return message


def http_client(kind: str, url: str) -> httpx.AsyncClient:
    """``httpx``: a plain ``httpx.AsyncClient``; ``localroute``: what localroute gives a
    local plain-HTTP backend at ``url``'s folder."""
    if kind == "httpx":
        return httpx.AsyncClient(timeout=30)
    from localroute.backends.http import client_for
    from localroute.config.models import backend_config

    return client_for(backend_config(kind="openai", url=url.rsplit("/", 1)[0]), "local")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--forward", metavar="URL", required=True, help="where to POST")
    parser.add_argument("--body", type=Path, required=True, help="the body to POST")
    parser.add_argument("--client", choices=("httpx", "localroute"), default="httpx")
    args = parser.parse_args()
    client = http_client(args.client, args.forward)
    asyncio.run(serve(args.forward, args.body.read_bytes(), client))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
