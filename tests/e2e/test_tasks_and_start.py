"""Custom tasks, context-aware routing and starting a stopped local backend."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from tests.e2e.conftest import ROOT, Session, closed_port_url, range_json
from tests.fakes.openai_fake import FakeOpenAI, closed_port

SOURCE = "def divide(a, b):\n    return a / b\n"


def backends(local_url: str, cloud_url: str, local_extra: str = "", cloud_extra: str = "") -> str:
    return textwrap.dedent(
        f"""
        [backends.local]
        kind = "openai"
        url = "{local_url}"
        connect_timeout_s = 0.5
        {local_extra}
        [backends.cloud]
        kind = "openai"
        url = "{cloud_url}"
        locality = "cloud"
        {cloud_extra}
        """
    )


async def test_custom_tasks_appear_as_actions_and_run_through_the_same_routing(
    start_session: Any,
) -> None:
    with FakeOpenAI() as local:
        config = backends(local.url, closed_port_url()) + textwrap.dedent(
            """
            [tasks.security]
            title = "Security check"
            prompt = "List the security problems of {path}, lines {first_line}-{last_line}."
            output = "diagnostics"
            route = ["local:coder"]
            [tasks.quick]
            title = "Quick question"
            prompt = "In one sentence: what does this do?\\n{code}"
            route = ["local:gemma", "cloud:claude-haiku-4.5"]
            max_tokens = 200
            """
        )
        async with start_session(config) as s:
            s: Session
            uri = s.open("calc.py", SOURCE)
            titles = await s.action_titles(uri, 0, 1)
            assert "Security check (selection) — coder @ local" in titles
            assert "Quick question (selection) — gemma @ local" in titles
            assert "Quick question (file) — gemma @ local" in titles

            local.answer = json.dumps(
                {"findings": [{"line": 2, "severity": "warning", "message": "b unchecked"}]}
            )
            result = await s.command(
                "localroute.review", {"uri": uri, "range": range_json(0, 1), "task": "security"}
            )
            assert result["findings"] == 1
            await s.wait_for(lambda: [d.range.start.line for d in s.diagnostics(uri)] == [1])
            user = local.chat_requests[-1].json["messages"][-1]["content"]
            assert "List the security problems of" in user and "lines 1-2." in user
            assert "2 |     return a / b" in user  # numbered code appended
            assert "findings" in user

            local.answer = "It divides a by b."
            explained = await s.command(
                "localroute.explain", {"uri": uri, "range": range_json(0, 1), "task": "quick"}
            )
            assert explained["model"] == "gemma"
            assert explained["markdown"].startswith("It divides a by b.")
            body = local.chat_requests[-1].json
            assert body["max_tokens"] == 200
            assert "```" in body["messages"][-1]["content"]

            with pytest.raises(JsonRpcException) as wrong:
                await s.command("localroute.review", {"uri": uri, "task": "quick"})
            assert wrong.value.code == -32602 and "localroute.explain" in wrong.value.message


async def test_a_prompt_larger_than_the_local_window_goes_to_the_large_context_entry(
    start_session: Any, tmp_path: Path
) -> None:
    with FakeOpenAI() as local, FakeOpenAI() as cloud:
        config = backends(
            local.url, cloud.url, "context_tokens = 4096", "context_tokens = 200000"
        ) + textwrap.dedent(
            """
            [tasks.review]
            route = ["local:coder", "cloud:gemini-2.5-pro"]
            """
        )
        big = "".join(f"value_{i} = compute({i}, {i * 7}, 'some text {i}')\n" for i in range(600))
        async with start_session(config) as s:
            small_uri = s.open("small.py", SOURCE)
            big_uri = s.open("big.py", big)
            assert (await s.command("localroute.review", {"uri": small_uri}))["backend"] == "local"
            result = await s.command("localroute.review", {"uri": big_uri})
            assert result["backend"] == "cloud"
            assert "local:coder: prompt needs ~" in result["reason"]
            assert "context window is 4096" in result["reason"]
            assert len(local.chat_requests) == 1 and len(cloud.chat_requests) == 1

        # The same decision, with its reason, from the shell, sending nothing: the file's
        # project root (a git repository here) is found from the file.
        (tmp_path / "workspace" / ".git").mkdir()
        (tmp_path / "workspace" / "big.py").write_text(big)
        (tmp_path / "config.toml").write_text(config)
        shown = (
            await asyncio.to_thread(
                subprocess.run,
                [
                    sys.executable,
                    "-m",
                    "localroute",
                    "route",
                    str(tmp_path / "workspace" / "big.py"),
                ],
                env={**os.environ, "LOCALROUTE_CONFIG": str(tmp_path / "config.toml")},
                capture_output=True,
                text=True,
                check=True,
            )
        ).stdout
        assert "review → gemini-2.5-pro @ cloud (cloud)" in shown
        assert "context window is 4096" in shown
        assert len(cloud.chat_requests) == 1


async def test_start_command_brings_the_local_backend_up(
    start_session: Any, tmp_path: Path
) -> None:
    port = closed_port()
    pidfile = tmp_path / "fake.pid"
    script = (
        f"echo $$ > {pidfile}; cd {ROOT}; "
        f"exec {sys.executable} -m tests.fakes.openai_fake --port {port}"
    )
    with FakeOpenAI() as cloud:
        config = (
            backends(
                f"http://127.0.0.1:{port}/v1",
                cloud.url,
                f"start_command = {json.dumps(['sh', '-c', script])}",
            )
            + '\n[tasks.review]\nroute = ["local:coder", "cloud:big"]\n'
        )
        try:
            async with start_session(config) as s:
                uri = s.open("calc.py", SOURCE)
                # The first review finds local down and falls back.
                assert (await s.command("localroute.review", {"uri": uri}))["backend"] == "cloud"
                titles = await s.action_titles(uri, 0, 1)
                assert "Start local models (local)" in titles
                started = await s.command("localroute.startBackend", {"backend": "local"})
                assert started == {"backend": "local", "up": True, "detail": "up"}
                result = await s.command("localroute.review", {"uri": uri, "refresh": True})
                assert result["backend"] == "local"
                assert "Start local models (local)" not in await s.action_titles(uri, 0, 1)
                with pytest.raises(JsonRpcException) as no_command:
                    await s.command("localroute.startBackend", {"backend": "cloud"})
                assert "no start_command" in no_command.value.message
        finally:
            if pidfile.exists():
                os.kill(int(pidfile.read_text()), signal.SIGTERM)


def test_start_command_from_editor_settings_is_ignored(tmp_path: Path) -> None:
    from localroute.config import sources

    settings = {"backends": {"local": {"start_command": ["rm", "-rf", "/"]}}}
    loaded = sources.load(
        editor_settings=settings,
        env={"LOCALROUTE_CONFIG": str(tmp_path / "none.toml"), "XDG_CONFIG_HOME": str(tmp_path)},
    )
    assert loaded.config.backends["local"].start_command is None
    assert any("start_command" in p.key and "user file only" in p.reason for p in loaded.problems)


async def test_stop_command_frees_the_backend_and_the_route_says_so_before_sending(
    start_session: Any, tmp_path: Path
) -> None:
    port = closed_port()
    pidfile = tmp_path / "fake.pid"
    start = (
        f"echo $$ > {pidfile}; cd {ROOT}; "
        f"exec {sys.executable} -m tests.fakes.openai_fake --port {port}"
    )
    # Like `systemctl stop`: returns once the service is gone.
    stop = (
        f"pid=$(cat {pidfile}); kill $pid; while kill -0 $pid 2>/dev/null; do sleep 0.05; done; "
        f"echo stopped > {tmp_path / 'stopped'}"
    )
    with FakeOpenAI() as cloud:
        config = (
            backends(
                f"http://127.0.0.1:{port}/v1",
                cloud.url,
                f"start_command = {json.dumps(['sh', '-c', start])}\n"
                f"stop_command = {json.dumps(['sh', '-c', stop])}",
            )
            + '\n[tasks.review]\nroute = ["local:coder", "cloud:big"]\n'
        )
        try:
            async with start_session(config) as s:
                s: Session
                uri = s.open("calc.py", SOURCE)
                started = await s.command("localroute.startBackend", {"backend": "local"})
                assert started["up"] is True
                status = await s.command("localroute.status", {})
                local = next(b for b in status["backends"] if b["name"] == "local")
                assert local["state"] == "up" and local["stop_command"] is not None
                titles = await s.action_titles(uri, 0, 1)
                assert "Stop local models (local)" in titles
                assert any(t.endswith("— coder @ local") for t in titles)

                stopped = await s.command("localroute.stopBackend", {"backend": "local"})
                assert stopped == {"backend": "local", "up": False, "detail": "stopped"}
                assert (tmp_path / "stopped").exists()
                # Down at once: the next route is known before anything is sent.
                route = await s.command("localroute.route", {"uri": uri, "task": "review"})
                assert route["predicted"]["backend"] == "cloud"
                assert route["candidates"][0]["state"] == "down"
                titles = await s.action_titles(uri, 0, 1)
                assert "Start local models (local)" in titles
                assert "Stop local models (local)" not in titles
                status = await s.command("localroute.status", {})
                local = next(b for b in status["backends"] if b["name"] == "local")
                assert local["state"] == "stopped" and local["up"] is False
                with pytest.raises(JsonRpcException) as no_command:
                    await s.command("localroute.stopBackend", {"backend": "cloud"})
                assert "no stop_command" in no_command.value.message
        finally:
            if pidfile.exists():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pidfile.read_text()), signal.SIGTERM)


def test_localroute_stop_runs_the_stop_command_from_the_shell(tmp_path: Path) -> None:
    marker = tmp_path / "stopped"
    config = (
        '[backends.local]\nkind = "openai"\nurl = "http://127.0.0.1:9/v1"\n'
        f"stop_command = {json.dumps(['sh', '-c', f'touch {marker}'])}\n"
    )
    (tmp_path / "config.toml").write_text(config)
    env = {**os.environ, "LOCALROUTE_CONFIG": str(tmp_path / "config.toml")}
    done = subprocess.run(
        [sys.executable, "-m", "localroute", "stop", "local"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "local stopped" and marker.exists()
    missing = subprocess.run(
        [sys.executable, "-m", "localroute", "stop", "nope"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "no backend named 'nope'" in missing.stderr
