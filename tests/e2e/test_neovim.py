"""Neovim end to end: a real headless Neovim with client-nvim/lua/localroute.lua, the real server
over stdio, and fake OpenAI-compatible backends on loopback.

The Lua drivers in tests/e2e/nvim/ run inside Neovim and write what they saw as JSON; the
assertions are made here, on that JSON and on what the fakes received.

- The first opens a file, waits for the client to attach, lists code actions, reviews and explains
  lines 1-3 through the module's keymaps (visual selection), explains the file through Neovim's own
  code-action flow, asks for hover, and provokes an error.
- The second works a real git repository made in a temp dir: `:Localroute status` with a backend
  that is down, `:LocalrouteReviewDir`, `:LocalrouteReviewChanged` (modified, staged and
  untracked files; a deleted one skipped), `:Localroute stop local` (its stop_command writes a
  marker and stops the local fake), then a review of a private file, refused, with consent asked
  through a stubbed `vim.ui.select`: declined, given once, and asked again the next time.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.ports import closed_port
from tests.support.cli import LOCALROUTE, ROOT, localroute_env
from tests.vscode.local_fake import CLOUD_FINDING, cloud_answer

CLIENT = ROOT / "client-nvim"
DRIVERS = Path(__file__).resolve().parent / "nvim"

SOURCE = """\
def divide(a, b):
    total = a / b
    return total


def greet(name):
    print("hello " + name)
"""

REVIEW = json.dumps({"findings": [{"line": 2, "severity": "warning", "message": "b may be zero"}]})
EXPLAIN = "Divides **a** by **b** and returns the quotient."


def neovim() -> str:
    """The Neovim to run; the test is skipped, saying why, when there is none that fits."""
    nvim = find_nvim()
    if nvim is None:
        pytest.skip("nvim is not installed")
    if nvim_version(nvim) < (0, 11):
        pytest.skip("the Neovim client needs Neovim 0.11+")
    return nvim


def find_nvim() -> str | None:
    beside = Path(sys.executable).parent / "nvim"
    return str(beside) if beside.exists() else shutil.which("nvim")


def nvim_version(nvim: str) -> tuple[int, int]:
    first = subprocess.run(
        [nvim, "--version"], capture_output=True, text=True, timeout=30
    ).stdout.splitlines()[0]
    match = re.search(r"v(\d+)\.(\d+)", first)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def answer(body: dict[str, Any]) -> str:
    """Review JSON for the review prompt (JSON only, with a schema), markdown otherwise."""
    system = str((body.get("messages") or [{}])[0].get("content", ""))
    return REVIEW if "JSON" in system or body.get("response_format") else EXPLAIN


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(stat.parent.name))
    return members


def server_stderr(state: Path) -> str:
    """The server's stderr, which Neovim writes piece by piece into its lsp.log."""
    log = state / "nvim" / "lsp.log"
    if not log.exists():
        return ""
    pieces = []
    for line in log.read_text().splitlines():
        if '"stderr"' in line:
            piece = line.rsplit("\t", 1)[-1]
            with contextlib.suppress(ValueError, SyntaxError):
                piece = ast.literal_eval(piece)
            pieces.append(piece)
    return "server stderr (lsp.log):\n" + "".join(pieces)[-6000:]


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def nvim_env(home: Path, config: Path, result: Path, **drive: str) -> dict[str, str]:
    """The environment of Neovim, and of the server it starts: its places under ``home``,
    the client's code, the server's command, where the driver writes its ``result``, and
    the driver's other ``LR_*`` settings."""
    return localroute_env(
        config=config,
        config_home=home / ".config",
        state_home=home / ".state",
        cache_home=home / ".cache",
        XDG_DATA_HOME=str(home / ".data"),
        LR_CLIENT=str(CLIENT),
        LR_CMD=json.dumps([*LOCALROUTE, "serve"]),
        LR_RESULT=str(result),
        **drive,
    )


def drive(
    nvim: str, driver: str, env: dict[str, str], cwd: Path, timeout_s: float = 90
) -> dict[str, Any]:
    """Run Neovim with the Lua ``driver`` (a file of tests/e2e/nvim); what it wrote, which
    must say it went through, with no process of Neovim's left behind."""
    code, output, left = run_nvim(nvim, DRIVERS / driver, env, cwd, timeout_s)
    state = Path(env["XDG_STATE_HOME"])
    context = f"exit code {code}\nNeovim output:\n{output}\n{server_stderr(state)}"
    result_path = Path(env["LR_RESULT"])
    assert result_path.exists(), context
    result: dict[str, Any] = json.loads(result_path.read_text())
    assert result["ok"], f"{result.get('error')}\n{context}"
    assert left == [], f"processes still running after Neovim exited: {left}\n{context}"
    return result


def run_nvim(
    nvim: str, init: Path, env: dict[str, str], cwd: Path, timeout_s: float = 90
) -> tuple[int, str, list[int]]:
    """Runs Neovim in its own process group; returns its exit code, its output, and the
    processes of the group still alive a few seconds after it exited (then kills them)."""
    process = subprocess.Popen(
        [nvim, "--headless", "--clean", "-u", str(init)],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_group(process.pid)
        stdout, stderr = process.communicate()
        pytest.fail(f"Neovim did not finish in {timeout_s} s\nstdout:\n{stdout}\nstderr:\n{stderr}")
    deadline = time.monotonic() + 5
    while group_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = group_members(process.pid)
    kill_group(process.pid)
    return process.returncode, stdout + stderr, left


def test_neovim_review_explain_hover(tmp_path: Path) -> None:
    nvim = neovim()
    workspace = tmp_path / "workspace"
    (workspace / ".git").mkdir(parents=True)
    source = workspace / "calc.py"
    source.write_text(SOURCE)

    with FakeOpenAI() as fake:
        fake.answer_fn = answer
        config = tmp_path / "config.toml"
        config.write_text(
            f'[backends.local]\nkind = "openai"\nurl = "{fake.url}"\n\n'
            '[tasks.review]\nroute = ["local:coder"]\n\n'
            '[tasks.explain]\nroute = ["local:coder"]\n'
        )
        env = nvim_env(tmp_path / "home", config, tmp_path / "result.json", LR_FILE=str(source))
        result = drive(nvim, "review.lua", env, workspace)
        chat = [request.json for request in fake.chat_requests]

    assert result["root_dir"] == str(workspace)
    assert "localroute.review" in result["commands"]

    titles = [action["title"] for action in result["actions"]]
    assert "Review selection — coder @ local" in titles, titles
    assert "Explain selection — coder @ local" in titles, titles
    assert any(title.startswith("Review file") for title in titles), titles
    # CodeActions that carry a Command (not bare Commands), with the one-object argument
    review = next(a for a in result["actions"] if a["title"].startswith("Review selection"))
    assert review["kind"] == "refactor.localroute.review"
    assert review["command"]["command"] == "localroute.review"
    assert review["command"]["arguments"][0]["uri"] == source.as_uri()

    assert result["mode_after_review"] == "n"
    [diagnostic] = result["diagnostics"]
    assert diagnostic["lnum"] == 1
    assert diagnostic["source"] == "localroute"
    assert diagnostic["message"] == "b may be zero"
    assert diagnostic["severity"] == 2  # vim.diagnostic.severity.WARN

    assert EXPLAIN in result["explain_float"]
    assert result["hover"]["kind"] == "markdown"
    assert EXPLAIN in result["hover"]["value"]
    assert result.get("hover_outside") is None  # nil: not written to the JSON
    assert EXPLAIN in result["code_action_float"]

    errors = [m["message"] for m in result["messages"] if "past the end" in m["message"]]
    assert len(errors) == 1 and errors[0].startswith("localroute: "), result["messages"]

    # one review and two explanations (lines 1-3, then the file) reached the backend
    reviews = [body for body in chat if answer(body) == REVIEW]
    assert len(reviews) == 1 and len(chat) == 3, chat
    assert all(body["model"] == "coder" for body in chat)
    assert "b may be zero" not in json.dumps(reviews[0])  # the prompt, not the answer


GIT = ["git", "-c", "user.name=localroute test", "-c", "user.email=test@localroute.invalid"]


def marked(name: str) -> str:
    """A small Python file the local fake recognises by its marker."""
    return f"# marker: {name}\ndef {name}(a, b):\n    return a / b\n"


def make_repository(workspace: Path) -> None:
    """A git repository with one commit, then: a file modified, one staged, one untracked, one
    deleted, one unchanged."""
    files = {
        "calc.py": SOURCE,
        "pkg/a.py": marked("pkg_a"),
        "pkg/b.py": marked("pkg_b"),
        "changed/edited.py": marked("old_edited"),
        "changed/staged.py": marked("old_staged"),
        "changed/gone.py": marked("gone"),
        "changed/same.py": marked("same"),
        "secrets/db.py": 'def connect():\n    return open_session("db.internal")\n',
    }
    for name, text in files.items():
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name).write_text(text)

    def git(*args: str) -> None:
        subprocess.run([*GIT, *args], cwd=workspace, check=True, capture_output=True, timeout=60)

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "first")
    (workspace / "changed/edited.py").write_text(marked("edited"))
    (workspace / "changed/staged.py").write_text(marked("staged"))
    git("add", "changed/staged.py")
    (workspace / "changed/new.py").write_text(marked("untracked"))
    (workspace / "changed/gone.py").unlink()


@pytest.fixture
def local_fake(tmp_path: Path) -> Any:
    """tests/vscode/local_fake.py in its own process, so that a stop_command can stop it."""
    stats = tmp_path / "local-stats.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.vscode.local_fake", str(stats)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    # Reaped as soon as it exits, so that a stop_command waiting for it to be gone sees it gone.
    reaper = threading.Thread(target=process.wait, daemon=True)
    reaper.start()
    try:
        yield {"url": url, "pid": process.pid, "stats": stats, "process": process}
    finally:
        kill_group(process.pid)
        process.wait(timeout=10)


def test_neovim_status_down_bulk_changed_stop_consent(tmp_path: Path, local_fake: Any) -> None:
    nvim = neovim()
    if shutil.which("git") is None:
        pytest.skip("git is not installed")

    workspace = tmp_path / "workspace"
    workspace.mkdir()
    make_repository(workspace)
    stop_marker = tmp_path / "stopped.txt"

    with FakeOpenAI() as cloud:
        cloud.answer_fn = cloud_answer
        config = tmp_path / "config.toml"
        # like `systemctl stop`: returns once the service is gone
        pid = local_fake["pid"]
        stop = (
            f"echo stopped >> '{stop_marker}'; kill {pid}; "
            f"while kill -0 {pid} 2>/dev/null; do sleep 0.05; done"
        )
        config.write_text(
            f'[backends.local]\nkind = "openai"\nurl = "{local_fake["url"]}"\n'
            f"stop_command = {json.dumps(['sh', '-c', stop])}\n\n"
            f'[backends.down]\nkind = "openai"\nurl = "http://127.0.0.1:{closed_port()}/v1"\n\n'
            f'[backends.cloud]\nkind = "openai"\nurl = "{cloud.url}"\nlocality = "cloud"\n\n'
            '[tasks.review]\nroute = ["local:coder", "down:coder", "cloud:gpt-cloud"]\n\n'
            '[tasks.explain]\nroute = ["local:coder", "cloud:gpt-cloud"]\n\n'
            '[privacy]\nglobs = ["secrets/**"]\n'
        )
        home, result_path = tmp_path / "home", tmp_path / "result.json"
        env = nvim_env(home, config, result_path, LR_WORKSPACE=str(workspace))
        result = drive(nvim, "bulk.lua", env, workspace, timeout_s=180)
        cloud_chats = [request.json for request in cloud.chat_requests]

    local_stats = json.loads(local_fake["stats"].read_text())

    # :Localroute status with a backend down (latency null) lists it, and does not throw
    status = result["status"]
    assert re.search(r"^down \(local\): down\b", status, re.M), status
    assert re.search(r"^local \(local\): up \d+ ms", status, re.M), status

    # :LocalrouteReviewDir pkg — every file of the folder reviewed, findings as diagnostics
    assert "reviewed 2 of 2 file(s)" in result["review_dir"], result["review_dir"]
    assert set(result["after_dir"]) == {"pkg/a.py", "pkg/b.py"}, result["after_dir"]
    assert result["qflist"] == 2, result

    # :LocalrouteReviewChanged — modified, staged and untracked; not the deleted or unchanged
    assert sorted(result["changed_files"]) == [
        "changed/edited.py",
        "changed/new.py",
        "changed/staged.py",
    ], result["changed_files"]
    assert "reviewed 3 of 3 file(s)" in result["review_changed"], result["review_changed"]
    assert {"changed/edited.py", "changed/new.py", "changed/staged.py"} <= set(
        result["after_changed"]
    ), result["after_changed"]
    markers = local_stats["markers"]
    assert {k: markers.get(k) for k in ("pkg_a", "pkg_b", "edited", "staged", "untracked")} == {
        "pkg_a": 1,
        "pkg_b": 1,
        "edited": 1,
        "staged": 1,
        "untracked": 1,
    }, markers
    assert not {"same", "gone", "old_edited", "old_staged"} & set(markers), markers

    # :Localroute stop local ran the stop_command; status then says stopped
    assert stop_marker.read_text().strip() == "stopped"
    assert local_fake["process"].wait(timeout=10) is not None
    assert "local: stopped" in result["stop"], result["stop"]
    assert re.search(r"^local \(local\): stopped\b", result["status_after_stop"], re.M), result

    # consent: asked three times with the same choice; declined sends nothing, yes sends once
    prompts = result["prompts"]
    assert len(prompts) == 3, prompts
    for prompt in prompts:
        assert prompt["items"] == ["Do not send", "Send to cloud anyway (this once)"], prompt
        assert "secrets/db.py" in prompt["prompt"], prompt
        assert "private" in prompt["prompt"], prompt
    assert [p["answer"] for p in prompts] == [1, 2, 1]
    assert "(sent with your consent)" in result["given"]
    assert result["db_diagnostics"] == [CLOUD_FINDING], result["db_diagnostics"]
    assert len(cloud_chats) == 1, cloud_chats  # the one consented request, nothing else
    assert "open_session" in json.dumps(cloud_chats[0])
