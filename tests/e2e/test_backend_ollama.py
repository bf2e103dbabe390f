"""The ollama backend end to end: a real server over stdio, Ollama and OpenAI fakes on loopback."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.e2e.conftest import Session, range_json
from tests.fakes.ollama_fake import FakeOllama
from tests.fakes.openai_fake import FakeOpenAI

SOURCE = """\
import os


def divide(a, b):
    total = a / b
    return total
"""


def review_answer(*findings: dict[str, Any]) -> str:
    return json.dumps({"findings": list(findings)})


def config_for(
    homelab_url: str,
    route: list[str],
    other_url: str | None = None,
    *,
    homelab: str = "",
    other: str = "",
    privacy: str = "",
) -> str:
    """``homelab`` is the ollama fake; ``other`` an openai fake (its locality set by ``other``)."""
    text = f"""
        [backends.homelab]
        kind = "ollama"
        url = "{homelab_url}"
        connect_timeout_s = 0.5
        num_ctx = 8192
        {homelab}
        [tasks.review]
        route = {json.dumps(route)}
        [tasks.explain]
        route = {json.dumps(route)}
        """
    if other_url:
        text += f"""
        [backends.other]
        kind = "openai"
        url = "{other_url}"
        {other}
        """
    if privacy:
        text += f"\n[privacy]\n{privacy}\n"
    return textwrap.dedent(text)


async def test_review_and_explain_through_homelab(start_session: Any) -> None:
    with FakeOllama() as homelab:
        homelab.answer = review_answer({"line": 5, "severity": "error", "message": "b may be 0"})
        async with start_session(config_for(homelab.url, ["homelab:coder"])) as s:
            s: Session
            uri = s.open("calc.py", SOURCE)
            result = await s.command("localroute.review", {"uri": uri, "range": range_json(3, 5)})
            assert (result["backend"], result["model"]) == ("homelab", "coder")
            assert result["locality"] == "local"  # 127.0.0.1
            await s.wait_for(lambda: len(s.diagnostics(uri)) == 1)
            diagnostic = s.diagnostics(uri)[0]
            assert diagnostic.message == "b may be 0"
            assert diagnostic.range.start.line == 4
            assert diagnostic.data["backend"] == "homelab"
            (sent,) = homelab.chat_requests
            assert sent.json["stream"] is True
            assert sent.json["options"]["num_ctx"] == 8192
            assert sent.json["format"]["type"] == "object"  # the findings schema
            assert "5 |     total = a / b" in sent.json["messages"][-1]["content"]

            homelab.answer = "Divides **a** by **b**."
            result = await s.command("localroute.explain", {"uri": uri, "range": range_json(3, 5)})
            assert result["backend"] == "homelab"
            hover = await s.hover(uri, 4)
            assert hover is not None and isinstance(hover.contents, types.MarkupContent)
            assert "Divides **a** by **b**." in hover.contents.value
            assert "format" not in homelab.chat_requests[-1].json

            status = await s.command("localroute.status", {})
            (backend,) = [b for b in status["backends"] if b["name"] == "homelab"]
            assert backend["up"] is True
            assert "coder:latest" in backend["models"]


async def test_model_not_pulled_falls_back_with_the_pull_hint(start_session: Any) -> None:
    with FakeOllama(models=["llama3.2"]) as homelab, FakeOpenAI() as other:
        other.answer = review_answer({"line": 5, "severity": "warning", "message": "zero?"})
        config = config_for(homelab.url, ["homelab:coder", "other:coder"], other.url)
        async with start_session(config) as s:
            uri = s.open("calc.py", SOURCE)
            result = await s.command("localroute.review", {"uri": uri})
            assert result["backend"] == "other"
            assert "homelab:coder: model coder is not pulled" in result["reason"]
            assert "run `ollama pull coder`" in result["reason"]
            await s.wait_for(lambda: len(s.diagnostics(uri)) == 1)
            assert s.diagnostics(uri)[0].data["backend"] == "other"
            assert len(homelab.chat_requests) == 1 and len(other.chat_requests) == 1

            # Not pulled is not down: the next request tries the homelab again.
            homelab.models.append("coder")
            again = await s.command("localroute.review", {"uri": uri, "refresh": True})
            assert again["backend"] == "homelab"


@pytest.mark.parametrize("allowed", [False, True])
async def test_private_code_and_a_private_network_homelab(
    start_session: Any, allowed: bool
) -> None:
    with FakeOllama() as homelab, FakeOpenAI() as cloud:
        homelab.answer = review_answer()
        config = config_for(
            homelab.url,
            ["homelab:coder", "other:big-model"],
            cloud.url,
            homelab='locality = "private-network"',
            other='locality = "cloud"',
            privacy=f"allow_private_network = {str(allowed).lower()}",
        )
        async with start_session(config) as s:
            uri = s.open("secrets/notes.py", "x = 1\n")
            if allowed:
                result = await s.command("localroute.review", {"uri": uri})
                assert (result["backend"], result["locality"]) == ("homelab", "private-network")
                assert len(homelab.chat_requests) == 1
            else:
                with pytest.raises(JsonRpcException) as failure:
                    await s.command("localroute.review", {"uri": uri})
                assert failure.value.code == -32803
                assert "**/secrets/**" in failure.value.message
                assert "Nothing was sent" in failure.value.message
                assert homelab.chat_requests == []
                # Code that is not private still goes to the homelab.
                public = s.open("calc.py", SOURCE)
                result = await s.command("localroute.review", {"uri": public})
                assert (result["backend"], result["locality"]) == ("homelab", "private-network")
                assert "secrets" not in homelab.chat_requests[0].json["messages"][-1]["content"]
        assert cloud.chat_requests == []
