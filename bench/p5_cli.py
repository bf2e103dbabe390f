"""P5: ``localroute review DIR --format sarif`` as a whole process, against the ideal.

N files, a fake backend that answers after L seconds, ``max_concurrency`` K: no client
can finish before ⌈N/K⌉·L, so efficiency = ideal / wall, with the wall time measured
around the whole CLI process (interpreter start, imports, configuration, reviews,
SARIF, exit). Baselines measured in the same run: ``python -c pass`` and
``localroute --help`` (the start-up any command pays). The fake records when each
request arrived and was answered, which splits the wall time into start-up (spawn →
first request), the reviews (first request → last answer) and the end (last answer →
exit).

Run alone: ``python -m bench.p5_cli [--runs 5]`` from the checkout.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import ANSWER, PYTHON, Row, isolated_env, median, openai_backend, review_task, scratch
from tests.fakes.openai_fake import FakeOpenAI

GOAL = 0.90
FILES = 40
LATENCY_S = 0.3
SLOTS = 4


class TimedFake(FakeOpenAI):
    """The OpenAI fake, noting when each chat request arrived and was answered."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arrivals: list[float] = []
        self.answered: list[float] = []
        self._times = threading.Lock()

    def _chat(self, handler: Any, body: dict[str, Any]) -> None:
        with self._times:
            self.arrivals.append(time.perf_counter())
        try:
            super()._chat(handler, body)
        finally:
            with self._times:
                self.answered.append(time.perf_counter())

    def clear_times(self) -> None:
        with self._times:
            self.arrivals.clear()
            self.answered.clear()


def make_files(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"m{i:03}.py").write_text(f"def ratio_{i}(a, b):\n    return a / b + {i}\n")


def timed_process(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """(start, seconds, stdout) of one process run to its end; raises on failure."""
    began = time.perf_counter()
    done = subprocess.run(
        [PYTHON, *argv], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-2000:]}")
    return began, seconds, done.stdout


def measure_runs(runs: int, n: int = FILES, latency_s: float = LATENCY_S) -> dict[str, Any]:
    walls: list[float] = []
    startups: list[float] = []
    spans: list[float] = []
    ends: list[float] = []
    python_start: list[float] = []
    help_start: list[float] = []
    with TimedFake() as fake, scratch() as tmp:
        fake.latency_s = latency_s
        fake.answer = ANSWER
        config = tmp / "config.toml"
        config.write_text(
            openai_backend("local", fake.url, max_concurrency=SLOTS) + review_task("local:coder")
        )
        make_files(tmp / "ws" / "src", n)
        env = isolated_env(tmp, config)
        cwd = tmp / "ws"
        for _ in range(runs):
            python_start.append(timed_process(["-c", "pass"], env, cwd)[1])
            help_start.append(timed_process(["-m", "localroute", "--help"], env, cwd)[1])
            fake.clear_times()
            began, wall, out = timed_process(
                ["-m", "localroute", "review", "src", "--format", "sarif"], env, cwd
            )
            results = len(json.loads(out)["runs"][0]["results"])
            if len(fake.arrivals) != n or results != n:
                raise RuntimeError(
                    f"expected {n} requests and findings: {len(fake.arrivals)}, {results}"
                )
            walls.append(wall)
            startups.append(min(fake.arrivals) - began)
            spans.append(max(fake.answered) - min(fake.arrivals))
            ends.append(began + wall - max(fake.answered))
    ideal = math.ceil(n / SLOTS) * latency_s
    return {
        "n": n,
        "slots": SLOTS,
        "latency_s": latency_s,
        "ideal_s": ideal,
        "wall_s": walls,
        "startup_s": startups,
        "reviews_s": spans,
        "end_s": ends,
        "python_pass_s": python_start,
        "localroute_help_s": help_start,
    }


def rows_from(data: dict[str, Any]) -> list[Row]:
    wall = median(data["wall_s"])
    ideal = data["ideal_s"]
    efficiency = ideal / wall
    return [
        Row(
            key="P5",
            what=f"review {data['n']} files --format sarif, whole process",
            goal=f"≥ {GOAL:.0%} of ideal",
            baseline=f"ideal {ideal:.2f} s",
            measured=f"{wall:.2f} s",
            delta=f"{efficiency:.1%}",
            passed=efficiency >= GOAL,
            details={
                "runs": len(data["wall_s"]),
                "wall_s": data["wall_s"],
                "efficiency": efficiency,
                "startup_median_s": median(data["startup_s"]),
                "reviews_median_s": median(data["reviews_s"]),
                "end_median_s": median(data["end_s"]),
                "python_pass_median_s": median(data["python_pass_s"]),
                "localroute_help_median_s": median(data["localroute_help_s"]),
            },
        )
    ]


def measure(runs: int) -> list[Row]:
    return rows_from(measure_runs(runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for row in measure(args.runs):
        print(row.key, row.what, "|", row.baseline, "|", row.measured, "|", row.delta)
        print("   ", row.details)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
