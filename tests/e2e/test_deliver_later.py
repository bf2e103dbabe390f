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


async def test_consent_is_asked_with_a_message_request_when_results_come_later(
    start_session: Any,
) -> None:
    from lsprotocol import types

    with FakeOpenAI() as cloud:
        cloud.answer = '{"findings": []}'
        config = (
            '[backends.local]\nkind = "openai"\nurl = "http://127.0.0.1:9/v1"\n'
            f'[backends.cloud]\nkind = "openai"\nurl = "{cloud.url}"\nlocality = "cloud"\n'
            '[tasks.review]\nroute = ["local:coder", "cloud:big"]\n'
        )
        answers: list[str] = []
        asked: list[types.ShowMessageRequestParams] = []
        async with start_session(config, settings={"deliverResultsLater": True}) as s:

            @s.client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
            def on_request(params: types.ShowMessageRequestParams) -> types.MessageActionItem:
                asked.append(params)
                return types.MessageActionItem(title=answers.pop(0))

            uri = s.open("secrets/keys.py", "X = 1\n")
            answers.append("Do not send")
            await s.command("localroute.review", {"uri": uri})
            await s.wait_for(lambda: len(asked) == 1, timeout=15)
            await asyncio.sleep(0.5)
            assert cloud.chat_requests == []
            titles = [a.title for a in asked[0].actions or []]
            assert titles == ["Do not send", "Send to cloud anyway (this once)"]
            assert "private" in asked[0].message

            answers.append("Send to cloud anyway (this once)")
            await s.command("localroute.review", {"uri": uri, "refresh": True})
            await s.wait_for(lambda: len(cloud.chat_requests) == 1, timeout=15)
            await s.wait_for(
                lambda: any("0 finding(s)" in m.message for m in s.client.messages), timeout=5
            )
