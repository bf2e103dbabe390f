"""P1: the server's own cost of a review, against an instant backend.

A real ``localroute serve`` over stdio, driven by pygls' client announcing
``window.workDoneProgress`` (as VS Code and Neovim do). Each sample is
``localroute.review`` → its answer and its diagnostics. The baseline, measured in the
same process and interleaved with the reviews, is a direct HTTP call to the same
loopback fake with the very body the server sent (streamed, read to the end, on a kept
connection), so the difference is what the router adds: JSON-RPC, progress, privacy
classification, routing, prompt, parsing, publishing. P1' is a second server, measured
after it, whose client does not announce ``workDoneProgress`` (the server then
answers such a client at once and delivers the results by notification; the round trip
still ends when the diagnostics arrived). P1₀ is the floor of any such pygls server:
``bench/minimal_server.py --forward``, a pygls server with nothing but a
``localroute.review`` command that POSTs the same body to the same fake, reads the
answer and publishes one diagnostic with httpx; P1₀' is the same POSTing with the
client localroute gives a plain-HTTP backend (which costs a server 0.3–0.5 ms less a
request than httpx). P1ᵣ is the floor below pygls: ``bench/raw_server.py``, the same
work in plain asyncio with no pygls and no validation, so what it adds is the stdio hops
themselves; P1ᵣ' is that server POSTing with localroute's client. Each server runs
alone, its samples interleaved with direct calls of its own, in that order. P1's round
trip minus the P1₀' round trip estimates what localroute's own steps add (privacy, routing, prompt,
parsing, audit, publishing): ``localroute_own_ms`` in P1's details.

Run alone: ``python -m bench.p1_overhead [-n 200]`` from the checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tests.fakes.openai_fake import FakeOpenAI

from bench.common import (
    ANSWER,
    ROOT,
    SOURCE,
    Row,
    isolated_env,
    median,
    ms,
    openai_backend,
    p90,
    review_task,
    scratch,
)
from bench.p6_startup import MINIMAL
from bench.session import Session

GOAL_MS = 1.0
RAW = str(ROOT / "bench" / "raw_server.py")
RAW_LOCALROUTE = (RAW, "--client", "localroute")
MINIMAL_LOCALROUTE = (MINIMAL, "--client", "localroute")
WARM_UP = 10


async def _direct(client: httpx.AsyncClient, url: str, body: bytes) -> float:
    began = time.perf_counter()
    async with client.stream(
        "POST", url, content=body, headers={"Content-Type": "application/json"}
    ) as response:
        async for _ in response.aiter_lines():
            pass
    return (time.perf_counter() - began) * 1000


@dataclass
class Samples:
    """Review round trips of one server and the direct calls made right after each (ms)."""

    reviews: list[float] = field(default_factory=list)
    direct: list[float] = field(default_factory=list)
    messages: Counter[str] = field(default_factory=Counter)


async def _started(tmp: Path, config: Path, *, progress: bool) -> tuple[Session, str]:
    session = Session(["-m", "localroute", "serve"], isolated_env(tmp, config), progress=progress)
    await session.start()
    await session.initialize(tmp / "ws")
    session.initialized()
    name = "calc.py" if progress else "calc_no_progress.py"
    return session, session.open(tmp / "ws" / name, SOURCE)


async def _floor(tmp: Path, url: str, body: bytes, *argv: str) -> tuple[Session, str]:
    """A floor server (``argv`` after the Python executable), given ``--forward URL
    --body FILE``, started, initialized, with a document open."""
    body_file = tmp / "floor-body.json"
    body_file.write_bytes(body)
    forward = [*argv, "--forward", url, "--body", str(body_file)]
    session = Session(forward, isolated_env(tmp), progress=True)
    await session.start()
    await session.initialize(tmp / "ws")
    session.initialized()
    name = "-".join(Path(a).stem.lstrip("-") for a in argv)  # one file per floor
    return session, session.open(tmp / "ws" / f"calc-{name}.py", SOURCE)


async def measure_sessions(
    n: int, *, without_progress: bool = True, floor: bool = True
) -> dict[str, Samples]:
    """Each server alone, one after the other, its reviews interleaved with direct calls
    of its own (review, direct call, review …): P1, then P1', then the floor. A second
    server in the same rounds made P1 0.2 ms longer and a third made every figure 0.7–0.9
    ms longer (one server's work after each answer runs into the other's request on two
    cores), which is nothing a user with one editor sees."""
    with FakeOpenAI() as fake, scratch() as tmp:
        fake.answer = ANSWER
        config = tmp / "config.toml"
        config.write_text(openai_backend("local", fake.url) + review_task("local:coder"))
        data: dict[str, Samples] = {}
        url = f"{fake.url}/chat/completions"
        passes: list[tuple[str, Callable[[], Awaitable[tuple[Session, str]]]]] = [
            ("progress", lambda: _started(tmp, config, progress=True)),
        ]
        if without_progress:
            passes.append(("no progress", lambda: _started(tmp, config, progress=False)))
        if floor:
            passes.append(("floor", lambda: _floor(tmp, url, body, MINIMAL)))
            passes.append(("floor localroute", lambda: _floor(tmp, url, body, *MINIMAL_LOCALROUTE)))
            passes.append(("raw", lambda: _floor(tmp, url, body, RAW)))
            passes.append(("raw localroute", lambda: _floor(tmp, url, body, *RAW_LOCALROUTE)))
        body = b""
        async with httpx.AsyncClient(timeout=30) as client:
            for name, start in passes:
                sessions: dict[str, tuple[Session, str]] = {}
                try:
                    sessions[name] = await start()
                    await warm_up(sessions)
                    if not body:  # the floor POSTs what localroute sent
                        body = fake.chat_requests[-1].body
                    await _rounds(sessions, client, url, body, n, data)
                finally:
                    await stop_all(sessions)
    return data


async def warm_up(sessions: dict[str, tuple[Session, str]]) -> None:
    for session, uri in sessions.values():
        for _ in range(WARM_UP):
            await session.review(uri)


async def _rounds(
    sessions: dict[str, tuple[Session, str]],
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    n: int,
    data: dict[str, Samples],
) -> None:
    """``n`` rounds of each session's review, each followed by a direct call (into
    ``data``), after a few direct calls to warm the connection."""
    for _ in range(WARM_UP):
        await _direct(client, url, body)
    for name in sessions:
        data[name] = Samples()
    for _ in range(n):
        for name, (session, uri) in sessions.items():
            since = time.perf_counter()
            elapsed, _result = await session.timed_review(uri)
            data[name].reviews.append(elapsed)
            data[name].messages.update(session.messages_since(since))
            data[name].direct.append(await _direct(client, url, body))


async def stop_all(sessions: dict[str, tuple[Session, str]]) -> None:
    for session, _uri in sessions.values():
        await session.stop()


def rows_from(data: dict[str, Samples]) -> list[Row]:
    rows = [_row("P1", "review round trip − direct HTTP call", data["progress"], GOAL_MS)]
    if "no progress" in data:
        rows.append(_row("P1'", "same, client without workDoneProgress", data["no progress"]))
    if "floor" in data:
        floor = _row("P1₀", "floor: minimal pygls server, same POST, 1 diagnostic", data["floor"])
        rows.append(floor)
        rows[0].details["floor_ms"] = floor.value
    if "floor localroute" in data:
        what = "same, POSTing with localroute's HTTP client"
        same_client = _row("P1₀'", what, data["floor localroute"])
        rows.append(same_client)
        # What localroute's own steps add: its round trip against that of the floor on its
        # own HTTP client (P1₀ POSTs with httpx, which costs a server 0.3–0.5 ms more a
        # request). Round trips, not differences: the direct calls made in the pygls
        # floors' passes run 0.1–0.5 ms slower than in the others (their reader thread).
        rows[0].details["floor_same_client_ms"] = same_client.value
        rows[0].details["localroute_own_ms"] = (
            rows[0].details["review_median_ms"] - same_client.details["review_median_ms"]
        )
    if "raw" in data:
        rows.append(_row("P1ᵣ", "floor without pygls: plain asyncio JSON-RPC, httpx", data["raw"]))
    if "raw localroute" in data:
        what = "same, POSTing with localroute's HTTP client"
        rows.append(_row("P1ᵣ'", what, data["raw localroute"]))
    return rows


def _row(key: str, what: str, data: Samples, goal: float | None = None) -> Row:
    reviews, direct = data.reviews, data.direct
    paired = [r - d for r, d in zip(reviews, direct, strict=True)]
    delta = median(reviews) - median(direct)
    return Row(
        key=key,
        what=what,
        goal=f"median ≤ +{goal:g} ms" if goal is not None else "—",
        baseline=f"{ms(median(direct))} (p90 {ms(p90(direct))})",
        measured=f"{ms(median(reviews))} (p90 {ms(p90(reviews))})",
        delta=f"{delta:+.2f} ms",
        passed=None if goal is None else delta <= goal,
        value=delta,
        details={
            "n": len(reviews),
            "review_median_ms": median(reviews),
            "review_p90_ms": p90(reviews),
            "direct_median_ms": median(direct),
            "direct_p90_ms": p90(direct),
            "difference_of_medians_ms": delta,
            "median_of_paired_differences_ms": median(paired),
            "p90_of_paired_differences_ms": p90(paired),
            "messages_per_review": {k: v / len(reviews) for k, v in sorted(data.messages.items())},
        },
    )


async def measure(n: int, *, compare_without_progress: bool = True) -> list[Row]:
    return rows_from(await measure_sessions(n, without_progress=compare_without_progress))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200, help="reviews (default 200)")
    args = parser.parse_args()
    for row in asyncio.run(measure(args.n)):
        print(row.key, row.what, "|", row.baseline, "|", row.measured, "|", row.delta)
        print("   ", row.details)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
