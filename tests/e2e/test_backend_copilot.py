"""The Copilot backend through the real language server, against the loopback GitHub fake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.e2e.conftest import Session, closed_port_url, range_json
from tests.fakes.copilot_fake import OAUTH_TOKEN, FakeCopilot

SOURCE = """\
def divide(a, b):
    total = a / b
    return total
"""


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeCopilot]:
    """The fake, and apps.json where the server's XDG_CONFIG_HOME (conftest) points."""
    apps = tmp_path / "home" / ".config" / "github-copilot" / "apps.json"
    apps.parent.mkdir(parents=True)
    entry = {"user": "octocat", "oauth_token": OAUTH_TOKEN, "githubAppId": "Iv1.b507a08c87ecfe98"}
    apps.write_text(json.dumps({"github.com:Iv1.b507a08c87ecfe98": entry}))
    with FakeCopilot() as server:
        yield server


def config_for(fake: FakeCopilot) -> str:
    return f"""
        [backends.local]
        kind = "openai"
        url = "{closed_port_url()}"
        connect_timeout_s = 0.5

        [backends.copilot]
        kind = "copilot"
        token_url = "{fake.token_url}"
        connect_timeout_s = 1.0

        [tasks.review]
        route = ["local:coder", "copilot:claude-haiku-4.5"]

        [tasks.explain]
        route = ["local:coder", "copilot:claude-haiku-4.5"]
        """


async def test_review_falls_back_to_copilot(start_session: Any, fake: FakeCopilot) -> None:
    fake.answer = json.dumps(
        {"findings": [{"line": 2, "severity": "warning", "message": "b may be zero"}]}
    )
    async with start_session(config_for(fake)) as s:
        s: Session
        uri = s.open("calc.py", SOURCE)
        result = await s.command("localroute.review", {"uri": uri, "range": range_json(0, 2)})
        assert result["backend"] == "copilot"
        assert result["model"] == "claude-haiku-4.5"
        assert result["locality"] == "cloud"
        assert "local:coder" in result["reason"]
        await s.wait_for(lambda: len(s.diagnostics(uri)) == 1)
        diagnostic = s.diagnostics(uri)[0]
        assert diagnostic.data["backend"] == "copilot"
        assert diagnostic.message == "b may be zero"
        assert diagnostic.range.start.line == 1

    assert fake.header_problems == []
    assert fake.exchanges == 1
    [chat] = fake.chat_requests
    assert chat.headers["authorization"] == f"Bearer {fake.issued_tokens[0]}"
    assert chat.json["model"] == "claude-haiku-4.5"
    assert "total = a / b" in chat.json["messages"][-1]["content"]
    assert "response_format" not in chat.json  # this model does not do structured outputs


async def test_explain_hover_and_status(start_session: Any, fake: FakeCopilot) -> None:
    fake.answer = "Divides **a** by **b**."
    async with start_session(config_for(fake)) as s:
        uri = s.open("calc.py", SOURCE)
        result = await s.command("localroute.explain", {"uri": uri, "range": range_json(0, 2)})
        assert result["backend"] == "copilot"
        hover = await s.hover(uri, 1)
        assert hover is not None and isinstance(hover.contents, types.MarkupContent)
        assert "Divides **a** by **b**." in hover.contents.value
        assert "copilot" in hover.contents.value.rstrip().splitlines()[-1]

        status = await s.command("localroute.status", {})
        copilot = next(b for b in status["backends"] if b["name"] == "copilot")
        assert copilot["up"] is True and copilot["locality"] == "cloud"
        assert "claude-haiku-4.5" in copilot["models"]
        assert "text-embedding-3-small" not in copilot["models"]
    assert fake.header_problems == []
    assert fake.exchanges == 1  # the probe reused the session token


async def test_private_file_is_refused_and_copilot_hears_nothing(
    start_session: Any, fake: FakeCopilot
) -> None:
    async with start_session(config_for(fake)) as s:
        uri = s.open("secrets/keys.py", "API = 'x'\n")
        with pytest.raises(JsonRpcException) as failure:
            await s.command("localroute.review", {"uri": uri})
        assert failure.value.code == -32803
        assert "Nothing was sent" in failure.value.message
        with pytest.raises(JsonRpcException) as failure:
            await s.command("localroute.explain", {"uri": uri})
        assert failure.value.code == -32803
    assert fake.requests == []
    assert fake.exchanges == 0 and fake.chat_requests == []
