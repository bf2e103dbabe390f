"""Stress tests reuse the end-to-end harness: a real `localroute serve` over stdio."""

from __future__ import annotations

from tests.e2e.conftest import start_session  # noqa: F401
