"""The server reads its client from a pipe on the event loop, and keeps pygls' reader for
a terminal or a file — with the same answers either way, and nothing lost at the end."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from localroute.lsp import stdio
from localroute.lsp.stdio import DROPPED_LINE, PipeReader, reads_on_loop

pytestmark = pytest.mark.skipif(os.name != "posix", reason="pipe transports are POSIX here")


def message(payload: dict[str, object]) -> bytes:
    body = json.dumps(payload).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def test_pipes_and_sockets_are_read_on_the_loop_terminals_and_files_are_not(
    tmp_path: Path,
) -> None:
    read, write = os.pipe()
    left, right = socket.socketpair()
    primary, secondary = os.openpty()
    file = tmp_path / "input"
    file.write_bytes(b"")
    try:
        with (
            os.fdopen(read, "rb", closefd=False) as pipe,
            left.makefile("rb") as sock,
            os.fdopen(secondary, "rb", closefd=False) as tty,
            file.open("rb") as regular,
        ):
            assert reads_on_loop(pipe) and reads_on_loop(sock)
            assert not reads_on_loop(tty)  # asyncio would leave it non-blocking for the shell
            assert not reads_on_loop(regular)  # epoll cannot watch a regular file
    finally:
        for fd in (read, write, primary, secondary):
            os.close(fd)
        left.close()
        right.close()


@pytest.mark.parametrize("kind", ["pipe", "socket"])
async def test_messages_split_anywhere_read_whole_and_the_end_reads_empty(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stdio, "LINE_LIMIT", 64)
    if kind == "pipe":
        read, write = os.pipe()
        reader = PipeReader(os.fdopen(read, "rb"))
        send, close = functools.partial(os.write, write), functools.partial(os.close, write)
    else:
        ours, theirs = socket.socketpair()
        reader = PipeReader(ours.makefile("rb"))
        send, close = theirs.sendall, theirs.close
    first = message({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}})
    data = first + b"X" * 100 + b"\r\nContent-Length: 5\r\n\r\n{}"

    async def feed() -> None:
        for i in range(0, len(data), 7):  # in pieces that cut lines and bodies
            send(data[i : i + 7])
            await asyncio.sleep(0)
        close()

    feeding = asyncio.create_task(feed())
    assert await reader.readline() == first.split(b"\r\n")[0] + b"\r\n"
    assert await reader.readline() == b"\r\n"
    body = first.split(b"\r\n\r\n", 1)[1]
    assert await reader.readexactly(len(body)) == body
    # A header line past the limit is dropped (its tail, once it comes, reads as another
    # unknown header line), and the next message is read as usual.
    assert await reader.readline() == DROPPED_LINE
    skipped = []
    while (line := await reader.readline()) != b"Content-Length: 5\r\n":
        assert line.strip(), "a blank line here would start a body too early"
        skipped.append(line)
    assert len(skipped) <= 1
    assert await reader.readline() == b"\r\n"
    # The client went away in the middle of a body: what came is returned, then the end.
    assert await reader.readexactly(5) == b"{}"
    assert await reader.readline() == b""
    await feeding


@pytest.mark.parametrize("stdin_kind", ["pipe", "file"])
def test_the_server_answers_from_a_pipe_and_from_a_file(stdin_kind: str, tmp_path: Path) -> None:
    """The same session from either reader: `initialize` answered, then a clean exit, with
    no traceback though `exit` comes while `initialized` may still run."""
    session = b"".join(
        [
            message(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {"processId": None, "rootUri": None, "capabilities": {}},
                }
            ),
            message({"jsonrpc": "2.0", "method": "initialized", "params": {}}),
            message({"jsonrpc": "2.0", "method": "exit"}),
        ]
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "server"),
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "LOCALROUTE_CONFIG": str(tmp_path / "none.toml"),
    }
    argv = [sys.executable, "-m", "localroute", "serve", "--log-level", "DEBUG"]
    if stdin_kind == "pipe":
        done = subprocess.run(argv, input=session, capture_output=True, env=env, timeout=60)
    else:
        file = tmp_path / "session"
        file.write_bytes(session)
        with file.open("rb") as stdin:
            done = subprocess.run(argv, stdin=stdin, capture_output=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    answers = [
        json.loads(part.split(b"\r\n\r\n", 1)[1])
        for part in done.stdout.split(b"Content-Length: ")[1:]
    ]
    by_id = {answer.get("id"): answer for answer in answers if "id" in answer}
    assert by_id[1]["result"]["serverInfo"]["name"] == "localroute"
    assert b"Traceback" not in done.stderr
    on_loop = b"reading the client from a pipe on the event loop" in done.stderr
    assert on_loop == (stdin_kind == "pipe")
