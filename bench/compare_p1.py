"""P1 for two checkouts at once: did a change make a review's round trip shorter?

Starts ``localroute serve`` from each checkout (``PYTHONPATH`` set to that checkout's
``server/``), as ``bench.p1_overhead`` starts it: one local backend on
``tests/fakes/openai_fake.py``, a client announcing ``workDoneProgress``, the same
60-line document. Both servers run at the same time and their reviews alternate (which
goes first alternates too), so load that comes and goes touches both alike. Prints each
checkout's median and p90 round trip and the median of the paired differences (NEW −
OLD, review by review). Which checkout is listed first still moves the difference by a
few hundredths of a millisecond: run it both ways.

Run: ``python -m bench.compare_p1 OLD NEW [-n 400]`` from a checkout, where OLD and NEW
are checkouts (``git worktree add /tmp/old HEAD~1`` makes one).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from tests.fakes.openai_fake import FakeOpenAI

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
from bench.p1_overhead import stop_all, warm_up
from bench.session import Session


async def compare(checkouts: list[Path], n: int) -> list[list[float]]:
    """Each checkout's review round trips in ms, review by review."""
    figures: list[list[float]] = [[] for _ in checkouts]
    with FakeOpenAI() as fake, scratch() as tmp:
        fake.answer = ANSWER
        config = tmp / "config.toml"
        config.write_text(openai_backend("local", fake.url) + review_task("local:coder"))
        sessions: dict[str, tuple[Session, str]] = {}
        try:
            for i, checkout in enumerate(checkouts):
                env = isolated_env(tmp, config, PYTHONPATH=str(checkout / "server"))
                session = Session(["-m", "localroute", "serve"], env)
                sessions[str(i)] = (session, "")  # stopped in any case once started
                await session.start()
                await session.initialize(tmp / "ws")
                session.initialized()
                sessions[str(i)] = (session, session.open(tmp / "ws" / f"calc{i}.py", SOURCE))
            await warm_up(sessions)
            order = list(range(len(checkouts)))
            for _ in range(n):
                for i in order:
                    session, uri = sessions[str(i)]
                    elapsed, _result = await session.timed_review(uri)
                    figures[i].append(elapsed)
                order.reverse()  # neither goes first every time
        finally:
            await stop_all(sessions)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkouts", nargs=2, type=Path, metavar="CHECKOUT")
    parser.add_argument("-n", type=int, default=400, help="reviews of each (default 400)")
    args = parser.parse_args()
    checkouts = [c.resolve() for c in args.checkouts]
    for checkout in checkouts:
        if not (checkout / "server" / "localroute").is_dir():
            parser.error(f"{checkout} is not a localroute checkout (no server/localroute)")
    old, new = asyncio.run(compare(checkouts, args.n))
    print(f"localroute.review round trip, {args.n} reviews of each, alternating; ms")
    for checkout, mine in zip(checkouts, (old, new), strict=True):
        print(f"{str(checkout)[-40:]:<42} median {median(mine):6.3f}  p90 {p90(mine):6.3f}")
    paired = [b - a for a, b in zip(old, new, strict=True)]
    print(f"{'NEW − OLD, review by review':<42} median {median(paired):+6.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
