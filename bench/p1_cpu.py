"""Where P1's time goes: the server's own CPU, or waiting to be woken.

Starts ``localroute serve`` and P1's floors side by side, as ``bench.p1_overhead``
starts them (``floor``: ``bench/minimal_server.py --forward``, the same POST and one
diagnostic; ``floor'``: the same POSTing with localroute's HTTP client; ``raw'``:
``bench/raw_server.py``, no pygls, localroute's HTTP client), and drives each alone
through two patterns of ``n`` reviews:

- ``back to back``: one review right after the other;
- ``interleaved``: each review followed by a direct call to the fake, as P1 measures.

For each it prints the median round trip, the server process's CPU time per review
(user + system, every thread, from ``/proc``) and how often per review its threads
blocked (voluntary context switches): the CPU is the server's own work, the rest of the
round trip is the fake's, the client's and the time it took to be woken.

Linux only. Run: ``python -m bench.p1_cpu [-n 800]`` from the checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

import httpx
from tests.fakes.openai_fake import FakeOpenAI

from bench.common import ANSWER, median, openai_backend, review_task, scratch
from bench.p1_overhead import (
    MINIMAL,
    MINIMAL_LOCALROUTE,
    RAW_LOCALROUTE,
    WARM_UP,
    _direct,
    _floor,
    _started,
    stop_all,
)
from bench.session import Session

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of every thread of ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def blocked(pid: int) -> int:
    """How often the threads of ``pid`` gave up the CPU to wait (voluntary switches)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                total += int(line.split()[1])
    return total


async def _pattern(
    session: Session, uri: str, n: int, direct: httpx.AsyncClient | None, url: str, body: bytes
) -> dict[str, float]:
    cpu0, blocks0 = cpu_s(session.pid), blocked(session.pid)
    trips: list[float] = []
    calls: list[float] = []
    for _ in range(n):
        elapsed, _result = await session.timed_review(uri)
        trips.append(elapsed)
        if direct is not None:
            calls.append(await _direct(direct, url, body))
    cpu1, blocks1 = cpu_s(session.pid), blocked(session.pid)
    return {
        "trip_ms": median(trips),
        "direct_ms": median(calls) if calls else float("nan"),
        "cpu_ms": (cpu1 - cpu0) / n * 1000,
        "blocks": (blocks1 - blocks0) / n,
    }


FLOORS: dict[str, tuple[str, ...]] = {
    "floor": (MINIMAL,),
    "floor'": MINIMAL_LOCALROUTE,
    "raw'": RAW_LOCALROUTE,
}
"""P1₀, P1₀' and P1ᵣ' of ``bench.p1_overhead``."""


async def measure(n: int) -> list[tuple[str, str, dict[str, float]]]:
    rows: list[tuple[str, str, dict[str, float]]] = []
    with FakeOpenAI() as fake, scratch() as tmp:
        fake.answer = ANSWER
        config = tmp / "config.toml"
        config.write_text(openai_backend("local", fake.url) + review_task("local:coder"))
        url = f"{fake.url}/chat/completions"
        sessions: dict[str, tuple[Session, str]] = {}
        try:
            sessions["localroute"] = await _started(tmp, config, progress=True)
            await sessions["localroute"][0].review(sessions["localroute"][1])
            body = fake.chat_requests[-1].body
            for name, argv in FLOORS.items():
                sessions[name] = await _floor(tmp, url, body, *argv)
            async with httpx.AsyncClient(timeout=30) as client:
                for _ in range(WARM_UP):
                    await _direct(client, url, body)
                for name, (session, uri) in sessions.items():
                    for _ in range(WARM_UP * 5):
                        await session.review(uri)
                    for pattern, direct in (("back to back", None), ("interleaved", client)):
                        figures = await _pattern(session, uri, n, direct, url, body)
                        rows.append((name, pattern, figures))
        finally:
            await stop_all(sessions)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=800, help="reviews per pattern (default 800)")
    args = parser.parse_args()
    rows = asyncio.run(measure(args.n))
    print(f"review round trips, {args.n} per pattern, each server alone; ms")
    print(f"{'server':<11} {'pattern':<13} {'round trip':>10} {'direct':>7} ", end="")
    print(f"{'CPU':>6} {'blocks':>7}")
    for name, pattern, r in rows:
        print(
            f"{name:<11} {pattern:<13} {r['trip_ms']:10.3f} {r['direct_ms']:7.3f} "
            f"{r['cpu_ms']:6.3f} {r['blocks']:7.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
