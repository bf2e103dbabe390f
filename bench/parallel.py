"""Bulk review throughput: N files × backend latency L × K slots → wall time vs ⌈N/K⌉·L.

The backend is tests/fakes/openai_fake.py on loopback with a fixed latency, its
`max_concurrency` set to K; the files go through the same runner as
`localroute review` (`bulk/runner.py`, `--jobs N`). With `--real`, the same for the
embedded llama-cpp-python model (one small file per request).

Run: `.venv/bin/python bench/parallel.py` (add `--real` for the local model).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.openai_fake import FakeOpenAI  # noqa: E402

from localroute.bulk.runner import review_files  # noqa: E402
from localroute.config.models import Config, TaskConfig, backend_config  # noqa: E402
from localroute.pipeline import Pipeline  # noqa: E402


def make_files(folder: Path, n: int) -> list[Path]:
    files = []
    for i in range(n):
        path = folder / f"m{i:03}.py"
        path.write_text(f"def ratio_{i}(a, b):\n    return a / b + {i}\n")
        files.append(path)
    return files


async def run_once(url: str, slots: int, files: list[Path], root: Path) -> tuple[float, int]:
    config = Config(
        backends={
            "local": backend_config(kind="openai", url=url, max_concurrency=slots, timeout_s=600)
        },
        tasks={"review": TaskConfig(route=["local:coder"])},
    )
    pipeline = Pipeline(config)
    began = time.perf_counter()
    try:
        results = await review_files(
            pipeline, files, task="review", root=root, jobs=len(files), refresh=True
        )
    finally:
        await pipeline.aclose()
    reviewed = sum(1 for r in results if r.error is None)
    return time.perf_counter() - began, reviewed


def fake_table(n: int, latency: float, slot_counts: list[int]) -> None:
    print(f"fake backend: N = {n} files, L = {latency * 1000:.0f} ms")
    print(f"{'K':>3} {'wall s':>8} {'ideal s':>8} {'efficiency':>11} {'peak in flight':>15}")
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI() as fake:
        fake.latency_s = latency
        files = make_files(Path(tmp), n)
        asyncio.run(run_once(fake.url, max(slot_counts), files[:8], Path(tmp)))  # warm-up
        for k in slot_counts:
            fake.reset_records()
            wall, reviewed = asyncio.run(run_once(fake.url, k, files, Path(tmp)))
            ideal = math.ceil(n / k) * latency
            assert reviewed == n, f"only {reviewed}/{n} reviewed"
            print(
                f"{k:>3} {wall:>8.2f} {ideal:>8.2f} {ideal / wall:>10.0%} {fake.max_in_flight:>15}"
            )


def real_table(n: int, slot_counts: list[int]) -> None:
    from localroute import embedded

    print(f"\nembedded llama-cpp-python model: N = {n} files")
    print(f"{'K':>3} {'wall s':>8} {'per file s':>11} {'speed-up vs K=1':>16}")
    server = embedded.start(n_ctx=2048)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            files = make_files(Path(tmp), n)
            asyncio.run(run_once(server.url, 1, files[:1], Path(tmp)))  # warm-up: model load
            first = None
            for k in slot_counts:
                wall, _ = asyncio.run(run_once(server.url, k, files, Path(tmp)))
                first = first or wall
                print(f"{k:>3} {wall:>8.1f} {wall / n:>11.1f} {first / wall:>15.2f}x")
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--real", action="store_true", help="also the embedded local model")
    parser.add_argument("--real-n", type=int, default=6)
    args = parser.parse_args()
    fake_table(args.n, args.latency, [1, 2, 4, 8])
    if args.real:
        real_table(args.real_n, [1, 2, 1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
