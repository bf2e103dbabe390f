"""What a cloud prompt may name (paths relative to the project root, never the home
directory or the user's name) and reports that are true: `localroute audit` lists a
file as gone to the cloud only when bytes were sent; a failure is never called refused
and a refusal never reviewed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import closed_port_url
from tests.fakes.openai_fake import FakeOpenAI, openai_error
from tests.support.privacy_e2e import (
    AWS_KEY,
    audit_entries,
    cloud_config,
    json_lines,
    lsp_server,
    project,
    prompts,
    received,
    run_cli,
)

USER = "alice_q_person"
APP = "def handler(event):\n    return event['body']\n"


async def test_cloud_prompts_name_files_relative_to_the_project_root(tmp_path: Path) -> None:
    home = tmp_path / USER
    ws = project(home / "work" / "shop", {"src/app.py": APP, "lib/.git/x": "", "lib/m.py": APP})
    with FakeOpenAI() as cloud:
        config = cloud_config(cloud)
        async with lsp_server(home, config, folders=[ws]) as s:
            app = (ws / "src/app.py").as_uri()
            await s.command("localroute.review", {"uri": app})
            await s.command("localroute.explain", {"uri": app, "range": None})
            await s.command("localroute.explain", {"uri": app, "task": "ask"})
            await s.command("localroute.review", {"uri": app, "task": "lint"})
            # A nested repository inside the workspace folder: still relative to the folder.
            await s.command("localroute.explain", {"uri": (ws / "lib/m.py").as_uri()})
        assert len(cloud.chat_requests) == 5
        assert all("src/app.py" in p for p in prompts(cloud)[:4]), prompts(cloud)
        assert "lib/m.py" in prompts(cloud)[4]
        # From the shell, run from `/` with an absolute path.
        done = run_cli(home, config, "review", str(ws / "src/app.py"), cwd=Path("/"))
        assert done.returncode == 0, done.stderr
        assert "src/app.py" in prompts(cloud)[-1]
        sent = received(cloud)
        for forbidden in (USER, str(home), str(tmp_path), "/work/shop"):
            assert forbidden not in sent, forbidden


def test_a_cloud_backend_without_its_key_is_never_reported_as_sent(tmp_path: Path) -> None:
    repo = project(tmp_path / "repo", {"a.py": APP})
    home = tmp_path / "home"
    config = f"""
[backends.claude]
kind = "anthropic"
url = "{closed_port_url()}"
api_key_env = "LOCALROUTE_TEST_NO_SUCH_KEY"

[tasks.review]
route = ["claude:claude-sonnet-4-5"]
"""
    done = run_cli(home, config, "review", "a.py", "--format", "json", cwd=repo)
    assert done.returncode == 3, done.stderr
    (result,) = json_lines(done.stdout)
    assert result["status"] == "not reviewed" and result["sent_to"] == [], result
    assert "no API key" in result["error"] and "Nothing was sent." in result["error"], result
    assert [e["bytes_sent"] for e in audit_entries(home) if e["backend"] == "claude"] == [0]
    summary = json.loads(run_cli(home, None, "audit", "--format", "json", cwd=repo).stdout)
    assert summary["cloud_files"] == {}, summary


def test_audit_lists_cloud_files_only_when_bytes_were_sent(tmp_path: Path) -> None:
    repo = project(
        tmp_path / "repo",
        {"a.py": APP, "b.py": APP.replace("event", "evt"), "keys.py": f"K = '{AWS_KEY}'\n"},
    )
    home = tmp_path / "home"
    # A cloud that cannot be reached at all: DNS fails (`.invalid`), or nothing listens.
    for url in ("http://cloud.invalid/v1", closed_port_url()):
        done = run_cli(home, cloud_config(url), "review", "a.py", "--format", "json", cwd=repo)
        assert done.returncode == 3, done.stderr
        (result,) = json_lines(done.stdout)
        assert result["status"] == "not reviewed" and result["refused"] is False, result
        assert result["sent_to"] == [] and "Nothing was sent." in result["error"], result
    summary = json.loads(run_cli(home, None, "audit", "--format", "json", cwd=repo).stdout)
    assert summary["cloud_files"] == {}, summary
    assert summary["refused"] == 0 and summary["failed"] == 2, summary
    assert all(e["bytes_sent"] == 0 for e in audit_entries(home))

    with FakeOpenAI() as cloud:
        # Received and failed: bytes left, so it is listed, as failed, not refused.
        cloud.error = openai_error("boom", 500, "server_error")
        config = cloud_config(cloud)
        done = run_cli(home, config, "review", "b.py", "--format", "json", cwd=repo)
        (result,) = json_lines(done.stdout)
        assert done.returncode == 3 and result["status"] == "not reviewed", result
        assert result["sent_to"] == ["cloud"] and "Nothing was sent." not in result["error"]
        assert "Sent to cloud (cloud)" in result["error"], result["error"]
        # Refused: never listed, never "reviewed", never "failed".
        done = run_cli(home, config, "review", "keys.py", "--format", "json", cwd=repo)
        (result,) = json_lines(done.stdout)
        assert done.returncode == 3 and result["status"] == "refused", result
        assert len(cloud.chat_requests) == 1
    summary = json.loads(run_cli(home, None, "audit", "--format", "json", cwd=repo).stdout)
    assert summary["cloud_files"] == {str((repo / "b.py").resolve()): ["cloud"]}, summary
    assert summary["refused"] == 1 and summary["failed"] == 3, summary
    assert summary["backends"]["cloud"]["ok"] == 0
    text = run_cli(home, None, "audit", cwd=repo).stdout
    assert "files whose content went to a cloud backend: 1" in text, text
    listed = text.split("cloud backend: 1")[1].split("sent to a cloud backend with")[0]
    assert "b.py" in listed and "a.py" not in listed and "keys.py" not in listed, listed
    assert "refused for privacy: 1" in text and "failed (no backend answered): 3" in text
    outcomes = {(e["file"].rsplit("/", 1)[-1], e["outcome"]) for e in audit_entries(home)}
    assert ("keys.py", "refused") in outcomes
    assert not {o for o in outcomes if o[0] != "keys.py" and o[1] == "refused"}, outcomes
