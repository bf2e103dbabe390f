"""Latencies of a real stdio LSP session beside the speed goals of bench/run.py.

With an instant fake backend (tests/fakes/openai_fake.py on loopback):
- review: `workspace/executeCommand localroute.review` → its answer and diagnostics;
- review with the local backend refused (closed port) → the fallback answers;
- code actions: `textDocument/codeAction` on a selection.

Each figure is the median (and p90) of N runs, `refresh: true` so the result cache
does not answer. Run: ``.venv/bin/python bench/latency.py [-n 50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from lsprotocol import types

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.openai_fake import FakeOpenAI, closed_port

from bench.common import (
    ANSWER,
    SOURCE,
    isolated_env,
    median,
    openai_backend,
    p90,
    review_task,
    scratch,
)
from bench.session import Session


async def code_actions(session: Session, uri: str) -> None:
    await session.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(
                start=types.Position(line=0, character=0),
                end=types.Position(line=3, character=0),
            ),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )


async def review(session: Session, uri: str) -> None:
    await session.review(uri)


async def timed(n: int, action: Callable[[], Awaitable[None]]) -> list[float]:
    await action()  # warm-up: imports, connections, first probe
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


async def measure(n: int) -> list[tuple[str, list[float]]]:
    rows: list[tuple[str, list[float]]] = []
    with FakeOpenAI() as local, FakeOpenAI() as cloud:
        local.answer = cloud.answer = ANSWER
        refused = f"http://127.0.0.1:{closed_port()}/v1"
        for label, local_url in (
            ("review → diagnostics, local answers", local.url),
            ("review → diagnostics, local refused → fallback", refused),
        ):
            with scratch() as tmp:
                config = tmp / "config.toml"
                config.write_text(
                    openai_backend("local", local_url, connect_timeout_s=0.5)
                    + openai_backend("cloud", cloud.url, locality="cloud")
                    + review_task("local:coder", "cloud:big")
                )
                session = Session(["-m", "localroute", "serve"], isolated_env(tmp, config))
                await session.start()
                try:
                    await session.initialize(tmp / "ws")
                    session.initialized()
                    uri = session.open(tmp / "ws" / "calc.py", SOURCE)
                    rows.append((label, await timed(n, partial(review, session, uri))))
                    if local_url == local.url:
                        action = partial(code_actions, session, uri)
                        rows.append(("code actions on a selection", await timed(n, action)))
                finally:
                    await session.stop()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=50, help="runs per figure (default 50)")
    args = parser.parse_args()
    rows = asyncio.run(measure(args.n))
    print(f"{'measurement':<50} {'median ms':>10} {'p90 ms':>8} {'n':>4}")
    for label, samples in rows:
        print(f"{label:<50} {median(samples):>10.2f} {p90(samples):>8.2f} {len(samples):>4}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
