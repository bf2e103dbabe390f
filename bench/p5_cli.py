"""P5: ``localroute review DIR --format sarif`` as a whole process, against the ideal.

N files, a fake backend that answers after L seconds, ``max_concurrency`` K: no client
can finish before ⌈N/K⌉·L, so efficiency = ideal / wall, with the wall time measured
around the whole CLI process (interpreter start, imports, configuration, reviews,
SARIF, exit). Baselines measured in the same run: ``python -c pass``,
``localroute --help`` (the start-up any command pays) and the libraries' floor: a
process that only imports what a review cannot do without — asyncio, pydantic with one
model built, httpx and the HTTP stack a first request loads — and leaves at once (as
localroute does, without the interpreter's shutdown). The fake records when each
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tests.fakes.openai_fake import FakeOpenAI

from bench.common import (
    ANSWER,
    PYTHON,
    Row,
    isolated_env,
    median,
    openai_backend,
    review_task,
    scratch,
)

GOAL = 0.90

LIBRARIES_FLOOR = (
    "import sys; sys.modules['httpx._main'] = None\n"  # as localroute does
    "import asyncio, pydantic, httpx, httpcore, h11, anyio._backends._asyncio\n"
    "class Settings(pydantic.BaseModel):\n    name: str = 'x'\n"
    "Settings(name='y')\n"
    "import os; os._exit(0)\n"
)
"""The libraries' part of any review's start-up (see the module). It leaves at once, as
localroute's command line does: the interpreter's shutdown (about 30 ms with these
modules loaded) is no part of a start-up, which P5 counts up to the first request."""
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


@dataclass
class Timed:
    began: float
    seconds: float
    stdout: str
    summary_at: float | None
    """When the last stderr line (``localroute: N/N file(s) reviewed``) was read: all that
    follows it is the interpreter's shutdown."""


def timed_process(argv: list[str], env: dict[str, str], cwd: Path) -> Timed:
    """One process run to its end, timed from spawn to exit; raises on failure."""
    lines: list[tuple[float, str]] = []

    def read_stderr(stream: IO[str]) -> None:
        for line in stream:
            lines.append((time.perf_counter(), line))

    began = time.perf_counter()
    process = subprocess.Popen(
        [PYTHON, *argv], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stderr is not None
    reader = threading.Thread(target=read_stderr, args=(process.stderr,))
    reader.start()
    stdout = process.stdout.read()
    process.wait()
    seconds = time.perf_counter() - began
    reader.join()
    if process.returncode != 0:
        errors = "".join(line for _, line in lines)[-2000:]
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}: {errors}")
    summary = [t for t, line in lines if "reviewed" in line]
    return Timed(began, seconds, stdout, summary[-1] if summary else None)


@contextmanager
def review_setup(
    n: int = FILES, latency_s: float = LATENCY_S
) -> Iterator[tuple[TimedFake, Path, dict[str, str]]]:
    """P5's set-up: the timed fake answering after ``latency_s`` with ``max_concurrency``
    K, ``n`` files under ``ws/src`` of a scratch folder, and the environment of a run."""
    with TimedFake() as fake, scratch() as tmp:
        fake.latency_s = latency_s
        fake.answer = ANSWER
        config = tmp / "config.toml"
        config.write_text(
            openai_backend("local", fake.url, max_concurrency=SLOTS) + review_task("local:coder")
        )
        make_files(tmp / "ws" / "src", n)
        yield fake, tmp, isolated_env(tmp, config)


REVIEW_ARGV = ["-m", "localroute", "review", "src", "--format", "sarif"]


@dataclass
class Review:
    """One review process, split by the fake's clock."""

    run: Timed
    startup_s: float
    """spawn → first request at the fake"""
    reviews_s: float
    """first request → last answer"""
    end_s: float
    """last answer → exit"""


def cold_review(fake: TimedFake, tmp: Path, env: dict[str, str], cache: str, n: int) -> Review:
    """A first review (an empty answer cache, ``tmp/cache``: answers are stored as they come,
    and a second run over the same files would send nothing), checked: ``n`` requests
    reached the fake and ``n`` findings came back."""
    fake.clear_times()
    run = timed_process(REVIEW_ARGV, {**env, "XDG_CACHE_HOME": str(tmp / cache)}, tmp / "ws")
    results = len(json.loads(run.stdout)["runs"][0]["results"])
    if len(fake.arrivals) != n or results != n:
        raise RuntimeError(f"expected {n} requests and findings: {len(fake.arrivals)}, {results}")
    first, last = min(fake.arrivals), max(fake.answered)
    return Review(run, first - run.began, last - first, run.began + run.seconds - last)


def measure_runs(runs: int, n: int = FILES, latency_s: float = LATENCY_S) -> dict[str, Any]:
    walls: list[float] = []
    startups: list[float] = []
    spans: list[float] = []
    ends: list[float] = []
    shutdowns: list[float] = []
    python_start: list[float] = []
    help_start: list[float] = []
    floor_start: list[float] = []
    with review_setup(n, latency_s) as (fake, tmp, env):
        cwd = tmp / "ws"
        for i in range(runs):
            python_start.append(timed_process(["-c", "pass"], env, cwd).seconds)
            help_start.append(timed_process(["-m", "localroute", "--help"], env, cwd).seconds)
            floor_start.append(timed_process(["-c", LIBRARIES_FLOOR], env, cwd).seconds)
            review = cold_review(fake, tmp, env, f"cache-{i}", n)
            run = review.run
            if run.summary_at is not None:
                shutdowns.append(run.began + run.seconds - run.summary_at)
            walls.append(run.seconds)
            startups.append(review.startup_s)
            spans.append(review.reviews_s)
            ends.append(review.end_s)
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
        "shutdown_s": shutdowns,
        "python_pass_s": python_start,
        "localroute_help_s": help_start,
        "libraries_floor_s": floor_start,
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
            value=efficiency,
            details={
                "runs": len(data["wall_s"]),
                "wall_s": data["wall_s"],
                "efficiency": efficiency,
                "startup_median_s": median(data["startup_s"]),
                "reviews_median_s": median(data["reviews_s"]),
                "end_median_s": median(data["end_s"]),
                "interpreter_shutdown_median_s": median(data["shutdown_s"]),
                "python_pass_median_s": median(data["python_pass_s"]),
                "localroute_help_median_s": median(data["localroute_help_s"]),
                "libraries_floor_median_s": median(data["libraries_floor_s"]),
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
