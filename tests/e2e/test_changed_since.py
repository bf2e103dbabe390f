"""`localroute review --changed-since REF` and `localroute.reviewFiles` with `changedSince`:
real git repositories, the real CLI and server, a loopback backend that records prompts."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pygls.exceptions import JsonRpcException

from tests.e2e.conftest import ROOT
from tests.e2e.test_bulk import cloud_only_config, finding_on_first_shown_line, run_cli
from tests.fakes.openai_fake import FakeOpenAI

if shutil.which("git") is None:
    pytest.skip("git is not installed", allow_module_level=True)

SECRET = "AKIA" + "Q3T7WX2LPZK5N8RV"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, check=True, capture_output=True
    )


def module(name: str, n: int) -> str:
    return "".join(f"def {name}_{i}(x):\n    return x + {i}\n\n" for i in range(n))


def edit(path: Path, line: int, text: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    lines[line - 1] = text + "\n"
    path.write_text("".join(lines))


def shown_lines(prompt: str) -> list[int]:
    return [int(n) for n in re.findall(r"^\s*(\d+) \|", prompt, re.MULTILINE)]


def prompts_by_file(fake: FakeOpenAI) -> dict[str, list[list[int]]]:
    """The numbered lines shown in each prompt, by the file the prompt names."""
    found: dict[str, list[list[int]]] = {}
    for request in fake.chat_requests:
        prompt = request.json["messages"][-1]["content"]
        name = next(
            n for n in ("a.py", "b.py", "new.py", "moved.py", "keys.py", "u.py") if n in prompt
        )
        found.setdefault(name, []).append(shown_lines(prompt))
    return found


def local_config(fake: FakeOpenAI) -> str:
    return f"""
        [backends.local]
        kind = "openai"
        url = "{fake.url}"
        [tasks.review]
        route = ["local:coder"]
        """


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """`repo/` with a.py, b.py, old.py, gone.py committed and tagged `base`."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "a.py").write_text(module("a", 40))  # 120 lines
    (root / "b.py").write_text(module("b", 40))
    (root / "old.py").write_text(module("old", 10))
    (root / "gone.py").write_text("GONE = 1\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    git(root, "tag", "base")
    return root


def test_only_the_changed_hunks_are_sent_and_findings_land_on_file_lines(
    tmp_path: Path, repo: Path
) -> None:
    edit(repo / "a.py", 50, "    return x * 50  # committed")
    edit(repo / "a.py", 100, "    return x * 100  # committed")
    git(repo, "commit", "-qam", "work")
    edit(repo / "b.py", 10, "    return x * 10  # staged")
    git(repo, "add", "b.py")
    edit(repo / "b.py", 12, "    return x * 12  # unstaged, merged with the staged hunk")
    (repo / "new.py").write_text(module("new", 3))
    git(repo, "add", "new.py")
    git(repo, "mv", "old.py", "moved.py")
    edit(repo / "moved.py", 20, "    return x * 20  # after the move")
    git(repo, "rm", "-q", "gone.py")
    (repo / "u.py").write_text("UNTRACKED = 1\n")

    with FakeOpenAI() as local:
        local.answer_fn = finding_on_first_shown_line
        done = run_cli(
            tmp_path,
            local_config(local),
            "review",
            "--changed-since",
            "base",
            "repo",
            "--format",
            "json",
        )
        assert done.returncode == 0, done.stderr
        sent = prompts_by_file(local)

    # a.py: two hunks far apart, each with three lines of context; nothing else of it.
    assert sorted(sent["a.py"]) == [list(range(47, 54)), list(range(97, 104))]
    # b.py: the staged and the unstaged change are close: one range.
    assert sent["b.py"] == [list(range(7, 16))]
    assert sent["moved.py"] == [list(range(17, 24))]
    assert sent["new.py"] == [list(range(1, 10))]  # new: whole
    assert "u.py" not in sent  # untracked and not named
    assert "1 untracked file(s) left out: repo/u.py" in done.stderr
    assert "4 file(s) changed since base" in done.stderr and "1 deleted" in done.stderr

    results = {r["path"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert set(results) == {"repo/a.py", "repo/b.py", "repo/moved.py", "repo/new.py"}
    assert sorted(f["line"] for f in results["repo/a.py"]["findings"]) == [47, 97]
    assert results["repo/a.py"]["lines"] == [[47, 53], [97, 103]]
    assert results["repo/new.py"]["lines"] == []
    assert results["repo/b.py"]["findings"][0]["line"] == 7


def test_untracked_files_when_named_or_with_the_flag(tmp_path: Path, repo: Path) -> None:
    (repo / "u.py").write_text("UNTRACKED = 1\n")
    with FakeOpenAI() as local:
        config = local_config(local)
        named = run_cli(
            tmp_path, config, "review", "--changed-since", "HEAD", "repo/u.py", "repo/a.py"
        )
        assert named.returncode == 0, named.stderr
        assert list(prompts_by_file(local)) == ["u.py"]
        assert "skipped" in named.stderr and "a.py: unchanged since the base" in named.stderr

        local.reset_records()
        flagged = run_cli(
            tmp_path,
            config,
            "review",
            "--changed-since",
            "HEAD",
            "--include-untracked",
            "repo",
            "--refresh",
        )
        assert flagged.returncode == 0, flagged.stderr
        assert list(prompts_by_file(local)) == ["u.py"]


def test_a_secret_outside_the_hunk_still_makes_the_whole_file_private(
    tmp_path: Path, repo: Path
) -> None:
    (repo / "keys.py").write_text(f"KEY = '{SECRET}'\n" + module("k", 20))
    git(repo, "add", "keys.py")
    git(repo, "commit", "-qm", "keys")
    git(repo, "tag", "keys")
    edit(repo / "keys.py", 50, "    return x * 50  # far from the key")
    with FakeOpenAI() as cloud:
        config = cloud_only_config(cloud)
        done = run_cli(
            tmp_path, config, "review", "--changed-since", "keys", "repo", "--allow-cloud"
        )
        assert cloud.chat_requests == []
    assert done.returncode == 3
    assert "repo/keys.py: refused" in done.stdout and "AWS access key id" in done.stdout


def test_without_git_outside_a_repository_or_with_a_bad_ref_exit_2_naming_the_cause(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "x.py").write_text("X = 1\n")
    with FakeOpenAI() as local:
        config = local_config(local)
        bad_ref = run_cli(tmp_path, config, "review", "--changed-since", "no-such-ref", "repo")
        assert bad_ref.returncode == 2
        assert "unknown git ref 'no-such-ref'" in bad_ref.stderr

        outside = run_cli(tmp_path, config, "review", "--changed-since", "HEAD", "lonely")
        assert outside.returncode == 2
        assert "is not inside a git repository" in outside.stderr

        nothing = run_cli(tmp_path, config, "review")
        assert nothing.returncode == 2 and "--changed-since" in nothing.stderr

        monkeypatch.setenv("PATH", str(tmp_path / "no-git-bin"))  # the CLI finds no git
        no_git = run_cli(tmp_path, config, "review", "--changed-since", "HEAD", "repo")
        assert no_git.returncode == 2
        assert "git is not installed" in no_git.stderr
        assert local.chat_requests == []


def test_a_change_set_stays_local_even_when_it_is_one_file(tmp_path: Path, repo: Path) -> None:
    edit(repo / "a.py", 5, "    return x * 5")
    with FakeOpenAI() as cloud:
        config = cloud_only_config(cloud)
        done = run_cli(tmp_path, config, "review", "--changed-since", "HEAD", "repo")
        assert cloud.chat_requests == []
        assert done.returncode == 3
        assert "bulk review stays local unless cloud is allowed" in done.stdout

        allowed = run_cli(
            tmp_path, config, "review", "--changed-since", "HEAD", "repo", "--allow-cloud"
        )
        assert allowed.returncode == 0, allowed.stderr
        assert len(cloud.chat_requests) == 1
        assert "files by backend: cloud ×1 (cloud); ≈" in allowed.stderr
        assert "prompt tokens sent to cloud backends" in allowed.stderr


async def test_review_files_with_changed_since_from_the_editor(start_session: Any) -> None:
    with FakeOpenAI() as local:
        local.answer_fn = finding_on_first_shown_line
        files = {"a.py": module("a", 40), "b.py": module("b", 40)}
        async with start_session(local_config(local), workspace_files=files) as s:
            git(s.workspace, "init", "-q", "-b", "main")
            git(s.workspace, "add", "-A")
            git(s.workspace, "commit", "-qm", "base")
            edit(s.workspace / "a.py", 60, "    return x * 60")

            result = await s.command("localroute.reviewFiles", {"changedSince": "HEAD"})
            assert result["files"] == 1 and result["done"] == 1 and result["findings"] == 1
            (prompt,) = [r.json["messages"][-1]["content"] for r in local.chat_requests]
            assert shown_lines(prompt) == list(range(57, 64))
            uri = (s.workspace / "a.py").resolve().as_uri()
            await s.wait_for(lambda: len(s.diagnostics(uri)) == 1)
            assert s.diagnostics(uri)[0].range.start.line == 56  # 0-based line 57

            with pytest.raises(JsonRpcException, match="unknown git ref 'nope'"):
                await s.command("localroute.reviewFiles", {"changedSince": "nope"})
            with pytest.raises(JsonRpcException, match="changedSince"):
                await s.command("localroute.reviewFiles", {"changedSince": 3})
            assert len(local.chat_requests) == 1


# -- the CI workflow in the docs -----------------------------------------------------------------


def workflow_blocks() -> list[str]:
    text = (ROOT / "docs" / "ci.md").read_text()
    return re.findall(r"```ya?ml\n(.*?)```", text, re.DOTALL)


def test_the_ci_workflow_in_the_docs_is_valid_yaml_using_flags_that_exist() -> None:
    try:
        import yaml
    except ImportError:
        pytest.skip("PyYAML is not installed in this environment: the workflow's YAML is unchecked")
    blocks = workflow_blocks()
    assert blocks, "docs/ci.md shows no workflow"
    workflow = yaml.safe_load(blocks[0])
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
    assert "pull_request" in (workflow.get("on") or workflow.get(True))
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    uses = [step.get("uses", "") for step in steps]
    assert any(u.startswith("github/codeql-action/upload-sarif@") for u in uses)
    assert any(u.startswith("actions/checkout@") for u in uses)
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # the base ref and the merge base are needed

    help_text = subprocess.run(
        [sys.executable, "-m", "localroute", "review", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "server")},
    ).stdout
    known = set(re.findall(r"--[a-z][a-z-]+", help_text))
    commands = [
        line
        for block in blocks
        for step in _run_lines(block)
        for line in step
        if line.strip().startswith("localroute review")
    ]
    assert commands, "the workflow runs no `localroute review`"
    for command in commands:
        words = shlex.split(command.replace("${{ github.base_ref }}", "main"))
        flags = {w.split("=")[0] for w in words if w.startswith("--")}
        assert flags <= known, f"unknown flags {flags - known} in: {command}"
        assert "--changed-since" in flags and "--format" in flags and "--output" in flags


def _run_lines(block: str) -> list[list[str]]:
    import yaml

    data = yaml.safe_load(block)
    jobs = data.get("jobs", {}) if isinstance(data, dict) else {}
    runs = [s.get("run", "") for job in jobs.values() for s in job.get("steps", [])]
    return [[line for line in run.replace("\\\n", " ").splitlines()] for run in runs]


def test_ctrl_c_while_git_answers_exits_130_with_an_empty_valid_report(
    tmp_path: Path, repo: Path
) -> None:
    marker = tmp_path / "git-started"
    bin_dir = tmp_path / "slow-bin"
    bin_dir.mkdir()
    slow_git = bin_dir / "git"
    slow_git.write_text(f"#!/bin/sh\ntouch '{marker}'\nexec sleep 30\n")
    slow_git.chmod(0o755)
    output = tmp_path / "results.sarif"
    with FakeOpenAI() as local:
        (tmp_path / "config.toml").write_text(textwrap.dedent(local_config(local)))
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "localroute", "review", "--changed-since", "HEAD"),
                *("repo", "--format", "sarif", "--output", str(output)),
            ],
            cwd=tmp_path,
            env={
                **os.environ,
                "PATH": f"{bin_dir}:{os.environ['PATH']}",
                "LOCALROUTE_CONFIG": str(tmp_path / "config.toml"),
                "XDG_STATE_HOME": str(tmp_path / "state"),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the CLI never ran git"
        process.send_signal(signal.SIGINT)
        began = time.monotonic()
        _, err = process.communicate(timeout=10)
        assert time.monotonic() - began < 2.0
        assert process.returncode == 130, err
        assert "interrupted before any file was reviewed" in err
        assert local.chat_requests == []
    sarif = json.loads(output.read_text())
    schema = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(sarif, schema)
    (run,) = sarif["runs"]
    assert run["results"] == [] and run["invocations"][0]["executionSuccessful"] is False
