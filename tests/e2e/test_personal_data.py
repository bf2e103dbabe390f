"""Personal data is private (the guide: "credentials, personal info, proprietary code →
local only"): through a real server, with the local model down, the cloud gets nothing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, closed_port_url
from tests.fakes.openai_fake import FakeOpenAI

CORPUS = ROOT / "tests" / "data" / "personal_corpus" / "true_positives"


def config(local: str, cloud: str, *, detect: bool | None = None) -> str:
    privacy = "" if detect is None else f"[privacy]\ndetect_personal_data = {str(detect).lower()}\n"
    return (
        f'[backends.local]\nkind = "openai"\nurl = "{local}"\n'
        f'[backends.cloud]\nkind = "openai"\nurl = "{cloud}"\nlocality = "cloud"\n'
        '[tasks.review]\nroute = ["local:coder", "cloud:big"]\n' + privacy
    )


async def assert_kept_local(session: Any, uri: str, reason: str) -> list[str]:
    """``uri`` is private for ``reason`` (the route says so before anything is sent), and
    a review of it is refused saying so. The route's reasons are returned."""
    route = await session.command("localroute.route", {"uri": uri, "task": "review"})
    assert route["private"] is True
    assert any(r.startswith(f"{reason}: ") for r in route["reasons"])
    with pytest.raises(Exception, match=rf"refused.*{re.escape(reason)}"):
        await session.command("localroute.review", {"uri": uri})
    reasons: list[str] = route["reasons"]
    return reasons


async def test_a_customer_export_never_reaches_the_cloud(start_session: Any) -> None:
    text = (CORPUS / "users.json").read_text()
    with FakeOpenAI() as cloud:
        async with start_session(config(closed_port_url(), cloud.url)) as s:
            uri = s.open("fixtures/users.json", text, language="json")
            reasons = await assert_kept_local(s, uri, "personal data")
            # The reason names the kind and the count, never a value.
            assert "@" not in " ".join(reasons)
            assert cloud.chat_requests == []


async def test_the_user_can_turn_detection_off_but_a_workspace_cannot(
    start_session: Any, tmp_path: Path
) -> None:
    text = (CORPUS / "users.json").read_text()
    with FakeOpenAI() as cloud:
        cloud.answer = '{"findings": []}'
        off = config(closed_port_url(), cloud.url, detect=False)
        async with start_session(off) as s:
            uri = s.open("fixtures/users.json", text, language="json")
            result = await s.command("localroute.review", {"uri": uri})
            assert result["backend"] == "cloud"
        assert len(cloud.chat_requests) == 1

        # The user's default (on) cannot be turned off by the repository's own file.
        workspace_file = {".localroute.toml": "[privacy]\ndetect_personal_data = false\n"}
        on = config(closed_port_url(), cloud.url)
        async with start_session(on, workspace_files=workspace_file) as s:
            uri = s.open("fixtures/users.json", text, language="json")
            route = await s.command("localroute.route", {"uri": uri, "task": "review"})
            assert route["private"] is True
        assert len(cloud.chat_requests) == 1


async def test_an_export_too_large_to_judge_whole_never_reaches_the_cloud(
    start_session: Any,
) -> None:
    """A card number 4,000 rows into an export, past where the detector stops judging
    candidates: before, the rows above it cleared the file and the cloud got it."""
    rows = "".join(
        f"{1_000_000_000 + i * 7919},{i % 997}.00,{5_000_000_000 + i * 104_729}\n"
        for i in range(4000)
    )
    text = "order,amount,ref\n" + rows + "customer,card\nJo,4526018159083012\n"
    with FakeOpenAI() as cloud:
        async with start_session(config(closed_port_url(), cloud.url)) as s:
            uri = s.open("exports/orders.csv", text, language="csv")
            await assert_kept_local(s, uri, "personal data not ruled out")
            assert cloud.chat_requests == []
