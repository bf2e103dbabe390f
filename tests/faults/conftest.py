"""The fault matrix drives the real server with the end-to-end harness's ``start_session``."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import start_session

__all__ = ["pytest_terminal_summary", "start_session"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.faults.test_fault_matrix import report_matrix

    report_matrix(terminalreporter)
