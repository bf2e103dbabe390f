"""Where the server's idle memory goes beyond pygls, httpx and pydantic (P6m).

Runs one fresh interpreter (this checkout's ``server/`` first on the path) that
imports pygls, httpx and pydantic — the P6 memory baseline — then, step by step,
what ``localroute serve`` loads, printing the resident memory each step adds. The
first step is a trivial pydantic model in a separate interpreter: ``import pydantic``
loads almost nothing, a first model loads pydantic's machinery. The server's steps start
from httpx without its optional command-line client (rich, click, pygments), which
localroute refuses to import, as the server does.

Run: ``python -m bench.profile_memory`` from the checkout.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from bench.common import PYTHON, isolated_env

PROBE = r"""
import importlib, sys

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

if sys.argv[1] == "server":
    # As `localroute serve` does (localroute/__init__.py): httpx without its command-line
    # client; the P6m baseline (argv[2]) has it.
    sys.modules["httpx._main"] = None
import pygls.lsp.server, httpx, pydantic
base = last = rss()
if sys.argv[1] == "server":
    baseline = float(sys.argv[2])
    label = "the same, httpx without its command-line client"
    print(f"{label:<56} {base - baseline:+7.1f} MiB  (localroute refuses it)")
else:
    print(f"{'pygls + httpx + pydantic imported (the P6m baseline)':<56} {base:7.1f} MiB")

def step(label, action):
    global last
    modules = len(sys.modules)
    try:
        action()
    except Exception as exc:  # the server's modules move: say what is gone, go on
        print(f"  {label}: skipped ({type(exc).__name__}: {exc})")
        return
    now = rss()
    print(f"+ {label:<54} {now - last:+7.1f} MiB  {len(sys.modules) - modules:+4d} modules")
    last = now

if sys.argv[1] == "model":
    def model():
        class Settings(pydantic.BaseModel):
            name: str = "x"
        Settings(name="y")
    step("one trivial pydantic model", model)
    raise SystemExit

for name in [
    "localroute.config.models",
    "localroute.config.sources",
    "localroute.privacy",
    "localroute.policy",
    "localroute.pipeline",
    "localroute.bulk.files",
    "localroute.lsp.registry",
    "localroute.lsp.server",
]:
    step(f"import {name}", lambda name=name: importlib.import_module(name))

def pipeline():
    from localroute.config.models import default_config
    from localroute.pipeline import Pipeline
    Pipeline(default_config(copilot_available=False))

def backend():
    from localroute.backends import openai

def async_http():
    # What a first request adds: a plain-HTTP backend speaks HTTP/1.1 with h11 on
    # asyncio's streams (localroute.backends.plain_http), without httpcore's pool.
    import h11
    from localroute.backends import plain_http

def tls():
    from localroute.backends.http import tls_context
    tls_context()

step("a Pipeline of the default configuration", pipeline)
step("import the OpenAI-compatible backend", backend)
step("first request (h11 on asyncio's streams)", async_http)
print(f"{'total above the P6m baseline':<56} {last - baseline:+7.1f} MiB")
step("TLS context with the CA bundle (https:// backends only)", tls)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = isolated_env(Path(tmp))
        baseline = ""
        for mode in ("model", "server"):
            done = subprocess.run(
                [PYTHON, "-c", PROBE, mode, baseline],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            print(done.stdout.rstrip())
            if mode == "model":
                baseline = _base(done.stdout)
    return 0


def _base(printed: str) -> str:
    """The baseline's MiB, from its first line."""
    return printed.splitlines()[0].split()[-2]


if __name__ == "__main__":
    raise SystemExit(main())
