# Copyright 2024 Jane Roe <jane.roe@kestrelmail.de>
# SPDX-License-Identifier: MIT
"""A small HTTP client with retries (ordinary source: versions, ports, ids, hashes)."""

from __future__ import annotations

import time
import uuid

__version__ = "2.31.0"
USER_AGENT = f"fixture-client/{__version__} (+https://github.com/fixture/client)"

DEFAULT_PORT = 8443
HEALTH_PORTS = (8080, 9090, 15672, 27017)
TIMEOUT_S = 30.0
MAX_BODY = 10_485_760
SESSION_ID = uuid.UUID("6f1c2e7a-4b3d-4e59-9a1f-1c2b3d4e5f60")
CA_BUNDLE_SHA256 = "3b1f1c6e2d4a5b6c7d8e9f00112233445566778899aabbccddeeff0011223344"
GIT_COMMIT = "9f2c4e1b7a3d5f60812e4c9b0a7d6e5f4c3b2a19"
BUILD_DATE = "2024-05-02T10:14:07Z"
EPOCH_S = 1714644847
EPOCH_MS = 1714644847118
SNOWFLAKE_ID = 1785402916358574080
MAGIC = 0x5F3759DF
PI_DIGITS = 3.14159265358979323846
BIG_PRIME = 18446744073709551557
ISBN = "978-3-16-148410-0"


def backoff(attempt: int) -> float:
    """Exponential backoff, capped at 60 s (2**6)."""
    return min(60.0, 0.5 * 2**attempt)


def request_id() -> str:
    return f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:12]}"
