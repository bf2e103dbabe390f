"""Guards end to end: the cost guard, and no secret in any log, audit line, diagnostic,
error message or progress report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from tests.e2e.conftest import Session
from tests.fakes.openai_fake import FakeOpenAI


async def test_cost_guard_skips_a_spent_cloud_backend(start_session: Any) -> None:
    with FakeOpenAI() as cloud, FakeOpenAI() as local:
        config = f"""
            [backends.cloud]
            kind = "openai"
            url = "{cloud.url}"
            locality = "cloud"
            max_requests_per_hour = 2
            [backends.local]
            kind = "openai"
            url = "{local.url}"
            [tasks.review]
            route = ["cloud:opus", "local:qwen3"]
            """
        async with start_session(config) as s:
            s: Session
            uri = s.open("a.py", "A = 1\n")
            for _ in range(2):
                result = await s.command("localroute.review", {"uri": uri, "refresh": True})
                assert result["backend"] == "cloud"
            assert "Review file — opus @ cloud (cloud)" not in await s.action_titles(uri, 0, 0)
            third = await s.command("localroute.review", {"uri": uri, "refresh": True})
            assert third["backend"] == "local"
            assert "cloud:opus: hourly budget spent (2 of 2 requests)" in third["reason"]
        assert len(cloud.chat_requests) == 2


# Built by concatenation so that this file holds no credential-shaped literal.
PLANTED = {
    "api key": "sk-" + "proj-" + "T4nq8Vx2Lk9Pw3Rz7Yb5Hc1Jm6Df0Gs4Ua8Ke2Xo",
    "github": "gh" + "p_" + "x7Kq2mP9vL4tR8nB3cW6yZ1dF5hJ0sA2eG4u",
    "aws": "AKIA" + "Q3T7WX2LPZK5N8RV",
    "anthropic": "sk-" + "ant-" + "api03-" + "Wq7Rt2Yp9Lk4Mn8Bv3Cx6Zs1Df5Gh0Jk2Lp7Qw",
}


async def test_no_planted_secret_appears_anywhere(start_session: Any, tmp_path: Path) -> None:
    log_file = tmp_path / "server.log"
    with FakeOpenAI() as local, FakeOpenAI() as cloud:
        # The local model quotes the credential back, and its errors echo the key.
        local.answer = json.dumps(
            {
                "findings": [
                    {
                        "line": 1,
                        "severity": "error",
                        "message": f"hard-coded key {PLANTED['aws']}",
                        "suggestion": f"KEY = '{PLANTED['aws']}'",
                    }
                ]
            }
        )
        cloud.error = (
            401,
            json.dumps({"error": {"message": f"bad key {PLANTED['api key']}"}}),
            "application/json",
            {},
        )
        config = f"""
            [backends.local]
            kind = "openai"
            url = "{local.url}"
            [backends.cloud]
            kind = "openai"
            url = "{cloud.url}"
            locality = "cloud"
            api_key_env = "PLANTED_API_KEY"
            [tasks.review]
            route = ["local:coder"]
            [tasks.explain]
            route = ["cloud:gpt"]
            """
        env = {
            "PLANTED_API_KEY": PLANTED["api key"],
            "GITHUB_TOKEN": PLANTED["github"],
            "ANTHROPIC_API_KEY": PLANTED["anthropic"],
        }
        async with start_session(config, env=env, log_file=log_file) as s:
            private = s.open("deploy.py", f"KEY = '{PLANTED['aws']}'\n")
            ordinary = s.open("app.py", "def f():\n    return 1\n")
            await s.command("localroute.review", {"uri": private})
            await s.wait_for(lambda: bool(s.diagnostics(private)))
            with pytest.raises(JsonRpcException) as refused:
                await s.command("localroute.explain", {"uri": private})
            with pytest.raises(JsonRpcException) as failed:
                await s.command("localroute.explain", {"uri": ordinary})
            status = await s.command("localroute.status", {})
            seen = [
                json.dumps([d.message for d in s.diagnostics(private)]),
                json.dumps([d.data for d in s.diagnostics(private)]),
                refused.value.message,
                failed.value.message,
                json.dumps([m.message for m in s.client.messages]),
                json.dumps([m.message for m in s.client.log_messages]),
                repr(s.client.progress_reports),
                json.dumps(status),
            ]
        # The key did go where it belongs: to the cloud fake, in the header.
        assert cloud.chat_requests[0].headers["authorization"] == f"Bearer {PLANTED['api key']}"
    log_text = log_file.read_text()
    # Refusals and failures are answers shown to the user, not faults with tracebacks.
    assert "Traceback" not in log_text
    seen.append(log_text)
    seen.append((tmp_path / "home" / ".state" / "localroute" / "audit.jsonl").read_text())
    everything = "\n".join(seen)
    assert "withheld" in everything  # the quoted key was replaced, not dropped silently
    for name, secret in PLANTED.items():
        assert secret not in everything, f"the planted {name} leaked"
