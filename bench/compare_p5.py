"""P5 for two checkouts in turn: did a change make ``localroute review`` faster?

The machine's speed moves by several per cent within an hour, more than most changes
gain, so two checkouts are compared in interleaved runs against the same fake (P5's
set-up: 40 files, L = 300 ms, K = 4): one run of each in turn, each with an empty answer
cache, each process started as ``python -m localroute review src --format sarif`` with
``PYTHONPATH`` set to that checkout's ``server/``. Prints, per checkout, the medians of
the whole process, its start-up (spawn → first request at the fake), the reviews (first
request → last answer) and the end (last answer → exit), and every run's wall time.

Run: ``python -m bench.compare_p5 OLD NEW [--runs 15]`` from a checkout, where OLD and
NEW are checkouts (``git worktree add /tmp/old HEAD~1`` makes one). ``--files N
--latency S`` change the set-up: with ``--files 4 --latency 0`` a run takes a third of a
second, so many more runs fit in the same time, and start-up, which a change of a few
milliseconds there hardly moves against the machine's own drift, is compared more
finely.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from bench.p5_cli import FILES, LATENCY_S, cold_review, review_setup


def compare(
    checkouts: list[Path], runs: int, files: int = FILES, latency_s: float = LATENCY_S
) -> list[dict[str, list[float]]]:
    """Each checkout's figures (in its order), in seconds."""
    figures: list[dict[str, list[float]]] = [
        {"wall": [], "start-up": [], "reviews": [], "end": []} for _ in checkouts
    ]
    with review_setup(files, latency_s) as (fake, tmp, env):
        for i in range(runs):
            for n, checkout in enumerate(checkouts):
                own = {**env, "PYTHONPATH": str(checkout / "server")}
                review = cold_review(fake, tmp, own, f"cache-{n}-{i}", files)
                mine = figures[n]
                mine["wall"].append(review.run.seconds)
                mine["start-up"].append(review.startup_s)
                mine["reviews"].append(review.reviews_s)
                mine["end"].append(review.end_s)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkouts", nargs=2, type=Path, metavar="CHECKOUT")
    parser.add_argument("--runs", type=int, default=15, help="runs of each (default 15)")
    parser.add_argument("--files", type=int, default=FILES, help=f"files (default {FILES})")
    parser.add_argument(
        "--latency", type=float, default=LATENCY_S, help=f"the fake's latency, s ({LATENCY_S})"
    )
    args = parser.parse_args()
    checkouts = [c.resolve() for c in args.checkouts]
    for checkout in checkouts:
        if not (checkout / "server" / "localroute").is_dir():
            parser.error(f"{checkout} is not a localroute checkout (no server/localroute)")
    figures = compare(checkouts, args.runs, args.files, args.latency)
    print(
        f"P5's review of {args.files} files, latency {args.latency * 1000:g} ms, in "
        f"{args.runs} interleaved runs each; medians, ms (wall in s)"
    )
    print(f"{'checkout':<40} {'wall':>7} {'start-up':>9} {'reviews':>8} {'end':>6}")
    for checkout, mine in zip(checkouts, figures, strict=True):
        median = {k: statistics.median(v) for k, v in mine.items()}
        print(
            f"{str(checkout)[-40:]:<40} {median['wall']:7.3f} {median['start-up'] * 1e3:9.1f} "
            f"{median['reviews'] * 1e3:8.1f} {median['end'] * 1e3:6.1f}"
        )
        print(f"{'':<40} every run: {' '.join(f'{w:.3f}' for w in sorted(mine['wall']))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
