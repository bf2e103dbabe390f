"""The cost guard: per-backend request and token budgets over a sliding hour.

Counts live in the server (or CLI) process; the audit log keeps the lasting record.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from localroute.config.models import BackendConfig

WINDOW_S = 3600.0


class Budget:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._spent: dict[str, deque[tuple[float, int]]] = {}

    def record(self, name: str, tokens: int) -> None:
        self._spent.setdefault(name, deque()).append((self._clock(), max(tokens, 0)))

    def exhausted(self, name: str, config: BackendConfig) -> str | None:
        """Why the backend's hourly budget is spent, or None while it is not."""
        if config.max_requests_per_hour is None and config.max_tokens_per_hour is None:
            return None
        spent = self._spent.get(name)
        if not spent:
            return None if config.max_requests_per_hour != 0 else "hourly budget is 0 requests"
        cutoff = self._clock() - WINDOW_S
        while spent and spent[0][0] < cutoff:
            spent.popleft()
        requests = len(spent)
        tokens = sum(t for _, t in spent)
        limit = config.max_requests_per_hour
        if limit is not None and requests >= limit:
            return f"hourly budget spent ({requests} of {limit} requests)"
        token_limit = config.max_tokens_per_hour
        if token_limit is not None and tokens >= token_limit:
            return f"hourly budget spent ({tokens} of {token_limit} tokens)"
        return None
