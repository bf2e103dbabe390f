"""A local model that loads for 20 s (llama-swap starting it on first use, streaming its
loading chunks) is waited for, not skipped: through a real language server and through the
command line. The progress says why it waits, and a cancel during the load closes the
connection at once."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from tests.e2e.conftest import Session
from tests.fakes.openai_fake import FakeOpenAI
from tests.support.cli import env_in, run_localroute

pytestmark = pytest.mark.timeout(90)

LOAD_S = 20.0
SOURCE = "def divide(a, b):\n    return a / b\n"
ANSWER = json.dumps({"findings": [{"line": 2, "severity": "warning", "message": "b may be zero"}]})


def config_for(local_url: str, cloud_url: str) -> str:
    return textwrap.dedent(
        f"""
        [backends.local]
        kind = "openai"
        url = "{local_url}"
        [backends.cloud]
        kind = "openai"
        url = "{cloud_url}"
        locality = "cloud"
        [tasks.review]
        route = ["local:coder", "cloud:big-model"]
        """
    )


def loading_swap() -> FakeOpenAI:
    return FakeOpenAI(answer=ANSWER, load_s=LOAD_S, send_loading_state=True)


def progress_messages(s: Session) -> list[str]:
    return [
        getattr(report, "message", "") or ""
        for reports in s.client.progress_reports.values()
        for report in reports
    ]


async def test_a_model_loading_for_20_s_answers_the_review_with_progress_saying_so(
    start_session: Any,
) -> None:
    with loading_swap() as local, FakeOpenAI(answer=ANSWER) as cloud:
        async with start_session(config_for(local.url, cloud.url)) as s:
            s: Session
            uri = s.open("calc.py", SOURCE)
            result = await s.command("localroute.review", {"uri": uri})
            assert result["backend"] == "local"
            assert result["findings"] == 1
            await s.wait_for(lambda: len(s.diagnostics(uri)) == 1)
            assert s.diagnostics(uri)[0].message == "b may be zero"
            assert "loading coder on local…" in progress_messages(s)
        assert local.loads == 1
        assert len(local.chat_requests) == 1
        assert cloud.chat_requests == []  # waited for, not skipped


async def test_cancel_while_the_model_loads_closes_the_connection_at_once(
    start_session: Any,
) -> None:
    with loading_swap() as local, FakeOpenAI(answer=ANSWER) as cloud:
        async with start_session(config_for(local.url, cloud.url)) as s:
            uri = s.open("calc.py", SOURCE)
            pending, cancel = s.start_command("localroute.review", {"uri": uri})
            await s.wait_for(lambda: "loading coder on local…" in progress_messages(s))
            assert local.model_state() == "starting" and local.disconnects == 0
            cancel()
            with pytest.raises(JsonRpcException) as cancelled:
                await asyncio.wait_for(pending, 5)
            assert cancelled.value.code == -32800
            # Well before the model is loaded, the fake saw the client go.
            await s.wait_for(lambda: local.disconnects == 1, timeout=5)
            assert local.model_state() == "starting"
            assert await s.hover(uri, 0) is None  # still responsive
        assert cloud.chat_requests == []


def test_the_command_line_waits_for_the_load_and_succeeds(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "calc.py").write_text(SOURCE)
    with loading_swap() as local, FakeOpenAI(answer=ANSWER) as cloud:
        done = run_localroute(
            "review",
            "calc.py",
            "--format",
            "json",
            env=env_in(tmp_path, config_for(local.url, cloud.url)),
            cwd=tmp_path,
            timeout=80,
        )
        assert done.returncode == 0, done.stderr
        (result,) = [json.loads(line) for line in done.stdout.splitlines()]
        assert result["backend"] == "local"
        assert [f["message"] for f in result["findings"]] == ["b may be zero"]
        assert local.loads == 1
        assert cloud.chat_requests == []
