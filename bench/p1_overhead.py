"""P1: the server's own cost of a review, against an instant backend.

A real ``localroute serve`` over stdio, driven by pygls' client announcing
``window.workDoneProgress`` (as VS Code and Neovim do). Each sample is
``localroute.review`` → its answer and its diagnostics. The baseline, measured in the
same process and interleaved with the reviews, is a direct HTTP call to the same
loopback fake with the very body the server sent (streamed, read to the end, on a kept
connection), so the difference is what the router adds: JSON-RPC, progress, privacy
classification, routing, prompt, parsing, publishing.

Run alone: ``python -m bench.p1_overhead [-n 200]`` from the checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

import httpx
from tests.fakes.openai_fake import FakeOpenAI

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

GOAL_MS = 1.0
WARM_UP = 10


async def _direct(client: httpx.AsyncClient, url: str, body: bytes) -> float:
    began = time.perf_counter()
    async with client.stream(
        "POST", url, content=body, headers={"Content-Type": "application/json"}
    ) as response:
        async for _ in response.aiter_lines():
            pass
    return (time.perf_counter() - began) * 1000


async def measure_session(n: int, *, progress: bool) -> dict[str, object]:
    """Interleaved samples of review round trips and direct HTTP calls (ms)."""
    with FakeOpenAI() as fake, scratch() as tmp:
        fake.answer = ANSWER
        config = tmp / "config.toml"
        config.write_text(openai_backend("local", fake.url) + review_task("local:coder"))
        session = Session(
            ["-m", "localroute", "serve"], isolated_env(tmp, config), progress=progress
        )
        await session.start()
        try:
            await session.initialize(tmp / "ws")
            session.initialized()
            uri = session.open(tmp / "ws" / "calc.py", SOURCE)
            for _ in range(WARM_UP):
                await session.review(uri)
            body = fake.chat_requests[-1].body
            reviews: list[float] = []
            direct: list[float] = []
            per_review: Counter[str] = Counter()
            async with httpx.AsyncClient(timeout=30) as client:
                for _ in range(WARM_UP):
                    await _direct(client, f"{fake.url}/chat/completions", body)
                for _ in range(n):
                    since = time.perf_counter()
                    elapsed, _result = await session.timed_review(uri)
                    reviews.append(elapsed)
                    per_review.update(session.messages_since(since))
                    direct.append(await _direct(client, f"{fake.url}/chat/completions", body))
        finally:
            await session.stop()
    messages = {k: v / n for k, v in sorted(per_review.items())}
    return {"reviews": reviews, "direct": direct, "messages_per_review": messages}


def rows_from(with_progress: dict[str, object], without: dict[str, object] | None) -> list[Row]:
    rows = [_row("P1", "review round trip − direct HTTP call", with_progress, GOAL_MS)]
    if without is not None:
        rows.append(_row("P1'", "same, client without workDoneProgress", without, None))
    return rows


def _row(key: str, what: str, data: dict[str, object], goal: float | None) -> Row:
    reviews: list[float] = data["reviews"]  # type: ignore[assignment]
    direct: list[float] = data["direct"]  # type: ignore[assignment]
    paired = [r - d for r, d in zip(reviews, direct, strict=True)]
    delta = median(reviews) - median(direct)
    return Row(
        key=key,
        what=what,
        goal=f"median ≤ +{goal:g} ms" if goal is not None else "—",
        baseline=f"{ms(median(direct))} (p90 {ms(p90(direct))})",
        measured=f"{ms(median(reviews))} (p90 {ms(p90(reviews))})",
        delta=f"+{delta:.2f} ms",
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
            "messages_per_review": data["messages_per_review"],
        },
    )


async def measure(n: int, *, compare_without_progress: bool = True) -> list[Row]:
    with_progress = await measure_session(n, progress=True)
    without = await measure_session(n, progress=False) if compare_without_progress else None
    return rows_from(with_progress, without)


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
