"""The fault matrix drives the real server with the end-to-end harness's ``start_session``."""

from __future__ import annotations

from tests.e2e.conftest import start_session

__all__ = ["start_session"]
