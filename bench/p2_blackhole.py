"""P2: a local backend whose host drops SYNs (black-holed) must cost the user little.

The local backend is a :class:`tests.fakes.openai_fake.BlackHole` on loopback: a socket
that listens with a full accept queue, so connects get no answer at all (no RST) and
time out, as with a powered-off machine or a firewall that drops. The route is
``local → fallback``, the fallback an instant fake on loopback configured as
private-network. The connect timeout is left at its default: what a user gets.

For each of several fresh server starts: the first review sent right after
``initialized``, then more reviews. The baseline, measured in the same run the same way,
is a server whose only backend is the fallback.

Run alone: ``python -m bench.p2_blackhole [--starts 5]`` from the checkout.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from tests.fakes.openai_fake import BlackHole, FakeOpenAI

from bench.common import (
    ANSWER,
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
from bench.session import Session

FIRST_GOAL_MS = 500.0
LATER_GOAL_MS = 5.0


def config_text(local_url: str | None, fallback_url: str, **local_keys: object) -> str:
    fallback = openai_backend("fallback", fallback_url, locality="private-network")
    if local_url is None:
        return fallback + review_task("fallback:coder")
    local = openai_backend("local", local_url, **local_keys)
    return local + fallback + review_task("local:coder", "fallback:coder")


async def one_start(
    tmp: Path, config: str, later: int, *, delay_s: float = 0.0
) -> tuple[float, list[float], str]:
    """A fresh server: the first review (ms) `delay_s` after `initialized`, then `later` more.
    Also returns the backend that answered the first."""
    path = tmp / "config.toml"
    path.write_text(config)
    session = Session(["-m", "localroute", "serve"], isolated_env(tmp, path))
    await session.start()
    try:
        await session.initialize(tmp / "ws")
        session.initialized()
        uri = session.open(tmp / "ws" / "calc.py", SOURCE)
        if delay_s:
            await asyncio.sleep(delay_s)
        first, result = await session.timed_review(uri)
        samples = []
        for _ in range(later):
            elapsed, _ = await session.timed_review(uri)
            samples.append(elapsed)
    finally:
        await session.stop()
    backend = result.get("backend", "?") if isinstance(result, dict) else "?"
    return first, samples, str(backend)


@dataclass
class Series:
    """What the starts of one configuration measured."""

    first: list[float] = field(default_factory=list)
    later: list[float] = field(default_factory=list)
    answered_by: set[str] = field(default_factory=set)


async def measure_pairs(starts: int, later: int, **local_keys: object) -> dict[str, Series]:
    """Alternating starts of the black-holed configuration and the baseline."""
    data = {"blackhole": Series(), "baseline": Series()}
    with FakeOpenAI() as fallback, BlackHole() as hole:
        fallback.answer = ANSWER
        configs = {
            "blackhole": config_text(hole.url, fallback.url, **local_keys),
            "baseline": config_text(None, fallback.url),
        }
        for _ in range(starts):
            for name, config in configs.items():
                with scratch() as tmp:
                    first, samples, backend = await one_start(tmp, config, later)
                data[name].first.append(first)
                data[name].later.extend(samples)
                data[name].answered_by.add(backend)
    return data


def rows_from(data: dict[str, Series]) -> list[Row]:
    hole_first, base_first = data["blackhole"].first, data["baseline"].first
    hole_later, base_later = data["blackhole"].later, data["baseline"].later
    answered = sorted(data["blackhole"].answered_by)
    first = median(hole_first)
    later_delta = median(hole_later) - median(base_later)
    return [
        Row(
            key="P2",
            what="black-holed local: first review after start",
            goal=f"≤ {FIRST_GOAL_MS:.0f} ms",
            baseline=f"{ms(median(base_first))} (fallback only)",
            measured=f"{ms(first)} (max {ms(max(hole_first))})",
            delta=f"+{first - median(base_first):.0f} ms",
            passed=first <= FIRST_GOAL_MS and answered == ["fallback"],
            value=first,
            details={
                "starts": len(hole_first),
                "first_ms": hole_first,
                "baseline_first_ms": base_first,
                "answered_by": answered,
            },
        ),
        Row(
            key="P2+",
            what="black-holed local: later reviews",
            goal=f"≤ +{LATER_GOAL_MS:g} ms",
            baseline=f"{ms(median(base_later))} (p90 {ms(p90(base_later))})",
            measured=f"{ms(median(hole_later))} (p90 {ms(p90(hole_later))})",
            delta=f"{later_delta:+.2f} ms",
            passed=later_delta <= LATER_GOAL_MS,
            value=later_delta,
            details={
                "n": len(hole_later),
                "later_median_ms": median(hole_later),
                "baseline_later_median_ms": median(base_later),
            },
        ),
    ]


async def measure(starts: int, later: int) -> list[Row]:
    return rows_from(await measure_pairs(starts, later))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--later", type=int, default=30)
    args = parser.parse_args()
    for row in asyncio.run(measure(args.starts, args.later)):
        print(row.key, row.what, "|", row.baseline, "|", row.measured, "|", row.delta)
        print("   ", row.details)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
