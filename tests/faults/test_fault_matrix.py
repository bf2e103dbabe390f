"""The fault matrix (issue 6, item 3): every backend kind × every way a backend can fail.

Each backend kind gets one real ``localroute serve`` (``start_session``). Every fault of that
kind is its own backend, reached through a :class:`~tests.faults.proxy.FaultProxy` (HTTP
kinds) or a misbehaving CLI (``command``), with the budgets ``timeout_s = 3`` and
``connect_timeout_s = 0.5``, and every fault is asked twice, at the same time as all the
others:

* with fallback: a task routed ``[faulty backend, healthy FakeOpenAI]``. The healthy one must
  answer, the answer's ``reason`` must name the faulty backend and the cause, the request
  must end within its budget, and a ``textDocument/hover`` sent while it runs must be
  answered within a second;
* alone: a task routed ``[faulty backend]``. The user must get a JSON-RPC error
  (``RequestFailed``, no traceback) naming the backend and the cause, within the budget.

Also checked per fault: the error class in the audit log (``unavailable`` marks the backend
down, ``rejected`` does not), that the faulty side really got the request, that no connection
to it is left open and no CLI process (or grandchild) is left running once the requests end.
HTTP faults are armed only once the server has seen every backend up (``localroute.status``),
so a local backend breaks under a request rather than being skipped as down. The 50 MB
answer runs alone afterwards, with the server's RSS and peak RSS (``VmRSS``/``VmHWM``) read
before and after: both must grow less than 100 MB.

The first test of a kind runs that kind's whole session (all faults at once, ~5-20 s); the
other tests of the kind check what it recorded. ``test_matrix_table`` prints the matrix, and
writes it to docs/reliability.md when ``LOCALROUTE_WRITE_DOCS=1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pygls.exceptions import JsonRpcException

from tests.e2e.conftest import Session
from tests.fakes import anthropic_fake, copilot_fake, ollama_fake, openai_fake
from tests.fakes.anthropic_fake import FAKE_KEY, FakeAnthropic, anthropic_error
from tests.fakes.copilot_fake import OAUTH_TOKEN, FakeCopilot
from tests.fakes.ollama_fake import FakeOllama, ollama_error
from tests.fakes.openai_fake import JSON, FakeOpenAI, openai_error
from tests.faults.proxy import FaultProxy
from tests.faults.scripted import Script, ScriptedServer

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "reliability.md"
START_MARKER = "<!-- fault-matrix:start -->"
END_MARKER = "<!-- fault-matrix:end -->"
STUB = ROOT / "tests" / "fakes" / "bin" / "fake-opencode"
FAULT_CLI = Path(__file__).resolve().parent / "fault_cli.py"

KINDS = ("openai", "ollama", "anthropic", "copilot", "command")
TIMEOUT_S = 3.0
CONNECT_TIMEOUT_S = 0.5
SLACK_S = 1.5
"""Allowed beyond a request's budget: the fallback's answer, scheduling on 2 busy cores."""
KILL_GRACE_S = 2.0
"""The command backend's SIGTERM → SIGKILL grace (``localroute.backends.command``)..."""
DISCARD_S = 0.5
"""... and how long it then reads what is left in a stopped CLI's pipes."""
HOVER_AFTER_S = 0.3
STAGGER_S = {"openai": 0.02, "ollama": 0.02, "anthropic": 0.02, "copilot": 0.02, "command": 0.08}
"""Spacing between the starts of a kind's faults (all of them run at the same time); wider
for ``command``, where each request starts a Python interpreter on 2 cores."""
HOVER_LIMIT_S = 1.0
HARNESS_LIMIT_S = 60.0
"""A request still running after this long is recorded as a hang (and cancelled)."""
RSS_LIMIT_MB = 100.0
BIG_BYTES = 50 * 1024 * 1024
TOKEN_ENV = "LOCALROUTE_FAULTS_GH_TOKEN"

FAULTY_ANSWER = json.dumps(
    {
        "findings": [
            {"line": 1, "severity": "warning", "message": f"faulty backend finding {i}"}
            for i in range(12)
        ]
    }
)
HEALTHY_MESSAGE = "answered by the healthy fallback"
HEALTHY_ANSWER = json.dumps(
    {"findings": [{"line": 1, "severity": "info", "message": HEALTHY_MESSAGE}]}
)
SOURCE = "def divide(a, b):\n    return a / b\n"
MODELS = {
    "openai": "coder",
    "ollama": "coder",
    "anthropic": "claude-haiku-4-5",
    "copilot": "claude-haiku-4.5",
    "command": "claude-haiku-4.5",
}

# Matrix rows, in order.
REFUSED = "connection refused"
BLACKHOLE = "black-holed connect"
SLOW_FIRST = "slow first byte"
SLOW_STREAM = "slow stream (1 byte/s)"
RESET = "reset mid-stream"
TRUNCATED = "truncated SSE/NDJSON"
INVALID_STREAM = "invalid JSON in the stream"
INVALID_BODY = "invalid JSON body"
FOREVER = "no content forever"
ERROR_200 = "200 with an error body"
SHAPES = "status/error shapes"
BIG = "50 MB answer"
HUNG = "hung subprocess"
ROWS = (
    REFUSED,
    BLACKHOLE,
    SLOW_FIRST,
    SLOW_STREAM,
    RESET,
    TRUNCATED,
    INVALID_STREAM,
    INVALID_BODY,
    FOREVER,
    ERROR_200,
    SHAPES,
    BIG,
    HUNG,
)


# -- what a fault is ---------------------------------------------------------------------------


@dataclass
class Target:
    """A started faulty backend: its TOML fields and how to watch it."""

    backend: dict[str, Any]
    proxy: FaultProxy | None = None
    arm: str | None = None
    """The proxy mode to switch to once the server has seen the backend up."""
    seen: Callable[[], int] | None = None
    """How many requests the faulty side received (None: not observable)."""
    pids: Path | None = None
    """The directory where each run of the CLI writes ``pids-<pid>.json`` (its pid and its
    grandchild's)."""


@dataclass
class Context:
    stack: ExitStack
    tmp: Path
    token_url: str = ""
    """Copilot: a healthy token exchange, for faulty chat servers that are not FakeCopilot."""


@dataclass(frozen=True)
class Fault:
    name: str
    row: str
    cause: str
    """A regex the user's message must match (it must also name the backend)."""
    start: Callable[[Context], Target]
    note: str = ""
    extra_budget_s: float = 0.0
    big: bool = False
    may_answer: bool = False
    """The faulty backend answering is acceptable too (a huge but valid answer)."""
    expect: str | None = None
    """The error class the attempt must get (audit log): ``unavailable`` (the backend is
    marked down) or ``rejected`` (only this request failed); None: not checked."""


@dataclass
class Run:
    outcome: str  # fallback | clear error | answered by the faulty backend | internal error | hang
    seconds: float
    message: str
    """What the user is told about the faulty backend."""


@dataclass
class Cell:
    kind: str
    fault: Fault
    backend: str
    main: Run | None = None
    solo: Run | None = None
    hover_s: float | None = None
    rss_mb: float | None = None
    peak_mb: float | None = None
    seen: int | None = None
    leftovers: list[int] = field(default_factory=list)
    lingering: int = 0
    """Connections to the faulty backend still open after its requests ended."""
    classes: list[str] = field(default_factory=list)
    """The error classes the audit log recorded for the faulty backend's attempts."""


# -- HTTP faults -------------------------------------------------------------------------------


def _port(server: Any) -> int:
    root = getattr(server, "root", None) or server.url
    port = urlsplit(str(root)).port
    assert port is not None
    return int(port)


Fields = Callable[[str], dict[str, Any]]
"""The faulty backend's TOML fields, given the proxy's root URL."""
Starter = Callable[[Context, dict[str, Any]], tuple[Any, Fields]]
"""Starts a kind's fake with some knobs; returns it and its fields function."""
Counter = Callable[[Any], int]
"""How many requests a started fake received."""


def _behind_proxy(
    ctx: Context, server: Any, fields: Fields, count: Counter, mode: str = "pass"
) -> Target:
    """``server`` (started) behind a new proxy, to be switched to ``mode`` once seen up."""
    proxy = ctx.stack.enter_context(FaultProxy(_port(server)))
    target = Target(fields(proxy.root), proxy, seen=lambda: count(server))
    if mode != "pass":
        target.arm = mode
        # refused and black-holed connects never reach the proxy: nothing to count
        target.seen = None if mode in ("refuse", "blackhole") else (lambda: proxy.faulted)
    return target


PROXY_FAULTS: tuple[tuple[str, str, str, str], ...] = (
    ("refused", REFUSED, r"connection refused", "refuse"),
    ("blackhole", BLACKHOLE, r"connect timeout after 0\.5 s", "blackhole"),
    ("slow_first_byte", SLOW_FIRST, r"no answer within 3 s|no data for 3 s", "slow_first_byte"),
    ("slow_stream", SLOW_STREAM, r"no answer within 3 s", "slow_stream"),
    ("reset_mid_stream", RESET, r"connection reset|closed the connection", "reset_mid_stream"),
    ("truncated", TRUNCATED, r"closed the connection mid-answer", "truncate"),
)


def _big_knobs() -> dict[str, Any]:
    return {"answer": "x" * BIG_BYTES, "chunk_size": 64 * 1024}


def _http_faults(
    start_fake: Starter,
    scripted_fields: Callable[[Context], Fields],
    count: Counter,
    *,
    invalid_stream: Script,
    invalid_stream_cause: str,
    invalid_body: str,
    invalid_body_cause: str,
    forever: Script,
    forever_note: str,
    error_200: str,
    error_200_cause: str,
    shapes: dict[str, tuple[dict[str, Any], str]],
) -> list[Fault]:
    """The faults of an HTTP kind: proxy faults and knobs of its fake, scripted answers."""

    def faked(
        knobs: Callable[[], dict[str, Any]], mode: str = "pass"
    ) -> Callable[[Context], Target]:
        def start(ctx: Context) -> Target:
            server, fields = start_fake(ctx, knobs())
            return _behind_proxy(ctx, server, fields, count, mode)

        return start

    def scripted(script: Script) -> Callable[[Context], Target]:
        def start(ctx: Context) -> Target:
            server = ctx.stack.enter_context(ScriptedServer(script))
            return _behind_proxy(ctx, server, scripted_fields(ctx), lambda s: s.posts)

        return start

    def error(body: str) -> Callable[[], dict[str, Any]]:
        return lambda: {"error": (200, body, JSON, {})}

    down = "unavailable"
    faults = [
        Fault(name, row, cause, faked(dict, mode), expect=down)
        for name, row, cause, mode in PROXY_FAULTS
    ]
    faults += [
        Fault(
            "invalid_json_stream",
            INVALID_STREAM,
            invalid_stream_cause,
            scripted(invalid_stream),
            expect=down,
        ),
        Fault(
            "invalid_json_body",
            INVALID_BODY,
            invalid_body_cause,
            faked(error(invalid_body)),
            expect=down,
        ),
        Fault(
            "no_content_forever",
            FOREVER,
            BUDGET_CAUSE,
            scripted(forever),
            forever_note,
            expect=down,
        ),
        Fault("error_body_200", ERROR_200, error_200_cause, faked(error(error_200)), expect=down),
    ]
    for name, (knobs, cause) in shapes.items():
        start = faked(_copy(knobs))
        faults.append(Fault(f"shape:{name}", SHAPES, cause, start, expect=_expected_class(knobs)))
    note = "50 MiB of content in 64 KiB pieces"
    any_cause = r"\S"  # answering is fine too; refusing it may say so in any words
    faults.append(
        Fault("big_answer", BIG, any_cause, faked(_big_knobs), note, big=True, may_answer=True)
    )
    return faults


def _simple(
    make: Callable[..., Any], fields: Fields
) -> tuple[Starter, Callable[[Context], Fields]]:
    """Starter and scripted fields for a kind whose fields depend on the URL only."""

    def start(ctx: Context, knobs: dict[str, Any]) -> tuple[Any, Fields]:
        return ctx.stack.enter_context(make(**knobs)), fields

    return start, lambda ctx: fields


def _copy(knobs: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    return lambda: dict(knobs)


def _expected_class(knobs: dict[str, Any]) -> str | None:
    """Server trouble (5xx, 429, an error mid-stream) marks a backend down; a refusal of the
    request (4xx, a model that is not there, a bad key) does not."""
    if "exchange_error" in knobs:
        return None  # found by the status probe: the backend is skipped as down, not tried
    if "mid_stream_error" in knobs:
        return "unavailable"
    if "error" in knobs:
        status = knobs["error"][0]
        return "unavailable" if status >= 500 or status == 429 else "rejected"
    return "rejected"  # a model that is not pulled, a token Copilot keeps refusing


def _status_cause(status: int) -> str:
    return rf"HTTP {status}\b"


def _openai_fields(root: str) -> dict[str, Any]:
    return {"kind": "openai", "url": f"{root}/v1"}


def _sse(*events: str) -> list[bytes]:
    return [f"data: {event}\n\n".encode() for event in events]


BROKEN_CHUNK = '{"id":"c","object":"chat.completion.chunk","choices":[{"delta":{"content":"x"'
EMPTY_CHUNK = '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[]}'
BUDGET_CAUSE = r"no answer within 3 s"
INVALID_STREAM_CAUSE = r"JSON|valid|readable|parse|decod|empty"
OPENAI_ERROR_BODY = openai_error(
    "The server had an error while processing your request.", 200, "server_error"
)[1]


def openai_faults() -> list[Fault]:
    def make(**knobs: Any) -> FakeOpenAI:
        return FakeOpenAI(**{"answer": FAULTY_ANSWER, "chunk_size": 16, **knobs})

    shapes: dict[str, tuple[dict[str, Any], str]] = {
        name: ({"error": spec}, _status_cause(spec[0]))
        for name, spec in openai_fake.ERROR_SHAPES.items()
    }
    shapes["llamacpp_mid_stream_error"] = (
        {"mid_stream_error": {"code": 500, "message": "slot crashed", "type": "server_error"}},
        r"error in the answer stream \(HTTP 500\): slot crashed",
    )
    shapes["429_retry_after_5"] = ({"error": openai_fake.rate_limited("5")}, _status_cause(429))
    return _http_faults(
        *_simple(make, _openai_fields),
        lambda fake: len(fake.chat_requests),
        invalid_stream=Script(head=_sse(*[BROKEN_CHUNK] * 3, "[DONE]")),
        invalid_stream_cause=INVALID_STREAM_CAUSE,
        invalid_body='{"id": "c", "object": "chat.completion", "choices": [{"message": ',
        invalid_body_cause=r"unexpected answer",
        forever=Script(repeat=_sse(EMPTY_CHUNK)[0]),
        forever_note="`choices: []` chunks every 50 ms",
        error_200=OPENAI_ERROR_BODY,
        error_200_cause=r"error in the answer stream.*server had an error",
        shapes=shapes,
    )


def ollama_faults() -> list[Fault]:
    def make(**knobs: Any) -> FakeOllama:
        return FakeOllama(**{"answer": FAULTY_ANSWER, "chunk_size": 16, **knobs})

    not_pulled = r"not pulled on backend .*ollama pull coder"
    shapes: dict[str, tuple[dict[str, Any], str]] = {
        "model_not_found": ({"models": ["other"]}, not_pulled),
        "model_not_found_scheduler": (
            {"models": ["other"], "scheduler_not_found": True},
            not_pulled,
        ),
        "bad_request": ({"error": ollama_error("model is required")}, _status_cause(400)),
        "queue_full": ({"error": ollama_fake.queue_full()}, _status_cause(503)),
        "runner_crash_mid_stream": (
            {"mid_stream_error": ollama_fake.RUNNER_CRASH_MESSAGE},
            r"model runner has unexpectedly stopped",
        ),
    }
    line = '{"model":"coder","created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant",'
    return _http_faults(
        *_simple(make, lambda root: {"kind": "ollama", "url": root}),
        lambda fake: len(fake.chat_requests),
        invalid_stream=Script(
            content_type="application/x-ndjson",
            head=[f'{line}"content":"x"\n'.encode()] * 3,
        ),
        invalid_stream_cause=r"ended early",
        invalid_body='{"model": "coder", "message": {',
        invalid_body_cause=r"ended early|unexpected answer",
        forever=Script(
            content_type="application/x-ndjson",
            repeat=f'{line}"content":""}},"done":false}}\n'.encode(),
        ),
        forever_note='`"content": ""` lines every 50 ms',
        error_200=json.dumps({"error": ollama_fake.RUNNER_CRASH_MESSAGE}),
        error_200_cause=r"model runner has unexpectedly stopped",
        shapes=shapes,
    )


def _anthropic_event(name: str, data: str) -> bytes:
    return f"event: {name}\ndata: {data}\n\n".encode()


def anthropic_faults() -> list[Fault]:
    def make(**knobs: Any) -> FakeAnthropic:
        return FakeAnthropic(**{"answer": FAULTY_ANSWER, "chunk_size": 16, **knobs})

    shapes: dict[str, tuple[dict[str, Any], str]] = {
        name: ({"error": spec}, rf"HTTP {spec[0]} {json.loads(spec[1])['error']['type']}")
        for name, spec in anthropic_fake.ERROR_SHAPES.items()
    }
    shapes["overloaded_mid_stream"] = (
        {"mid_stream_error": anthropic_fake.OVERLOADED_EVENT},
        r"error in the answer stream \(overloaded_error\)",
    )
    broken = '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"'
    return _http_faults(
        *_simple(make, lambda root: {"kind": "anthropic", "url": root}),
        lambda fake: len(fake.message_requests),
        invalid_stream=Script(head=[_anthropic_event("content_block_delta", broken)] * 3),
        invalid_stream_cause=r"ended before message_stop",
        invalid_body='{"id": "msg_1", "type": "message", "content": [',
        invalid_body_cause=r"unexpected answer",
        forever=Script(repeat=_anthropic_event("ping", '{"type": "ping"}')),
        forever_note="`event: ping` every 50 ms",
        error_200=anthropic_error(200, "api_error", "Internal server error")[1],
        error_200_cause=r"error in the answer stream \(api_error\): Internal server error",
        shapes=shapes,
    )


def _copilot_fields(token_url: str) -> Fields:
    def fields(root: str) -> dict[str, Any]:
        return {
            "kind": "copilot",
            "api_url": root,
            "token_url": token_url,
            "oauth_token_env": TOKEN_ENV,
        }

    return fields


def copilot_faults() -> list[Fault]:
    def start(ctx: Context, knobs: dict[str, Any]) -> tuple[Any, Fields]:
        """A FakeCopilot that serves the exchange (directly) and the chat (via the proxy)."""
        knobs = {"answer": FAULTY_ANSWER, "chunk_size": 16, **knobs}
        chunk_size = knobs.pop("chunk_size")
        fake = FakeCopilot(**knobs)
        ctx.stack.enter_context(fake)
        fake.chunk_size = chunk_size
        return fake, _copilot_fields(fake.token_url)

    def count(fake: FakeCopilot) -> int:
        return fake.exchanges if fake.exchange_error else len(fake.chat_requests)

    shapes: dict[str, tuple[dict[str, Any], str]] = {
        "unauthorized_401": (
            {"always_unauthorized": True},
            r"refused a fresh session token \(HTTP 401\)",
        ),
        "forbidden_403": ({"error": copilot_fake.FORBIDDEN}, _status_cause(403)),
        "rate_limited_429": ({"error": copilot_fake.rate_limited()}, _status_cause(429)),
        "model_not_supported_400": (
            {"error": copilot_fake.MODEL_NOT_SUPPORTED},
            r"not available on Copilot for this account",
        ),
        "server_error_500": (
            {"error": openai_error("upstream failed", 500, "server_error")},
            _status_cause(500),
        ),
        "exchange_401": ({"exchange_error": 401}, r"401"),
        "exchange_404": ({"exchange_error": 404}, r"404"),
    }
    return _http_faults(
        start,
        # scripted chat servers: the exchange is the shared healthy FakeCopilot's
        lambda ctx: _copilot_fields(ctx.token_url),
        count,
        invalid_stream=Script(head=_sse(*[BROKEN_CHUNK] * 3, "[DONE]")),
        invalid_stream_cause=INVALID_STREAM_CAUSE,
        invalid_body='{"id": "c", "choices": [{"message": ',
        invalid_body_cause=r"unexpected answer",
        forever=Script(repeat=_sse(EMPTY_CHUNK)[0]),
        forever_note="`choices: []` chunks every 50 ms",
        error_200=OPENAI_ERROR_BODY,
        error_200_cause=r"error in the answer stream.*server had an error",
        shapes=shapes,
    )


# -- command faults ----------------------------------------------------------------------------


def _cli(
    name: str,
    env: dict[str, str] | None = None,
    *,
    program: list[str] | None = None,
    json_format: bool = True,
) -> Callable[[Context], Target]:
    """A wrapper script named ``opencode`` that sets ``env`` and runs the stub (or ``program``)."""

    def start(ctx: Context) -> Target:
        where = ctx.tmp / "cli" / name.replace(":", "_")
        where.mkdir(parents=True)
        record = where / "record.jsonl"
        values = dict(env or {})
        if program is None:
            values["FAKE_CLI_RECORD"] = str(record)
        run = program or [sys.executable, str(STUB)]
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in values.items())
        if program is None:  # one file per run: with and without fallback run at once
            exports += f"export FAKE_CLI_PIDFILE={shlex.quote(str(where))}/pids-$$.json\n"
        exe = where / "opencode"
        exe.write_text(f'#!/bin/sh\n{exports}exec {shlex.join(run)} "$@"\n')
        exe.chmod(0o755)
        argv = [str(exe), "run", "-m", "github-copilot/{model}"]
        if json_format:
            argv += ["--format", "json"]
        fields = {"kind": "command", "argv": argv, "output": "opencode-json"}
        if not json_format:
            fields["output"] = "text"
        target = Target(fields)
        if program is None:
            target.seen = lambda: len(record.read_text().splitlines()) if record.exists() else 0
            target.pids = where
        return target

    return start


def _fault_cli(mode: str) -> list[str]:
    return [sys.executable, str(FAULT_CLI), mode]


def _missing_cli(ctx: Context) -> Target:
    missing = ctx.tmp / "cli" / "missing" / "opencode"
    return Target({"kind": "command", "argv": [str(missing), "run"], "output": "opencode-json"})


def _big_cli(ctx: Context) -> Target:
    answer = ctx.tmp / "big-answer.txt"
    answer.write_text("x" * BIG_BYTES)
    ctx.stack.callback(answer.unlink, missing_ok=True)  # 50 MB: not kept in pytest's tmp dirs
    return _cli("big_answer", {"FAKE_CLI_ANSWER_FILE": str(answer)}, json_format=False)(ctx)


def command_faults() -> list[Fault]:
    budget = r"no answer within 3 s"
    slow_pieces = "||".join(FAULTY_ANSWER[:40])
    model_error = {"FAKE_CLI_MODE": "error-event"}
    faults = [
        Fault("refused", REFUSED, r"not found", _missing_cli, "the executable does not exist"),
        Fault(
            "blackhole",
            BLACKHOLE,
            budget,
            _cli("blackhole", {"FAKE_CLI_MODE": "hang"}),
            "the CLI never writes and never exits",
        ),
        Fault(
            "slow_first_byte",
            SLOW_FIRST,
            budget,
            _cli("slow_first_byte", {"FAKE_CLI_SLEEP": "30"}),
            "30 s before the first output",
        ),
        Fault(
            "slow_stream",
            SLOW_STREAM,
            budget,
            _cli("slow_stream", {"FAKE_CLI_ANSWER": slow_pieces, "FAKE_CLI_PART_DELAY": "1"}),
            "one text event per second",
        ),
        Fault(
            "reset_mid_stream",
            RESET,
            r"killed by SIGKILL",
            _cli("reset_mid_stream", program=_fault_cli("killed")),
            "the CLI dies of SIGKILL mid-answer",
        ),
        Fault(
            "truncated",
            TRUNCATED,
            r"truncated|ended|incomplete|cut",
            _cli("truncated", program=_fault_cli("truncated")),
            "stdout ends mid-line, no `step_finish`/`done`, exit 0",
        ),
        Fault(
            "invalid_json_stream",
            INVALID_STREAM,
            r"printed no answer",
            _cli("invalid_json_stream", program=_fault_cli("invalid_json")),
            "every JSON line cut short, exit 0",
        ),
        Fault(
            "error_body_200",
            ERROR_200,
            r"Model not found: github-copilot/claude-haiku-4\.5",
            _cli("error_body_200", {**model_error, "FAKE_CLI_EXIT": "0"}),
            "an `error` event and exit 0 (older opencode)",
        ),
        Fault(
            "shape:error_event_exit_1",
            SHAPES,
            r"exited with code 1: Model not found",
            _cli("shape:error_event_exit_1", model_error),
        ),
        Fault(
            "shape:error_event_429",
            SHAPES,
            r"exited with code 1: Rate limit exceeded",
            _cli(
                "shape:error_event_429",
                {
                    **model_error,
                    "FAKE_CLI_ERROR": "Rate limit exceeded",
                    "FAKE_CLI_ERROR_STATUS": "429",
                },
            ),
        ),
        Fault(
            "shape:error_event_500",
            SHAPES,
            r"exited with code 1: Internal server error",
            _cli(
                "shape:error_event_500",
                {
                    **model_error,
                    "FAKE_CLI_ERROR": "Internal server error",
                    "FAKE_CLI_ERROR_STATUS": "500",
                },
            ),
        ),
        Fault(
            "shape:provider_not_found",
            SHAPES,
            r"exited with code 1: Provider not found: github-copilot",
            _cli(
                "shape:provider_not_found",
                {"FAKE_CLI_EXIT": "1", "FAKE_CLI_STDERR": "Provider not found: github-copilot"},
            ),
        ),
        Fault(
            "shape:text_format_error",
            SHAPES,
            r"exited with code 1: Error: Model not found",
            _cli("shape:text_format_error", model_error, json_format=False),
        ),
        Fault(
            "big_answer",
            BIG,
            # A run of one character is a loop: the answer guard stops it before the cap.
            r"wrote more than 4096 KiB|gave no usable answer \(repetition\)",
            _big_cli,
            '50 MiB on stdout (`output = "text"`)',
            big=True,
        ),
        Fault(
            "hung_subprocess",
            HUNG,
            budget,
            _cli(
                "hung_subprocess",
                {"FAKE_CLI_MODE": "hang,spawn-child,ignore-term"},
            ),
            "hangs, ignores SIGTERM, has a grandchild in its group",
            extra_budget_s=KILL_GRACE_S + DISCARD_S,
        ),
    ]
    down, rejected = "unavailable", "rejected"
    expect = {
        "refused": down,
        "blackhole": down,
        "slow_first_byte": down,
        "slow_stream": down,
        "reset_mid_stream": down,
        "error_body_200": rejected,
        "shape:error_event_exit_1": rejected,
        "shape:error_event_429": down,
        "shape:error_event_500": down,
        "shape:provider_not_found": rejected,
        "shape:text_format_error": rejected,
        "hung_subprocess": down,
    }
    return [replace(fault, expect=expect.get(fault.name)) for fault in faults]


FAULTS: dict[str, list[Fault]] = {
    "openai": openai_faults(),
    "ollama": ollama_faults(),
    "anthropic": anthropic_faults(),
    "copilot": copilot_faults(),
    "command": command_faults(),
}

_UNREADABLE_STREAM = (
    "an SSE answer whose every event is invalid JSON but which ends with [DONE] is accepted as "
    "an empty answer (the review silently finds nothing): AnswerReader._feed skips undecodable "
    "events and result() accepts [DONE] alone (server/localroute/backends/openai.py)"
)
_UNCAPPED_STREAM = (
    "a streamed answer is not capped: every delta is kept (peak RSS ~3x the answer: +150 MB "
    "for 50 MB); only non-streamed bodies are limited to 16 MiB"
)
KNOWN_BUGS: dict[tuple[str, str], str] = {}
"""Cells whose expected behaviour the server does not have yet (each reported to the lead):
each is an ``xfail(strict=True)`` that documents the expectation and turns red once fixed."""


# -- running a kind ----------------------------------------------------------------------------


def _backend_name(fault: Fault) -> str:
    return "f_" + re.sub(r"[^a-z0-9]+", "_", fault.name.lower()).strip("_")


def _toml_value(value: Any) -> str:
    return json.dumps(value)  # JSON strings, numbers, booleans and arrays are TOML too


def _config(kind: str, targets: dict[str, Target], healthy_url: str, audit: Path) -> str:
    model = MODELS[kind]
    lines = [
        "[health]",
        "ttl_s = 3600",
        "recheck_s = 3600",
        "[cache]",
        "max_entries = 0",
        "[audit]",
        f"path = {_toml_value(str(audit))}",
        "[backends.healthy]",
        'kind = "openai"',
        f"url = {_toml_value(healthy_url)}",
        "max_concurrency = 128",
        "timeout_s = 20",
    ]
    for name, target in targets.items():
        for suffix in ("", "_solo"):
            lines.append(f"[backends.{name}{suffix}]")
            fields = {
                **target.backend,
                "timeout_s": TIMEOUT_S,
                "connect_timeout_s": CONNECT_TIMEOUT_S,
            }
            lines += [f"{key} = {_toml_value(value)}" for key, value in fields.items()]
    for name in targets:
        for suffix, route in (
            ("", [f"{name}:{model}", "healthy:coder"]),
            ("_solo", [f"{name}_solo:{model}"]),
        ):
            lines += [
                f"[tasks.{name}{suffix}]",
                'prompt = "Review this code.\\n{numbered_code}"',
                'output = "diagnostics"',
                f"route = {_toml_value(route)}",
            ]
    return "\n".join(lines) + "\n"


def _after(text: str, entry: str) -> str | None:
    """What follows ``entry: `` in ``text`` (the pipeline's ``backend:model: message``)."""
    _, sep, tail = text.partition(f"{entry}: ")
    return tail.rstrip(".") if sep else None


def _status_line(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])  # kB
    return values


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


class _Runner:
    def __init__(self, kind: str, session: Session) -> None:
        self.kind = kind
        self.s = session

    async def review(self, task: str, uri: str, entry: str, *, hover: bool) -> tuple[Run, float]:
        """One review; returns its run and the hover latency (-1: none sent)."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        finished: list[float] = []
        request = asyncio.ensure_future(
            self.s.command("localroute.review", {"uri": uri, "task": task})
        )
        request.add_done_callback(lambda _: finished.append(loop.time()))
        hover_s = -1.0
        if hover:
            await asyncio.wait({request}, timeout=HOVER_AFTER_S)
            if not request.done():
                sent = loop.time()
                await asyncio.wait_for(self.s.hover(uri, 0), HARNESS_LIMIT_S)
                hover_s = loop.time() - sent
        try:
            result = await asyncio.wait_for(request, HARNESS_LIMIT_S)
        except TimeoutError:
            return Run("hang", loop.time() - began, "no answer from the server"), hover_s
        except JsonRpcException as exc:
            seconds = (finished[0] if finished else loop.time()) - began
            traceback = isinstance(exc.data, dict) and "traceback" in exc.data
            clean = exc.code == -32803 and not traceback and "Traceback" not in exc.message
            message = _after(exc.message, entry) or exc.message
            return Run("clear error" if clean else "internal error", seconds, message), hover_s
        seconds = (finished[0] if finished else loop.time()) - began
        if result.get("backend") == "healthy":
            told = _after(str(result.get("reason", "")), entry)
            return Run("fallback", seconds, told or f"(not named) {result.get('reason')}"), hover_s
        told = f"answered by {result.get('backend')} with {result.get('findings')} finding(s)"
        return Run("answered by the faulty backend", seconds, told), hover_s

    async def cell(self, cell: Cell, uri: str, *, delay: float = 0.0) -> None:
        await asyncio.sleep(delay)
        model = MODELS[self.kind]
        main, solo = await asyncio.gather(
            self.review(cell.backend, uri, f"{cell.backend}:{model}", hover=True),
            self.review(f"{cell.backend}_solo", uri, f"{cell.backend}_solo:{model}", hover=False),
        )
        cell.main, hover_s = main
        cell.solo, _ = solo
        cell.hover_s = None if hover_s < 0 else hover_s


async def _run_kind(kind: str, start_session: Any, tmp: Path) -> dict[str, Cell]:
    faults = FAULTS[kind]
    cells: dict[str, Cell] = {}
    with ExitStack() as stack:
        healthy = stack.enter_context(FakeOpenAI(answer=HEALTHY_ANSWER))
        ctx = Context(stack, tmp)
        if kind == "copilot":
            token_fake = FakeCopilot()
            stack.enter_context(token_fake)
            ctx.token_url = token_fake.token_url
        targets: dict[str, Target] = {}
        for fault in faults:
            name = _backend_name(fault)
            targets[name] = fault.start(ctx)
            cells[fault.name] = Cell(kind, fault, name)
        env = {"NO_PROXY": "127.0.0.1,localhost", "ANTHROPIC_API_KEY": FAKE_KEY}
        env[TOKEN_ENV] = OAUTH_TOKEN
        audit = tmp / "audit.jsonl"
        config = _config(kind, targets, healthy.url, audit)
        async with start_session(config, env=env) as s:
            uris = {name: s.open(f"{name}.py", SOURCE) for name in targets}
            if kind != "command":
                # Local backends are probed in the background: let every probe settle on "up"
                # before anything breaks, so each fault meets a request. This also builds every
                # backend's HTTP client now rather than during the measured burst (each costs
                # the event loop ~40 ms; see the report).
                await s.command("localroute.status", {})
            for target in targets.values():
                if target.arm is not None and target.proxy is not None:
                    target.proxy.set_mode(target.arm)
            runner = _Runner(kind, s)
            pid = s.client._server.pid
            small = [c for c in cells.values() if not c.fault.big]
            stagger = STAGGER_S[kind]
            await asyncio.gather(
                *(runner.cell(c, uris[c.backend], delay=i * stagger) for i, c in enumerate(small))
            )
            # A proxy that trickles a byte a second notices a closed connection only at
            # its next write, and on a loaded machine a close can take a moment to land:
            # give closes up to 6 s (longer than httpx's 5 s keep-alive expiry) to show.
            for _ in range(60):
                await asyncio.sleep(0.1)
                proxies = [targets[c.backend].proxy for c in small]
                if not any(p.open_faulted() for p in proxies if p is not None):
                    break
            for cell in small:
                target = targets[cell.backend]
                cell.lingering = target.proxy.open_faulted() if target.proxy is not None else 0
                if target.pids is not None:  # checked while the server runs: no shutdown kill
                    pids = _cli_pids(target.pids)
                    cell.leftovers = [-1] if pids is None else await _still_alive(s, pids)
            for cell in (c for c in cells.values() if c.fault.big):
                before = _status_line(pid)
                await runner.cell(cell, uris[cell.backend])
                await asyncio.sleep(0.5)
                after = _status_line(pid)
                cell.rss_mb = (after["VmRSS"] - before["VmRSS"]) / 1024
                cell.peak_mb = (after["VmHWM"] - before["VmHWM"]) / 1024
            # Still there, still answering, and nothing shown with a traceback.
            assert s.client._server.returncode is None
            await asyncio.wait_for(s.hover(next(iter(uris.values())), 0), 5)
            shown = [m.message for m in s.client.messages if "Traceback" in m.message]
            assert shown == [], shown
        classes = _audit_classes(audit)
        for name, cell in ((c.backend, c) for c in cells.values()):
            cell.classes = sorted(classes.get(name, set()) | classes.get(f"{name}_solo", set()))
            target = targets[name]
            cell.seen = target.seen() if target.seen is not None else None
    return cells


def _audit_classes(path: Path) -> dict[str, set[str]]:
    """Backend → the error classes (``unavailable``, ``rejected``) of its audited attempts."""
    found: dict[str, set[str]] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        entry = json.loads(line)
        kind = str(entry.get("outcome", "")).split(":", 1)[0]
        if entry.get("backend") and kind in ("unavailable", "rejected"):
            found.setdefault(entry["backend"], set()).add(kind)
    return found


def _cli_pids(where: Path) -> list[int] | None:
    """The pids the CLI's runs (and their grandchildren) had; None if it never started."""
    files = sorted(where.glob("pids-*.json"))
    if not files:
        return None
    return [
        pid
        for path in files
        for pid in json.loads(path.read_text()).values()
        if isinstance(pid, int)
    ]


async def _still_alive(session: Session, pids: list[int]) -> list[int]:
    """Of ``pids``, those still running a second from now (the requests have ended)."""
    with contextlib.suppress(AssertionError):
        await session.wait_for(lambda: not any(_alive(p) for p in pids), timeout=1.0)
    return [p for p in pids if _alive(p)]


RESULTS: dict[str, dict[str, Cell]] = {}
FAILED: dict[str, str] = {}


async def _results(kind: str, start_session: Any, tmp: Path) -> dict[str, Cell]:
    if kind in FAILED:
        pytest.fail(f"the {kind} session failed: {FAILED[kind]}")
    if kind not in RESULTS:
        try:
            RESULTS[kind] = await _run_kind(kind, start_session, tmp)
        except BaseException as exc:
            FAILED[kind] = f"{type(exc).__name__}: {exc}"
            raise
    return RESULTS[kind]


# -- checks ------------------------------------------------------------------------------------


def _budget(fault: Fault) -> float:
    return TIMEOUT_S + fault.extra_budget_s + SLACK_S


def problems(cell: Cell) -> list[str]:
    """Everything about a cell that breaks the promise; empty when it holds."""
    fault, found = cell.fault, []
    cause = re.compile(fault.cause, re.I)
    main, solo = cell.main, cell.solo
    assert main is not None and solo is not None
    allowed = ("fallback", "answered by the faulty backend") if fault.may_answer else ("fallback",)
    if main.outcome not in allowed:
        found.append(f"with fallback: {main.outcome} ({main.message})")
    elif main.outcome == "fallback" and not cause.search(main.message):
        found.append(f"with fallback: cause /{fault.cause}/ not in {main.message!r}")
    if solo.outcome != "clear error" and not (
        fault.may_answer and solo.outcome == "answered by the faulty backend"
    ):
        found.append(f"alone: {solo.outcome} ({solo.message})")
    elif solo.outcome == "clear error" and not cause.search(solo.message):
        found.append(f"alone: cause /{fault.cause}/ not in {solo.message!r}")
    for label, run in (("with fallback", main), ("alone", solo)):
        if run.seconds > _budget(fault):
            found.append(f"{label}: took {run.seconds:.1f} s, budget {_budget(fault):.1f} s")
    if cell.hover_s is not None and cell.hover_s > HOVER_LIMIT_S:
        found.append(f"hover took {cell.hover_s:.2f} s while the request ran")
    if cell.rss_mb is not None and cell.rss_mb > RSS_LIMIT_MB:
        found.append(f"RSS grew {cell.rss_mb:.0f} MB")
    if cell.peak_mb is not None and cell.peak_mb > RSS_LIMIT_MB:
        found.append(f"peak RSS grew {cell.peak_mb:.0f} MB while the answer was read")
    if cell.seen == 0:
        found.append("the faulty backend never received the request: the fault did not happen")
    if cell.leftovers:
        found.append(f"processes left running: {cell.leftovers}")
    if fault.expect is not None and cell.classes and cell.classes != [fault.expect]:
        found.append(f"error class {'/'.join(cell.classes)}, expected {fault.expect}")
    if cell.lingering:
        found.append(f"{cell.lingering} connection(s) to the faulty backend left open")
    return found


def _params() -> list[Any]:
    params = []
    for kind in KINDS:
        for fault in FAULTS[kind]:
            bug = KNOWN_BUGS.get((kind, fault.name))
            marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
            params.append(pytest.param(kind, fault.name, id=f"{kind}-{fault.name}", marks=marks))
    return params


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("kind", "fault"), _params())
async def test_fault(kind: str, fault: str, start_session: Any, tmp_path: Path) -> None:
    cells = await _results(kind, start_session, tmp_path)
    cell = cells[fault]
    assert problems(cell) == [], f"{kind} × {fault}"


# -- the table ---------------------------------------------------------------------------------


def _short(run: Run) -> str:
    names = {"answered by the faulty backend": "answered", "internal error": "INTERNAL ERROR"}
    return f"{names.get(run.outcome, run.outcome)} {run.seconds:.1f} s"


def _matrix_cell(cells: list[Cell]) -> str:
    if not cells:
        return "n/a"
    runs = [c.main for c in cells if c.main is not None]
    outcomes = sorted({_short(r).rsplit(" ", 2)[0] for r in runs})
    worst = max(r.seconds for r in runs)
    bad = any(problems(c) for c in cells)
    mark = " ⚠" if bad else ""
    if len(cells) == 1:
        return _short(runs[0]) + mark
    return f"{'/'.join(outcomes)} ×{len(cells)}, ≤ {worst:.1f} s{mark}"


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: str) -> str:
    text = re.sub(r"[^\s`]*/cli/[^/\s]+/", "", text)  # the wrapper scripts' temporary dirs
    return text.replace("|", "\\|").replace("\n", " ")


def matrix_markdown(results: dict[str, dict[str, Cell]]) -> str:
    kinds = [k for k in KINDS if k in results]
    total = sum(len(results[k]) for k in kinds)
    held = sum(1 for k in kinds for c in results[k].values() if not problems(c))
    lines = [
        "## Fault matrix",
        "",
        f"Generated by `tests/faults/test_fault_matrix.py`: {held} of {total} faults × backends "
        "survived. Every faulty backend has `timeout_s = 3` and `connect_timeout_s = 0.5` and "
        "is asked twice through a real `localroute serve`: routed `[faulty, healthy "
        "FakeOpenAI]` (the cell: what the user got, and how long the request took) and alone "
        "(the user must get a JSON-RPC error naming the backend and the cause, no traceback). "
        "All faults of a backend kind run at the same time; a `textDocument/hover` sent 0.3 s "
        "into each request still running was answered within 1 s."
        + (
            " ⚠ marks a cell that broke a promise: each is a known bug, listed below and kept "
            "as a strict xfail."
            if held < total
            else ""
        ),
        "",
        "| fault | " + " | ".join(kinds) + " |",
        "|---|" + "---|" * len(kinds),
    ]
    for row in ROWS:
        cells = [
            _matrix_cell([c for c in results[k].values() if c.fault.row == row]) for k in kinds
        ]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "HTTP faults sit in a loopback TCP proxy (`tests/faults/proxy.py`) armed once the server "
        "has seen the backend up; answers to POSTs only are broken. `command` analogues: "
        + "; ".join(
            f"{f.row} = {f.note}"
            for f in FAULTS["command"]
            if f.note and f.row != SHAPES and "command" in results
        )
        + ". No-content-forever: "
        + "; ".join(
            f"{k} {f.note}" for k in kinds for f in FAULTS[k] if f.row == FOREVER and f.note
        )
        + ".",
        "",
    ]
    for kind in kinds:
        big = next((c for c in results[kind].values() if c.fault.big), None)
        hovers = [c.hover_s for c in results[kind].values() if c.hover_s is not None]
        if big is not None and big.rss_mb is not None and hovers:
            lines.append(
                f"- {kind}: slowest hover {max(hovers) * 1000:.0f} ms; the 50 MB answer left "
                f"the server's RSS {big.rss_mb:+.0f} MB, peak {big.peak_mb:+.0f} MB while it ran."
            )
    bugs = {
        reason: [f"{k} × {f}" for (k, f), r in KNOWN_BUGS.items() if r == reason and k in kinds]
        for reason in KNOWN_BUGS.values()
    }
    lines += ["", "Known bugs (⚠):", ""]
    lines += [f"- {', '.join(where)}: {reason}." for reason, where in bugs.items() if where]
    lines += [
        "",
        "<details><summary>Every fault, with the message the user gets</summary>",
        "",
        "Hover: the latency of the hover sent during the request with fallback (— when the "
        "request had ended before it was due). Class: how the attempt was recorded in the audit "
        "log, `unavailable` (the backend is marked down) or `rejected` (only this request "
        "failed); — when the backend was already known down and skipped.",
        "",
        "| backend | fault | with fallback | alone | hover | class | what the user is told |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in kinds:
        for cell in results[kind].values():
            assert cell.main is not None and cell.solo is not None
            hover = "—" if cell.hover_s is None else f"{cell.hover_s * 1000:.0f} ms"
            flag = " ⚠ " + "; ".join(problems(cell)) if problems(cell) else ""
            lines.append(
                f"| {kind} | {cell.fault.name} | {_short(cell.main)} | {_short(cell.solo)} "
                f"| {hover} | {'/'.join(cell.classes) or '—'} "
                f"| {_escape(_clip(cell.solo.message))}{_escape(flag)} |"
            )
    lines += ["", "</details>"]
    return "\n".join(lines)


def write_docs(section: str, path: Path = DOCS) -> None:
    """Replace what is between the markers of ``path`` (created with an intro if missing)."""
    block = f"{START_MARKER}\n{section}\n{END_MARKER}"
    if not path.exists():
        intro = (
            "# Reliability\n\nWhat the reliability tests of localroute measured: figures "
            "written by the tests themselves (run with `LOCALROUTE_WRITE_DOCS=1`).\n\n"
        )
        path.write_text(intro + block + "\n")
        return
    text = path.read_text()
    if START_MARKER in text and END_MARKER in text:
        head, _, rest = text.partition(START_MARKER)
        _, _, tail = rest.partition(END_MARKER)
        path.write_text(head + block + tail)
    else:
        path.write_text(text.rstrip("\n") + "\n\n" + block + "\n")


def report_matrix(terminal: Any) -> None:
    """At the end of the session (see conftest.py): print the matrix of what ran, and write
    it into docs/reliability.md with LOCALROUTE_WRITE_DOCS=1 when every kind ran. A report,
    not a test: each cell's own test asserts what it must."""
    if not RESULTS:
        return
    section = matrix_markdown(RESULTS)
    terminal.write_line("\n" + section)
    complete = set(RESULTS) == set(KINDS)
    if os.environ.get("LOCALROUTE_WRITE_DOCS") == "1" and complete:
        write_docs(section)


def test_write_docs_touches_only_its_markers(tmp_path: Path) -> None:
    path = tmp_path / "reliability.md"
    write_docs("first", path)
    assert path.read_text().startswith("# Reliability")
    path.write_text(path.read_text() + "\n## Load\n\nfigures of others\n")
    write_docs("second", path)
    text = path.read_text()
    assert f"{START_MARKER}\nsecond\n{END_MARKER}" in text
    assert "first" not in text and "figures of others" in text


def test_proxy_modes() -> None:
    """The proxy itself: each mode does to a chat request what it says, probes pass."""
    import httpx

    body = {"model": "coder", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with FakeOpenAI(answer="fine", chunk_size=2) as fake, FaultProxy(fake.port) as proxy:
        client = httpx.Client(timeout=httpx.Timeout(5.0, connect=0.5))

        def chat() -> bytes:
            url = f"{proxy.root}/v1/chat/completions"
            with client.stream("POST", url, json=body) as response:
                return response.read()

        whole = chat()
        assert b"data: [DONE]" in whole
        proxy.set_mode("reset_mid_stream", body_bytes=100)
        with pytest.raises(httpx.ReadError):
            chat()
        proxy.set_mode("truncate")
        with pytest.raises(httpx.RemoteProtocolError):
            chat()
        assert proxy.cuts == 2
        proxy.set_mode("slow_first_byte", first_byte_delay_s=0.3)
        assert client.get(f"{proxy.root}/health").text == "OK"  # GETs pass at once
        began = time.monotonic()
        assert chat() == whole
        assert time.monotonic() - began >= 0.3
        proxy.set_mode("slow_stream", byte_interval_s=0.001)
        began = time.monotonic()
        assert chat() == whole
        assert time.monotonic() - began >= len(whole) * 0.001
        proxy.set_mode("refuse")
        with pytest.raises(httpx.ConnectError):
            chat()
        proxy.set_mode("blackhole")
        with pytest.raises(httpx.ConnectTimeout):
            chat()
        proxy.set_mode("pass")
        assert chat() == whole
        assert proxy.open_faulted() == 0
        client.close()
