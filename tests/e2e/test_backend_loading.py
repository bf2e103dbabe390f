"""A local model that loads for 20 s (llama-swap starting it on first use, streaming its
loading chunks) is waited for, not skipped: through a real language server and through the
command line. The progress says why it waits, and a cancel during the load closes the
connection at once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.e2e.conftest import ROOT, Session
from tests.fakes.openai_fake import FakeOpenAI

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
            msg_id = str(uuid.uuid4())
            pending = asyncio.ensure_future(
                s.client.protocol.send_request_async(
                    types.WORKSPACE_EXECUTE_COMMAND,
                    types.ExecuteCommandParams(
                        command="localroute.review", arguments=[{"uri": uri}]
                    ),
                    msg_id=msg_id,
                )
            )
            await s.wait_for(lambda: "loading coder on local…" in progress_messages(s))
            assert local.model_state() == "starting" and local.disconnects == 0
            s.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
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
        (tmp_path / "config.toml").write_text(config_for(local.url, cloud.url))
        env = {
            **os.environ,
            "LOCALROUTE_CONFIG": str(tmp_path / "config.toml"),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "PYTHONPATH": str(ROOT / "server"),
        }
        done = subprocess.run(
            [sys.executable, "-m", "localroute", "review", "calc.py", "--format", "json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=80,
        )
        assert done.returncode == 0, done.stderr
        (result,) = [json.loads(line) for line in done.stdout.splitlines()]
        assert result["backend"] == "local"
        assert [f["message"] for f in result["findings"]] == ["b may be zero"]
        assert local.loads == 1
        assert cloud.chat_requests == []
