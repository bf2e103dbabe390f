"""Load: 500 concurrent reviews over 50 open documents against two slow backends.

Every request is answered or cancelled, no backend ever sees more requests at once than
its `max_concurrency`, the server's memory stays bounded, and a shutdown in the middle of
the load ends the process in bounded time without leaving a process behind.

The figures are printed (``pytest -s``) for docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled

from tests.e2e.conftest import Session
from tests.fakes.openai_fake import FakeOpenAI

SEED = 20240606
DOCUMENTS = 50
REQUESTS = 500
CANCEL_SHARE = 0.10
SHUTDOWN_REQUESTS = 100
MAX_CONCURRENCY = 4
LOCAL_LATENCY_S = 0.05
SECOND_LATENCY_S = 0.10
ROUND_TIMEOUT_S = 60.0
SHUTDOWN_BUDGET_S = 5.0
RSS_GROWTH_BOUND_KB = 64 * 1024
"""Growth allowed across the second round of 500 requests (the first one warms up)."""

ANSWER = json.dumps({"findings": [{"line": 2, "severity": "warning", "message": "load finding"}]})


def config(local_url: str, second_url: str) -> str:
    # `review` goes to the local backend, the custom diagnostics task `deep` to the second
    # one: both backends are loaded at once, each through its own concurrency limit.
    return f"""
        [backends.local]
        kind = "openai"
        url = "{local_url}"
        max_concurrency = {MAX_CONCURRENCY}
        connect_timeout_s = 1.0

        [backends.second]
        kind = "openai"
        url = "{second_url}"
        max_concurrency = {MAX_CONCURRENCY}
        connect_timeout_s = 1.0

        [tasks.review]
        route = ["local:coder"]

        [tasks.deep]
        output = "diagnostics"
        prompt = "Review this code deeply:\\n{{numbered_code}}"
        route = ["second:coder"]
        """


def document_text(index: int) -> str:
    """Distinct texts, so no two requests share a prompt."""
    body = "\n".join(f"    total += {index} * {n}  # step {n}" for n in range(20))
    return f"def work_{index}(total):\n{body}\n    return total\n"


# -- the server process, from /proc ----------------------------------------------------------


def server_pid(session: Session) -> int:
    # pygls' JsonRPCClient keeps the asyncio subprocess it started in `_server`.
    process = session.client._server
    assert process is not None
    return int(process.pid)


def vm_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields follow the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def process_exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def processes_with_env(marker: str) -> list[int]:
    """Processes of this user whose environment holds `marker` (the session's config path):
    the server and anything it started, even re-parented after the server died."""
    needle = marker.encode()
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ:
            found.append(int(entry.name))
    return found


# -- driving the load -------------------------------------------------------------------------


@dataclass
class Round:
    sent: int = 0
    answered: int = 0
    cancelled: int = 0
    failed: list[str] = field(default_factory=list)
    cancels_sent: int = 0
    by_backend: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    peak_outstanding: int = 0
    peak_waiting: int = 0
    peak_rss_kb: int = 0


class Load:
    """Sends reviews with explicit ids and watches the queue while they run."""

    def __init__(self, session: Session, uris: list[str], fakes: list[FakeOpenAI]) -> None:
        self.session = session
        self.uris = uris
        self.fakes = fakes
        self.pid = server_pid(session)
        self.rng = random.Random(SEED)
        self._serial = 0

    def send(self, index: int) -> tuple[str, asyncio.Future[Any]]:
        self._serial += 1
        msg_id = f"load-{self._serial}"
        argument: dict[str, Any] = {"uri": self.uris[index % len(self.uris)], "refresh": True}
        if index % 2:
            argument["task"] = "deep"
        params = types.ExecuteCommandParams(command="localroute.review", arguments=[argument])
        # pytest-lsp's send_request_async is a coroutine: it sends when first run.
        future = asyncio.ensure_future(
            self.session.client.protocol.send_request_async(
                types.WORKSPACE_EXECUTE_COMMAND, params, msg_id=msg_id
            )
        )
        return msg_id, future

    def cancel(self, msg_id: str) -> None:
        self.session.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))

    async def run(self, count: int) -> Round:
        stats = Round()
        began = time.monotonic()
        futures: dict[str, asyncio.Future[Any]] = {}
        for index in range(count):
            msg_id, future = self.send(index)
            futures[msg_id] = future
        stats.sent = count
        await asyncio.sleep(0)  # every request is on the wire before any cancel
        doomed = self.rng.sample(sorted(futures), round(count * CANCEL_SHARE))
        done = asyncio.Event()
        monitor = asyncio.ensure_future(self._watch(futures, stats, done))
        canceller = asyncio.ensure_future(self._cancel_over_time(doomed, stats))
        try:
            await asyncio.wait_for(
                asyncio.gather(*futures.values(), return_exceptions=True), ROUND_TIMEOUT_S
            )
        finally:
            done.set()
            await monitor
            await canceller
        stats.elapsed_s = time.monotonic() - began
        for msg_id, future in futures.items():
            exc = future.exception()
            if exc is None:
                stats.answered += 1
                stats.by_backend[future.result()["backend"]] += 1
            elif isinstance(exc, JsonRpcRequestCancelled):
                stats.cancelled += 1
            else:
                stats.failed.append(f"{msg_id}: {type(exc).__name__}: {exc}")
        return stats

    async def _cancel_over_time(self, doomed: list[str], stats: Round) -> None:
        # Spread over the round: some wait for a slot, some are mid-HTTP, some already done.
        for position, msg_id in enumerate(doomed):
            await asyncio.sleep(0.02 if position % 3 else 0)
            self.cancel(msg_id)
            stats.cancels_sent += 1

    async def _watch(
        self, futures: dict[str, asyncio.Future[Any]], stats: Round, done: asyncio.Event
    ) -> None:
        while not done.is_set():
            outstanding = sum(1 for f in futures.values() if not f.done())
            in_backends = [fake.in_flight for fake in self.fakes]
            stats.peak_outstanding = max(stats.peak_outstanding, outstanding)
            if all(n == MAX_CONCURRENCY for n in in_backends):
                # Every backend slot is taken: what is sent and not answered, and not at
                # a backend, waits in the server for a slot.
                stats.peak_waiting = max(stats.peak_waiting, outstanding - sum(in_backends))
            stats.peak_rss_kb = max(stats.peak_rss_kb, vm_rss_kb(self.pid))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 0.01)


def busy(fakes: list[FakeOpenAI]) -> bool:
    """Wait until every backend has all its slots taken."""
    return all(fake.wait_for(fake_is_full(fake), 10.0) for fake in fakes)


def fake_is_full(fake: FakeOpenAI) -> Any:
    return lambda: fake.in_flight == MAX_CONCURRENCY


def print_round(name: str, stats: Round, fakes: dict[str, FakeOpenAI]) -> None:
    peaks = ", ".join(f"{n} {f.max_in_flight}/{MAX_CONCURRENCY}" for n, f in fakes.items())
    print(
        f"\n[load] {name}: {stats.sent} requests, {stats.answered} answered, "
        f"{stats.cancelled} cancelled ({stats.cancels_sent} cancels sent), "
        f"{len(stats.failed)} failed, {stats.elapsed_s:.2f} s; "
        f"answered by {dict(stats.by_backend)}; peak in flight per backend: {peaks}; "
        f"peak outstanding {stats.peak_outstanding}, peak waiting in the server for a "
        f"backend slot {stats.peak_waiting}; peak RSS {stats.peak_rss_kb / 1024:.1f} MiB"
    )


def fakes_for_load() -> tuple[FakeOpenAI, FakeOpenAI]:
    return (
        FakeOpenAI(latency_s=LOCAL_LATENCY_S, answer=ANSWER, chunk_size=64),
        FakeOpenAI(latency_s=SECOND_LATENCY_S, answer=ANSWER, chunk_size=64),
    )


async def test_500_concurrent_reviews_then_shutdown_under_load(start_session: Any) -> None:
    local, second = fakes_for_load()
    with local, second:
        fakes = {"local": local, "second": second}
        async with start_session(config(local.url, second.url)) as s:
            s: Session
            uris = [s.open(f"pkg/mod_{i:02d}.py", document_text(i)) for i in range(DOCUMENTS)]
            load = Load(s, uris, [local, second])
            pid = load.pid

            # Round 1 warms up (imports, connection pools, caches); round 2 is measured
            # against it, so growth means memory kept per request.
            rss_start = vm_rss_kb(pid)
            first = await load.run(REQUESTS)
            print_round("round 1", first, fakes)
            rss_after_first = vm_rss_kb(pid)
            peaks = {name: fake.max_in_flight for name, fake in fakes.items()}
            for fake in fakes.values():
                fake.reset_records()
            second_round = await load.run(REQUESTS)
            print_round("round 2", second_round, fakes)
            rss_after_second = vm_rss_kb(pid)
            growth = rss_after_second - rss_after_first
            print(
                f"[load] RSS: start {rss_start / 1024:.1f} MiB, after round 1 "
                f"{rss_after_first / 1024:.1f} MiB, after round 2 {rss_after_second / 1024:.1f}"
                f" MiB (growth over round 2: {growth / 1024:+.1f} MiB)"
            )
            print(
                "[load] waiting for a backend slot: peak "
                f"{max(first.peak_waiting, second_round.peak_waiting)} on "
                f"{MAX_CONCURRENCY * len(fakes)} slots (each backend's max_queue, 256 by "
                "default, bounds it: see test_a_full_queue_says_so)"
            )

            for stats in (first, second_round):
                assert not stats.failed, stats.failed[:5]
                assert stats.answered + stats.cancelled == REQUESTS
                assert stats.cancelled > 0
                assert set(stats.by_backend) == {"local", "second"}
            for name, fake in fakes.items():
                assert 0 < peaks[name] <= MAX_CONCURRENCY, (name, peaks[name])
                assert 0 < fake.max_in_flight <= MAX_CONCURRENCY, (name, fake.max_in_flight)
            assert growth < RSS_GROWTH_BOUND_KB, f"RSS grew by {growth} KiB over 500 requests"

            result = await shutdown_under_load(s, load)
            assert result.children_before == [], "the server started processes of its own"
            assert result.exit_code == 0
            assert result.seconds < SHUTDOWN_BUDGET_S
            assert result.server_gone
            assert result.leftovers == []
            assert sum(result.outcomes.values()) == SHUTDOWN_REQUESTS


@dataclass
class Shutdown:
    seconds: float
    exit_code: int | None
    outcomes: Counter[str]
    server_gone: bool
    leftovers: list[int]
    children_before: list[int]


async def shutdown_under_load(s: Session, load: Load) -> Shutdown:
    """Start SHUTDOWN_REQUESTS reviews, wait until every backend is full, then `shutdown`
    and `exit`; time it and look for what is left."""
    config_path = str(s.workspace.parent / "config.toml")
    children_before = children_of(load.pid)
    pending = [load.send(i)[1] for i in range(SHUTDOWN_REQUESTS)]
    assert await asyncio.to_thread(busy, load.fakes), "the backends never got busy"

    began = time.monotonic()
    exit_code: int | None = None
    process = s.client._server
    assert process is not None
    try:
        await asyncio.wait_for(s.client.shutdown_async(None), SHUTDOWN_BUDGET_S)
        s.client.exit(None)
        exit_code = await asyncio.wait_for(process.wait(), SHUTDOWN_BUDGET_S)
    except TimeoutError:
        pass
    seconds = time.monotonic() - began
    if process.returncode is None:
        process.kill()
        await process.wait()
    # The fixture's own shutdown would wait forever for this dead server.
    s.client.capabilities = None

    outcomes: Counter[str] = Counter()
    await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 5.0)
    for future in pending:
        outcomes[outcome_of(future)] += 1
    result = Shutdown(
        seconds=seconds,
        exit_code=exit_code,
        outcomes=outcomes,
        server_gone=not process_exists(load.pid),
        leftovers=processes_with_env(config_path),
        children_before=children_before,
    )
    print(
        f"\n[load] shutdown under load: {SHUTDOWN_REQUESTS} requests in flight or waiting, "
        f"shutdown+exit took {result.seconds:.2f} s, exit code {result.exit_code}, "
        f"outcomes {dict(result.outcomes)}, processes left: {result.leftovers}"
    )
    return result


def outcome_of(future: asyncio.Future[Any]) -> str:
    exc = future.exception()
    if exc is None:
        return "answered"
    if isinstance(exc, JsonRpcRequestCancelled):
        return "cancelled"
    if isinstance(exc, JsonRpcException):
        return f"error {exc.code}"
    return f"no response ({type(exc).__name__})"


async def test_shutdown_under_load_cancels_what_it_does_not_answer(start_session: Any) -> None:
    local, second = fakes_for_load()
    with local, second:
        async with start_session(config(local.url, second.url)) as s:
            s: Session
            uris = [s.open(f"pkg/mod_{i:02d}.py", document_text(i)) for i in range(DOCUMENTS)]
            result = await shutdown_under_load(s, Load(s, uris, [local, second]))
    assert set(result.outcomes) <= {"answered", "cancelled"}, dict(result.outcomes)


async def test_a_full_queue_says_so(start_session: Any) -> None:
    """Past `max_queue` waiting requests, a request is not queued: it fails at once, or
    goes to the next candidate, with `queue full` as the reason."""
    with FakeOpenAI() as local:
        local.latency_s = 0.5
        local.answer = ANSWER
        config = f"""
            [backends.local]
            kind = "openai"
            url = "{local.url}"
            max_concurrency = 2
            max_queue = 4
            [tasks.review]
            route = ["local:coder"]
            """
        async with start_session(config) as s:
            uris = [s.open(f"q{i}.py", f"Q = {i}\n") for i in range(12)]
            outcomes = await asyncio.gather(
                *(s.command("localroute.review", {"uri": uri}) for uri in uris),
                return_exceptions=True,
            )
        refused = [o for o in outcomes if isinstance(o, Exception)]
        answered = [o for o in outcomes if not isinstance(o, Exception)]
        assert len(answered) == 6  # 2 running + 4 waiting
        assert len(refused) == 6
        assert all("queue full" in str(getattr(o, "message", o)) for o in refused)
        assert local.max_in_flight == 2
        print(f"[load] max_concurrency 2, max_queue 4, 12 at once: {len(refused)} 'queue full'")
