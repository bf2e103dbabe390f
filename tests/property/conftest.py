"""Fixtures of the privacy properties: the case counter, the real tree, one event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.property.common import CASES, FIGURES, MIN_SHARE, PLANNED, SCALE, Cases, minimum
from tests.property.tree import Tree, make_tree


@pytest.fixture
def cases(request: pytest.FixtureRequest) -> Iterator[Cases]:
    """Counts the examples a property checked; fails it when too few of the planned ran."""
    name = request.node.originalname
    if name not in PLANNED:
        raise AssertionError(f"{name} uses `cases` but is not decorated with @planned(n)")
    counter = Cases(name)
    yield counter
    CASES[name] = CASES.get(name, 0) + counter.count
    if getattr(request.node, "rep_call_failed", False):
        return
    if counter.count < minimum(name):
        pytest.fail(
            f"{name} checked {counter.count} cases, fewer than {MIN_SHARE:.0%} of the "
            f"{PLANNED[name]} planned: its generator rejects too much"
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if call.when == "call":
        # A failed property need not also fail for its case count.
        item.rep_call_failed = report.failed  # type: ignore[attr-defined]
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CASES:
        return
    write = terminalreporter.write_line
    width = max(len(name) for name in CASES) + 2
    write("")
    write(f"privacy properties: cases checked (scale {SCALE:g})")
    for name in sorted(CASES):
        write(f"  {name:<{width}} {CASES[name]:>6} of {PLANNED.get(name, 0):>6} planned")
    write(f"  {'total':<{width}} {sum(CASES.values()):>6}")
    for name in sorted(FIGURES):
        if FIGURES[name]:
            write(f"  {name}:")
            for figure, count in sorted(FIGURES[name].items()):
                write(f"      {figure:<{width + 4}} {count:>6}")


@pytest.fixture(scope="session")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    """The hand-labelled workspace tree, made once."""
    return make_tree(tmp_path_factory.mktemp("privacy-tree"))


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as loop:
        yield loop
