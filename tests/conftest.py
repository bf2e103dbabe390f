"""Every test gets its own answer cache on disk: no answer crosses from one test to the
next, and nothing is written to the cache of the user running the tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _own_answer_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
