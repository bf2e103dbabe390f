"""One verdict per document: a credential anywhere in a file makes every part of it
private — a selection of another function, a chunk of a long file, a custom task, a
bulk review from the editor or the shell — and the reports say what was really sent."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.fakes.openai_fake import FakeOpenAI, openai_error
from tests.support.privacy_e2e import (
    AWS_KEY,
    assert_not_received,
    audit_entries,
    cloud_config,
    json_lines,
    lsp_server,
    project,
    prompts,
    range_json,
    run_cli,
)

KEYS_PY = (
    "def public_one():\n"
    "    return 'MARK_ALPHA'\n"
    "\n"
    "\n"
    "def holder():\n"
    f"    key = '{AWS_KEY}'\n"
    "    return 'MARK_BETA'\n"
)
MARKERS = ("MARK_ALPHA", "MARK_BETA", "MARK_GAMMA", AWS_KEY)


def long_file(functions: int, *, secret_in: int | None, marker: str = "MARK_GAMMA") -> str:
    """Many top-level functions (a file that is reviewed in chunks); one may hold a key."""
    out = []
    for i in range(functions):
        body = "".join(f"    x = x + {j}  # {marker} {i}\n" for j in range(8))
        if i == secret_in:
            body += f"    token = '{AWS_KEY}'\n"
        out.append(f"def f{i}(x):\n{body}    return x\n\n\n")
    return "".join(out)


async def test_every_entry_point_refuses_the_clean_function_of_a_file_with_a_key(
    tmp_path: Path,
) -> None:
    ws = project(
        tmp_path / "ws",
        {
            "keys.py": KEYS_PY,
            "disk_only.py": KEYS_PY.replace("MARK_ALPHA", "MARK_ALPHA_DISK"),
            "ordinary.py": "def ok():\n    return 'PUBLIC_OK'\n",
        },
    )
    keys = (ws / "keys.py").as_uri()
    with FakeOpenAI() as cloud:
        cloud.answer = '{"findings": []}'
        async with lsp_server(tmp_path / "home", cloud_config(cloud), folders=[ws]) as s:
            s.open(keys, KEYS_PY)
            selection = {"uri": keys, "range": range_json(0, 1)}
            refused = await s.refused("localroute.review", selection)
            assert "AWS access key id (line 6)" in refused.message
            assert refused.data["consent"]["backend"] == "cloud"
            await s.refused("localroute.explain", selection)
            await s.refused("localroute.explain", {**selection, "task": "ask"})
            await s.refused("localroute.review", {**selection, "task": "lint"})
            await s.refused("localroute.review", {"uri": keys, "range": None})
            # Not opened in the editor: read from disk, judged the same.
            disk = (ws / "disk_only.py").as_uri()
            await s.refused("localroute.review", {"uri": disk, "range": range_json(0, 1)})

            # The light bulb never predicts the cloud for any part of the file.
            titles = await s.action_titles(keys, 0, 1)
            assert titles and not [t for t in titles if "@ cloud" in t], titles
            assert any("refused: private" in t for t in titles), titles
            route = await s.command("localroute.route", {"uri": keys, "task": "explain"})
            assert route["private"] is True and route["predicted"] is None

            # Bulk from the editor, cloud allowed: the ordinary file goes, the others do not.
            bulk = await s.command("localroute.reviewFiles", {"allowCloud": True})
            assert (bulk["files"], bulk["done"], bulk["refused"]) == (3, 3, 2), bulk
            assert bulk["backends"] == {"cloud": 1}
            assert bulk["findings"] == 0
            assert_not_received(cloud, *MARKERS, "MARK_ALPHA_DISK")
            assert any("PUBLIC_OK" in p for p in prompts(cloud))
            assert len(cloud.chat_requests) == 1

    entries = audit_entries(tmp_path / "home")
    for entry in entries:
        if entry["file"].endswith(("keys.py", "disk_only.py")):
            assert entry["bytes_sent"] == 0 and entry["locality"] != "cloud", entry
            # A refusal, or the local attempt before it (the closed port, tried when no
            # probe had said it was down yet): never a success, never a cloud.
            assert entry["outcome"] == "refused" or (
                entry["outcome"].startswith("unavailable:") and entry["locality"] == "local"
            ), entry
    refusals = [e for e in entries if e["file"].endswith("keys.py") and e["outcome"] == "refused"]
    assert refusals
    assert sum(e["file"].endswith("ordinary.py") and e["bytes_sent"] > 0 for e in entries) == 1


def test_a_long_file_reviewed_in_chunks_is_refused_whole(tmp_path: Path) -> None:
    """The key is in the last function; the chunks before it hold none and must not go."""
    text = long_file(60, secret_in=59)
    repo = project(tmp_path / "repo", {"big.py": text, "big_lint.py": text})
    with FakeOpenAI() as cloud:
        config = cloud_config(
            cloud, local_extra="context_tokens = 3000", cloud_extra="context_tokens = 3000"
        )
        home = tmp_path / "home"
        done = run_cli(home, config, "review", "big.py", "--format", "json", cwd=repo)
        assert done.returncode == 3, done.stderr
        (result,) = json_lines(done.stdout)
        assert result["status"] == "refused", result
        assert result["parts"] > 1, "the file was meant to be chunked"
        assert result["failed_parts"] == result["parts"]
        assert result["sent_to"] == [] and result["findings"] == []
        assert "Nothing was sent." in result["error"]
        assert "0/1 file(s) reviewed, 1 refused" in done.stderr

        # A custom diagnostics task takes the same path.
        lint = run_cli(home, config, "review", "big_lint.py", "--task", "lint", cwd=repo)
        assert lint.returncode == 3, lint.stderr
        assert "big_lint.py: refused:" in lint.stdout
        assert cloud.chat_requests == []
        assert_not_received(cloud, *MARKERS)
    assert all(e["bytes_sent"] == 0 for e in audit_entries(home))


def test_review_of_a_directory_sarif_audit_and_exit_status_tell_the_truth(tmp_path: Path) -> None:
    repo = project(
        tmp_path / "repo",
        {
            "src/keys.py": KEYS_PY,
            "src/big.py": long_file(40, secret_in=3),
            "src/ordinary.py": "def ok():\n    return 'PUBLIC_OK'\n",
        },
    )
    with FakeOpenAI() as cloud:
        cloud.answer = json.dumps(
            {"findings": [{"line": 2, "severity": "error", "message": "questionable"}]}
        )
        config = cloud_config(cloud, local_extra="context_tokens = 3000")
        home = tmp_path / "home"
        args = ("review", "src", "--allow-cloud", "--format", "sarif", "--fail-on", "error")
        done = run_cli(home, config, *args, cwd=repo)
        # Refused files take precedence over the finding (1): 3.
        assert done.returncode == 3, done.stderr
        assert_not_received(cloud, *MARKERS)
        assert len(cloud.chat_requests) == 1
        (run,) = json.loads(done.stdout)["runs"]
        assert [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                for r in run["results"]] == ["src/ordinary.py"]  # fmt: skip
        invocation = run["invocations"][0]
        assert invocation["executionSuccessful"] is False and invocation["exitCode"] == 3
        notes = {n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: n
                 for n in invocation["toolExecutionNotifications"]}  # fmt: skip
        assert set(notes) == {"src/keys.py", "src/big.py"}
        for note in notes.values():
            text = note["message"]["text"]
            assert "refused" in text and "Nothing was sent" in text, text
            assert "reviewed" not in text.replace("not reviewed", ""), text
        assert "1/3 file(s) reviewed, 2 refused, 0 not reviewed" in done.stderr

        summary = json.loads(run_cli(home, config, "audit", "--format", "json", cwd=repo).stdout)
        assert summary["cloud_files"] == {str((repo / "src/ordinary.py").resolve()): ["cloud"]}
        assert summary["refused"] >= 2


def test_a_file_partly_sent_before_the_cloud_failed_never_says_nothing_was_sent(
    tmp_path: Path,
) -> None:
    """Not private. Its first chunk (very long lines) fits no window and is sent nowhere;
    the others reach the cloud, which fails. The file's report must say that bytes left,
    call it 'not reviewed' (never 'refused'), and exit 3."""
    wide = "def wide(x):\n" + "".join(f"    x = x + {j}  # {'W' * 400}\n" for j in range(30))
    text = wide + "\n\n" + long_file(40, secret_in=None, marker="PLAIN")
    repo = project(tmp_path / "repo", {"plain.py": text})
    with FakeOpenAI() as cloud:
        cloud.error = openai_error("upstream exploded", 500, "server_error")
        config = cloud_config(
            cloud, local_extra="context_tokens = 3000", cloud_extra="context_tokens = 3000"
        )
        home = tmp_path / "home"
        done = run_cli(home, config, "review", "plain.py", "--format", "json", cwd=repo)
        assert cloud.chat_requests, "the cloud was meant to receive part of the file"
        assert done.returncode == 3, done.stderr
        (result,) = json_lines(done.stdout)
        assert result["status"] == "not reviewed" and result["refused"] is False
        assert result["parts"] > 1 and result["sent_to"] == ["cloud"]
        assert not re.search(r"(^|: )refused: ", result["error"]), result["error"]
        assert "Nothing was sent." not in result["error"], result["error"]
        assert "cloud" in result["error"]
    sent: list[dict[str, Any]] = [e for e in audit_entries(home) if e["bytes_sent"] > 0]
    assert sent and all(e["outcome"] != "ok" for e in sent)
    assert all(e["outcome"] != "refused" for e in audit_entries(home))
