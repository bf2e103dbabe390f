"""Fixtures the unit tests share: an environment of their own, backends closed after the test,
and the Copilot token a Copilot backend finds on disk."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest

from tests.fakes.copilot_fake import CLIENT_ID, OAUTH_TOKEN


class Closable(Protocol):
    async def aclose(self) -> None: ...


C = TypeVar("C", bound=Closable)
Closing = Callable[[C], C]
"""The type of :func:`closing`."""


@pytest.fixture
def isolated_env(tmp_path: Path) -> dict[str, str]:
    """An environment with every place the server reads or writes under ``tmp_path``:
    ``LOCALROUTE_CONFIG`` (``user.toml``, not written), ``XDG_CONFIG_HOME`` (``xdg``),
    ``XDG_STATE_HOME``, ``XDG_CACHE_HOME`` and ``HOME``."""
    return {
        "LOCALROUTE_CONFIG": str(tmp_path / "user.toml"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HOME": str(tmp_path / "home"),
    }


@pytest.fixture
def isolated_environ(isolated_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """:func:`isolated_env` set in this process's environment; the user file's path."""
    for name, value in isolated_env.items():
        monkeypatch.setenv(name, value)
    return Path(isolated_env["LOCALROUTE_CONFIG"])


@pytest.fixture
def copilot_env(isolated_env: dict[str, str]) -> dict[str, str]:
    """:func:`isolated_env` whose Copilot ``apps.json`` holds the fake's OAuth token."""
    app = {"user": "octocat", "oauth_token": OAUTH_TOKEN, "githubAppId": CLIENT_ID}
    apps = Path(isolated_env["XDG_CONFIG_HOME"]) / "github-copilot" / "apps.json"
    apps.parent.mkdir(parents=True, exist_ok=True)
    apps.write_text(json.dumps({f"github.com:{CLIENT_ID}": app}))
    return isolated_env


@pytest.fixture
async def closing() -> AsyncIterator[Closing[Any]]:
    """Hands back what it is given and closes it (``aclose``) after the test::

    backend = closing(OpenAIBackend("local", config, "local"))
    """
    made: list[Any] = []

    def keep(closable: C) -> C:
        made.append(closable)
        return closable

    yield keep
    for closable in made:
        await closable.aclose()
