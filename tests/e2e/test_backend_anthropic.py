"""The Anthropic backend end to end: a real `localroute serve` over stdio, loopback fakes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.e2e.conftest import Session, closed_port_url, range_json
from tests.fakes.anthropic_fake import ERROR_SHAPES, FAKE_KEY, FakeAnthropic
from tests.fakes.openai_fake import FakeOpenAI

pytestmark = pytest.mark.timeout(60)

ENV = {"ANTHROPIC_API_KEY": FAKE_KEY}
MODEL = "claude-haiku-4-5"

SOURCE = """\
import os


def divide(a, b):
    total = a / b
    return total
"""


def config_for(claude_url: str, cloud_url: str, local_url: str | None = None) -> str:
    """Review: [local,] claude, cloud; explain: [local,] claude."""
    local = ["local:coder"] if local_url else []
    review = json.dumps([*local, f"claude:{MODEL}", "cloud:big-model"])
    explain = json.dumps([*local, f"claude:{MODEL}"])
    text = f"""
        [backends.claude]
        kind = "anthropic"
        url = "{claude_url}"

        [backends.cloud]
        kind = "openai"
        url = "{cloud_url}"
        locality = "cloud"

        [tasks.review]
        route = {review}
        [tasks.explain]
        route = {explain}
        """
    if local_url:
        text += f"""
        [backends.local]
        kind = "openai"
        url = "{local_url}"
        connect_timeout_s = 0.5
        """
    return "\n".join(line.strip() for line in text.splitlines())


async def test_review_and_explain_through_claude(start_session: Any) -> None:
    with FakeAnthropic() as claude, FakeOpenAI() as cloud:
        claude.answer = json.dumps(
            {"findings": [{"line": 5, "severity": "warning", "message": "b may be zero"}]}
        )
        async with start_session(config_for(claude.url, cloud.url), env=ENV) as s:
            s: Session
            uri = s.open("calc.py", SOURCE)
            result = await s.command("localroute.review", {"uri": uri, "range": range_json(3, 5)})
            assert result["backend"] == "claude"
            assert result["model"] == MODEL
            assert result["locality"] == "cloud"
            await s.wait_for(lambda: len(s.diagnostics(uri)) == 1)
            diagnostic = s.diagnostics(uri)[0]
            assert diagnostic.data["backend"] == "claude"
            assert diagnostic.message == "b may be zero"
            assert diagnostic.range.start.line == 4

            (sent,) = claude.message_requests
            assert sent.headers["x-api-key"] == FAKE_KEY
            assert sent.headers["anthropic-version"] == "2023-06-01"
            assert sent.json["model"] == MODEL and sent.json["stream"] is True
            assert sent.json["max_tokens"] > 0 and sent.json["system"]
            assert "total = a / b" in sent.json["messages"][0]["content"]
            assert cloud.chat_requests == []

            claude.answer = "Divides **a** by **b** and returns the quotient."
            explained = await s.command(
                "localroute.explain", {"uri": uri, "range": range_json(3, 5)}
            )
            assert explained["backend"] == "claude"
            hover = await s.hover(uri, 4)
            assert hover is not None and isinstance(hover.contents, types.MarkupContent)
            assert "Divides **a** by **b**" in hover.contents.value
            assert "claude" in hover.contents.value.rstrip().splitlines()[-1]


async def test_overloaded_falls_back_to_the_next_candidate(start_session: Any) -> None:
    with FakeAnthropic() as claude, FakeOpenAI() as cloud:
        claude.error = ERROR_SHAPES["overloaded"]
        cloud.answer = json.dumps(
            {"findings": [{"line": 5, "severity": "info", "message": "from the fallback"}]}
        )
        async with start_session(config_for(claude.url, cloud.url), env=ENV) as s:
            uri = s.open("calc.py", SOURCE)
            result = await s.command("localroute.review", {"uri": uri})
            assert result["backend"] == "cloud"
            assert f"claude:{MODEL}" in result["reason"]
            assert "overloaded" in result["reason"]
            assert FAKE_KEY not in result["reason"]
            await s.wait_for(lambda: len(s.diagnostics(uri)) == 1)
            assert s.diagnostics(uri)[0].data["backend"] == "cloud"
            assert len(claude.message_requests) == 1
            assert len(cloud.chat_requests) == 1


async def test_private_file_is_refused_and_claude_receives_nothing(start_session: Any) -> None:
    with FakeAnthropic() as claude, FakeOpenAI() as cloud:
        config = config_for(claude.url, cloud.url, local_url=closed_port_url())
        async with start_session(config, env=ENV) as s:
            uri = s.open("secrets/notes.py", "x = 1\n")
            with pytest.raises(JsonRpcException) as failure:
                await s.command("localroute.review", {"uri": uri})
            assert failure.value.code == -32803
            assert "**/secrets/**" in failure.value.message
            with pytest.raises(JsonRpcException) as failure:
                await s.command("localroute.explain", {"uri": uri})
            assert failure.value.code == -32803
        assert claude.requests == []
        assert cloud.chat_requests == []
