"""The cost guard's sliding hour."""

from __future__ import annotations

from localroute.config.models import backend_config
from localroute.routing.budget import Budget


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_requests_and_tokens_per_hour() -> None:
    clock = Clock()
    budget = Budget(clock)
    by_requests = backend_config(kind="anthropic", max_requests_per_hour=2)
    by_tokens = backend_config(kind="anthropic", max_tokens_per_hour=1000)
    unlimited = backend_config(kind="anthropic")
    for name in ("r", "t", "u"):
        budget.record(name, 600)
    assert budget.exhausted("r", by_requests) is None
    assert budget.exhausted("t", by_tokens) is None
    budget.record("r", 1)
    budget.record("t", 600)
    assert budget.exhausted("r", by_requests) == "hourly budget spent (2 of 2 requests)"
    assert budget.exhausted("t", by_tokens) == "hourly budget spent (1200 of 1000 tokens)"
    budget.record("u", 10**9)
    assert budget.exhausted("u", unlimited) is None
    # An hour later the window has rolled on.
    clock.now += 3601
    assert budget.exhausted("r", by_requests) is None
    assert budget.exhausted("t", by_tokens) is None


def test_a_zero_budget_forbids_the_backend() -> None:
    assert Budget().exhausted("x", backend_config(kind="copilot", max_requests_per_hour=0))
