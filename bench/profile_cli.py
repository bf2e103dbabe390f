"""Where P5's time goes: ``localroute review src --format sarif`` step by step.

Runs ``bench/cli_traced.py`` (the review with timing hooks) against P5's set-up (40
files, a fake that answers after L = 300 ms, ``max_concurrency`` K = 4), several times,
and prints medians on one clock, from spawning the process: start-up step by step up to
the first request the fake received; then the rounds (each request after the first K
waits for a slot: its lag is from the answer that freed that slot to its own arrival at
the fake); then the end (last answer → exit).

Run: ``python -m bench.profile_cli [--runs 5]`` from the checkout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.common import PYTHON, ROOT
from bench.p5_cli import FILES, LATENCY_S, SLOTS, TimedFake, review_setup

TRACED = str(ROOT / "bench" / "cli_traced.py")

STEPS = (
    # (event, label, at its end): a span's time is when it ended, or when it began.
    ("interpreter ready", "interpreter ready", True),
    ("imported localroute.cli", "imported localroute.cli", True),
    ("imported the review's modules", "the review's modules imported", True),
    ("configuration read", "configuration read", True),
    ("files listed, configuration checked", "files listed, configuration checked", True),
    ("start-up over (collector resumed)", "collector resumed", True),
    ("file read", "first file read", True),
    ("classify", "first file classified", True),
    ("backend made", "backend made (first request)", True),
    ("backend.chat", "first request begins (backend's chat)", False),
    ("pipeline closed", "pipeline closed (answers stored)", True),
    ("report written", "SARIF written", True),
)


def one_run(fake: TimedFake, tmp: Path, env: dict[str, str], i: int) -> dict[str, Any]:
    trace = tmp / f"trace-{i}.json"
    fake.clear_times()
    run_env = {**env, "LOCALROUTE_TRACE": str(trace), "XDG_CACHE_HOME": str(tmp / f"c{i}")}
    began = time.perf_counter()
    done = subprocess.run(
        [PYTHON, TRACED, "review", "src", "--format", "sarif"],
        env=run_env,
        cwd=tmp / "ws",
        capture_output=True,
        text=True,
        timeout=120,
    )
    ended = time.perf_counter()
    if done.returncode != 0:
        raise RuntimeError(f"review exited {done.returncode}: {done.stderr[-2000:]}")
    events = json.loads(trace.read_text())["events"]
    steps: dict[str, float] = {}
    took: dict[str, float] = {}
    for what, label, at_end in STEPS:
        first = next((e for e in events if e["what"] == what), None)
        if first is None:
            continue
        # A span's "t" is when it began; a mark's is when it happened.
        end = first["t"] + (first.get("d", 0.0) if at_end else 0.0)
        steps[label] = (end - began) * 1000
        if "d" in first:
            took[label] = first["d"] * 1000
    arrivals = sorted(fake.arrivals)
    answered = sorted(fake.answered)
    steps["first request at the fake"] = (arrivals[0] - began) * 1000
    steps[f"request {SLOTS} at the fake (all slots busy)"] = (arrivals[SLOTS - 1] - began) * 1000
    steps["last answer at the fake"] = (answered[-1] - began) * 1000
    steps["process ended"] = (ended - began) * 1000
    steps = dict(sorted(steps.items(), key=lambda item: item[1]))
    # Request i (after the first K) took the slot that answer i - K freed.
    lags = [(arrivals[i] - answered[i - SLOTS]) * 1000 for i in range(SLOTS, len(arrivals))]
    rounds = (answered[-1] - arrivals[0]) * 1000 - (len(arrivals) // SLOTS) * LATENCY_S * 1000
    return {"steps": steps, "took": took, "lags": lags, "rounds_over_ideal": rounds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs: list[dict[str, Any]] = []
    with review_setup() as (fake, tmp, env):
        for i in range(args.runs):
            runs.append(one_run(fake, tmp, env, i))
    print(
        f"localroute review: {FILES} files, L = {LATENCY_S * 1000:.0f} ms, K = {SLOTS}; "
        f"medians of {len(runs)} runs, ms from spawning the process"
    )
    labels = list(dict.fromkeys(label for run in runs for label in run["steps"]))
    for label in labels:
        at = statistics.median(run["steps"][label] for run in runs if label in run["steps"])
        spans = [run["took"][label] for run in runs if label in run["took"]]
        took = f"   (took {statistics.median(spans):.1f})" if spans else ""
        print(f"  {label:<40} {at:8.1f}{took}")
    lags = [lag for run in runs for lag in run["lags"]]
    over = statistics.median(run["rounds_over_ideal"] for run in runs)
    print(
        f"rounds: first request → last answer exceeds {FILES // SLOTS} × L by {over:.0f} ms; "
        f"a freed slot → its next request at the fake: median {statistics.median(lags):.1f} ms, "
        f"p90 {statistics.quantiles(lags, n=10)[-1]:.1f} ms, max {max(lags):.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
