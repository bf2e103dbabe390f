"""What every privacy property shares: run size, the fixed seed, the case counter, TOML.

Every property is a hypothesis test decorated with :func:`planned`, which sets how many
examples it runs (``LOCALROUTE_PROPERTY_SCALE=10`` runs ten times as many) and registers
that number; the ``cases`` fixture (tests/property/conftest.py) counts the examples the
test really checked and fails the test when fewer than :data:`MIN_SHARE` of the planned
ones ran — each test checks its own count, so the tests hold in any order. The counts
are printed in the session's terminal summary.
"""

from __future__ import annotations

import json
import math
import os
import random
import tomllib
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SCALE = float(os.environ.get("LOCALROUTE_PROPERTY_SCALE", "1"))

MIN_SHARE = 0.8
"""A property fails when it checked fewer than this share of its planned cases (a
generator that rejects most of what it makes proves little)."""


def examples(n: int) -> int:
    return max(1, round(n * SCALE))


PROFILE = settings(
    derandomize=True,  # a fixed seed: the same cases on every run and every machine
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        # The `cases` fixture is meant to live for the whole test: it counts examples.
        HealthCheck.function_scoped_fixture,
    ],
)

PLANNED: dict[str, int] = {}
"""Test function name → examples planned for this run."""
CASES: dict[str, int] = {}
"""Test function name → examples checked in this session."""
FIGURES: dict[str, Counter[str]] = {}
"""Test function name → what its cases covered."""

F = TypeVar("F", bound=Callable[..., Any])


def planned(n: int) -> Callable[[F], F]:
    """Run the decorated hypothesis test on ``n`` examples (scaled), and register ``n``."""

    def wrap(test: F) -> F:
        PLANNED[test.__name__] = examples(n)
        return settings(PROFILE, max_examples=examples(n))(test)

    return wrap


def minimum(name: str) -> int:
    return math.ceil(PLANNED[name] * MIN_SHARE)


class Cases:
    """One test's case counter (see the ``cases`` fixture)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self.figures: Counter[str] = FIGURES.setdefault(name, Counter())

    def __call__(self, *figures: str) -> None:
        """Count one checked example, and what it covered."""
        self.count += 1
        for figure in figures:
            self.figures[figure] += 1

    def figure(self, name: str, n: int = 1) -> None:
        self.figures[name] += n


SEEDS = st.integers(0, 2**32 - 1)


def pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


# --- TOML, written by hand so that any value (also a hostile one) can be written --------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(type(value))


def to_toml(data: dict[str, Any]) -> str:
    text = "".join(
        f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}\n" for k, v in data.items()
    )
    assert tomllib.loads(text) == data  # the writer is right, or the test means nothing
    return text
