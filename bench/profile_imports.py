"""What the CLI and the server import before they can work (``python -X importtime``).

Four import logs, each from a real process started like the benchmarks start it:

- ``localroute --help``;
- ``localroute review src --format sarif`` (4 files, an instant fake);
- ``localroute serve`` up to its answer to `initialize`;
- the same server after `initialized`, its first probe and its first review.

For each: the total, the packages that cost most (own time of all their modules), the
single slowest modules, and what ``review`` imports that ``--help`` does not.
``-X importtime`` adds its own overhead; the ranking is what counts.

Run: ``python -m bench.profile_imports`` from the checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.openai_fake import FakeOpenAI

from bench.common import (
    ANSWER,
    PYTHON,
    SOURCE,
    isolated_env,
    median,
    openai_backend,
    review_task,
    scratch,
)
from bench.p5_cli import make_files
from bench.p6_startup import MINIMAL
from bench.session import Session


@dataclass(frozen=True)
class Imported:
    module: str
    own_us: int
    cumulative_us: int
    depth: int


def parse(log: str) -> list[Imported]:
    rows = []
    for line in log.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line[len("import time:") :].split("|")
        own, cumulative, name = parts[0].strip(), parts[1].strip(), parts[2]
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append(Imported(name.strip(), int(own), int(cumulative), depth))
    return rows


def median_rows(runs: list[list[Imported]]) -> list[Imported]:
    """Per module, the median own and cumulative time over several runs (import order
    and depth of the first run): one run's figures are noisy on a shared machine."""
    own: dict[str, list[int]] = {}
    cumulative: dict[str, list[int]] = {}
    for rows in runs:
        for row in rows:
            own.setdefault(row.module, []).append(row.own_us)
            cumulative.setdefault(row.module, []).append(row.cumulative_us)
    return [
        Imported(r.module, int(median(own[r.module])), int(median(cumulative[r.module])), r.depth)
        for r in runs[0]
    ]


def by_package(rows: list[Imported]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for row in rows:
        root = row.module.split(".")[0]
        if root == "localroute":
            root = ".".join(row.module.split(".")[:2])
        totals[root] += row.own_us
    return totals


def report(title: str, rows: list[Imported], top: int = 12) -> None:
    total = sum(r.own_us for r in rows)
    print(f"\n{title}: {len(rows)} modules, {total / 1000:.0f} ms of import time")
    print("  packages by own time of their modules (ms):")
    for name, us in by_package(rows).most_common(top):
        print(f"    {name:<40} {us / 1000:7.1f}")
    print("  slowest single modules, own time (ms):")
    for row in sorted(rows, key=lambda r: r.own_us, reverse=True)[:8]:
        print(f"    {row.module:<40} {row.own_us / 1000:7.1f}")


def difference(title: str, more: list[Imported], fewer: list[Imported], top: int = 15) -> None:
    known = {r.module for r in fewer}
    extra = [r for r in more if r.module not in known]
    total = sum(r.own_us for r in extra)
    print(f"\n{title}: {len(extra)} more modules, {total / 1000:.0f} ms")
    for name, us in by_package(extra).most_common(top):
        print(f"    {name:<40} {us / 1000:7.1f}")
    print("  who imports them first (importer ← … ← top level):")
    heavy = [n for n, _ in by_package(extra).most_common(8) if not n.startswith("localroute")]
    for name in heavy[:5]:
        print(f"    {name:<16} ← {' ← '.join(chain(more, name))}")


def chain(rows: list[Imported], package: str) -> list[str]:
    """The importers of the first module of `package`: ``-X importtime`` prints a module
    when its import ends, so its importer is the next line one level up."""
    index = next(i for i, r in enumerate(rows) if r.module.split(".")[0] == package.split(".")[0])
    depth = rows[index].depth
    found = []
    for row in rows[index + 1 :]:
        if row.depth < depth:
            if row.module.split(".")[0] != package.split(".")[0]:
                found.append(row.module)
            depth = row.depth
            if depth == 0:
                break
    return found


def cli_log(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [PYTHON, "-X", "importtime", *argv], env=env, cwd=cwd, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr[-1000:]}")
    return done.stderr


async def minimal_log(env: dict[str, str], workspace: Path) -> str:
    """The import log of the minimal pygls server, up to its `initialize` answer."""
    session = Session(["-X", "importtime", MINIMAL], env)
    await session.start()
    try:
        await session.initialize(workspace)
        await asyncio.sleep(0.5)
    finally:
        await session.stop()
    return bytes(session.stderr).decode(errors="replace")


async def serve_logs(env: dict[str, str], workspace: Path) -> tuple[str, str]:
    """The server's import log up to its `initialize` answer, and the rest after a review."""
    session = Session(["-X", "importtime", "-m", "localroute", "serve"], env)
    await session.start()
    try:
        await session.initialize(workspace)
        await asyncio.sleep(0.5)  # the server idles until `initialized`: its log is complete
        before = bytes(session.stderr).decode(errors="replace")
        session.initialized()
        uri = session.open(workspace / "calc.py", SOURCE)
        await asyncio.sleep(0.5)
        await session.review(uri)
    finally:
        await session.stop()
    whole = bytes(session.stderr).decode(errors="replace")
    return before, whole[len(before) :]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (medians)")
    args = parser.parse_args()
    logs: dict[str, list[list[Imported]]] = {
        "help": [],
        "review": [],
        "serve": [],
        "later": [],
        "pygls": [],
    }
    with FakeOpenAI() as fake, scratch() as tmp:
        fake.answer = ANSWER
        config = tmp / "config.toml"
        config.write_text(openai_backend("local", fake.url) + review_task("local:coder"))
        env = isolated_env(tmp, config)
        make_files(tmp / "ws" / "src", 4)
        for _ in range(args.repeat):
            logs["help"].append(parse(cli_log(["-m", "localroute", "--help"], env, tmp / "ws")))
            review = ["-m", "localroute", "review", "src", "--format", "sarif"]
            logs["review"].append(parse(cli_log(review, env, tmp / "ws")))
            before, after = asyncio.run(serve_logs(env, tmp / "ws"))
            logs["serve"].append(parse(before))
            logs["later"].append(parse(after))
            logs["pygls"].append(parse(asyncio.run(minimal_log(env, tmp / "ws"))))
    helping, reviewing = median_rows(logs["help"]), median_rows(logs["review"])
    serving, later = median_rows(logs["serve"]), median_rows(logs["later"])
    minimal = median_rows(logs["pygls"])
    print(f"medians of {args.repeat} runs each")
    report("localroute --help", helping)
    report("localroute review src --format sarif", reviewing)
    difference("review imports beyond --help", reviewing, helping)
    report("minimal pygls server, up to the initialize answer", minimal)
    report("localroute serve, up to the initialize answer", serving)
    difference("serve imports beyond minimal pygls, before answering initialize", serving, minimal)
    report("localroute serve, after initialized (probe, first review)", later)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
