"""The routing guide's main scenario end to end: local, then the homelab Ollama, then
Copilot — with the first two down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from tests.e2e.conftest import Session, closed_port_url
from tests.fakes.copilot_fake import OAUTH_TOKEN, FakeCopilot

SOURCE = "def divide(a, b):\n    return a / b\n"


@pytest.fixture
def copilot(tmp_path: Path) -> Iterator[FakeCopilot]:
    apps = tmp_path / "home" / ".config" / "github-copilot" / "apps.json"
    apps.parent.mkdir(parents=True)
    apps.write_text(json.dumps({"github.com:Iv1.b507a08c87ecfe98": {"oauth_token": OAUTH_TOKEN}}))
    with FakeCopilot() as fake:
        yield fake


async def test_local_and_homelab_down_ordinary_code_goes_to_copilot_private_is_refused(
    start_session: Any, copilot: FakeCopilot
) -> None:
    copilot.answer = json.dumps({"findings": [{"line": 2, "severity": "info", "message": "ok"}]})
    config = f"""
        [backends.local]
        kind = "openai"
        url = "{closed_port_url()}"
        connect_timeout_s = 0.5
        [backends.homelab]
        kind = "ollama"
        url = "{closed_port_url().removesuffix("/v1")}"
        locality = "private-network"
        connect_timeout_s = 0.5
        [backends.copilot]
        kind = "copilot"
        token_url = "{copilot.token_url}"
        [tasks.review]
        route = ["local:coder", "homelab:qwen3-coder:30b", "copilot:claude-sonnet-4.5"]
        [privacy]
        globs = ["internal/**"]
        """
    async with start_session(config) as s:
        s: Session
        ordinary = s.open("app.py", SOURCE)
        result = await s.command("localroute.review", {"uri": ordinary})
        assert (result["backend"], result["model"]) == ("copilot", "claude-sonnet-4.5")
        assert "local:coder" in result["reason"] and "homelab:qwen3-coder:30b" in result["reason"]
        assert len(copilot.chat_requests) == 1
        before = len(copilot.requests)

        private = s.open("internal/pricing.py", SOURCE)
        titles = await s.action_titles(private, 0, 1)
        assert "Review file — refused: private" in titles
        with pytest.raises(JsonRpcException) as refused:
            await s.command("localroute.review", {"uri": private})
        message = refused.value.message
        assert refused.value.code == -32803
        assert "internal/**" in message and "Nothing was sent" in message
        assert "local:coder" in message and "homelab:qwen3-coder:30b" in message
        assert "copilot:claude-sonnet-4.5: cloud backend may not receive private code" in message
    # Nothing of the private file reached the Copilot fake: no new request of any kind.
    assert len(copilot.requests) == before
    assert all("pricing" not in json.dumps(r.json or {}) for r in copilot.requests)
