"""Where the first request's time goes when the local host drops SYNs (P2).

Experiments, each with fresh servers (median of ``--starts``), the route
``local (black-holed) → fallback``:

1. the first review sent right after ``initialized``, default ``connect_timeout_s``;
2. the same with ``connect_timeout_s = 0.25``: the cost follows the connect timeout;
3. the first review sent 2 s after ``initialized``: the probe started at ``initialized``
   has marked the host down by then, and the request costs nothing;
4. one traced start (``bench/serve_traced.py``): when the probe and the request each
   tried the black hole, and what messages the later requests cost.

Run: ``python -m bench.profile_blackhole [--starts 3]`` from the checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from tests.fakes.openai_fake import BlackHole, FakeOpenAI

from bench.common import ANSWER, ROOT, SOURCE, isolated_env, median, scratch
from bench.p2_blackhole import config_text, one_start
from bench.session import Session

TRACED = [str(ROOT / "bench" / "serve_traced.py")]


async def experiments(starts: int) -> None:
    cases: list[tuple[str, dict[str, Any], float]] = [
        ("default connect timeout, review at once", {}, 0.0),
        ("connect_timeout_s = 0.25, review at once", {"connect_timeout_s": 0.25}, 0.0),
        ("default connect timeout, review 2 s after initialized", {}, 2.0),
    ]
    with FakeOpenAI() as fallback, BlackHole() as hole:
        fallback.answer = ANSWER
        print(f"first review after start, black-holed local → fallback ({starts} starts each)")
        for label, keys, delay in cases:
            firsts = []
            for _ in range(starts):
                with scratch() as tmp:
                    config = config_text(hole.url, fallback.url, **keys)
                    first, _, backend = await one_start(tmp, config, 0, delay_s=delay)
                firsts.append(first)
            print(f"  {label:<56} {median(firsts):8.0f} ms  (answered by {backend})")
        await traced_start(hole.url, fallback.url)


async def traced_start(hole_url: str, fallback_url: str) -> None:
    with scratch() as tmp:
        path = tmp / "config.toml"
        path.write_text(config_text(hole_url, fallback_url))
        trace = tmp / "trace.json"
        session = Session(TRACED, isolated_env(tmp, path, LOCALROUTE_TRACE=str(trace)))
        await session.start()
        try:
            await session.initialize(tmp / "ws")
            initialized = time.perf_counter()
            session.initialized()
            uri = session.open(tmp / "ws" / "calc.py", SOURCE)
            sent = time.perf_counter()
            await session.review(uri)
            answered = time.perf_counter()
            later_from = time.perf_counter()
            later = 20
            for _ in range(later):
                await session.review(uri)
            later_messages = session.messages_since(later_from)
        finally:
            await session.stop()
        events = json.loads(trace.read_text())["events"]
    print("\none traced start (ms after the client sent initialized):")
    print(f"  {'client sent the first review':<52} {(sent - initialized) * 1000:8.1f}")
    for e in sorted(events, key=lambda e: e["t"]):
        if e["what"] in ("backend.probe", "backend.chat") and e["t"] <= answered:
            start = (e["t"] - initialized) * 1000
            label = f"{e['what']} {e.get('backend', '?')}"
            print(f"  {label:<52} {start:8.1f} → {start + e['d'] * 1000:8.1f}")
    print(f"  {'client has the first answer':<52} {(answered - initialized) * 1000:8.1f}")
    per = {k: round(v / later, 2) for k, v in sorted(later_messages.items())}
    print(f"messages per later review (besides the answer): {per}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(experiments(args.starts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
