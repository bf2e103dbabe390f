"""The ``command`` backend against ``tests/fakes/bin/fake-opencode``, a real child process."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from localroute.backends.base import (
    BackendRequestError,
    BackendUnavailable,
)
from localroute.backends.command import CommandBackend, compose_prompt
from localroute.config.models import backend_config
from tests.support.cleared import chat_request

FAKES_BIN = Path(__file__).resolve().parents[1] / "fakes" / "bin"
STUB = FAKES_BIN / "fake-opencode"
OPENCODE_ARGV = ["fake-opencode", "run", "-m", "github-copilot/{model}", "--format", "json"]
REQUEST = chat_request(model="claude-haiku-4.5", system="You review code.", user="x = 1\n")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the stubs on PATH (with a fast ``python3`` for their shebang); clear FAKE_CLI_*."""
    STUB.chmod(STUB.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    python_dir = tmp_path / "python"
    python_dir.mkdir()
    (python_dir / "python3").symlink_to(sys.executable)
    monkeypatch.setenv(
        "PATH", os.pathsep.join([str(FAKES_BIN), str(python_dir), os.environ["PATH"]])
    )
    for key in list(os.environ):
        if key.startswith("FAKE_CLI_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FAKE_CLI_RECORD", str(tmp_path / "record.jsonl"))
    monkeypatch.setenv("FAKE_CLI_PIDFILE", str(tmp_path / "pids.json"))
    return tmp_path


def make(argv: list[str] | None = None, output: str = "text", **kwargs: Any) -> CommandBackend:
    fields = {
        key: kwargs.pop(key)
        for key in ("env", "cwd", "files", "stop_on_stderr", "probe_argv")
        if key in kwargs
    }
    config = backend_config(
        kind="command",
        argv=argv or ["fake-opencode", "run", "-m", "github-copilot/{model}"],
        output=output,  # type: ignore[arg-type]
        timeout_s=kwargs.pop("timeout_s", 10.0),
        **fields,
    )
    return CommandBackend("cli", config, "cloud", **kwargs)


def removed(path: str) -> bool:
    return not Path(path).exists()


def records(tmp: Path) -> list[dict[str, Any]]:
    path = tmp / "record.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def pids(tmp: Path) -> dict[str, Any]:
    """The stub's pid file, once it has been written."""
    path = tmp / "pids.json"
    for _ in range(500):
        if path.exists():
            data: dict[str, Any] = json.loads(path.read_text())
            return data
        await asyncio.sleep(0.01)
    raise AssertionError("the stub never wrote its pid file")


def running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie left to a non-reaping init counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


async def assert_gone(*process_ids: int) -> None:
    deadline = time.monotonic() + 2
    while any(running(p) for p in process_ids):
        assert time.monotonic() < deadline, (
            f"still running: {[p for p in process_ids if running(p)]}"
        )
        await asyncio.sleep(0.02)


async def test_text_output_streams_and_substitutes_model(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLI_ANSWER", "  The function || adds one. ")
    monkeypatch.setenv("FAKE_CLI_PART_DELAY", "0.1")
    backend = make(["fake-opencode", "run", "-m", "github-copilot/{model}", "--title", "{model}!"])
    pieces: list[str] = []
    result = await backend.chat(REQUEST, pieces.append)
    assert result.text == "The function  adds one."
    assert result.model == "claude-haiku-4.5"
    assert result.structured == "none"
    assert len(pieces) >= 2 and "".join(pieces).strip() == result.text
    (record,) = records(cli)
    assert record["argv"] == [
        "run", "-m", "github-copilot/claude-haiku-4.5", "--title", "claude-haiku-4.5!",
    ]  # fmt: skip
    assert record["stdin"] == "You review code.\n\nx = 1\n"
    assert backend.config.argv == ["fake-opencode", "run", "-m", "github-copilot/{model}",
                                   "--title", "{model}!"]  # fmt: skip


def test_prompt_without_system_message_is_the_user_message() -> None:
    assert compose_prompt(chat_request(model="m", system="", user="hi")) == "hi"
    assert compose_prompt(chat_request(model="m", system="S", user="U")) == "S\n\nU"


async def test_large_prompt_and_answer_do_not_deadlock(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = "y = 2\n" * 200_000  # 1.2 MB, far beyond a pipe buffer
    (cli / "answer.txt").write_text("z" * 300_000)
    monkeypatch.setenv("FAKE_CLI_ANSWER_FILE", str(cli / "answer.txt"))
    result = await make().chat(chat_request(model="m", system="", user=big))
    assert result.text == "z" * 300_000
    assert records(cli)[0]["stdin"] == big


async def test_opencode_json_output(cli: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CLI_ANSWER", "First part.||Second part.")
    monkeypatch.setenv("FAKE_CLI_MODE", "noise")
    pieces: list[str] = []
    result = await make(OPENCODE_ARGV, "opencode-json").chat(REQUEST, pieces.append)
    assert result.text == "First part.\nSecond part."
    assert pieces == ["First part.", "\nSecond part."]
    assert records(cli)[0]["model"] == "github-copilot/claude-haiku-4.5"


@pytest.mark.parametrize(
    ("exit_code", "status", "error", "expected"),
    [
        ("1", None, "Model not found: github-copilot/nope", BackendRequestError),
        ("0", None, "Model not found: github-copilot/nope", BackendRequestError),
        ("1", "429", "Too Many Requests", BackendUnavailable),
        ("1", None, "Cannot connect to API: ECONNRESET", BackendUnavailable),
    ],
)
async def test_error_event(
    cli: Path,
    monkeypatch: pytest.MonkeyPatch,
    exit_code: str,
    status: str | None,
    error: str,
    expected: type[Exception],
) -> None:
    monkeypatch.setenv("FAKE_CLI_MODE", "error-event")
    monkeypatch.setenv("FAKE_CLI_EXIT", exit_code)
    monkeypatch.setenv("FAKE_CLI_ERROR", error)
    if status:
        monkeypatch.setenv("FAKE_CLI_ERROR_STATUS", status)
    with pytest.raises(expected) as failure:
        await make(OPENCODE_ARGV, "opencode-json").chat(REQUEST)
    assert type(failure.value) is expected
    message = failure.value.message  # type: ignore[attr-defined]
    if exit_code == "0":
        assert message == error
    else:
        assert message == f"`fake-opencode` exited with code 1: {error}"


async def test_nonzero_exit_reports_the_end_of_stderr(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    noise = "\n".join(f"debug line {i}" for i in range(50))
    monkeypatch.setenv("FAKE_CLI_STDERR", noise + "\n\x1b[31mError:\x1b[0m bad flag " + "z" * 400)
    monkeypatch.setenv("FAKE_CLI_EXIT", "2")
    with pytest.raises(BackendRequestError) as failure:
        await make().chat(REQUEST)
    assert type(failure.value) is BackendRequestError
    prefix = "`fake-opencode` exited with code 2: "
    message = failure.value.message
    assert message.startswith(prefix)
    tail = message[len(prefix) :]
    assert "\n" not in tail and len(tail) <= 300
    assert tail.endswith("z" * 50) and "\x1b" not in tail
    assert "debug line 0" not in tail


async def test_nonzero_exit_with_network_failure_is_unavailable(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLI_STDERR", "Error: fetch failed (getaddrinfo ENOTFOUND api.x)")
    monkeypatch.setenv("FAKE_CLI_EXIT", "1")
    with pytest.raises(BackendUnavailable, match="getaddrinfo ENOTFOUND"):
        await make().chat(REQUEST)


async def test_network_failure_above_a_stack_trace_is_unavailable(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace = "\n".join(f"    at frame{i} (file:///cli/bundle.js:{i}:1)" for i in range(12))
    monkeypatch.setenv(
        "FAKE_CLI_STDERR", f"Error: TypeError: fetch failed sending request\n{trace}"
    )
    monkeypatch.setenv("FAKE_CLI_EXIT", "1")
    with pytest.raises(BackendUnavailable) as failure:
        await make().chat(REQUEST)
    assert failure.value.message == (
        "`fake-opencode` exited with code 1: Error: TypeError: fetch failed sending request"
    )
    monkeypatch.setenv("FAKE_CLI_STDERR", "Could not connect to local model provider at http://x")
    with pytest.raises(BackendUnavailable, match="Could not connect"):
        await make().chat(REQUEST)


async def test_exit_zero_without_an_answer_is_an_error(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLI_ANSWER", "   ")
    with pytest.raises(BackendRequestError, match="`fake-opencode` printed no answer"):
        await make().chat(REQUEST)


async def test_missing_executable(cli: Path) -> None:
    backend = make(["no-such-cli-for-localroute", "-m", "{model}"])
    probe = await backend.probe()
    assert probe.up is False
    assert probe.detail == "`no-such-cli-for-localroute` not found on PATH"
    with pytest.raises(BackendUnavailable) as failure:
        await backend.chat(REQUEST)
    assert failure.value.message == "`no-such-cli-for-localroute` not found on PATH"
    assert failure.value.nothing_sent is True
    assert records(cli) == []

    found = await make().probe()
    assert found.up is True and found.detail == f"{STUB} (0.0.1-fake)"
    assert records(cli) == []  # the probe ran `--version`, not a request


@pytest.mark.parametrize("modes", ["spawn-child,hang", "spawn-child,hang,ignore-term"])
async def test_timeout_kills_the_process_group(
    cli: Path, monkeypatch: pytest.MonkeyPatch, modes: str
) -> None:
    monkeypatch.setenv("FAKE_CLI_MODE", modes)
    backend = make(timeout_s=1.0, kill_grace_s=0.3)
    began = time.monotonic()
    with pytest.raises(BackendUnavailable) as failure:
        await backend.chat(REQUEST)
    assert failure.value.message == "no answer within 1 s"
    elapsed = time.monotonic() - began
    assert elapsed < 1.0 + 0.3 + 1.0
    if "ignore-term" in modes:
        assert elapsed >= 1.0 + 0.3  # SIGTERM was ignored: SIGKILL after the grace period
    ids = await pids(cli)
    await assert_gone(ids["pid"], ids["grandchild"])


async def test_cancellation_kills_the_group_at_once(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLI_MODE", "spawn-child,hang,ignore-term")
    task = asyncio.create_task(make().chat(REQUEST))
    ids = await pids(cli)
    began = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1.0)
    assert time.monotonic() - began < 1.0
    await assert_gone(ids["pid"], ids["grandchild"])


async def test_leftovers_are_killed_when_the_cli_exits(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The grandchild holds stdout open; the answer must not wait for it.
    monkeypatch.setenv("FAKE_CLI_MODE", "spawn-child")
    began = time.monotonic()
    result = await make(OPENCODE_ARGV, "opencode-json").chat(REQUEST)
    assert result.text == "ok"
    assert time.monotonic() - began < 3
    ids = await pids(cli)
    await assert_gone(ids["pid"], ids["grandchild"])


async def test_output_is_capped(cli: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CLI_MODE", "flood")
    with pytest.raises(BackendRequestError, match="wrote more than 256 KiB"):
        await make(max_output_bytes=256 * 1024).chat(REQUEST)
    await assert_gone((await pids(cli))["pid"])


async def test_aclose_kills_running_commands(cli: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CLI_MODE", "spawn-child,hang")
    backend = make()
    task = asyncio.create_task(backend.chat(REQUEST))
    ids = await pids(cli)
    await backend.aclose()
    with pytest.raises(BackendUnavailable, match="killed by SIGKILL"):
        await asyncio.wait_for(task, 2)
    await assert_gone(ids["pid"], ids["grandchild"])


# -- where and how the CLI runs ----------------------------------------------------------------


async def test_default_cwd_is_a_fresh_empty_run_directory_removed_afterwards(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLI_RECORD_ENV", "PWD,TMPDIR")
    backend = make()
    await backend.chat(REQUEST)
    await backend.chat(REQUEST)
    first, second = records(cli)
    assert first["cwd"] != second["cwd"]
    for run in (first, second):
        assert run["listing"] == []
        assert run["env"] == {"PWD": run["cwd"], "TMPDIR": run["cwd"]}
        assert run["cwd"] != os.getcwd()
        assert Path(run["cwd"]).name.startswith("localroute-run-")
        assert removed(run["cwd"])


async def test_env_expands_server_variables_and_run_dir_once(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLI_RECORD_ENV", "TOKEN,HOME_OF_CLI,LITERAL,TMPDIR")
    monkeypatch.setenv("SERVER_TOKEN", "tok-{run_dir}-${OTHER}")  # a value is never expanded
    env = {
        "TOKEN": "Bearer ${SERVER_TOKEN}",
        "HOME_OF_CLI": "{run_dir}/home",
        "LITERAL": "$HOME {model}",
        "TMPDIR": "/var/tmp",
    }
    await make(env=env).chat(REQUEST)
    (run,) = records(cli)
    assert run["env"] == {
        "TOKEN": "Bearer tok-{run_dir}-${OTHER}",
        "HOME_OF_CLI": f"{run['cwd']}/home",
        "LITERAL": "$HOME {model}",
        "TMPDIR": "/var/tmp",
    }


async def test_unset_variable_is_an_error_naming_it_and_nothing_runs(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOCALROUTE_TEST_UNSET", raising=False)
    monkeypatch.setenv("FAKE_CLI_VERSION_LOG", str(cli / "versions.jsonl"))
    backend = make(env={"API_KEY": "${LOCALROUTE_TEST_UNSET}"})
    with pytest.raises(BackendUnavailable) as failure:
        await backend.chat(REQUEST)
    assert failure.value.message == "environment variable LOCALROUTE_TEST_UNSET is not set"
    assert failure.value.nothing_sent is True
    probe = await backend.probe()
    assert probe.up is False
    assert probe.detail == "environment variable LOCALROUTE_TEST_UNSET is not set"
    assert records(cli) == [] and not (cli / "versions.jsonl").exists()


async def test_files_are_written_into_the_run_directory_and_named_in_argv(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLI_RECORD_ENV", "POLICY")
    policy = '[[rule]]\ntoolName = "*"\ndecision = "deny"\npriority = 999\n'
    files = {"deny-all.toml": policy, ".cli/settings.json": '{"tools": []}'}
    argv = ["fake-opencode", "run", "--policy", "{file:deny-all.toml}", "-m", "{model}"]
    backend = make(argv, files=files, env={"POLICY": "{file:.cli/settings.json}"})
    await backend.chat(REQUEST)
    (run,) = records(cli)
    assert run["listing"] == [".cli", "deny-all.toml"]
    assert run["argv"][2] == f"{run['cwd']}/deny-all.toml"
    assert run["env"]["POLICY"] == f"{run['cwd']}/.cli/settings.json"
    assert removed(run["cwd"])


async def test_a_file_that_cannot_be_written_refuses_the_run(cli: Path) -> None:
    # "a" is written as a file first, so "a/b" cannot be: the CLI must not run without it.
    backend = make(files={"a": "x", "a/b": "policy"})
    with pytest.raises(BackendUnavailable, match="cannot write a/b in the run directory"):
        await backend.chat(REQUEST)
    assert records(cli) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"argv": ["x", "{file:deny.toml}"], "files": {"deny-all.toml": ""}}, "names no file"),
        ({"env": {"P": "{file:nope}"}}, "names no file"),
        ({"files": {"../escape": ""}}, "relative path inside the run directory"),
        ({"files": {"/etc/x": ""}}, "relative path inside the run directory"),
        ({"files": {"a/./b": ""}}, "relative path inside the run directory"),
        ({"env": {"BAD NAME": "x"}}, "not a valid environment variable name"),
        ({"stop_on_stderr": "("}, "not a regular expression"),
    ],
)
def test_command_configuration_errors(fields: dict[str, Any], message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        backend_config(**{"kind": "command", "argv": ["x"], **fields})


async def test_explicit_cwd_is_used_with_pwd(cli: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CLI_RECORD_ENV", "PWD")
    where = cli / "somewhere"
    where.mkdir()
    await make(cwd=str(where)).chat(REQUEST)
    (run,) = records(cli)
    assert run["cwd"] == str(where) and run["env"]["PWD"] == str(where)
    with pytest.raises(BackendUnavailable, match="is not a directory"):
        await make(cwd=str(cli / "missing")).chat(REQUEST)


# -- the probe -----------------------------------------------------------------------------------


async def test_probe_runs_the_executable_once_and_keeps_version_and_path(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = cli / "versions.jsonl"
    monkeypatch.setenv("FAKE_CLI_VERSION_LOG", str(log))
    monkeypatch.setenv("FAKE_CLI_VERSION", "fake-opencode 1.2.3\nsecond line")
    backend = make()
    assert backend.executable is None and backend.version is None
    for _ in range(3):
        probe = await backend.probe()
        assert probe.up is True
    assert probe.detail == f"{STUB} (fake-opencode 1.2.3)"
    assert backend.executable == str(STUB) and backend.version == "fake-opencode 1.2.3"
    (run,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert run["cwd"] == run["pwd"] and removed(run["cwd"])


async def test_installed_but_broken_cli_is_down_with_its_error(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLI_VERSION_EXIT", "1")
    backend = make()
    probe = await backend.probe()
    assert probe.up is False
    assert probe.detail == (
        "`fake-opencode --version` exited with code 1: "
        "fake-opencode: cannot load its runtime (broken install)"
    )
    assert backend.executable == str(STUB) and backend.version is None


async def test_probe_runs_again_when_the_executable_changes(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = cli / "versions.jsonl"
    monkeypatch.setenv("FAKE_CLI_VERSION_LOG", str(log))
    wrapper = cli / "bin" / "mycli"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec "{STUB}" "$@"\n')
    wrapper.chmod(0o755)
    backend = make([str(wrapper), "run"])
    await backend.probe()
    await backend.probe()
    wrapper.write_text(f'#!/bin/sh\n# reinstalled\nexec "{STUB}" "$@"\n')
    await backend.probe()
    assert len(log.read_text().splitlines()) == 2


async def test_custom_probe_argv_and_a_probe_that_hangs(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from localroute.backends import command_setup

    monkeypatch.setattr(command_setup, "PROBE_TIMEOUT_S", 0.5)
    backend = make(probe_argv=["sleep", "30"])
    probe = await backend.probe()
    assert probe.up is False and probe.detail == "`sleep 30` gave no answer within 0.5 s"
    ok = await make(probe_argv=["echo", "v9 {run_dir}"]).probe()
    assert ok.up is True and ok.detail.startswith("/") and "(v9 /" in ok.detail


# -- stopping a CLI that retries a dead service -------------------------------------------------


async def test_stop_on_stderr_stops_the_cli_at_once(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLI_MODE", "spawn-child,hang")
    monkeypatch.setenv("FAKE_CLI_STDERR", 'level=INFO x\nlevel=ERROR message="stream error" 503')
    backend = make(stop_on_stderr=r'message="stream error"', timeout_s=30)
    began = time.monotonic()
    with pytest.raises(BackendUnavailable) as failure:
        await backend.chat(REQUEST)
    assert failure.value.message == (
        '`fake-opencode` reported: level=ERROR message="stream error" 503'
    )
    assert time.monotonic() - began < 10  # not the 30 s budget
    ids = await pids(cli)
    await assert_gone(ids["pid"], ids["grandchild"])


# -- the ready entries ---------------------------------------------------------------------------

READY = Path(__file__).resolve().parents[2] / "docs" / "ready"


@pytest.mark.parametrize("name", ["opencode.toml", "gemini.toml", "copilot-cli.toml"])
def test_ready_entries_are_valid_and_in_the_docs_verbatim(name: str) -> None:
    import tomllib

    from localroute.config.models import Config

    text = (READY / name).read_text()
    config = Config(**tomllib.loads(text))
    (backend,) = config.backends.values()
    assert backend.kind == "command"
    docs = (READY.parent / "backends.md").read_text()
    assert f"```toml\n{text}```" in docs, f"docs/backends.md lacks docs/ready/{name} verbatim"
