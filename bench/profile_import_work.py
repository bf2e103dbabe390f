"""What localroute's own imports spend their time on, by kind of work (P5's start-up).

A fresh interpreter (this checkout's ``server/`` first on the path) first imports what
the libraries' floor of P5 imports — asyncio, pydantic with one model built, httpx and
its HTTP stack — so that only localroute's own part is left; then it times, while it
imports what ``localroute review`` needs before its first request (``localroute.cli``,
``localroute.bulk.review_command``, the OpenAI-compatible backend):

- dataclasses: making a class (``dataclasses._process_class``; Python 3.11 compiles
  each generated method with ``exec``);
- regular expressions compiled (``re._compile``; the cache's hits are nearly free);
- pydantic models built (``ModelMetaclass.__new__``: fields, core schema, validator);
- the rest: running the modules' own code, reading their bytecode, everything else.

Each run is a new process; prints the medians, and the costliest items of the last run.

Run: ``python -m bench.profile_import_work [--runs 5]`` from the checkout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
from typing import Any

from bench.common import PYTHON, ROOT, SERVER_SRC

PROBE = r"""
import json, sys, time
sys.modules["httpx._main"] = None  # as localroute does
import asyncio, dataclasses, re, pydantic, httpx, httpcore, h11, anyio._backends._asyncio

class Floor(pydantic.BaseModel):
    name: str = "x"

Floor(name="y")
from pydantic._internal import _model_construction

spent = {"dataclasses": [], "regexes": [], "models": []}

def timed(kind, real, name_of):
    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent[kind].append((time.perf_counter() - began, name_of(args)))
    return wrapper

def pattern_name(args):
    return str(getattr(args[0], "pattern", args[0]))[:60]

dataclasses._process_class = timed(
    "dataclasses", dataclasses._process_class, lambda a: f"{a[0].__module__}.{a[0].__qualname__}"
)
real_compile = re._compile
def compile_missed(pattern, flags):
    # Only compiles that miss re's cache are timed: a hit costs a dictionary lookup.
    if isinstance(flags, re.RegexFlag):
        flags = flags.value
    try:
        hit = re._cache[type(pattern), pattern, flags]  # noqa: SLF001 - timing only
    except (KeyError, TypeError, AttributeError):
        hit = None
    if hit is not None:
        return real_compile(pattern, flags)
    return timed("regexes", real_compile, pattern_name)(pattern, flags)
re._compile = compile_missed
real_new = _model_construction.ModelMetaclass.__new__
def model_new(mcs, name, bases, namespace, *args, **kwargs):
    began = time.perf_counter()
    try:
        return real_new(mcs, name, bases, namespace, *args, **kwargs)
    finally:
        spent["models"].append(
            (time.perf_counter() - began, f"{namespace.get('__module__')}.{name}")
        )
_model_construction.ModelMetaclass.__new__ = model_new

began = time.perf_counter()
import localroute.cli, localroute.bulk.review_command, localroute.backends.openai
total = time.perf_counter() - began
print(json.dumps({"total": total, "spent": spent}))
"""


def one_run() -> dict[str, Any]:
    env = {"PYTHONPATH": str(SERVER_SRC), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [PYTHON, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.runs)]
    kinds = ("dataclasses", "regexes", "models")

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:6.1f} ms"

    totals = [float(r["total"]) for r in runs]
    print(f"localroute's imports for a review, beyond the libraries' floor ({args.runs} runs)")
    print(f"  {'all of them':<34}{ms(totals)}")
    rest = list(totals)
    for kind in kinds:
        sums = []
        for i, run in enumerate(runs):
            items = run["spent"][kind]
            total = sum(t for t, _ in items)
            sums.append(total)
            rest[i] -= total
        count = len(runs[-1]["spent"][kind])
        print(f"  {kind + f' ({count})':<34}{ms(sums)}")
    print(f"  {'the rest':<34}{ms(rest)}")
    for kind in kinds:
        items = sorted(runs[-1]["spent"][kind], reverse=True)[: args.top]
        print(f"costliest {kind} (last run):")
        for seconds, name in items:
            print(f"  {seconds * 1000:5.2f} ms  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
