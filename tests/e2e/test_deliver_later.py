"""Clients that wait for `workspace/executeCommand` with a short timeout (Eglot: 10 s) get
an answer at once; the results follow as diagnostics, hover and a message."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.e2e.conftest import Session
from tests.fakes.openai_fake import FakeOpenAI

SOURCE = "def divide(a, b):\n    return a / b\n"

CONFIG = """
[backends.local]
kind = "openai"
url = "{url}"
[tasks.review]
route = ["local:coder"]
[tasks.explain]
route = ["local:coder"]
"""


async def test_review_answers_at_once_and_delivers_findings_later(start_session: Any) -> None:
    with FakeOpenAI() as local:
        local.latency_s = 1.5
        local.answer = json.dumps(
            {"findings": [{"line": 2, "severity": "error", "message": "b may be zero"}]}
        )
        settings = {"deliverResultsLater": True}
        async with start_session(CONFIG.format(url=local.url), settings=settings) as s:
            s: Session
            uri = s.open("calc.py", SOURCE)
            began = asyncio.get_running_loop().time()
            result = await s.command("localroute.review", {"uri": uri})
            assert asyncio.get_running_loop().time() - began < 1.0
            assert result == {
                "accepted": True,
                "uri": uri,
                "task": "review",
                "delivery": "diagnostics",
            }
            await s.wait_for(lambda: len(s.diagnostics(uri)) == 1, timeout=15)
            assert s.diagnostics(uri)[0].message == "b may be zero"
            await s.wait_for(
                lambda: any("1 finding(s)" in m.message for m in s.client.messages), timeout=5
            )

            local.answer = "It divides *a* by *b*."
            result = await s.command("localroute.explain", {"uri": uri})
            assert result["accepted"] is True and result["delivery"] == "hover"
            await s.wait_for(
                lambda: any("It divides" in m.message for m in s.client.messages), timeout=15
            )
            hover = await s.hover(uri, 0)
            assert hover is not None and "It divides" in hover.contents.value  # type: ignore[union-attr]


async def test_a_refusal_delivered_later_is_shown(start_session: Any) -> None:
    settings = {"deliverResultsLater": True}
    config = CONFIG.format(url="http://127.0.0.1:9/v1")
    async with start_session(config, settings=settings) as s:
        uri = s.open("secrets/keys.py", "X = 1\n")
        result = await s.command("localroute.review", {"uri": uri})
        assert result["accepted"] is True
        await s.wait_for(
            lambda: any("refused" in m.message or "no " in m.message for m in s.client.messages),
            timeout=15,
        )
