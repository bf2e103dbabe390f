"""``localroute serve`` with timing hooks, for profiling only (see bench/profile.py).

The hooks wrap, at run time and in this process only, the functions a request passes
through: every JSON-RPC message read and written (with the cost of writing it), the
command's progress, the pipeline's steps, the backend's HTTP call, configuration
loading and probes. The server's code is unchanged. At exit the events are written as
JSON to the file named by ``LOCALROUTE_TRACE``; with ``LOCALROUTE_CPROFILE`` set, a
cProfile of the event loop's thread is written there too. Two experiments can be
switched on: ``LOCALROUTE_BENCH_PIPE_READER=1`` (stdin read by asyncio, see
:class:`PipeReader`) and ``LOCALROUTE_BENCH_DEFER_CONFIG=1`` (`initialize` answered
before the configuration is read).

``perf_counter`` is the system's monotonic clock, so the client's timestamps and these
can be compared.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import atexit  # noqa: E402
import cProfile  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

EVENTS: list[dict[str, Any]] = []


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def mark(what: str, *, rss: bool = False, **data: Any) -> None:
    event: dict[str, Any] = {"t": time.perf_counter(), "what": what, **data}
    if rss:
        event["rss_mib"] = _rss_mib()
    EVENTS.append(event)


def span(
    owner: Any,
    name: str,
    label: str,
    *,
    is_async: bool = False,
    rss: bool = False,
    **data: Any,
) -> None:
    """Replace ``owner.name`` with a wrapper recording when it ran and for how long."""
    original: Callable[..., Any] = getattr(owner, name)

    if is_async:

        @functools.wraps(original)
        async def traced_async(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                _close(label, began, rss, data)

        setattr(owner, name, traced_async)
        return

    @functools.wraps(original)
    def traced(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            _close(label, began, rss, data)

    setattr(owner, name, traced)


def _close(label: str, began: float, rss: bool, data: dict[str, Any]) -> None:
    event: dict[str, Any] = {"t": began, "what": label, "d": time.perf_counter() - began, **data}
    if rss:
        event["rss_mib"] = _rss_mib()
    EVENTS.append(event)


def _message_name(message: Any) -> str:
    method = getattr(message, "method", None)
    if method is None:
        return "response"
    if method == "$/progress":
        value = getattr(getattr(message, "params", None), "value", None)
        kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", "?")
        return f"$/progress:{kind}"
    return str(method)


def install() -> None:
    from pygls.protocol.json_rpc import JsonRPCProtocol

    from localroute import pipeline, server
    from localroute.lsp import features, progress, publish
    from localroute.routing import health

    send_data = JsonRPCProtocol._send_data
    handle_message = JsonRPCProtocol.handle_message

    def traced_send(self: Any, data: Any) -> None:
        began = time.perf_counter()
        send_data(self, data)
        EVENTS.append(
            {
                "t": began,
                "what": "write",
                "m": _message_name(data),
                "d": time.perf_counter() - began,
            }
        )

    def traced_handle(self: Any, message: Any) -> None:
        began = time.perf_counter()
        handle_message(self, message)
        EVENTS.append(
            {
                "t": began,
                "what": "read",
                "m": _message_name(message),
                "d": time.perf_counter() - began,
            }
        )

    JsonRPCProtocol._send_data = traced_send  # type: ignore[method-assign]
    JsonRPCProtocol.handle_message = traced_handle  # type: ignore[method-assign]

    span(server.LocalrouteServer, "__init__", "LocalrouteServer()", rss=True)
    span(features, "register", "features.register", rss=True)
    span(server.LocalrouteServer, "load_initial_config", "load_initial_config", rss=True)
    span(server.LocalrouteServer, "reload_config", "reload_config", is_async=True, rss=True)
    span(progress.CommandProgress, "begin", "progress.begin", is_async=True)
    span(progress.CommandProgress, "end", "progress.end")
    span(pipeline.Pipeline, "run", "pipeline.run", is_async=True)
    span(pipeline.Pipeline, "classify", "pipeline.classify")
    span(pipeline.Pipeline, "decide", "pipeline.decide")
    span(pipeline.Pipeline, "prompt_for", "pipeline.prompt_for")
    span(pipeline.Pipeline, "_outcome", "pipeline.outcome")
    span(pipeline.Pipeline, "backend", "pipeline.backend")
    span(pipeline.Pipeline, "_audit", "pipeline.audit")
    span(pipeline.Pipeline, "_cache_key", "pipeline.cache_key")
    create_backend = pipeline.create_backend

    def traced_create(*args: Any, **kwargs: Any) -> Any:
        # Wrapped per instance: importing the backend modules here would move their
        # import cost out of the server's own timeline.
        backend = create_backend(*args, **kwargs)
        name = getattr(backend, "name", "?")
        span(backend, "chat", "backend.chat", is_async=True, rss=True, backend=name)
        span(backend, "probe", "backend.probe", is_async=True, rss=True, backend=name)
        return backend

    pipeline.create_backend = traced_create
    span(health.HealthMonitor, "probe", "health.probe", is_async=True)
    span(publish, "diagnostics", "publish.diagnostics")


class PipeReader:
    """An experiment (``LOCALROUTE_BENCH_PIPE_READER=1``): read stdin with asyncio's pipe
    transport instead of pygls' reader, which hands every header line and every body to
    a worker thread (`run_in_executor`), four thread round trips per message."""

    def __init__(self, stdin: Any, executor: Any = None) -> None:
        self._stdin = stdin
        self._reader: Any = None

    async def _stream(self) -> Any:
        import asyncio

        if self._reader is None:
            reader = asyncio.StreamReader(limit=2**24)
            loop = asyncio.get_running_loop()
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), self._stdin)
            self._reader = reader
        return self._reader

    async def readline(self) -> bytes:
        return bytes(await (await self._stream()).readline())

    async def readexactly(self, n: int) -> bytes:
        return bytes(await (await self._stream()).readexactly(n))


def dump(profile: cProfile.Profile | None) -> None:
    target = os.environ.get("LOCALROUTE_TRACE")
    mark("exit", rss=True)
    if target:
        Path(target).write_text(json.dumps({"started": STARTED, "events": EVENTS}))
    cprofile_target = os.environ.get("LOCALROUTE_CPROFILE")
    if profile is not None and cprofile_target:
        profile.disable()
        profile.dump_stats(cprofile_target)


def main() -> int:
    mark("interpreter ready", rss=True)
    import localroute.cli

    mark("imported localroute.cli", rss=True)
    import localroute.lsp.features
    import localroute.server

    mark("imported the server's modules", rss=True)
    install()
    if os.environ.get("LOCALROUTE_BENCH_DEFER_CONFIG"):
        # Experiment: answer `initialize` without reading the configuration; the
        # `initialized` handler reads it anyway (reload_config).
        from localroute import server

        server.LocalrouteServer.load_initial_config = lambda self: None  # type: ignore[method-assign]
    if os.environ.get("LOCALROUTE_BENCH_PIPE_READER"):
        import pygls.server

        pygls.server.StdinAsyncReader = PipeReader  # type: ignore[misc,assignment]
    profile = cProfile.Profile() if os.environ.get("LOCALROUTE_CPROFILE") else None
    atexit.register(dump, profile)
    if profile is not None:
        profile.enable()
    return localroute.cli.main(["serve", *sys.argv[1:]])


if __name__ == "__main__":
    raise SystemExit(main())
