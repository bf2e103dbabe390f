"""Answers cached on disk across runs of the real CLI and a real server: a second run
sends nothing and says so, concurrent writers leave a readable cache, private answers are
stored only redacted, and an interrupted run leaves its partial SARIF in `--output`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import jsonschema

from tests.e2e.conftest import ROOT
from tests.e2e.test_bulk import finding_on_first_shown_line, run_cli
from tests.fakes.openai_fake import FakeOpenAI
from tests.support import cli

SECRET = "AKIA" + "Q3T7WX2LPZK5N8RV"


def cache_file(tmp_path: Path) -> Path:
    """The answer cache of the command line that :func:`run_cli` runs under ``tmp_path``."""
    return tmp_path / "cache" / "localroute" / "answers.sqlite3"


def make_tree(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".git").mkdir(exist_ok=True)  # a project root: the files are not private
    files = []
    for i in range(n):
        path = folder / f"m{i:02}.py"
        path.write_text(f"def ratio_{i}(a, b):\n    return a / b + {i}\n")
        files.append(path)
    return files


def config_for(fake: FakeOpenAI, max_concurrency: int = 4) -> str:
    return f"""
        [backends.local]
        kind = "openai"
        url = "{fake.url}"
        max_concurrency = {max_concurrency}
        [tasks.review]
        route = ["local:coder"]
        """


def start_cli(tmp_path: Path, config: str, *args: str, **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*cli.LOCALROUTE, *args],
        cwd=tmp_path,
        env=cli.env_in(tmp_path, config),
        text=True,
        **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen},
    )


def integrity(path: Path) -> tuple[str, int]:
    with sqlite3.connect(path) as db:
        (check,) = db.execute("PRAGMA integrity_check").fetchone()
        (count,) = db.execute("SELECT count(*) FROM answers").fetchone()
    return check, count


def stored(path: Path) -> int:
    """Answers in the cache at ``path`` so far (0 while it is not made yet, or busy)."""
    if not path.exists():  # (connecting would make it)
        return 0
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            (count,) = db.execute("SELECT count(*) FROM answers").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(count)


def test_a_second_run_over_an_unchanged_tree_sends_nothing_and_says_so(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", 20)
    with FakeOpenAI() as local:
        local.answer_fn = finding_on_first_shown_line
        config = config_for(local)
        first = run_cli(tmp_path, config, "review", "src", "--format", "json")
        assert first.returncode == 0, first.stderr
        assert len(local.chat_requests) == 20
        assert "from the cache" not in first.stderr

        second = run_cli(tmp_path, config, "review", "src", "--format", "json")
        assert second.returncode == 0, second.stderr
        assert len(local.chat_requests) == 20  # nothing sent
        assert "20 of 20 answer(s) from the cache" in second.stderr
        by_path = {r["path"]: r for r in map(json.loads, first.stdout.splitlines())}
        for again in map(json.loads, second.stdout.splitlines()):
            assert again["findings"] == by_path[again["path"]]["findings"]
            assert again["cached_parts"] == 1 and again["backend"] == "local"

        # One file changes: only that one is sent.
        (tmp_path / "src" / "m03.py").write_text("def changed():\n    return 3\n")
        third = run_cli(tmp_path, config, "review", "src")
        assert third.returncode == 0, third.stderr
        assert len(local.chat_requests) == 21
        assert "19 of 20 answer(s) from the cache" in third.stderr

        refreshed = run_cli(tmp_path, config, "review", "src", "--refresh")
        assert refreshed.returncode == 0, refreshed.stderr
        assert len(local.chat_requests) == 41
        assert "from the cache" not in refreshed.stderr
    assert integrity(cache_file(tmp_path)) == ("ok", 21)


async def test_two_cli_runs_and_a_server_at_once_share_one_readable_cache(
    tmp_path: Path, start_session: Any
) -> None:
    with FakeOpenAI() as local:
        local.latency_s = 0.05
        local.answer_fn = finding_on_first_shown_line
        config = config_for(local, max_concurrency=4)
        files = {f"m{i:02}.py": f"def f{i}(x):\n    return x / {i}\n" for i in range(30)}
        async with start_session(config, workspace_files=files) as s:
            (s.workspace / ".git").mkdir()
            runs = [
                start_cli(tmp_path, config, "review", "workspace", "--jobs", "8", "--refresh")
                for _ in range(2)
            ]
            served = await s.command("localroute.reviewFiles", {"refresh": True, "jobs": 8})
            outputs = [await asyncio.to_thread(run.communicate, timeout=120) for run in runs]
            assert served["done"] == 30 and served["not_reviewed"] == 0
            for run, (_out, err) in zip(runs, outputs, strict=True):
                assert run.returncode == 0, err
                assert "30/30 file(s) reviewed" in err
            assert len(local.chat_requests) == 90  # every one refreshed: all sent
            check, count = integrity(cache_file(tmp_path))
            assert (check, count) == ("ok", 30)

            # Now the server answers from what the CLI runs stored: nothing is sent.
            again = await s.command("localroute.reviewFiles", {})
            assert again["done"] == 30 and again["findings"] == 30
            rerun = run_cli(tmp_path, config, "review", "workspace")
            assert "30 of 30 answer(s) from the cache" in rerun.stderr
            assert len(local.chat_requests) == 90


def test_a_private_files_answer_is_cached_redacted_and_the_code_never_stored(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / "keys.py").write_text(f"KEY = '{SECRET}'\nPLAN = 'private marker'\n")
    with FakeOpenAI() as local:
        local.answer = json.dumps(
            {"findings": [{"line": 1, "severity": "error", "message": f"key {SECRET} in code"}]}
        )
        config = config_for(local)
        first = run_cli(tmp_path, config, "review", "project", "--format", "json")
        assert first.returncode == 0, first.stderr
        (result,) = map(json.loads, first.stdout.splitlines())
        assert SECRET not in result["findings"][0]["message"]
        second = run_cli(tmp_path, config, "review", "project")
        assert "1 of 1 answer(s) from the cache" in second.stderr
        assert len(local.chat_requests) == 1
    folder = cache_file(tmp_path).parent
    stored = b"".join(p.read_bytes() for p in folder.iterdir() if p.name.startswith("answers"))
    assert SECRET.encode() not in stored and b"private marker" not in stored
    assert b"keys.py" not in stored


def test_ctrl_c_with_stdout_a_pipe_leaves_a_valid_partial_sarif_and_the_rerun_sends_the_rest(
    tmp_path: Path,
) -> None:
    make_tree(tmp_path / "project", 12)
    output = tmp_path / "results.sarif"
    with FakeOpenAI() as local:
        # Two answer at once (one piece); the rest stream slowly until the interrupt.
        local.chunk_delay_s = 0.3
        local.chunk_size = 400
        served = {"n": 0}

        def answer(body: dict[str, Any]) -> str:
            served["n"] += 1
            finding = finding_on_first_shown_line(body)
            return finding + (" " * 20_000 if served["n"] > 2 else "")

        local.answer_fn = answer
        config = config_for(local, max_concurrency=2)
        process = start_cli(
            tmp_path, config, "review", "project", "--format", "sarif", "--output", str(output)
        )
        # Interrupted once the two quick answers are stored (a result is counted before
        # the cache's writer stores it): the slot an answer frees goes to the next request
        # before that answer is handled, so the slow ones can be in flight a moment
        # before the second quick one is handled.
        assert local.wait_for(
            lambda: local.in_flight == 2 and served["n"] > 2 and stored(cache_file(tmp_path)) == 2,
            timeout_s=20,
        )
        process.send_signal(signal.SIGINT)
        began = time.monotonic()
        out, err = process.communicate(timeout=10)
        assert time.monotonic() - began < 2.0
        assert process.returncode == 130, err
        assert out == ""  # the report went to the file, not the pipe
        sarif = json.loads(output.read_text())
        schema = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
        jsonschema.validate(sarif, schema)
        (run,) = sarif["runs"]
        assert run["invocations"][0]["executionSuccessful"] is False
        assert run["invocations"][0]["exitCode"] == 130
        assert len(run["results"]) == 2
        assert "2/12 file(s) reviewed" in err and "10 not started (interrupted)" in err

        local.chunk_delay_s = 0.0
        local.answer_fn = finding_on_first_shown_line
        sent = len(local.chat_requests)
        rerun = run_cli(
            tmp_path, config, "review", "project", "--output", str(output), "--format", "sarif"
        )
        assert rerun.returncode == 0, rerun.stderr
        assert len(local.chat_requests) - sent == 10
        assert "2 of 12 answer(s) from the cache" in rerun.stderr
        assert len(json.loads(output.read_text())["runs"][0]["results"]) == 12


def test_the_progress_line_on_a_terminal_counts_answers_from_the_cache(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", 15)
    with FakeOpenAI() as local:
        config = config_for(local)
        assert run_cli(tmp_path, config, "review", "src").returncode == 0
        leader, follower = pty.openpty()
        try:
            process = start_cli(tmp_path, config, "review", "src", stderr=follower)
            os.close(follower)
            out, _ = process.communicate(timeout=60)
            terminal = _read_all(leader)
        finally:
            os.close(leader)
    assert process.returncode == 0
    assert "[15/15] 100 %" in terminal and "15 cached" in terminal and "files/s" in terminal
    assert "15 of 15 answer(s) from the cache" in terminal
    assert "\x1b[K" not in out  # the progress line never goes to stdout


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the other side is closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace")
