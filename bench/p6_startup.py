"""P6: how fast ``localroute serve`` answers `initialize`, and how much memory it holds idle.

Three servers are started the same way (the venv's Python, stdio, the same client and
environment), alternately, several times each:

- ``localroute serve`` with a configuration naming one local backend (an instant fake);
- a minimal pygls server (``bench/minimal_server.py``): the baseline for `initialize`;
- the same importing httpx and pydantic: the baseline for memory;
- the same building one pydantic model (informational: ``import pydantic`` alone loads
  almost nothing of pydantic, a first model loads its machinery, about 5 MiB).

`initialize` round trip = from spawning the process to reading the answer to
`initialize` (sent at once; it waits in the pipe while the server starts). Idle RSS is
read from ``/proc`` after `initialized` and a pause in which localroute probes its
backend.

Run alone: ``python -m bench.p6_startup [--starts 7]`` from the checkout.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from tests.fakes.openai_fake import FakeOpenAI

from bench.common import (
    ROOT,
    Row,
    isolated_env,
    median,
    ms,
    openai_backend,
    review_task,
    scratch,
)
from bench.session import Session

RATIO_GOAL = 1.15
RSS_GOAL_MIB = 5.0
IDLE_S = 1.5

MINIMAL = str(ROOT / "bench" / "minimal_server.py")
SERVERS: dict[str, list[str]] = {
    "localroute": ["-m", "localroute", "serve"],
    "pygls": [MINIMAL],
    "pygls+httpx+pydantic": [MINIMAL, "--import", "httpx,pydantic"],
    "pygls+httpx+pydantic+model": [MINIMAL, "--import", "httpx,pydantic", "--model"],
}


async def start_once(argv: list[str], env: dict[str, str], workspace: Path) -> tuple[float, float]:
    """(initialize round trip in ms, idle RSS in MiB) of one fresh server."""
    session = Session(argv, env)
    await session.start()
    try:
        answered = await session.initialize(workspace)
        session.initialized()
        await asyncio.sleep(IDLE_S)
        rss = session.rss_mib()
    finally:
        await session.stop()
    return (answered - session.spawned_at) * 1000, rss


async def measure_starts(starts: int) -> dict[str, dict[str, list[float]]]:
    data: dict[str, dict[str, list[float]]] = {
        name: {"initialize_ms": [], "rss_mib": []} for name in SERVERS
    }
    with FakeOpenAI() as fake, scratch() as tmp:
        config = tmp / "config.toml"
        config.write_text(openai_backend("local", fake.url) + review_task("local:coder"))
        env = isolated_env(tmp, config)
        for _ in range(starts):
            for name, argv in SERVERS.items():
                initialize_ms, rss = await start_once(argv, env, tmp / "ws")
                data[name]["initialize_ms"].append(initialize_ms)
                data[name]["rss_mib"].append(rss)
    return data


def rows_from(data: dict[str, dict[str, list[float]]]) -> list[Row]:
    lr_init = median(data["localroute"]["initialize_ms"])
    base_init = median(data["pygls"]["initialize_ms"])
    lr_rss = median(data["localroute"]["rss_mib"])
    base_rss = median(data["pygls+httpx+pydantic"]["rss_mib"])
    model_rss = median(data["pygls+httpx+pydantic+model"]["rss_mib"])
    ratio = lr_init / base_init
    details = {
        name: {key: {"median": median(values), "all": values} for key, values in series.items()}
        for name, series in data.items()
    }
    return [
        Row(
            key="P6",
            what="initialize round trip (spawn → answer)",
            goal=f"≤ {RATIO_GOAL:.2f}× pygls",
            baseline=f"{ms(base_init)} (minimal pygls)",
            measured=ms(lr_init),
            delta=f"{ratio:.2f}×",
            passed=ratio <= RATIO_GOAL,
            value=ratio,
            details=details,
        ),
        Row(
            key="P6m",
            what="idle RSS after initialized",
            goal=f"≤ +{RSS_GOAL_MIB:g} MiB",
            baseline=f"{base_rss:.1f} MiB (pygls+httpx+pydantic)",
            measured=f"{lr_rss:.1f} MiB",
            delta=f"{lr_rss - base_rss:+.1f} MiB",
            passed=lr_rss - base_rss <= RSS_GOAL_MIB,
            value=lr_rss - base_rss,
            details={"pygls_alone_mib": median(data["pygls"]["rss_mib"])},
        ),
        Row(
            key="P6m'",
            what="same, against a server that also builds one model",
            goal="—",
            baseline=f"{model_rss:.1f} MiB (… + one pydantic model)",
            measured=f"{lr_rss:.1f} MiB",
            delta=f"{lr_rss - model_rss:+.1f} MiB",
            passed=None,
            value=lr_rss - model_rss,
        ),
    ]


async def measure(starts: int) -> list[Row]:
    return rows_from(await measure_starts(starts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=7)
    args = parser.parse_args()
    for row in asyncio.run(measure(args.starts)):
        print(row.key, row.what, "|", row.baseline, "|", row.measured, "|", row.delta)
        print("   ", row.details)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
