"""``localroute serve`` with timing hooks, for profiling only (see bench/profile.py).

The hooks wrap, at run time and in this process only, the functions a request passes
through: every JSON-RPC message read and written (with the cost of writing it), the
command's progress, the pipeline's steps, the backend's HTTP call, configuration
loading and probes. The server's code is unchanged. At exit the events are written as
JSON to the file named by ``LOCALROUTE_TRACE``; with ``LOCALROUTE_CPROFILE`` set, a
cProfile of the event loop's thread is written there too.

``perf_counter`` is the system's monotonic clock, so the client's timestamps and these
can be compared.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import atexit  # noqa: E402
import contextlib  # noqa: E402
import cProfile  # noqa: E402
import functools  # noqa: E402
import importlib  # noqa: E402
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


RSS_CALLS = 20
"""A hook with RSS reads it for its first calls only: start-up is what it is for, and
reading ``/proc`` on every request (``config.base`` runs for each) would add its cost
to the steps of a review."""
_rss_calls: dict[str, int] = {}


def _close(label: str, began: float, rss: bool, data: dict[str, Any]) -> None:
    event: dict[str, Any] = {"t": began, "what": label, "d": time.perf_counter() - began, **data}
    if rss and _rss_calls.get(label, 0) < RSS_CALLS:
        _rss_calls[label] = _rss_calls.get(label, 0) + 1
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


HOOKS: list[tuple[str, str, str, str, bool, bool]] = [
    # module, object ("" for the module itself), attribute, label, async, with RSS
    ("localroute.lsp.server", "LocalrouteServer", "__init__", "LocalrouteServer()", False, True),
    ("localroute.lsp.server", "LocalrouteServer", "apply_settings", "apply_settings", False, True),
    ("localroute.lsp.registry", "", "register", "registry.register", False, True),
    ("localroute.policy.store", "PolicyStore", "base", "config.base", False, True),
    ("localroute.policy.store", "PolicyStore", "policy_for", "config.policy_for", False, False),
    ("localroute.lsp.progress", "CommandProgress", "begin", "progress.begin", True, False),
    ("localroute.lsp.progress", "CommandProgress", "end", "progress.end", False, False),
    ("localroute.pipeline", "Pipeline", "__init__", "Pipeline()", False, True),
    ("localroute.pipeline", "Pipeline", "run", "pipeline.run", True, False),
    ("localroute.pipeline", "Pipeline", "classify", "pipeline.classify", False, False),
    ("localroute.pipeline", "Pipeline", "decide", "pipeline.decide", False, False),
    ("localroute.pipeline", "Pipeline", "prompt_for", "pipeline.prompt_for", False, False),
    ("localroute.asking", "Asker", "_cache_key", "pipeline.cache_key", False, False),
    ("localroute.asking", "Asker", "_audit", "pipeline.audit", False, False),
    ("localroute.asking", "Asker", "_send", "pipeline.send", True, False),
    ("localroute.asking", "", "answer_outcome", "pipeline.outcome", False, False),
    ("localroute.sending", "BackendPool", "send", "pool.send", True, False),
    ("localroute.results_cache", "ResultsCache", "remember", "results.remember", True, False),
    ("localroute.routing.health", "HealthMonitor", "probe", "health.probe", True, False),
    ("localroute.routing.health", "HealthMonitor", "settle", "health.settle", True, False),
    ("localroute.lsp.publish", "", "diagnostics", "publish.diagnostics", False, False),
]
"""What to time, by name: a hook whose target no longer exists is skipped and noted
(the server's modules move; the tool should keep working with what it finds)."""


def install() -> None:
    from pygls.protocol.json_rpc import JsonRPCProtocol

    # The server's own protocol dispatches messages itself (not through pygls' method).
    from localroute.lsp.protocol import LocalrouteProtocol

    send_data = JsonRPCProtocol._send_data
    handle_message = LocalrouteProtocol.handle_message

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
    LocalrouteProtocol.handle_message = traced_handle  # type: ignore[method-assign]

    for module_name, owner_name, attribute, label, is_async, rss in HOOKS:
        try:
            module = importlib.import_module(module_name)
            owner = getattr(module, owner_name) if owner_name else module
            getattr(owner, attribute)
        except (ImportError, AttributeError):
            mark("hook missing", hook=f"{module_name}:{owner_name}.{attribute}")
            continue
        span(owner, attribute, label, is_async=is_async, rss=rss)

    # Backends are wrapped per instance where they are made: importing the backend
    # modules here would move their import cost out of the server's own timeline.
    makers = ("localroute.routing.endpoints", "localroute.sending", "localroute.pipeline")
    for module_name in makers:
        module = importlib.import_module(module_name)
        create_backend = getattr(module, "create_backend", None)
        if create_backend is not None:
            module.create_backend = _traced_create(create_backend)


def _traced_create(create_backend: Callable[..., Any]) -> Callable[..., Any]:
    def traced_create(*args: Any, **kwargs: Any) -> Any:
        backend = create_backend(*args, **kwargs)
        name = getattr(backend, "name", "?")
        span(backend, "chat", "backend.chat", is_async=True, rss=True, backend=name)
        span(backend, "probe", "backend.probe", is_async=True, rss=True, backend=name)
        return backend

    return traced_create


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
    # What `localroute serve` imports before it makes the server.
    for name in ("localroute.lsp.main", "localroute.lsp.registry", "localroute.lsp.server"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    mark("imported the server's modules", rss=True)
    install()
    profile = cProfile.Profile() if os.environ.get("LOCALROUTE_CPROFILE") else None
    atexit.register(dump, profile)
    if profile is not None:
        profile.enable()
    return localroute.cli.main(["serve", *sys.argv[1:]])


if __name__ == "__main__":
    raise SystemExit(main())
