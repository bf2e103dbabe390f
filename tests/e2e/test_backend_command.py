"""The ``command`` backend end to end: a real server running ``tests/fakes/bin/fake-opencode``."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.e2e.conftest import Session, range_json

FAKES_BIN = Path(__file__).resolve().parents[1] / "fakes" / "bin"
STUB = FAKES_BIN / "fake-opencode"

SOURCE = """\
def divide(a, b):
    total = a / b
    return total
"""

REVIEW = json.dumps({"findings": [{"line": 2, "severity": "warning", "message": "b may be zero"}]})


def config(locality: str | None = None) -> str:
    line = f'locality = "{locality}"' if locality else ""
    return f"""
        [backends.gemini]
        kind = "command"
        argv = ["fake-opencode", "run", "-m", "github-copilot/{{model}}", "--format", "json"]
        output = "opencode-json"
        timeout_s = 20
        {line}

        [tasks.review]
        route = ["gemini:claude-haiku-4.5"]
        [tasks.explain]
        route = ["gemini:claude-haiku-4.5"]
        """


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Server environment: the stubs first on PATH, answers and records under tmp_path."""
    STUB.chmod(STUB.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    python_dir = tmp_path / "python"  # a fast `python3` for the stub's shebang
    python_dir.mkdir()
    (python_dir / "python3").symlink_to(sys.executable)
    (tmp_path / "answer.txt").write_text(REVIEW)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_CLI_")}
    return {
        **env,
        "PATH": os.pathsep.join([str(FAKES_BIN), str(python_dir), os.environ["PATH"]]),
        "FAKE_CLI_ANSWER_FILE": str(tmp_path / "answer.txt"),
        "FAKE_CLI_RECORD": str(tmp_path / "record.jsonl"),
        "FAKE_CLI_RECORD_ENV": "PWD",
    }


def removed(path: str) -> bool:
    return not Path(path).exists()


def set_answer(env: dict[str, str], text: str) -> None:
    Path(env["FAKE_CLI_ANSWER_FILE"]).write_text(text)


def records(env: dict[str, str]) -> list[dict[str, Any]]:
    path = Path(env["FAKE_CLI_RECORD"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_review_and_explain_through_opencode_json(
    start_session: Any, cli_env: dict[str, str]
) -> None:
    async with start_session(config(), env=cli_env) as s:
        s: Session
        uri = s.open("calc.py", SOURCE)
        result = await s.command("localroute.review", {"uri": uri, "range": range_json(0, 2)})
        assert result["backend"] == "gemini"
        assert result["model"] == "claude-haiku-4.5"
        assert result["locality"] == "cloud"
        assert result["findings"] == 1
        await s.wait_for(lambda: len(s.diagnostics(uri)) == 1)
        diagnostic = s.diagnostics(uri)[0]
        assert diagnostic.range.start.line == 1
        assert diagnostic.message == "b may be zero"
        assert diagnostic.data["backend"] == "gemini"

        (review_run,) = records(cli_env)
        assert review_run["argv"] == [
            "run", "-m", "github-copilot/claude-haiku-4.5", "--format", "json",
        ]  # fmt: skip
        assert "2 |     total = a / b" in review_run["stdin"]
        assert "\n\n" in review_run["stdin"]  # system message, blank line, user message

        set_answer(cli_env, "Divides **a** by **b**.")
        explained = await s.command("localroute.explain", {"uri": uri, "range": range_json(0, 2)})
        assert explained["backend"] == "gemini"
        assert explained["markdown"].startswith("Divides **a** by **b**.")
        hover = await s.hover(uri, 1)
        assert hover is not None and isinstance(hover.contents, types.MarkupContent)
        assert "Divides **a** by **b**." in hover.contents.value
        assert len(records(cli_env)) == 2

        status = await s.command("localroute.status", {})
        gemini = next(b for b in status["backends"] if b["name"] == "gemini")
        assert gemini["up"] is True
        assert gemini["executable"] == str(STUB) and gemini["version"] == "0.0.1-fake"

    # each run had an empty run directory of its own, never the workspace, with PWD to match
    runs = records(cli_env)
    assert len({r["cwd"] for r in runs}) == 2
    for run in runs:
        assert run["listing"] == [] and run["env"] == {"PWD": run["cwd"]}
        assert not run["cwd"].startswith(str(s.workspace)) and removed(run["cwd"])


async def test_command_backend_is_cloud_so_private_code_never_runs_it(
    start_session: Any, cli_env: dict[str, str]
) -> None:
    async with start_session(config(), env=cli_env) as s:
        uri = s.open("secrets/notes.py", SOURCE)
        with pytest.raises(JsonRpcException) as failure:
            await s.command("localroute.review", {"uri": uri})
        assert failure.value.code == -32803
        assert "**/secrets/**" in failure.value.message
        with pytest.raises(JsonRpcException):
            await s.command("localroute.explain", {"uri": uri})
    assert records(cli_env) == []


async def test_user_file_may_mark_the_command_local(
    start_session: Any, cli_env: dict[str, str]
) -> None:
    async with start_session(config(locality="local"), env=cli_env) as s:
        uri = s.open("secrets/notes.py", SOURCE)
        result = await s.command("localroute.review", {"uri": uri})
        assert result["backend"] == "gemini"
        assert result["locality"] == "local"
        await s.wait_for(lambda: len(s.diagnostics(uri)) == 1)
        assert s.diagnostics(uri)[0].data["backend"] == "gemini"
    (run,) = records(cli_env)
    assert "total = a / b" in run["stdin"]


ERROR = "fake-opencode: cannot load its runtime (broken install)"


async def test_installed_but_broken_cli_is_down_with_its_error(
    start_session: Any, cli_env: dict[str, str]
) -> None:
    cli_env["FAKE_CLI_VERSION_EXIT"] = "1"
    async with start_session(config(), env=cli_env) as s:
        status = await s.command("localroute.status", {})
        gemini = next(b for b in status["backends"] if b["name"] == "gemini")
        assert gemini["up"] is False
        assert gemini["detail"] == f"`fake-opencode --version` exited with code 1: {ERROR}"
        assert gemini["executable"] == str(STUB) and gemini["version"] is None


def test_status_in_the_shell_shows_the_cli_and_its_error(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "shell-config.toml"
    path.write_text(textwrap.dedent(config()))
    env = {**cli_env, "LOCALROUTE_CONFIG": str(path), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "server")
    shell = [sys.executable, "-m", "localroute", "status"]

    def status(*args: str, broken: bool) -> str:
        env["FAKE_CLI_VERSION_EXIT"] = "1" if broken else "0"
        done = subprocess.run([*shell, *args], env=env, capture_output=True, text=True, timeout=60)
        return done.stdout

    text = status(broken=True)
    line = next(line for line in text.splitlines() if line.startswith("gemini"))
    assert " down " in line and str(STUB) in line
    assert ERROR in text
    (entry,) = [b for b in json.loads(status("--format", "json", broken=True))["backends"]
                if b["name"] == "gemini"]  # fmt: skip
    assert entry["up"] is False and ERROR in entry["detail"] and entry["version"] is None

    text = status(broken=False)
    line = next(line for line in text.splitlines() if line.startswith("gemini"))
    assert " up " in line and str(STUB) in line
    assert "version: 0.0.1-fake" in text
    (entry,) = [b for b in json.loads(status("--format", "json", broken=False))["backends"]
                if b["name"] == "gemini"]  # fmt: skip
    assert entry["executable"] == str(STUB) and entry["version"] == "0.0.1-fake"
