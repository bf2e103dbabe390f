"""The command line as a shell user meets it: installed on PATH, quiet when piped into
`head`, clean when a host cannot be resolved, exit codes that CI can trust."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import LOCALROUTE, ROOT, env_in, run_localroute

UNRESOLVABLE = """
[backends.local]
kind = "openai"
url = "http://no-such-host.invalid:8080/v1"
[backends.lan]
kind = "ollama"
url = "http://no-such-box.lan:11434"
[tasks.review]
route = ["local:coder", "lan:qwen"]
"""


def test_route_probe_with_unresolvable_hosts_has_a_clean_stderr(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "a.py").write_text("x = 1\n")
    done = run_localroute(
        "route",
        "a.py",
        "--probe",
        env=env_in(tmp_path, UNRESOLVABLE),
        cwd=tmp_path,
        timeout=60,
        python_options=["-W", "default"],
    )
    assert done.returncode == 0, done.stderr
    assert "review → no backend available" in done.stdout
    assert "Warning" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_status_exits_non_zero_when_no_backend_of_any_task_is_up(tmp_path: Path) -> None:
    done = run_localroute(
        "status", "--format", "json", env=env_in(tmp_path, UNRESOLVABLE), timeout=60
    )
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert {b["name"]: b["up"] for b in report["backends"]} == {"local": False, "lan": False}
    assert report["problems"] == []


def test_a_closed_pipe_is_not_a_traceback(tmp_path: Path) -> None:
    state = tmp_path / "state" / "localroute"
    state.mkdir(parents=True)
    # An audit log long enough that its summary overflows a pipe's buffer.
    line = {
        "task": "review",
        "privacy": "not private",
        "privacy_reason": "not private",
        "backend": "cloud",
        "model": "m",
        "locality": "cloud",
        "bytes_sent": 10,
        "outcome": "ok",
        "time": "2026-12-01T00:00:00+00:00",
    }
    with (state / "audit.jsonl").open("w") as log:
        for i in range(3000):
            log.write(json.dumps({**line, "file": f"src/module_{i:05}_with_a_long_name.py"}) + "\n")
    reader = subprocess.Popen(
        [*LOCALROUTE, "audit"],
        env=env_in(tmp_path, UNRESOLVABLE),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.read(100)
    reader.stdout.close()  # `| head -c 100`
    err = reader.stderr.read().decode()
    assert reader.wait(timeout=30) == 141
    assert err == "", err


def test_make_install_puts_localroute_on_a_path(tmp_path: Path) -> None:
    """`make install` (scripts/install.sh): a venv of its own, the command linked."""
    bin_dir = tmp_path / "bin"
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install.sh")],
        env={
            **os.environ,
            "PYTHON": sys.executable,
            "PREFIX": str(tmp_path / "prefix"),
            "BIN_DIR": str(bin_dir),
            "PATH": os.environ.get("PATH", ""),
        },
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0 and "Could not find a version" in done.stderr:
        pytest.skip(f"the package index is unreachable: {done.stderr[-300:]}")
    assert done.returncode == 0, done.stderr
    command = bin_dir / "localroute"
    assert command.is_symlink()
    version = subprocess.run(
        [str(command), "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert version.stdout.startswith("localroute ")
    assert "is not on PATH" in done.stderr  # BIN_DIR was not on PATH: the user is told
