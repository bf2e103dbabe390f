"""Hostile LSP input: ten thousand malformed and out-of-spec messages to one server.

One `localroute serve` process gets, over a raw stdio stream (the pygls client refuses to
serialize most of this), a hand-written list of adversarial messages and then a seeded
random campaign: wrong types, missing fields, negative and huge positions, ranges past the
end or reversed, unknown URIs and schemes, 10 MB documents, NUL bytes and lone surrogates,
open/change/close races on one URI, changes before open, double closes, unknown methods,
every command with wrong argument shapes, broken JSON-RPC envelopes. Every 500 messages a
sentinel hover must be answered within 5 s. Backends point at closed ports, so nothing
waits on the network.

The campaign runs once per module; each test checks one property of its record. Cases a
server bug keeps failing are strict xfails naming the bug; the figures are printed
(``pytest -s``) for docs/reliability.md.

A few hostile inputs would stop the campaign's server for good (they block its event loop
or eat its input stream); each has a test of its own with a server of its own, killed after.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import random
import resource
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pygls.protocol import LanguageServerProtocol, default_converter

from tests.e2e.conftest import closed_port_url
from tests.support.cli import LOCALROUTE, localroute_env

SEED = 20240606
MESSAGES = 10_000
"""Random messages after the hand-written list (sentinels and set-up come on top)."""
SENTINEL_EVERY = 500
SENTINEL_TIMEOUT_S = 5.0
SETTLE_TIMEOUT_S = 20.0
"""How long the requests still running at the end may take to be answered."""
EXIT_BUDGET_S = 5.0
BIG = 10 * 1024 * 1024

INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
INVALID_REQUEST = -32600

COMMANDS = (
    "localroute.review",
    "localroute.explain",
    "localroute.route",
    "localroute.status",
    "localroute.clear",
    "localroute.reviewFiles",
    "localroute.startBackend",
)

KNOWN_INTERNAL_ERRORS: dict[str, str] = {}
"""Internal errors accepted for now, by a piece of their message (none: every one found by
the campaign was fixed). Any other fails `test_no_other_request_fails_inside_the_server`."""


CAPABILITIES = {
    "window": {"workDoneProgress": True},
    "workspace": {"configuration": True},
    "general": {"positionEncodings": ["utf-16"]},
}


def config_text() -> str:
    return f"""
[backends.local]
kind = "openai"
url = "{closed_port_url()}"
connect_timeout_s = 0.2

[backends.second]
kind = "openai"
url = "{closed_port_url()}"
connect_timeout_s = 0.2
locality = "local"

[tasks.review]
route = ["local:coder", "second:coder"]

[tasks.explain]
route = ["local:coder", "second:coder"]

[tasks.deep]
output = "diagnostics"
prompt = "Review:\\n{{numbered_code}}"
route = ["second:coder"]

[tasks.ask]
prompt = "Explain {{path}}:\\n{{code}}"
route = ["local:coder"]
"""


# -- a raw JSON-RPC peer over the server's stdio ----------------------------------------------


def rpc_key(msg_id: Any) -> str:
    """A JSON-RPC id as a dictionary key: `1`, `"1"` and `true` stay distinct."""
    return json.dumps(msg_id, sort_keys=True)


class RawServer:
    """`localroute serve` with its stdio in our hands: framed bytes go in as they are.

    A writer thread sends; a reader thread parses what comes back, answers the server's
    own requests (progress, configuration) and files responses by id.
    """

    def __init__(self, workdir: Path, config: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workspace = workdir / "workspace"
        self.workspace.mkdir(exist_ok=True)
        self.config_path = workdir / "config.toml"
        self.config_path.write_text(config)
        env = localroute_env(
            config=self.config_path,
            config_home=workdir / "home" / ".config",
            state_home=workdir / "home" / ".state",
        )
        self.stderr_path = workdir / "server.log"
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [*LOCALROUTE, "serve", "--log-level", "WARNING"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=workdir,
        )
        # A runaway read must not take the machine with it.
        resource.prlimit(self.proc.pid, resource.RLIMIT_AS, (4 << 30, 4 << 30))
        self.responses: dict[str, dict[str, Any]] = {}
        self.duplicate_responses: list[tuple[str, dict[str, Any]]] = []
        self.notifications: Counter[str] = Counter()
        self.show_messages: list[tuple[int, str]] = []
        self.server_requests: Counter[str] = Counter()
        self.eof = False
        self._cond = threading.Condition()
        self._out: queue.Queue[tuple[bytes, threading.Event | None] | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, daemon=True)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._writer.start()
        self._reader.start()

    # sending

    def send_bytes(self, body: bytes, written: threading.Event | None = None) -> None:
        self._out.put((b"Content-Length: %d\r\n\r\n" % len(body) + body, written))

    def send(self, message: Any, written: threading.Event | None = None) -> None:
        self.send_bytes(json.dumps(message).encode(), written)

    def _write_loop(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        while (item := self._out.get()) is not None:
            data, written = item
            try:
                stdin.write(data)
                stdin.flush()
            except (BrokenPipeError, OSError):
                pass
            if written is not None:
                written.set()

    # receiving

    def _read_loop(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        while True:
            length = None
            while True:
                line = stdout.readline()
                if not line:
                    with self._cond:
                        self.eof = True
                        self._cond.notify_all()
                    return
                if not line.strip():
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            assert length is not None, "the server sent a frame without Content-Length"
            self._dispatch(json.loads(stdout.read(length)))

    def _dispatch(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method is not None and "id" in message:
            self.server_requests[method] += 1
            result: Any = None
            if method == "workspace/configuration":
                result = [{} for _ in message["params"]["items"]]
            self.send({"jsonrpc": "2.0", "id": message["id"], "result": result})
            return
        with self._cond:
            if method is not None:
                self.notifications[method] += 1
                if method == "window/showMessage":
                    params = message["params"]
                    self.show_messages.append((params["type"], params["message"]))
                return
            key = rpc_key(message.get("id"))
            if key in self.responses:
                self.duplicate_responses.append((key, message))
            else:
                self.responses[key] = message
            self._cond.notify_all()

    def wait_for(self, msg_id: Any, timeout: float) -> dict[str, Any] | None:
        key = rpc_key(msg_id)
        deadline = time.monotonic() + timeout
        with self._cond:
            while key not in self.responses and not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self.responses.get(key)

    def request(self, msg_id: Any, method: str, params: Any, timeout: float) -> Any:
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return self.wait_for(msg_id, timeout)

    def notify(self, method: str, params: Any) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def initialize(self) -> None:
        root = self.workspace.as_uri()
        answer = self.request(
            "init",
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": root,
                "capabilities": CAPABILITIES,
                "workspaceFolders": [{"uri": root, "name": "ws"}],
            },
            timeout=30,
        )
        assert answer is not None and "result" in answer, answer
        self.notify("initialized", {})

    def close(self) -> None:
        """Stop the process if it still runs and release the threads."""
        if self.alive():
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._out.put(None)
        self._writer.join(timeout=5)
        self._reader.join(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._stderr.close()


# -- what pygls can deserialize ----------------------------------------------------------------

_MIRROR = LanguageServerProtocol(
    SimpleNamespace(name="mirror", version="0"),
    default_converter(),
)


def deserializable(body: bytes) -> bool:
    """Whether pygls turns these bytes into a message, exactly as the server does.

    pygls structures every JSON object holding `jsonrpc` (also nested ones) with the LSP
    types; a request it cannot structure never reaches a handler.
    """
    log = logging.getLogger("pygls.protocol.json_rpc")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        json.loads(body, object_hook=_MIRROR.structure_message)
    except Exception:
        return False
    finally:
        log.setLevel(level)
    return True


# -- message builders ----------------------------------------------------------------------------

EXECUTE = "workspace/executeCommand"
REVIEW = "localroute.review"
START = "localroute.startBackend"
FILES = "localroute.reviewFiles"


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def at(line: Any, character: Any = 0) -> dict[str, Any]:
    return {"line": line, "character": character}


def span(start: dict[str, Any], end: dict[str, Any]) -> dict[str, Any]:
    return {"start": start, "end": end}


def hovering(uri: Any, position: dict[str, Any]) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": position}


def acting(
    uri: str, selection: dict[str, Any], diagnostics: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "textDocument": {"uri": uri},
        "range": selection,
        "context": {"diagnostics": diagnostics or []},
    }


def command(name: str, *arguments: Any) -> dict[str, Any]:
    return {"command": name, "arguments": list(arguments)}


def opened(uri: str, text: str, language: str = "python") -> dict[str, Any]:
    return {"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}}


# -- generators ---------------------------------------------------------------------------------

HUGE_INTS = (2**31 - 1, 2**31, 2**32, 2**53, 2**63, -(2**63), 10**30)
STRANGE_STRINGS = (
    "",
    " ",
    "\x00",
    "\ud800",
    "\udfff",
    "a\ud800b",
    "\U0001f600" * 3,
    "\u202e\u2066rtl",
    "e\u0301\u0301\u0301",
    "\r\n\r",
    "%00%2e%2e%2F",
    "../../../../etc/passwd",
    "x" * 10_000,
    "${HOME}",
    "'; DROP TABLE x; --",
)
GLOBS = ("**/*.py", "*", "**", "", "[", "[!", "*.{py,js}", "**/*.nope", "/etc/*", "\x00")


class Fuzz:
    """Seeded generators of hostile LSP messages over a pool of URIs."""

    def __init__(self, rng: random.Random, workspace: Path) -> None:
        self.rng = rng
        self.ws = workspace.as_uri()
        self.docs = [f"{self.ws}/doc_{i}.py" for i in range(12)]
        self.races = [f"{self.ws}/race_{i}.py" for i in range(3)]
        (workspace / "on_disk.py").write_text("def on_disk():\n    return 1\n")
        (workspace / "sub").mkdir(exist_ok=True)
        (workspace / "sub" / "nested.py").write_text("x = 1\n" * 50)
        self.strange_uris = [
            f"{self.ws}/on_disk.py",  # on disk, never opened
            f"{self.ws}/missing.py",
            f"{self.ws}/sub",  # a directory
            self.ws,
            "file:///",
            "file://",
            "file:",
            "",
            "untitled:Untitled-1",
            "vscode-notebook-cell:/nb.ipynb#W0sZmlsZQ%3D%3D",
            "http://example.invalid/x.py",
            "not a uri at all",
            f"{self.ws}/%2e%2e/%2e%2e/x.py",
            f"{self.ws}/a%00b.py",
            f"{self.ws}/\ud800.py",
            f"{self.ws}/a\x00b.py",
            f"{self.ws}/{'d' * 5000}.py",
            f"{self.ws}/q.py?query=1#frag",
            f"FILE://{workspace.as_posix()}/DOC_0.PY",
        ]

    # values

    def junk(self, depth: int = 0) -> Any:
        rng = self.rng
        roll = rng.random()
        if roll < 0.12:
            return None
        if roll < 0.22:
            return rng.choice((True, False))
        if roll < 0.40:
            return rng.choice((0, 1, -1, *HUGE_INTS, rng.randint(-1000, 1000)))
        if roll < 0.48:
            return rng.choice((0.5, -0.0, 1e308, -1e-308, 3.0))
        if roll < 0.70:
            return rng.choice(STRANGE_STRINGS)
        if roll < 0.85 or depth > 2:
            return [self.junk(depth + 1) for _ in range(rng.randint(0, 3))]
        keys = ("uri", "range", "line", "start", "end", "text", "id", "task", "jsonrpc", "x")
        return {rng.choice(keys): self.junk(depth + 1) for _ in range(rng.randint(0, 3))}

    def line(self) -> int:
        rng = self.rng
        return rng.choice((0, 1, 2, 5, 40, 1000, 2**31 - 1, rng.randint(0, 60)))

    def position(self) -> dict[str, Any]:
        return {"line": self.line(), "character": self.line()}

    def range(self) -> dict[str, Any]:
        start, end = self.position(), self.position()
        if self.rng.random() < 0.5 and (end["line"], end["character"]) < (
            start["line"],
            start["character"],
        ):
            # Half the ranges are put in order; the others stay as they came (often reversed).
            start, end = end, start
        return {"start": start, "end": end}

    def uri(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.55:
            return rng.choice(self.docs)
        if roll < 0.75:
            return rng.choice(self.races)
        return rng.choice(self.strange_uris)

    def text(self) -> str:
        rng = self.rng
        kind = rng.randrange(9)
        if kind == 0:
            return "".join(
                f"def f_{i}(x):\n    return x * {rng.randint(0, 99)}\n"
                for i in range(rng.randint(0, 40))
            )
        if kind == 1:
            return "".join(chr(rng.randrange(0, 256)) for _ in range(rng.randint(0, 3000)))
        if kind == 2:
            return "x = '\ud800'\ny = '\udfff\ud83d'\n" * rng.randint(1, 20)
        if kind == 3:
            return "\x00" * rng.randint(1, 5000)
        if kind == 4:
            return "\r\n".join("line\u2028sep\u0085nel" for _ in range(rng.randint(1, 200)))
        if kind == 5:
            return "y" * rng.randint(10_000, 60_000)  # one long line
        if kind == 6:
            return "\n" * rng.randint(1, 5000)
        if kind == 7:
            return "\U0001f600\u0301" * rng.randint(1, 2000)
        return ""

    # messages: each returns the JSON value of a request's params or a notification's

    def hover(self) -> dict[str, Any]:
        return {"textDocument": {"uri": self.uri()}, "position": self.position()}

    def code_action(self) -> dict[str, Any]:
        rng = self.rng
        diagnostics = []
        for _ in range(rng.randint(0, 3)):
            diagnostic: dict[str, Any] = {"range": self.range(), "message": "m"}
            if rng.random() < 0.7:
                diagnostic["source"] = "localroute"
            if rng.random() < 0.7:
                diagnostic["data"] = rng.choice(
                    (
                        {"suggestion": rng.choice(STRANGE_STRINGS)},
                        {"suggestion": "\n\n"},
                        {"suggestion": "    return 0\n"},
                        self.junk(),
                    )
                )
            diagnostics.append(diagnostic)
        return {
            "textDocument": {"uri": self.uri()},
            "range": self.range(),
            "context": {"diagnostics": diagnostics},
        }

    def command_argument(self, command: str) -> Any:
        rng = self.rng
        argument: dict[str, Any] = {}
        if command in ("localroute.review", "localroute.explain", "localroute.route"):
            argument["uri"] = self.uri()
            if rng.random() < 0.6:
                argument["range"] = self.range()
            if rng.random() < 0.3:
                argument["refresh"] = rng.random() < 0.5
            if rng.random() < 0.3:
                argument["task"] = rng.choice(("review", "explain", "deep", "ask", "nope"))
        elif command == "localroute.clear":
            argument["uri"] = self.uri()
        elif command == "localroute.reviewFiles":
            if rng.random() < 0.5:
                argument["uris"] = [rng.choice(self.docs + self.strange_uris[:4])]
            if rng.random() < 0.5:
                argument["glob"] = rng.choice(GLOBS)
            if rng.random() < 0.3:
                argument["jobs"] = rng.choice((1, 2, 0, -1, 10**9))
        elif command == "localroute.startBackend":
            argument["backend"] = rng.choice(("local", "second", "nope", ""))
        # Break it: a wrong type, a missing field, a negative line, an extra key.
        roll = rng.random()
        if roll < 0.25 and argument:
            argument[rng.choice(sorted(argument))] = self.junk()
        elif roll < 0.40 and argument:
            del argument[rng.choice(sorted(argument))]
        elif roll < 0.50 and "range" in argument:
            argument["range"]["start"]["line"] = rng.choice((-1, -(2**40), "0", 1.5, None))
        elif roll < 0.55:
            argument["unexpected"] = self.junk()
        return argument

    def execute_command(self) -> dict[str, Any]:
        rng = self.rng
        command = rng.choice((*COMMANDS, *COMMANDS, "localroute.nope", "", "x" * 300))
        shape = rng.random()
        params: dict[str, Any] = {"command": command}
        if shape < 0.55:
            params["arguments"] = [self.command_argument(command)]
        elif shape < 0.65:
            params["arguments"] = []
        elif shape < 0.75:
            params["arguments"] = [self.command_argument(command), self.junk()]
        elif shape < 0.90:
            params["arguments"] = [self.junk()]
        # else: no arguments at all
        return params

    def did_open(self, uri: str | None = None) -> dict[str, Any]:
        rng = self.rng
        return {
            "textDocument": {
                "uri": uri or self.uri(),
                "languageId": rng.choice(("python", "", "x" * 100, "\x00", "plaintext")),
                "version": rng.choice((1, 0, -5, 2**31 - 1)),
                "text": self.text(),
            }
        }

    def did_change(self, uri: str | None = None) -> dict[str, Any]:
        rng = self.rng
        changes = []
        for _ in range(rng.randint(1, 5)):
            if rng.random() < 0.2:
                changes.append({"text": self.text()})
            else:
                change: dict[str, Any] = {
                    "range": self.range(),
                    "text": rng.choice(("", "x", "\n", "a\nb\n", "\ud800", "\x00\n", "z" * 500)),
                }
                if rng.random() < 0.2:
                    change["rangeLength"] = rng.choice((0, 3, 2**31 - 1))
                changes.append(change)
        return {
            "textDocument": {"uri": uri or self.uri(), "version": rng.randint(-3, 10_000)},
            "contentChanges": changes,
        }

    def did_close(self, uri: str | None = None) -> dict[str, Any]:
        return {"textDocument": {"uri": uri or self.uri()}}

    def did_save(self) -> dict[str, Any]:
        params: dict[str, Any] = {"textDocument": {"uri": self.uri()}}
        if self.rng.random() < 0.5:
            params["text"] = self.text()
        return params

    def did_change_configuration(self) -> dict[str, Any]:
        # Only shapes that cannot name a reachable backend or a file to write.
        return {
            "settings": self.rng.choice(
                (
                    None,
                    {},
                    self.junk(),
                    {"localroute": self.junk()},
                    {"localroute": {"tasks": {"review": {"route": self.junk()}}}},
                    {"localroute": {"backends": {"local": {"kind": self.junk()}}}},
                    {"localroute": {"privacy": {"globs": [self.rng.choice(STRANGE_STRINGS)]}}},
                    {"localroute": {"cache": {"max_entries": self.junk()}}},
                )
            )
        }


def mutate(rng: random.Random, fuzz: Fuzz, value: Any) -> Any:
    """The same value with one field deleted, retyped or made negative/huge."""
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in node:
                paths.append((node, key))
                walk(node[key])
        elif isinstance(node, list):
            for index in range(len(node)):
                paths.append((node, index))
                walk(node[index])

    walk(value)
    if not paths:
        return fuzz.junk()
    parent, key = rng.choice(paths)
    roll = rng.random()
    if roll < 0.3 and isinstance(parent, dict):
        del parent[key]
    elif roll < 0.55:
        parent[key] = rng.choice((-1, -(2**31), 2**31, 2**64, -0.5))
    else:
        parent[key] = fuzz.junk()
    return value


# -- the campaign -------------------------------------------------------------------------------


@dataclass
class Sent:
    kind: str
    """`request` (pygls can deserialize it), `ill-typed request` (it cannot),
    `notification`, `ill-typed notification`, `envelope` (broken JSON-RPC framing of
    the message itself: invalid JSON, no or wrong `jsonrpc`, bad id, batch, scalar)."""
    method: str
    label: str = ""


@dataclass
class Campaign:
    messages: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    requests: dict[str, Sent] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    sentinel_latencies: list[float] = field(default_factory=list)
    slow_sentinels: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    envelope_ids: set[str] = field(default_factory=set)
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicate_responses: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    notifications_received: Counter[str] = field(default_factory=Counter)
    server_requests: Counter[str] = field(default_factory=Counter)
    show_messages: list[tuple[int, str]] = field(default_factory=list)
    final_status: dict[str, Any] | None = None
    shutdown_answer: dict[str, Any] | None = None
    after_shutdown_answer: dict[str, Any] | None = None
    exit_code: int | None = None
    exit_seconds: float = 0.0
    rss_start_kb: int = 0
    rss_end_kb: int = 0
    elapsed_s: float = 0.0
    stderr_tail: str = ""

    def answer(self, label: str) -> dict[str, Any] | None:
        return self.responses.get(self.labels[label])

    def requests_of(self, kind: str) -> dict[str, Sent]:
        return {i: s for i, s in self.requests.items() if s.kind == kind}


class Runner:
    def __init__(self, server: RawServer, fuzz: Fuzz, campaign: Campaign) -> None:
        self.server = server
        self.fuzz = fuzz
        self.rng = fuzz.rng
        self.c = campaign
        self._serial = 0
        self.since_sentinel = 0
        self.sentinel_uri = f"{fuzz.ws}/sentinel.py"
        self.recent_ids: list[Any] = []

    def _next_id(self) -> Any:
        self._serial += 1
        # Both id types the protocol allows.
        return self._serial if self._serial % 2 else f"r{self._serial}"

    def _count(self, kind: str) -> None:
        self.c.messages += 1
        self.c.by_kind[kind] += 1
        self.since_sentinel += 1

    def request(self, method: str, params: Any, label: str = "", *, omit: bool = False) -> Any:
        msg_id = self._next_id()
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if not omit:
            message["params"] = params
        body = json.dumps(message).encode()
        kind = "request" if deserializable(body) else "ill-typed request"
        self.c.requests[rpc_key(msg_id)] = Sent(kind, method, label)
        if label:
            self.c.labels[label] = rpc_key(msg_id)
        self.recent_ids = [*self.recent_ids[-20:], msg_id]
        self.server.send_bytes(body)
        self._count(kind)
        return msg_id

    def notify(self, method: str, params: Any, *, omit: bool = False) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if not omit:
            message["params"] = params
        body = json.dumps(message).encode()
        kind = "notification" if deserializable(body) else "ill-typed notification"
        self.server.send_bytes(body)
        self._count(kind)

    def raw(self, body: bytes) -> None:
        """A broken envelope; the ids it may carry are noted (answers to them are fine)."""
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            value = None
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and "id" in item:
                self.c.envelope_ids.add(rpc_key(item["id"]))
        self.server.send_bytes(body)
        self._count("envelope")

    def sentinel(self, label: str) -> bool:
        """A hover on a document that is always open: answered means everything before
        it was read and handled (hover runs in order, without awaiting)."""
        self._serial += 1
        msg_id = f"sentinel-{self._serial}"
        written = threading.Event()
        self.server.send(
            {
                "jsonrpc": "2.0",
                "id": msg_id,
                "method": "textDocument/hover",
                "params": hovering(self.sentinel_uri, at(0)),
            },
            written,
        )
        self.c.messages += 1
        self.c.by_kind["sentinel"] += 1
        self.since_sentinel = 0
        if not written.wait(60):
            self.c.hangs.append(f"{label}: the server stopped reading its input")
            return False
        began = time.monotonic()
        answer = self.server.wait_for(msg_id, SENTINEL_TIMEOUT_S)
        if answer is None:
            if not self.server.alive():
                self.c.crashes.append(f"{label}: exit code {self.server.proc.poll()}")
            else:
                self.c.hangs.append(f"{label}: no answer within {SENTINEL_TIMEOUT_S} s")
            return False
        latency = time.monotonic() - began
        self.c.sentinel_latencies.append(latency)
        if latency > 1:
            self.c.slow_sentinels.append(f"{label}: {latency:.2f} s")
        return True

    def open_sentinel(self) -> None:
        self.server.notify(
            "textDocument/didOpen", opened(self.sentinel_uri, "def sentinel():\n    return 0\n")
        )

    # the hand-written list

    def adversarial(self) -> Iterator[str]:
        ws = self.fuzz.ws
        doc = f"{ws}/adversarial.py"
        text = "def a(x):\n    return x\n\n\ndef b(y):\n    return y * 2\n"
        self.notify("textDocument/didOpen", opened(doc, text))
        zero, top = at(0), at(2**31 - 1, 2**31 - 1)
        hover, action, run = "textDocument/hover", "textDocument/codeAction", EXECUTE
        fix = {"message": "m", "source": "localroute"}
        cases: list[tuple[str, str, Any]] = [
            ("hover-negative-line", hover, hovering(doc, at(-1))),
            ("hover-string-line", hover, hovering(doc, {"line": "0", "character": 0})),
            ("hover-float-line", hover, hovering(doc, {"line": 1.5, "character": 0})),
            ("hover-line-2^31", hover, hovering(doc, at(2**31))),
            ("hover-null-params", hover, None),
            ("hover-no-position", hover, {"textDocument": {"uri": doc}}),
            ("hover-uri-number", hover, hovering(42, zero)),
            ("hover-max-line", hover, hovering(doc, top)),
            ("hover-unknown-uri", hover, hovering(f"{ws}/nope.py", zero)),
            ("hover-closed-doc", hover, hovering(f"{ws}/doc_0.py", zero)),
            ("action-reversed-range", action, acting(doc, span(at(5, 3), at(1)))),
            ("action-past-end", action, acting(doc, span(at(400), top))),
            ("action-closed-doc", action, acting(f"{ws}/doc_1.py", span(zero, at(3)))),
            (
                "action-fix-past-end",
                action,
                acting(
                    doc,
                    span(zero, zero),
                    [{**fix, "range": span(at(90), at(2)), "data": {"suggestion": "\n"}}],
                ),
            ),
            (
                "action-fix-reversed",
                action,
                acting(
                    doc,
                    span(zero, zero),
                    [{**fix, "range": span(at(4), at(1)), "data": {"suggestion": "x"}}],
                ),
            ),
            (
                "action-no-context",
                action,
                {"textDocument": {"uri": doc}, "range": span(zero, zero)},
            ),
            ("command-name-number", run, {"command": 7, "arguments": []}),
            ("command-arguments-object", run, {"command": REVIEW, "arguments": {"uri": doc}}),
            ("command-nested-jsonrpc", run, command(REVIEW, {"uri": doc, "jsonrpc": "2.0"})),
            (
                "command-nested-message",
                run,
                command(REVIEW, {"jsonrpc": "2.0", "method": "exit", "params": None}),
            ),
            (
                "review-range-negative",
                run,
                command(REVIEW, {"uri": doc, "range": span(at(-3), at(2))}),
            ),
            (
                "review-range-past-end",
                run,
                command(REVIEW, {"uri": doc, "range": span(at(10**12), at(10**12 + 5))}),
            ),
            (
                "review-range-reversed",
                run,
                command(REVIEW, {"uri": doc, "range": span(at(4), at(1))}),
            ),
            (
                "review-range-bool-lines",
                run,
                command(
                    REVIEW, {"uri": doc, "range": {"start": {"line": True}, "end": {"line": False}}}
                ),
            ),
            ("review-two-arguments", run, command(REVIEW, {"uri": doc}, {"uri": doc})),
            ("review-unknown-uri", run, command(REVIEW, {"uri": f"{ws}/nope.py"})),
            ("review-directory-uri", run, command(REVIEW, {"uri": ws})),
            ("review-task-list", run, command(REVIEW, {"uri": doc, "task": ["review"]})),
            ("review-hover-task", run, command(REVIEW, {"uri": doc, "task": "ask"})),
            (
                "explain-diagnostics-task",
                run,
                command("localroute.explain", {"uri": doc, "task": "deep"}),
            ),
            ("route-task-number", run, command("localroute.route", {"uri": doc, "task": 3})),
            ("clear-unknown-uri", run, command("localroute.clear", {"uri": "untitled:never"})),
            ("status-junk-arguments", run, command("localroute.status", None, 1, "x")),
            ("start-unknown-backend", run, command(START, {"backend": "nope"})),
            ("start-backend-number", run, command(START, {"backend": 1})),
            ("start-no-start-command", run, command(START, {"backend": "local"})),
            ("files-uris-string", run, command(FILES, {"uris": doc})),
            ("files-jobs-zero", run, command(FILES, {"jobs": 0})),
            ("files-glob-absolute", run, command(FILES, {"glob": "/etc/*"})),
            ("files-glob-bracket", run, command(FILES, {"glob": "["})),
            (
                "files-missing-uri",
                run,
                command(FILES, {"uris": [f"{ws}/nope.py", "untitled:x", ""]}),
            ),
            ("unknown-method", "textDocument/completion", hovering(doc, zero)),
            ("unknown-dollar-request", "$/unknown", {}),
            ("empty-method", "", {}),
            ("long-method", "m" * 100_000, {}),
        ]
        for label, method, params in cases:
            self.request(method, params, label)
        self.request(hover, None, "hover-params-omitted", omit=True)

        # Lone surrogates, NUL and binary content, then every request on that document.
        surrogates = f"{ws}/surrogates.py"
        self.notify(
            "textDocument/didOpen", opened(surrogates, "s = '\ud800'\nt = '\x00\x01\xff'\n")
        )
        self.request(hover, hovering(surrogates, zero), "surrogate-hover")
        self.request(action, acting(surrogates, span(zero, at(2))), "surrogate-action")
        for name in ("review", "explain", "route"):
            self.request(
                run, command(f"localroute.{name}", {"uri": surrogates}), f"surrogate-{name}"
            )

        # Notifications out of order: change before open, close twice, change after close.
        early = f"{ws}/early.py"
        self.notify("textDocument/didChange", self.fuzz.did_change(early))
        self.notify("textDocument/didClose", {"textDocument": {"uri": early}})
        self.notify("textDocument/didClose", {"textDocument": {"uri": early}})
        self.notify("textDocument/didOpen", self.fuzz.did_open(early))
        self.notify("textDocument/didClose", {"textDocument": {"uri": early}})
        self.notify("textDocument/didChange", self.fuzz.did_change(early))
        self.notify("textDocument/didOpen", self.fuzz.did_open(early))
        self.notify("textDocument/didOpen", self.fuzz.did_open(early))  # opened twice
        self.notify("$/cancelRequest", {"id": "never-sent"})
        self.notify("$/cancelRequest", {"id": {"an": "object"}})
        self.notify("$/cancelRequest", None, omit=True)
        self.notify("window/workDoneProgress/cancel", {"token": "localroute-nope"})
        self.notify("$/setTrace", {"value": "verbose"})
        self.notify("$/setTrace", {"value": "loud"})
        self.notify("initialized", {})
        self.notify("unknown/notification", {"x": 1})
        self.notify("textDocument/didOpen", {"textDocument": {"uri": doc}})
        # A second `initialize` (out of spec) must not take the server down; it forgets
        # the open documents, so the sentinel's is opened again.
        self.request(
            "initialize",
            {"processId": None, "rootUri": ws, "capabilities": CAPABILITIES},
            "initialize-again",
        )
        self.open_sentinel()
        self.notify("textDocument/didOpen", opened(doc, text))
        yield "adversarial requests and notifications"

        # Envelopes: invalid JSON, scalars, batches, wrong version, bad ids and methods.
        # None may be `shutdown` or `exit`: a parser that accepted it would end the campaign.
        hover_doc = hovering(doc, zero)
        for body in (
            b"{",
            b'{"jsonrpc": "2.0", "id": 1,',
            b"",
            b"null",
            b"42",
            b'"a string"',
            b"[]",
            b"\xff\xfe\x00garbage",
            b'{"jsonrpc": "2.0", "id": "e1", "method": "textDocument/hover", "params": '
            b'{"textDocument": {"uri": "x"}, "position": {"line": NaN, "character": 0}}}',
            b'{"jsonrpc": "2.0", "id": "e2", "id": "e3", "method": "$/none", "params": {}}',
            b"[" * 100_000 + b"]" * 100_000,
            dumps([{"jsonrpc": "2.0", "id": "batch-1", "method": hover, "params": hover_doc}]),
            dumps({"jsonrpc": "1.0", "id": "e4", "method": hover, "params": hover_doc}),
            dumps({"id": "e5", "method": hover, "params": hover_doc}),
            dumps({"jsonrpc": 2, "id": "e6", "method": "$/none"}),
            dumps({"jsonrpc": "2.0", "id": None, "method": "$/none"}),
            dumps({"jsonrpc": "2.0", "id": 1.5, "method": "$/none"}),
            dumps({"jsonrpc": "2.0", "id": {"a": 1}, "method": "$/none"}),
            dumps({"jsonrpc": "2.0", "id": True, "method": "$/none"}),
            dumps({"jsonrpc": "2.0", "id": "e7", "method": 5}),
            dumps({"jsonrpc": "2.0", "id": "e8", "method": None}),
            dumps({"jsonrpc": "2.0", "id": "unsolicited", "result": {"x": 1}}),
            dumps({"jsonrpc": "2.0", "id": "unsolicited", "error": {"code": 1, "message": "m"}}),
            dumps({"jsonrpc": "2.0"}),
        ):
            self.raw(body)
        yield "broken envelopes"

    # the random campaign

    def random_message(self) -> None:
        f, rng = self.fuzz, self.rng
        roll = rng.random()
        if roll < 0.10:
            self.request("textDocument/hover", f.hover())
        elif roll < 0.18:
            self.request("textDocument/codeAction", f.code_action())
        elif roll < 0.36:
            self.request("workspace/executeCommand", f.execute_command())
        elif roll < 0.38:
            self.request(
                rng.choice(("textDocument/completion", "foo/bar", "$/x", "textdocument/hover")),
                f.junk(),
            )
        elif roll < 0.50:
            self.notify("textDocument/didOpen", f.did_open())
        elif roll < 0.64:
            self.notify("textDocument/didChange", f.did_change())
        elif roll < 0.72:
            self.notify("textDocument/didClose", f.did_close())
        elif roll < 0.74:
            self.notify("textDocument/didSave", f.did_save())
        elif roll < 0.75:
            self.notify("workspace/didChangeConfiguration", f.did_change_configuration())
        elif roll < 0.78:
            target = rng.choice([*self.recent_ids, "nope", 0]) if self.recent_ids else "nope"
            self.notify("$/cancelRequest", {"id": target})
        elif roll < 0.79:
            self.notify(rng.choice(("foo/bar", "$/progress", "exit/not")), f.junk())
        elif roll < 0.84:
            self.race()
        elif roll < 0.97:
            self.ill_typed()
        else:
            self.raw(self.broken_envelope())

    def race(self) -> None:
        """A burst on one URI: open, change, close, requests, in random order."""
        f, rng = self.fuzz, self.rng
        uri = rng.choice(f.races)
        for _ in range(rng.randint(5, 20)):
            op = rng.randrange(7)
            if op == 0:
                self.notify("textDocument/didOpen", f.did_open(uri))
            elif op in (1, 2):
                self.notify("textDocument/didChange", f.did_change(uri))
            elif op == 3:
                self.notify("textDocument/didClose", f.did_close(uri))
            elif op == 4:
                self.request(
                    "textDocument/hover", {"textDocument": {"uri": uri}, "position": f.position()}
                )
            elif op == 5:
                self.request(
                    "workspace/executeCommand",
                    {
                        "command": rng.choice(COMMANDS[:5]),
                        "arguments": [{"uri": uri, "range": f.range()}],
                    },
                )
            else:
                action = f.code_action()
                action["textDocument"]["uri"] = uri
                self.request("textDocument/codeAction", action)

    def ill_typed(self) -> None:
        f, rng = self.fuzz, self.rng
        method, params = rng.choice(
            (
                ("textDocument/hover", f.hover),
                ("textDocument/codeAction", f.code_action),
                ("workspace/executeCommand", f.execute_command),
                ("textDocument/didOpen", f.did_open),
                ("textDocument/didChange", f.did_change),
                ("textDocument/didClose", f.did_close),
                ("textDocument/didSave", f.did_save),
                ("$/cancelRequest", lambda: {"id": 1}),
            )
        )
        value = mutate(rng, f, params())
        if method.startswith(("textDocument/did", "$/")):
            self.notify(method, value)
        else:
            self.request(method, value)

    def broken_envelope(self) -> bytes:
        rng = self.rng
        self._serial += 1
        choice = rng.randrange(6)
        if choice == 0:
            return json.dumps({"id": f"env-{self._serial}", "method": "foo"}).encode()[:-1]
        if choice == 1:
            return bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
        if choice == 2:
            return json.dumps(
                {
                    "jsonrpc": rng.choice(("1.0", "", None, 2)),
                    "id": f"env-{self._serial}",
                    "method": "textDocument/hover",
                    "params": self.fuzz.hover(),
                }
            ).encode()
        if choice == 3:
            return json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": rng.choice((None, 1.25, [1], {"x": 1}, False)),
                    "method": "workspace/executeCommand",
                    "params": self.fuzz.execute_command(),
                }
            ).encode()
        if choice == 4:
            return json.dumps(self.fuzz.junk()).encode()
        return json.dumps(
            [{"jsonrpc": "2.0", "id": f"env-{self._serial}", "method": "$/none"}]
        ).encode()

    def big_documents(self) -> Iterator[str]:
        """10 MB documents: ASCII code, then NUL/binary/surrogate soup; a sentinel after
        each group of requests."""
        code_line = "def f(x):  # a line of ordinary code, padded to a realistic width\n"
        soup = "".join(chr(c) for c in range(0, 256)) + "\ud800\udfff\x00\n"
        whole = span(at(0), at(2**31 - 1))
        for name, unit in (("big_code.py", code_line), ("big_soup.bin", soup)):
            uri = f"{self.fuzz.ws}/{name}"
            self.notify("textDocument/didOpen", opened(uri, unit * (BIG // len(unit) + 1)))
            self.request("textDocument/hover", hovering(uri, at(100_000, 3)))
            for change in (
                {"range": span(at(5), at(5)), "text": "x = 1\n"},
                {"range": whole, "text": "\n" * 10},
                {"range": span(at(70_000, 9), at(3)), "text": "reversed"},
                {"text": unit * (BIG // len(unit) + 1)},
            ):
                self.notify(
                    "textDocument/didChange",
                    {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [change]},
                )
            yield f"{name}: open, hover, changes"
            # No code action here: on 10 MB it blocks the server for seconds (see
            # test_code_action_on_a_10_mb_document_keeps_the_server_responsive).
            for name_, argument in (
                ("localroute.review", {"uri": uri}),
                ("localroute.explain", {"uri": uri, "range": whole}),
                ("localroute.route", {"uri": uri}),
                ("localroute.clear", {"uri": uri}),
            ):
                msg_id = self.request(EXECUTE, command(name_, argument), f"big-{name_}-{name}")
                # The command yields at its first await (progress), then works on the event
                # loop: wait for its answer before the sentinel times the loop.
                self.server.wait_for(msg_id, 30)
                yield f"{name}: {name_}"
            self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
            yield f"{name}: close"

    def settle(self) -> None:
        """Wait until every deserializable request has its answer (or time is up)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        expected = set(self.c.requests_of("request"))
        while time.monotonic() < deadline and not expected <= set(self.server.responses):
            time.sleep(0.05)

    def finish(self) -> None:
        server, c = self.server, self.c
        c.final_status = server.request(
            "final-status", EXECUTE, command("localroute.status", {}), SENTINEL_TIMEOUT_S
        )
        c.shutdown_answer = server.request("shutdown", "shutdown", None, timeout=EXIT_BUDGET_S)
        # LSP: requests after `shutdown` are answered with InvalidRequest.
        c.after_shutdown_answer = server.request(
            "after-shutdown", "textDocument/hover", hovering(self.sentinel_uri, at(0)), 2.0
        )
        began = time.monotonic()
        server.notify("exit", None)
        try:
            c.exit_code = server.proc.wait(timeout=EXIT_BUDGET_S)
        except subprocess.TimeoutExpired:
            c.exit_code = None
        c.exit_seconds = time.monotonic() - began


def run_campaign(workdir: Path) -> Campaign:
    campaign = Campaign()
    server = RawServer(workdir, config_text())
    began = time.monotonic()
    try:
        server.initialize()
        fuzz = Fuzz(random.Random(SEED), server.workspace)
        runner = Runner(server, fuzz, campaign)
        runner.open_sentinel()
        assert runner.sentinel("start"), campaign.hangs + campaign.crashes
        campaign.rss_start_kb = server.rss_kb()
        for label in runner.adversarial():
            if not runner.sentinel(label):
                break
        random_sent = 0
        big_at = {MESSAGES // 3, 2 * MESSAGES // 3}
        while random_sent < MESSAGES and not (campaign.hangs or campaign.crashes):
            before = campaign.messages
            runner.random_message()
            random_sent += campaign.messages - before
            if runner.since_sentinel >= SENTINEL_EVERY:
                runner.sentinel(f"after {campaign.messages} messages")
            if big_at and random_sent >= min(big_at):
                big_at.discard(min(big_at))
                for label in runner.big_documents():
                    if not runner.sentinel(f"10 MB documents, {label}"):
                        break
        if not (campaign.hangs or campaign.crashes):
            runner.sentinel("end of campaign")
            runner.settle()
            campaign.rss_end_kb = server.rss_kb()
            runner.finish()
        elif server.alive():
            campaign.rss_end_kb = server.rss_kb()
    finally:
        campaign.elapsed_s = time.monotonic() - began
        server.close()
        campaign.responses = dict(server.responses)
        campaign.duplicate_responses = list(server.duplicate_responses)
        campaign.notifications_received = Counter(server.notifications)
        campaign.server_requests = Counter(server.server_requests)
        campaign.show_messages = list(server.show_messages)
        campaign.stderr_tail = server.stderr_path.read_text(errors="replace")[-3000:]
    print_campaign(campaign)
    return campaign


def error_code(answer: dict[str, Any] | None) -> str:
    if answer is None:
        return "none"
    if "error" in answer:
        return str(answer["error"].get("code"))
    return "result"


def print_campaign(c: Campaign) -> None:
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(c.by_kind.items()))
    answered: Counter[str] = Counter()
    for msg_id, sent in c.requests.items():
        answered[f"{sent.kind}: {error_code(c.responses.get(msg_id))}"] += 1
    latencies = sorted(c.sentinel_latencies)
    worst = f"{latencies[-1] * 1000:.0f} ms" if latencies else "-"
    popups = sum(1 for _, m in c.show_messages if m.startswith("Error in server"))
    print(
        f"\n[fuzz] {c.messages} messages in {c.elapsed_s:.1f} s (seed {SEED}): {kinds}\n"
        f"[fuzz] answers by request kind and code: {dict(sorted(answered.items()))}\n"
        f"[fuzz] sentinels answered {len(latencies)}, slowest {worst}; "
        f"crashes {len(c.crashes)}, hangs {len(c.hangs)}\n"
        f"[fuzz] notifications from the server {dict(c.notifications_received)}; requests "
        f"from the server (answered) {dict(c.server_requests)}; "
        f"'Error in server' popups {popups}; duplicate responses {len(duplicates(c))}\n"
        f"[fuzz] after shutdown: {error_code(c.after_shutdown_answer)}; exit code "
        f"{c.exit_code} after {c.exit_seconds:.2f} s; RSS {c.rss_start_kb / 1024:.1f} -> "
        f"{c.rss_end_kb / 1024:.1f} MiB"
    )
    for slow in c.slow_sentinels:
        print(f"[fuzz] slow sentinel {slow}")
    for problem in c.crashes + c.hangs:
        print(f"[fuzz] PROBLEM {problem}")
    for duplicate in duplicates(c)[:5]:
        print(f"[fuzz] DUPLICATE {json.dumps(duplicate)[:300]}")
    for message, count in Counter(internal_errors(c).values()).most_common():
        print(f"[fuzz] internal error x{count}: {message[:200]}")


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    return run_campaign(tmp_path_factory.mktemp("fuzz"))


def duplicates(c: Campaign) -> list[dict[str, Any]]:
    """Second answers to one of our requests (envelopes may repeat their ids)."""
    return [m for key, m in c.duplicate_responses if key not in c.envelope_ids]


def internal_errors(c: Campaign, *, ours_only: bool = False) -> dict[str, str]:
    """Answers that are internal errors (an exception escaped a handler), by id;
    `ours_only` leaves out answers to broken envelopes."""
    return {
        key: answer["error"].get("message", "")
        for key, answer in c.responses.items()
        if "error" in answer
        and answer["error"].get("code") == INTERNAL_ERROR
        and (key in c.requests or not ours_only)
    }


# -- properties of the campaign -----------------------------------------------------------------


def test_campaign_sent_ten_thousand_messages(campaign: Campaign) -> None:
    assert campaign.messages >= MESSAGES
    assert campaign.by_kind["request"] > 1000
    assert campaign.by_kind["notification"] > 1000
    assert campaign.by_kind["ill-typed request"] > 100
    assert campaign.by_kind["envelope"] > 50


def test_server_never_crashed_nor_hung(campaign: Campaign) -> None:
    assert campaign.crashes == [], campaign.stderr_tail
    assert campaign.hangs == [], campaign.stderr_tail
    assert len(campaign.sentinel_latencies) >= MESSAGES // SENTINEL_EVERY
    assert campaign.final_status is not None and "result" in campaign.final_status


def test_server_shuts_down_cleanly_after_the_campaign(campaign: Campaign) -> None:
    assert campaign.shutdown_answer is not None and "result" in campaign.shutdown_answer
    assert campaign.exit_code == 0
    assert campaign.exit_seconds < EXIT_BUDGET_S


def test_every_request_pygls_can_read_is_answered(campaign: Campaign) -> None:
    unanswered = {
        msg_id: f"{sent.method} {sent.label}"
        for msg_id, sent in campaign.requests_of("request").items()
        if msg_id not in campaign.responses
    }
    assert unanswered == {}


def test_notifications_get_no_response(campaign: Campaign) -> None:
    ours = {rpc_key(i) for i in ("init", "final-status", "shutdown", "after-shutdown")}
    sent = set(campaign.requests) | campaign.envelope_ids | ours
    strays = [
        key for key in campaign.responses if key not in sent and not key.startswith('"sentinel-')
    ]
    assert strays == []
    assert duplicates(campaign) == []


def test_no_other_request_fails_inside_the_server(campaign: Campaign) -> None:
    """An internal error means an exception escaped a handler (and pygls sends its
    traceback to the client); the known ones are listed and have xfails of their own."""
    unknown = {
        msg_id: message
        for msg_id, message in internal_errors(campaign, ours_only=True).items()
        if not any(known in message for known in KNOWN_INTERNAL_ERRORS)
    }
    assert unknown == {}


def test_no_traceback_reaches_a_popup(campaign: Campaign) -> None:
    assert [m for _, m in campaign.show_messages if "Traceback" in m] == []


def test_memory_stays_bounded(campaign: Campaign) -> None:
    # Two 10 MB documents came and went. A command on one costs a few hundred MB at its
    # peak (copies of the text, its lines, the prompt), which the allocator keeps in part:
    # the bound catches runaway growth, not that.
    assert campaign.rss_end_kb - campaign.rss_start_kb < 512 * 1024


@pytest.mark.parametrize(
    "label",
    [
        "review-range-negative",
        "review-range-bool-lines",
        "review-two-arguments",
        "review-unknown-uri",
        "review-directory-uri",
        "review-task-list",
        "review-hover-task",
        "explain-diagnostics-task",
        "route-task-number",
        "start-backend-number",
        "files-uris-string",
        "files-jobs-zero",
        "command-arguments-object",
    ],
)
def test_wrong_command_arguments_are_invalid_params(campaign: Campaign, label: str) -> None:
    answer = campaign.answer(label)
    assert answer is not None and answer["error"]["code"] == INVALID_PARAMS, answer


@pytest.mark.parametrize(
    "label",
    ["hover-unknown-uri", "hover-closed-doc", "hover-max-line", "action-reversed-range"],
)
def test_out_of_range_and_unknown_documents_are_answered(campaign: Campaign, label: str) -> None:
    answer = campaign.answer(label)
    assert answer is not None and "result" in answer, answer


# -- what the campaign found, fixed since: each test names the cause it guards against ----------


def test_ill_typed_requests_are_answered_with_invalid_params(campaign: Campaign) -> None:
    ill = campaign.requests_of("ill-typed request")
    assert all(campaign.responses.get(msg_id) is not None for msg_id in ill)
    codes = Counter(error_code(campaign.responses.get(msg_id)) for msg_id in ill)
    # Mostly -32602; an unknown method is -32601, and a command whose ill-typed part is
    # not read (an extra field) may simply answer. Never an internal error.
    assert codes[str(INVALID_PARAMS)] >= len(ill) * 0.9, codes
    assert str(INTERNAL_ERROR) not in codes, codes


@pytest.mark.parametrize("command", ["review", "explain"])
def test_lone_surrogates_in_a_document_do_not_break_commands(
    campaign: Campaign, command: str
) -> None:
    answer = campaign.answer(f"surrogate-{command}")
    assert answer is not None
    assert answer.get("error", {}).get("code") != INTERNAL_ERROR, answer


def test_absolute_glob_is_invalid_params(campaign: Campaign) -> None:
    answer = campaign.answer("files-glob-absolute")
    assert answer is not None and answer["error"]["code"] == INVALID_PARAMS, answer


def test_no_traceback_is_sent_to_the_client(campaign: Campaign) -> None:
    leaked = [a for a in campaign.responses.values() if "traceback" in str(a.get("error"))]
    assert leaked == []


def test_hostile_notifications_are_ignored_without_popups(campaign: Campaign) -> None:
    popups = [m for _, m in campaign.show_messages if m.startswith("Error in server")]
    assert popups == []


def test_requests_after_shutdown_get_invalid_request(campaign: Campaign) -> None:
    answer = campaign.after_shutdown_answer
    assert answer is not None and answer["error"]["code"] == INVALID_REQUEST, answer


# -- hostile inputs that take a server down: one server each -----------------------------------


@dataclass
class Probe:
    sentinel_latency_s: float | None
    """None: the sentinel was not answered in time."""
    answer: dict[str, Any] | None
    rss_growth_kb: int


def probe(
    workdir: Path,
    method: str,
    params: Any,
    *,
    setup: tuple[tuple[str, Any], ...] = (),
    wait_s: float = 1.0,
) -> Probe:
    """Send one request to a fresh server, then a sentinel hover that must come back
    within `wait_s`; the server is killed afterwards, whatever happened."""
    server = RawServer(workdir, config_text())
    try:
        server.initialize()
        uri = f"{server.workspace.as_uri()}/sentinel.py"
        server.notify("textDocument/didOpen", opened(uri, "x = 1\n"))
        for setup_method, setup_params in setup:
            server.notify(setup_method, setup_params)
        sentinel = hovering(uri, at(0))
        assert server.request("warm", "textDocument/hover", sentinel, 60) is not None
        rss = server.rss_kb()
        server.send({"jsonrpc": "2.0", "id": "probe", "method": method, "params": params})
        began = time.monotonic()
        answered = server.request("sentinel", "textDocument/hover", sentinel, wait_s)
        if answered is None:
            return Probe(None, server.responses.get(rpc_key("probe")), server.rss_kb() - rss)
        latency = time.monotonic() - began
        answer = server.wait_for("probe", 5.0)
        return Probe(latency, answer, server.rss_kb() - rss)
    finally:
        server.close()


def test_code_action_on_a_fifo_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "workspace" / "pipe.py"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    result = probe(tmp_path, "textDocument/codeAction", acting(fifo.as_uri(), span(at(0), at(1))))
    assert result.sentinel_latency_s is not None


def test_review_of_dev_stdin_does_not_eat_the_lsp_stream(tmp_path: Path) -> None:
    result = probe(tmp_path, EXECUTE, command(REVIEW, {"uri": "file:///dev/stdin"}))
    assert result.sentinel_latency_s is not None and result.answer is not None


def test_code_action_on_a_10_mb_document_keeps_the_server_responsive(tmp_path: Path) -> None:
    uri = f"{(tmp_path / 'workspace').as_uri()}/big.py"
    line = "def f(x):  # a line of ordinary code, padded to a realistic width\n"
    result = probe(
        tmp_path,
        "textDocument/codeAction",
        acting(uri, span(at(0), at(2**31 - 1))),
        setup=(("textDocument/didOpen", opened(uri, line * (BIG // len(line)))),),
        wait_s=SENTINEL_TIMEOUT_S,
    )
    assert result.sentinel_latency_s is not None


def test_review_files_on_a_large_tree_keeps_the_server_responsive(tmp_path: Path) -> None:
    tree = tmp_path / "elsewhere"
    for d in range(60):
        folder = tree / f"d{d}"
        folder.mkdir(parents=True)
        for n in range(500):
            (folder / f"f{n}.py").write_text("x = 1\n")
    result = probe(tmp_path / "server", EXECUTE, command(FILES, {"uris": [tree.as_uri()]}))
    assert result.sentinel_latency_s is not None
