"""P6m for two checkouts in turn: did a change make the idle server smaller?

Starts ``localroute serve`` from each checkout in turn (``PYTHONPATH`` set to that
checkout's ``server/``), as ``bench.p6_startup`` starts it: one local backend on
``tests/fakes/openai_fake.py``, `initialize`, `initialized`, then 1.5 s idle (the first
probe done), and reads the resident memory. One start of each in turn, so that both
meet the same machine. ``--env NAME=VALUE`` runs the second checkout with that
variable too (an experiment such as ``MALLOC_ARENA_MAX=1``; the same checkout may be
given twice). Prints, per checkout, the median and every start's figure.

Run: ``python -m bench.compare_rss OLD NEW [--starts 5] [--env NAME=VALUE]`` from a
checkout, where OLD and NEW are checkouts (``git worktree add /tmp/old HEAD~1`` makes
one).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from pathlib import Path

from tests.fakes.openai_fake import FakeOpenAI

from bench.common import isolated_env, openai_backend, review_task, scratch
from bench.p6_startup import SERVERS, start_once


async def compare(checkouts: list[Path], starts: int, extra: dict[str, str]) -> list[list[float]]:
    """Each checkout's idle RSS in MiB, start by start (in the checkouts' order)."""
    figures: list[list[float]] = [[] for _ in checkouts]
    with FakeOpenAI() as fake, scratch() as tmp:
        config = tmp / "config.toml"
        config.write_text(openai_backend("local", fake.url) + review_task("local:coder"))
        for _ in range(starts):
            for n, checkout in enumerate(checkouts):
                more = extra if n == len(checkouts) - 1 else {}
                env = isolated_env(tmp, config, PYTHONPATH=str(checkout / "server"), **more)
                _, rss = await start_once(SERVERS["localroute"], env, tmp / "ws")
                figures[n].append(rss)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkouts", nargs=2, type=Path, metavar="CHECKOUT")
    parser.add_argument("--starts", type=int, default=5, help="starts of each (default 5)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the second checkout's servers",
    )
    args = parser.parse_args()
    checkouts = [c.resolve() for c in args.checkouts]
    for checkout in checkouts:
        if not (checkout / "server" / "localroute").is_dir():
            parser.error(f"{checkout} is not a localroute checkout (no server/localroute)")
    extra: dict[str, str] = {}
    for item in args.env:
        name, equals, value = item.partition("=")
        if not equals or not name:
            parser.error(f"--env takes NAME=VALUE (got {item!r})")
        extra[name] = value
    figures = asyncio.run(compare(checkouts, args.starts, extra))
    print(f"idle RSS of localroute serve, {args.starts} starts of each in turn; MiB")
    for n, (checkout, mine) in enumerate(zip(checkouts, figures, strict=True)):
        label = str(checkout)[-40:]
        if n == len(checkouts) - 1 and extra:
            label += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        print(f"{label:<56} median {statistics.median(mine):6.2f}")
        print(f"{'':<56} every start: {' '.join(f'{m:.2f}' for m in mine)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
