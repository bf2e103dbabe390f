"""The request pipeline alone, in one process: what it costs around the HTTP call (P1).

Drives ``Pipeline.classify`` and ``Pipeline.run`` directly (no LSP, no second process) on
the benchmarks' 60-line document against ``tests/fakes/openai_fake.py``, each review
followed by a direct streamed POST of the same body to the same fake, and times the
pipeline's steps with ``bench/serve_traced.py``'s hooks (the code itself is not changed).
Prints the medians.

Run: ``python -m bench.profile_pipeline [-n 400]`` from the checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections import defaultdict
from pathlib import Path

import httpx
from tests.fakes.openai_fake import FakeOpenAI

from bench.common import ANSWER, SOURCE, isolated_env, openai_backend, review_task, scratch
from bench.serve_traced import EVENTS, span


async def measure(n: int, tmp: Path) -> None:
    from localroute import asking, audit, results_cache
    from localroute.audit import audit_log_for
    from localroute.backends.http import HttpBackend
    from localroute.identity import identify_path
    from localroute.pipeline import Pipeline
    from localroute.policy import PolicyStore
    from localroute.requests import Document, TaskRequest
    from localroute.results_cache import ResultsCache

    for owner, name, label in [
        (Pipeline, "classify", "classify (identity, policy, verdict)"),
        (Pipeline, "prompt_for", "prompt"),
        (Pipeline, "decide", "route"),
        (HttpBackend, "chat", "backend chat (HTTP, SSE, answer guard)"),
        (asking, "answer_outcome", "outcome (findings parsed, checked, redacted)"),
        (results_cache.ResultsCache, "remember", "answer stored (queued)"),
        (audit.AuditLog, "record", "audit line"),
    ]:
        span(owner, name, label, is_async=asyncio.iscoroutinefunction(getattr(owner, name)))
    source = tmp / "ws" / "app.py"
    (tmp / "ws" / ".git").mkdir()
    source.write_text(SOURCE)
    with FakeOpenAI(answer=ANSWER) as fake:
        config = tmp / "config.toml"
        config.write_text(openai_backend("local", fake.url) + review_task("local:coder"))
        os.environ.update(isolated_env(tmp, config))
        store = PolicyStore()
        base = store.base().config
        pipeline = Pipeline(
            store, audit=audit_log_for(base.audit), results=ResultsCache.open(base.cache)
        )
        document = Document(identify_path(source), SOURCE, "python")

        async def review() -> None:
            classified = pipeline.classify(document)
            await pipeline.run(TaskRequest("review", classified, refresh=True))

        await review()  # imports and the first connection
        body = fake.requests[-1].json
        EVENTS.clear()
        reviews: list[float] = []
        direct: list[float] = []
        async with httpx.AsyncClient() as client:
            for _ in range(n):
                began = time.perf_counter()
                await review()
                reviews.append(time.perf_counter() - began)
                began = time.perf_counter()
                async with client.stream("POST", f"{fake.url}/chat/completions", json=body) as r:
                    async for _ in r.aiter_bytes():
                        pass
                direct.append(time.perf_counter() - began)
        await pipeline.aclose()
    times: dict[str, list[float]] = defaultdict(list)
    for event in EVENTS:
        times[event["what"]].append(event["d"])
    review_ms, direct_ms = statistics.median(reviews) * 1e3, statistics.median(direct) * 1e3
    print(f"pipeline, {n} reviews, medians in ms")
    print(f"  {'classify + run':<46} {review_ms:7.3f}")
    for label, values in sorted(times.items(), key=lambda item: -statistics.median(item[1])):
        print(f"    {label:<44} {statistics.median(values) * 1e3:7.3f}")
    print(f"  {'direct streamed POST, same body (baseline)':<46} {direct_ms:7.3f}")
    print(f"  {'difference':<46} {review_ms - direct_ms:+7.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=400)
    args = parser.parse_args()
    with scratch() as tmp:
        asyncio.run(measure(args.n, tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
