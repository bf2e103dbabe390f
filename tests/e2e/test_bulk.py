"""`localroute review PATH...` from the shell: parallel within limits, privacy, chunks,
SARIF, Ctrl-C, and the audit log of it all."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import jsonschema
from lsprotocol import types

from tests.e2e.conftest import ROOT, closed_port_url
from tests.fakes.openai_fake import FakeOpenAI, rate_limited
from tests.support import cli

SECRET = "AKIA" + "Q3T7WX2LPZK5N8RV"


def finding_on_first_shown_line(body: dict[str, Any]) -> str:
    """Answer with one finding on the first numbered line of the prompt."""
    prompt = body["messages"][-1]["content"]
    first = re.search(r"^\s*(\d+) \|", prompt, re.MULTILINE)
    line = int(first.group(1)) if first else 1
    return json.dumps(
        {"findings": [{"line": line, "severity": "warning", "message": f"look at {line}"}]}
    )


def cloud_only_config(fake: FakeOpenAI) -> str:
    """Reviews routed to a cloud backend only (tests.support.privacy_e2e.cloud_config puts
    an unreachable local backend first)."""
    return f"""
        [backends.cloud]
        kind = "openai"
        url = "{fake.url}"
        locality = "cloud"
        [tasks.review]
        route = ["cloud:big"]
        """


def run_cli(
    tmp_path: Path, config: str, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The command line with ``config`` as the user file, everything else under ``tmp_path``."""
    return cli.run_localroute(
        *args, env=cli.env_in(tmp_path, config), cwd=tmp_path, timeout=timeout
    )


def audit_entries(tmp_path: Path) -> list[dict[str, Any]]:
    return cli.audit_entries(tmp_path / "state")


def test_forty_files_never_more_than_max_concurrency_and_all_reviewed(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(40):
        (src / f"m{i:02}.py").write_text(f"def f{i}(x):\n    return x / {i}\n")
    with FakeOpenAI() as local:
        local.latency_s = 0.3
        local.answer_fn = finding_on_first_shown_line
        config = f"""
            [backends.local]
            kind = "openai"
            url = "{local.url}"
            max_concurrency = 4
            [tasks.review]
            route = ["local:coder"]
            """
        began = time.monotonic()
        done = run_cli(tmp_path, config, "review", "src", "--jobs", "16", "--format", "json")
        elapsed = time.monotonic() - began
        assert done.returncode == 0, done.stderr
        results = [json.loads(line) for line in done.stdout.splitlines()]
        assert len(results) == 40
        assert all(r["backend"] == "local" and len(r["findings"]) == 1 for r in results)
        assert all(r["findings"][0]["line"] == 1 for r in results)
        assert local.max_in_flight == 4
        assert len(local.chat_requests) == 40
        # 40 requests of 300 ms, four at a time, take at least ten rounds.
        assert elapsed >= 3.0
        assert "40/40 file(s) reviewed" in done.stderr

        # The audit log has every request; `localroute audit` agrees with the fake.
        entries = audit_entries(tmp_path)
        assert sum(e["outcome"] == "ok" for e in entries) == 40
        summary = run_cli(tmp_path, config, "audit", "--format", "json")
        totals = json.loads(summary.stdout)
        assert totals["backends"]["local"]["requests"] == len(local.chat_requests)
        assert totals["cloud_files"] == {}


def test_private_files_refused_with_local_down_and_cloud_gets_no_private_byte(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    (project / "app").mkdir(parents=True)
    (project / ".git").mkdir()  # a project root: its rules are known
    (project / "app" / "ordinary.py").write_text("def ok():\n    return 'public marker'\n")
    (project / "app" / "keys.py").write_text(f"KEY = '{SECRET}'\nVALUE = 'credential marker'\n")
    (project / "secrets").mkdir()
    (project / "secrets" / "notes.py").write_text("PLAN = 'glob marker'\n")
    (project / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    with FakeOpenAI() as cloud:
        config = f"""
            [backends.local]
            kind = "openai"
            url = "{closed_port_url()}"
            connect_timeout_s = 0.5
            [backends.cloud]
            kind = "openai"
            url = "{cloud.url}"
            locality = "cloud"
            [tasks.review]
            route = ["local:coder", "cloud:big"]
            """
        done = run_cli(tmp_path, config, "review", "project", "--format", "text", "--allow-cloud")
        # Refused files are not "reviewed": the run exits 3 and says so, file by file.
        assert done.returncode == 3, done.stderr
        out = done.stdout
        assert "project/app/ordinary.py: no findings (big @ cloud (cloud))" in out
        assert "project/app/keys.py: refused: app/keys.py is private" in out
        assert "AWS access key id (line 1)" in out
        assert "project/secrets/notes.py: refused: secrets/notes.py is private" in out
        assert "1/3 file(s) reviewed, 2 refused, 0 not reviewed" in done.stderr
        assert "skipped" in done.stderr and "blob.bin" in done.stderr and "binary" in done.stderr
        sent = json.dumps([r.json for r in cloud.chat_requests])
        assert "public marker" in sent
        assert "credential marker" not in sent and SECRET not in sent
        assert "glob marker" not in sent
        assert len(cloud.chat_requests) == 1

    entries = audit_entries(tmp_path)
    text = json.dumps(entries)
    assert SECRET not in text and "marker" not in text
    refused = {Path(e["file"]).name for e in entries if e["outcome"] == "refused"}
    assert refused == {"keys.py", "notes.py"}
    audit = run_cli(tmp_path, config, "audit").stdout
    assert "files whose content went to a cloud backend: 1" in audit
    assert "ordinary.py" in audit and "keys.py" not in audit.split("cloud backend")[1]


def test_a_3000_line_file_is_reviewed_in_chunks_on_the_right_lines(tmp_path: Path) -> None:
    functions = [
        f"def f{i}(x):\n" + "".join(f"    x = x + {j}\n" for j in range(9)) + "    return x\n"
        for i in range(300)
    ]
    (tmp_path / "big.py").write_text("".join(functions))
    assert len((tmp_path / "big.py").read_text().splitlines()) == 3300
    with FakeOpenAI() as local:
        local.answer_fn = finding_on_first_shown_line
        config = f"""
            [backends.local]
            kind = "openai"
            url = "{local.url}"
            context_tokens = 8192
            [tasks.review]
            route = ["local:coder"]
            """
        done = run_cli(tmp_path, config, "review", "big.py", "--format", "json")
        assert done.returncode == 0, done.stderr
        (result,) = [json.loads(line) for line in done.stdout.splitlines()]
        prompts = [r.json["messages"][-1]["content"] for r in local.chat_requests]
        assert len(prompts) >= 4
        firsts = sorted(int(re.search(r"^\s*(\d+) \|", p, re.MULTILINE).group(1)) for p in prompts)  # type: ignore[union-attr]
        # Chunks start at top-level definitions (every 11th line, 1-based 1, 12, 23 …).
        assert all((first - 1) % 11 == 0 for first in firsts)
        assert [f["line"] for f in result["findings"]] == firsts
        assert all(f["message"] == f"look at {f['line']}" for f in result["findings"])
        for prompt in prompts:
            numbers = [int(n) for n in re.findall(r"^\s*(\d+) \|", prompt, re.MULTILINE)]
            assert len(numbers) <= 1000


def test_sarif_output_validates_against_the_schema(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "a.py").write_text("def a():\n    return 1 / 0\n")
    (tmp_path / ".env").write_text("TOKEN=x\n")
    with FakeOpenAI() as cloud:
        cloud.answer = json.dumps(
            {"findings": [{"line": 2, "severity": "error", "message": "division by zero"}]}
        )
        done = run_cli(
            tmp_path,
            cloud_only_config(cloud),
            "review",
            "a.py",
            ".env",
            "--format",
            "sarif",
            "--fail-on",
            "error",
            "--allow-cloud",
        )
        assert len(cloud.chat_requests) == 1
    # A refused file (3) takes precedence over a finding at or above --fail-on (1).
    assert done.returncode == 3
    sarif = json.loads(done.stdout)
    schema = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(sarif, schema)
    (run,) = sarif["runs"]
    (finding,) = run["results"]
    assert finding["level"] == "error"
    assert finding["message"]["text"] == "division by zero"
    location = finding["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "a.py"
    assert location["region"]["startLine"] == 2
    assert finding["properties"]["backend"] == "cloud"
    assert {rule["id"] for rule in run["tool"]["driver"]["rules"]} == {finding["ruleId"]}
    (notice,) = run["invocations"][0]["toolExecutionNotifications"]
    assert ".env" in notice["message"]["text"] and "private" in notice["message"]["text"]
    assert run["invocations"][0]["executionSuccessful"] is False
    assert run["invocations"][0]["exitCode"] == 3


def test_ctrl_c_closes_in_flight_requests_and_prints_what_finished(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    for i in range(12):
        (tmp_path / "project" / f"f{i:02}.py").write_text(f"X = {i}\n")
    with FakeOpenAI() as local:
        config = f"""
            [backends.local]
            kind = "openai"
            url = "{local.url}"
            max_concurrency = 2
            [tasks.review]
            route = ["local:coder"]
            """
        env = cli.env_in(tmp_path, config)
        # Two answer quickly; the rest stream slowly until the run is interrupted.
        local.chunk_delay_s = 0.3
        served = {"n": 0}

        def answer(body: dict[str, Any]) -> str:
            served["n"] += 1
            return '{"findings": []}' + (" " * 800 if served["n"] > 2 else "")

        local.answer_fn = answer
        process = subprocess.Popen(
            [*cli.LOCALROUTE, "review", "project", "--format", "text"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert local.wait_for(lambda: local.in_flight == 2 and served["n"] > 2, timeout_s=20)
        process.send_signal(signal.SIGINT)
        began = time.monotonic()
        out, err = process.communicate(timeout=10)
        assert time.monotonic() - began < 1.0
        assert process.returncode == 130
        assert out.count("no findings") == 2
        assert "2/12 file(s) reviewed" in err and "10 not started (interrupted)" in err
        assert local.wait_for(lambda: local.disconnects >= 2, timeout_s=5)


def test_a_busy_local_backend_is_waited_for_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("A = 1\n")
    with FakeOpenAI() as local, FakeOpenAI() as cloud:
        local.error = rate_limited("1")
        local.error_times = 2
        config = f"""
            [backends.local]
            kind = "openai"
            url = "{local.url}"
            [backends.cloud]
            kind = "openai"
            url = "{cloud.url}"
            locality = "cloud"
            [tasks.review]
            route = ["local:coder", "cloud:big"]
            """
        done = run_cli(tmp_path, config, "review", "a.py", "--format", "json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["backend"] == "local"
        assert len(local.chat_requests) == 3
        assert cloud.chat_requests == []


async def test_review_files_from_the_editor_publishes_per_file_with_one_progress(
    start_session: Any,
) -> None:
    from pygls.exceptions import JsonRpcException

    with FakeOpenAI() as local:
        local.answer_fn = finding_on_first_shown_line
        # Long enough that progress shows (it starts after 0.2 s; quick runs send none).
        local.latency_s = 0.15
        config = f"""
            [backends.local]
            kind = "openai"
            url = "{local.url}"
            max_concurrency = 2
            [tasks.review]
            route = ["local:coder"]
            """
        files = {f"m{i}.py": f"X = {i}\n" for i in range(6)}
        async with start_session(config, workspace_files=files) as s:
            result = await s.command("localroute.reviewFiles", {"glob": "*.py"})
            assert result["files"] == 6 and result["done"] == 6 and result["findings"] == 6
            assert result["backends"] == {"local": 6}
            uris = [(s.workspace / name).resolve().as_uri() for name in files]
            await s.wait_for(lambda: all(len(s.diagnostics(uri)) == 1 for uri in uris))
            assert local.max_in_flight <= 2
            (token,) = s.client.progress_reports
            reports = s.client.progress_reports[token]
            assert reports[0].title == "Review 6 files"
            assert any("6/6 files · local ×6" in (r.message or "") for r in reports)

            # Cancelling the progress stops the whole run.
            local.chunk_delay_s = 0.5
            local.answer_fn = lambda body: '{"findings": []}' + " " * 400
            pending = asyncio.ensure_future(
                s.command("localroute.reviewFiles", {"glob": "*.py", "jobs": 6, "refresh": True})
            )
            await s.wait_for(lambda: local.in_flight == 2)
            await s.wait_for(lambda: len(s.client.progress_reports) == 2)
            token = next(t for t in s.client.progress_reports if t != token)
            s.client.window_work_done_progress_cancel(
                types.WorkDoneProgressCancelParams(token=token)
            )
            try:
                await asyncio.wait_for(pending, 5)
                raise AssertionError("the run was not cancelled")
            except JsonRpcException:
                pass
            await s.wait_for(lambda: local.in_flight == 0, timeout=5)
            assert local.disconnects >= 2
