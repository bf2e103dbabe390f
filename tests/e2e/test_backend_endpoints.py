"""A backend with several endpoints (`urls`) from the shell and from an editor: bulk review
spreads over them and survives one failing mid-run with every file reviewed once, and
`localroute status` shows each endpoint."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Session
from tests.fakes.openai_fake import FakeOpenAI, closed_port
from tests.faults.proxy import FaultProxy
from tests.support.cli import env_in, run_localroute

pytestmark = pytest.mark.timeout(120)


def config_for(urls: list[str], **gpu: Any) -> str:
    extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in gpu.items())
    return (
        textwrap.dedent(
            f"""
        [backends.gpu]
        kind = "openai"
        urls = {json.dumps(urls)}
        """
        )
        + extra
        + '[tasks.review]\nroute = ["gpu:coder"]\n'
    )


def run_cli(tmp_path: Path, config: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_localroute(*args, env=env_in(tmp_path, config), cwd=tmp_path, timeout=100)


def answer(body: dict[str, Any]) -> str:
    """One finding naming the file's marker, so each report line can be matched to its file."""
    prompt = body["messages"][-1]["content"]
    marker = next(word for word in prompt.split() if word.startswith("MARK_"))
    return json.dumps({"findings": [{"line": 1, "severity": "info", "message": marker}]})


def write_files(root: Path, count: int) -> list[str]:
    src = root / "src"
    src.mkdir()
    (root / ".git").mkdir()
    markers = [f"MARK_{i:02}" for i in range(count)]
    for i, marker in enumerate(markers):
        (src / f"m{i:02}.py").write_text(f"{marker} = {i}\nprint({marker})\n")
    return markers


def test_bulk_review_spreads_over_endpoints(tmp_path: Path) -> None:
    markers = write_files(tmp_path, 12)
    with FakeOpenAI(answer_fn=answer, latency_s=0.3) as a, FakeOpenAI(answer_fn=answer) as b:
        b.latency_s = 0.3
        config = config_for([a.url, b.url], max_concurrency=2)
        done = run_cli(tmp_path, config, "review", "src", "--jobs", "8", "--format", "json")
        assert done.returncode == 0, done.stderr
        results = [json.loads(line) for line in done.stdout.splitlines()]
        assert sorted(r["findings"][0]["message"] for r in results) == markers
        assert {r["backend"] for r in results} == {"gpu"}
        assert len(a.chat_requests) + len(b.chat_requests) == 12
        assert a.max_in_flight == 2 and b.max_in_flight == 2


def test_an_endpoint_failing_mid_run_loses_and_repeats_nothing(tmp_path: Path) -> None:
    markers = write_files(tmp_path, 10)
    with FakeOpenAI(answer_fn=answer) as a, FakeOpenAI(answer_fn=answer) as b:
        a.chunk_size = 4
        a.chunk_delay_s = 0.05
        with FaultProxy(a.port) as proxy:
            proxy.set_mode("reset_mid_stream", body_bytes=120)
            config = config_for([f"{proxy.root}/v1", b.url], max_concurrency=2)
            done = run_cli(tmp_path, config, "review", "src", "--jobs", "4", "--format", "json")
            assert proxy.cuts >= 1  # it did fail mid-answer
        assert done.returncode == 0, done.stderr
        results = [json.loads(line) for line in done.stdout.splitlines()]
        # Every file once, each with its own finding only.
        assert sorted(r["findings"][0]["message"] for r in results) == markers
        assert all(len(r["findings"]) == 1 for r in results)
        assert len(b.chat_requests) == 10  # every file answered by the sibling
        entries = [
            json.loads(line)
            for line in (tmp_path / "state" / "localroute" / "audit.jsonl").read_text().splitlines()
        ]
        assert sum(e["outcome"] == "ok" for e in entries) == 10
        failed = [e for e in entries if e["outcome"].startswith("unavailable")]
        assert len(failed) == len(a.chat_requests) >= 1


def test_status_shows_each_endpoint(tmp_path: Path) -> None:
    with FakeOpenAI() as alive:
        dead = f"http://127.0.0.1:{closed_port()}/v1"
        config = config_for([alive.url, dead])
        done = run_cli(tmp_path, config, "status", "--format", "json")
        assert done.returncode == 0, done.stderr
        (gpu,) = [b for b in json.loads(done.stdout)["backends"] if b["name"] == "gpu"]
        assert [(e["url"], e["state"]) for e in gpu["endpoints"]] == [
            (alive.url, "up"),
            (dead, "down"),
        ]
        text = run_cli(tmp_path, config, "status")
        assert text.returncode == 0, text.stderr
        lines = text.stdout.splitlines()
        assert any(alive.url in line and " up " in line for line in lines), lines
        assert any(
            dead in line and "down" in line and "connection refused" in line for line in lines
        )


async def test_the_editor_status_command_shows_each_endpoint(start_session: Any) -> None:
    with FakeOpenAI() as first, FakeOpenAI() as second:
        async with start_session(config_for([first.url, second.url])) as s:
            s: Session
            report = await s.command("localroute.status", {})
            (gpu,) = [b for b in report["backends"] if b["name"] == "gpu"]
            assert gpu["up"] is True
            assert [e["url"] for e in gpu["endpoints"]] == [first.url, second.url]
            assert {e["state"] for e in gpu["endpoints"]} == {"up"}
            assert {e["locality"] for e in gpu["endpoints"]} == {"local"}
