"""Where a review's time goes, and what `initialize` waits for, inside the real server.

Drives ``bench/serve_traced.py`` (``localroute serve`` with timing hooks) with the same
client as the benchmarks and prints:

- ``review``: per review, the median of each step — client → server, the command's
  prelude, progress creation (with the client's answer awaited), the pipeline's steps,
  the HTTP call, publishing and answering — the cost of writing each message, and the
  messages counted; with ``--cprofile``, the functions that took the event loop's time.
- ``startup``: the timeline from spawn to `initialize` answered, `initialized`, the
  first probe and the first review, with the resident memory at each step.

Run: ``python -m bench.profile_server review [-n 200] [--no-progress] [--cprofile]
[--cprofile-out FILE]``
and ``python -m bench.profile_server startup [--starts 5]`` from the checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pstats
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from tests.fakes.openai_fake import FakeOpenAI

from bench.common import (
    ANSWER,
    ROOT,
    SOURCE,
    isolated_env,
    median,
    openai_backend,
    review_task,
    scratch,
)
from bench.p1_overhead import WARM_UP, _direct
from bench.session import Session

TRACED = [str(ROOT / "bench" / "serve_traced.py")]


def _load(path: Path) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads(path.read_text())["events"]
    return sorted(events, key=lambda e: e["t"])


def _first(events: list[dict[str, Any]], what: str, m: str | None = None) -> dict[str, Any] | None:
    for event in events:
        if event["what"] == what and (m is None or event.get("m") == m):
            return event
    return None


def _end(event: dict[str, Any]) -> float:
    return float(event["t"] + event.get("d", 0.0))


def review_steps(events: list[dict[str, Any]], sent: float, done: float) -> dict[str, float]:
    """The steps of one review (ms), from the server's events between `sent` and `done`."""
    window = [e for e in events if sent <= e["t"] <= done]
    read = _first(window, "read", "workspace/executeCommand")
    run = _first(window, "pipeline.run")
    answer = next(
        (e for e in reversed(window) if e["what"] == "write" and e["m"] == "response"), None
    )
    if read is None or run is None or answer is None:
        return {}
    steps: dict[str, float] = {"client → server handler": read["t"] - sent}
    begin = _first(window, "progress.begin")
    prelude_end = begin["t"] if begin else run["t"]
    steps["command prelude (arguments, snapshot)"] = prelude_end - read["t"]
    if begin is not None:
        steps["progress.begin (create awaited, begin)"] = begin["d"]
        create = _first(window, "write", "window/workDoneProgress/create")
        reply = _first(window, "read", "response")
        if create is not None and reply is not None:
            steps["  of which: create → client's answer read"] = reply["t"] - _end(create)
        steps["progress.begin → pipeline.run"] = run["t"] - _end(begin)
    steps["pipeline.run"] = run["d"]
    for label in (
        "pipeline.prompt_for",
        "pipeline.decide",
        "pipeline.classify",
        "pipeline.cache_key",
        "pipeline.audit",
    ):
        event = _first(window, label)
        if event is not None:
            steps[f"  {label}"] = event["d"]
    send = _first(window, "pipeline.send")
    if send is not None:
        steps["  pipeline.send (clearance, slot, backend.chat, health)"] = send["d"]
    pool = _first(window, "pool.send")
    if pool is not None:
        steps["    pool.send (slot, backend.chat, audit, answer check)"] = pool["d"]
    chat = _first(window, "backend.chat")
    if chat is not None:
        steps["      backend.chat (HTTP, SSE parse)"] = chat["d"]
    for label, what in (
        ("pipeline.outcome", "parse findings, redact"),
        ("results.remember", "answer kept for the cache"),
    ):
        event = _first(window, label)
        if event is not None:
            steps[f"  {label} ({what})"] = event["d"]
    steps["pipeline.run → answer written"] = _end(answer) - _end(run)
    publish = _first(window, "publish.diagnostics")
    if publish is not None:
        steps["  publish.diagnostics"] = publish["d"]
    steps["answer written → client has it"] = done - _end(answer)
    steps["total (client)"] = done - sent
    return {k: v * 1000 for k, v in steps.items()}


async def profile_review(
    n: int, *, progress: bool, cprofile: bool, keep: Path | None = None
) -> None:
    with FakeOpenAI() as fake, scratch() as tmp:
        fake.answer = ANSWER
        config = tmp / "config.toml"
        config.write_text(openai_backend("local", fake.url) + review_task("local:coder"))
        trace, stats = tmp / "trace.json", tmp / "cprofile.out"
        extra = {"LOCALROUTE_TRACE": str(trace)}
        if cprofile:
            extra["LOCALROUTE_CPROFILE"] = str(stats)
        session = Session(TRACED, isolated_env(tmp, config, **extra), progress=progress)
        await session.start()
        windows: list[tuple[float, float]] = []
        direct: list[float] = []
        try:
            await session.initialize(tmp / "ws")
            session.initialized()
            uri = session.open(tmp / "ws" / "calc.py", SOURCE)
            for _ in range(WARM_UP):
                await session.review(uri)
            body = fake.chat_requests[-1].body
            async with httpx.AsyncClient(timeout=30) as client:
                for _ in range(n):
                    sent = time.perf_counter()
                    await session.review(uri)
                    windows.append((sent, time.perf_counter()))
                    direct.append(await _direct(client, f"{fake.url}/chat/completions", body))
        finally:
            await session.stop()
        events = _load(trace)
        _print_review(events, windows, direct, session, progress)
        if cprofile:
            print("\nevent loop thread, top 20 by own time over the whole session:")
            profile = pstats.Stats(str(stats))
            if keep is not None:
                profile.dump_stats(str(keep))
            profile.sort_stats("tottime").print_stats(20)
            print("who flushes (each flush is a write(2) that wakes the reader):")
            profile.print_callers("flush")
            print("localroute's functions by cumulative time:")
            profile.sort_stats("cumulative").print_stats("localroute/", 25)


def _print_review(
    events: list[dict[str, Any]],
    windows: list[tuple[float, float]],
    direct: list[float],
    session: Session,
    progress: bool,
) -> None:
    columns: dict[str, list[float]] = defaultdict(list)
    writes: dict[str, list[float]] = defaultdict(list)
    reads: dict[str, list[float]] = defaultdict(list)
    for sent, done in windows:
        for key, value in review_steps(events, sent, done).items():
            columns[key].append(value)
        for e in events:
            if sent <= e["t"] <= done and e["what"] in ("write", "read"):
                (writes if e["what"] == "write" else reads)[e["m"]].append(e["d"] * 1000)
    n = len(windows)
    client = "with" if progress else "without"
    print(f"review, client {client} workDoneProgress, {n} reviews, medians in ms")
    for key, values in columns.items():
        print(f"  {key:<48} {median(values):8.3f}")
    print(f"  {'direct HTTP call, same body (baseline)':<48} {median(direct):8.3f}")
    print("messages written per review (count, median ms to serialize and write each):")
    for m, values in sorted(writes.items()):
        print(f"  {m:<48} {len(values) / n:5.1f}  {median(values):8.3f}")
    print("messages read per review (count, median ms to handle each synchronously):")
    for m, values in sorted(reads.items()):
        print(f"  {m:<48} {len(values) / n:5.1f}  {median(values):8.3f}")
    since = windows[0][0]
    print("messages the client received:", dict(session.messages_since(since)))


async def profile_startup(starts: int) -> None:
    marks: dict[str, list[float]] = defaultdict(list)
    memory: dict[str, list[float]] = defaultdict(list)
    with FakeOpenAI() as fake:
        fake.answer = ANSWER
        for _ in range(starts):
            with scratch() as tmp:
                config = tmp / "config.toml"
                config.write_text(openai_backend("local", fake.url) + review_task("local:coder"))
                trace = tmp / "trace.json"
                env = isolated_env(tmp, config, LOCALROUTE_TRACE=str(trace))
                session = Session(TRACED, env)
                await session.start()
                try:
                    answered = await session.initialize(tmp / "ws")
                    session.initialized()
                    uri = session.open(tmp / "ws" / "calc.py", SOURCE)
                    await asyncio.sleep(1.0)
                    first_sent = time.perf_counter()
                    await session.review(uri)
                    first_done = time.perf_counter()
                    second_sent = time.perf_counter()
                    await session.review(uri)
                    second_done = time.perf_counter()
                finally:
                    await session.stop()
                t0 = session.spawned_at
                for label, (t, rss) in _startup_marks(_load(trace)).items():
                    marks[label].append((t - t0) * 1000)
                    if rss is not None:
                        memory[label].append(rss)
                marks["client: initialize answer read"].append((answered - t0) * 1000)
                marks["first review round trip (ms, not a time since spawn)"].append(
                    (first_done - first_sent) * 1000
                )
                marks["second review round trip (ms, not a time since spawn)"].append(
                    (second_done - second_sent) * 1000
                )
    print(f"start-up of localroute serve, {starts} starts, medians (ms since spawn; MiB RSS)")
    for label, values in sorted(marks.items(), key=lambda kv: median(kv[1])):
        rss = f"{median(memory[label]):6.1f} MiB" if memory.get(label) else ""
        print(f"  {label:<60} {median(values):8.1f}  {rss}")


def _startup_marks(events: list[dict[str, Any]]) -> dict[str, tuple[float, float | None]]:
    out: dict[str, tuple[float, float | None]] = {}

    def note(label: str, t: float, event: dict[str, Any]) -> None:
        if label not in out:
            out[label] = (t, event.get("rss_mib"))

    spans = {
        "LocalrouteServer()": "LocalrouteServer()",
        "registry.register": "features registered",
        "Pipeline()": "first Pipeline() (made on first use)",
        "config.base": "first configuration read (PolicyStore.base)",
        "apply_settings": "first apply_settings (initialized)",
        "backend.probe": "first probe",
        "backend.chat": "first backend.chat",
    }
    for e in events:
        what, m = e["what"], e.get("m")
        if what in (
            "interpreter ready",
            "imported localroute.cli",
            "imported the server's modules",
        ):
            note(f"server: {what}", e["t"], e)
        elif what == "hook missing":
            note(f"(hook missing: {e['hook']})", e["t"], {})
        elif what in spans:
            note(f"server: {spans[what]} start", e["t"], {})
            note(f"server: {spans[what]} end", _end(e), e)
        elif what == "read" and m == "initialize":
            note("server: initialize read", e["t"], e)
            note("server: initialize handled", _end(e), e)
        elif what == "write" and m == "response" and "server: initialize answer written" not in out:
            note("server: initialize answer written", _end(e), e)
        elif what == "read" and m == "initialized":
            note("server: initialized read", e["t"], e)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    review = sub.add_parser("review")
    review.add_argument("-n", type=int, default=200)
    review.add_argument("--no-progress", action="store_true")
    review.add_argument("--cprofile", action="store_true")
    review.add_argument(
        "--cprofile-out", type=Path, help="also keep the profile in this file (for pstats)"
    )
    startup = sub.add_parser("startup")
    startup.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    if args.what == "review":
        cprofile = args.cprofile or args.cprofile_out is not None
        asyncio.run(
            profile_review(
                args.n, progress=not args.no_progress, cprofile=cprofile, keep=args.cprofile_out
            )
        )
    else:
        asyncio.run(profile_startup(args.starts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
