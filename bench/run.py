"""Speed goals P1, P2, P5 and P6, each against a baseline measured in the same run.

Prints one table: goal, baseline, measured, ratio or difference, pass/fail. Nothing
here is asserted by the test suite: timings on a shared machine are noisy, so look at
the load line and run again when it is high.

Run: ``make bench`` or
``.venv/bin/python bench/run.py [--quick] [--repeat N] [--json FILE] [--only P1,P5]``.
With ``--repeat N`` every benchmark runs N times and each row shows the run whose
figure is the median (all N figures are in the JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import p1_overhead, p2_blackhole, p5_cli, p6_startup
from bench.common import ROOT, Row, load_average

FULL = {"p1_n": 300, "p2_starts": 5, "p2_later": 30, "p5_runs": 5, "p6_starts": 7}
QUICK = {"p1_n": 60, "p2_starts": 2, "p2_later": 10, "p5_runs": 2, "p6_starts": 3}


def suites(size: dict[str, int]) -> dict[str, Callable[[], list[Row]]]:
    return {
        "P1": lambda: asyncio.run(p1_overhead.measure(size["p1_n"])),
        "P2": lambda: asyncio.run(p2_blackhole.measure(size["p2_starts"], size["p2_later"])),
        "P5": lambda: p5_cli.measure(size["p5_runs"]),
        "P6": lambda: asyncio.run(p6_startup.measure(size["p6_starts"])),
    }


def table(rows: list[Row]) -> str:
    header = ("", "measurement", "goal", "baseline", "measured", "ratio / diff", "result")
    cells = [header] + [
        (r.key, r.what, r.goal, r.baseline, r.measured, r.delta, r.verdict) for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = []
    for n, cell in enumerate(cells):
        lines.append("  ".join(text.ljust(width) for text, width in zip(cell, widths, strict=True)))
        if n == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def median_rows(runs: list[list[Row]]) -> list[Row]:
    """Per row, the run whose figure is the median (the lower one of an even count)."""
    keys = [row.key for row in runs[0]]
    chosen = []
    for key in keys:
        same = sorted((r for rows in runs for r in rows if r.key == key), key=lambda r: r.value)
        row = same[(len(same) - 1) // 2]
        row.details["values_of_each_run"] = [r.value for r in same]
        chosen.append(row)
    return chosen


def commit() -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples (about 1 minute)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--only", default="", help="comma-separated: P1,P2,P5,P6")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each benchmark (medians)")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    chosen = {s.strip().upper() for s in args.only.split(",") if s.strip()}
    every = suites(size)
    unknown = chosen - every.keys()
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    load_before = load_average()
    began = time.monotonic()
    runs: list[list[Row]] = []
    for repeat in range(max(1, args.repeat)):
        rows_of_run: list[Row] = []
        for name, run in every.items():
            if chosen and name not in chosen:
                continue
            print(f"running {name} ({repeat + 1}/{args.repeat})…", file=sys.stderr, flush=True)
            rows_of_run.extend(run())
        runs.append(rows_of_run)
    rows = median_rows(runs)
    meta = {
        "date": datetime.date.today().isoformat(),
        "commit": commit(),
        "python": platform.python_version(),
        "mode": "quick" if args.quick else "full",
        "repeat": max(1, args.repeat),
        "sizes": size,
        "load_before": load_before,
        "load_after": load_average(),
        "seconds": round(time.monotonic() - began, 1),
    }
    print(
        f"localroute speed goals — {meta['date']}, commit {meta['commit']}, Python "
        f"{meta['python']}, {meta['mode']} run ×{meta['repeat']} in {meta['seconds']} s; load "
        f"{meta['load_before']} before, {meta['load_after']} after"
    )
    print(table(rows))
    for row in rows:
        if row.key == "P1" and "messages_per_review" in row.details:
            per = ", ".join(f"{k} ×{v:g}" for k, v in row.details["messages_per_review"].items())
            print(f"P1: messages from the server per review besides its answer: {per}")
            if "localroute_own_ms" in row.details:
                own = row.details["localroute_own_ms"]
                print(f"P1: localroute's own steps (round trip − P1₀' round trip): {own:+.2f} ms")
        if row.key == "P5":
            d = row.details
            print(
                f"P5: start-up {d['startup_median_s'] * 1000:.0f} ms (python -c pass "
                f"{d['python_pass_median_s'] * 1000:.0f} ms, localroute --help "
                f"{d['localroute_help_median_s'] * 1000:.0f} ms, the libraries alone "
                f"{d['libraries_floor_median_s'] * 1000:.0f} ms), reviews "
                f"{d['reviews_median_s']:.2f} s, after the last answer "
                f"{d['end_median_s'] * 1000:.0f} ms (of which interpreter shutdown after "
                f"the last line: {d['interpreter_shutdown_median_s'] * 1000:.0f} ms)"
            )
    if args.json:
        args.json.write_text(
            json.dumps({"meta": meta, "rows": [r.as_json() for r in rows]}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
