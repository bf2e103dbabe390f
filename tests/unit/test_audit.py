"""The audit log: what it records, rotation, the summary, and what it never holds."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from localroute import audit
from localroute.audit import AuditEntry, AuditLog


def entry(**changes: object) -> AuditEntry:
    fields: dict[str, object] = {
        "task": "review",
        "file": "/ws/app.py",
        "privacy": "not private",
        "privacy_reason": "not private",
        "backend": "local",
        "model": "coder",
        "locality": "local",
        "bytes_sent": 100,
        "outcome": "ok",
        "prompt_tokens": 10,
        "completion_tokens": 5,
    }
    fields.update(changes)
    return AuditEntry(**fields)  # type: ignore[arg-type]


def test_one_json_line_per_request_with_private_mode(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "state" / "audit.jsonl")
    log.record(entry())
    log.record(entry(backend="cloud", locality="cloud", file="/ws/b.py"))
    lines = (tmp_path / "state" / "audit.jsonl").read_text().splitlines()
    assert [json.loads(line)["backend"] for line in lines] == ["local", "cloud"]
    assert set(json.loads(lines[0])) >= {
        "time",
        "task",
        "file",
        "privacy",
        "privacy_reason",
        "backend",
        "model",
        "locality",
        "bytes_sent",
        "prompt_tokens",
        "completion_tokens",
        "latency_ms",
        "outcome",
    }
    assert os.stat(log.path).st_mode & 0o777 == 0o600


def test_a_line_is_the_whole_entry_field_by_field(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    written = entry(latency_ms=1.5, consent=True, model=None)
    log.record(written)
    line = log.path.read_text()
    assert list(json.loads(line).items()) == list(dataclasses.asdict(written).items())


def test_rotation_by_size_keeps_every_entry_readable(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=1_000, backups=3)
    for i in range(20):
        log.record(entry(file=f"/ws/f{i}.py"))
    assert (tmp_path / "audit.jsonl.1").exists()
    files = [e["file"] for e in audit.read_entries(tmp_path / "audit.jsonl")]
    # Oldest first; only what fell off the last backup is gone.
    assert files == sorted(files, key=lambda f: int(f[5:-3]))
    assert files[-1] == "/ws/f19.py"
    assert len(files) >= 10


def test_summary_per_backend_and_locality_and_cloud_files() -> None:
    entries = [
        entry(),
        entry(backend="copilot", locality="cloud", file="/ws/a.py", bytes_sent=50),
        entry(backend="copilot", locality="cloud", file="/ws/a.py", outcome="unavailable: x"),
        entry(backend=None, model=None, locality=None, outcome="refused", bytes_sent=0),
    ]
    summary = audit.summarize(iter(json.loads(json.dumps(e.__dict__)) for e in entries))
    assert summary["backends"]["copilot"] == {
        "requests": 2,
        "ok": 1,
        "bytes_sent": 150,
        "tokens": 30,
    }
    assert summary["localities"]["local"]["requests"] == 1
    assert summary["refused"] == 1
    assert summary["cloud_files"] == {"/ws/a.py": ["copilot"]}


def test_outcome_never_holds_a_credential() -> None:
    token = "gh" + "p_" + "Ab1Cd2Ef3Gh4" * 3
    assert token not in audit.safe_outcome(f"rejected: bad token {token} in header")
    assert (
        audit.safe_outcome("unavailable:  connection\nrefused") == "unavailable: connection refused"
    )


def test_the_servers_own_outcomes_are_kept_and_anything_longer_is_still_scanned() -> None:
    for word in ("ok", "refused", "failed", "cancelled"):
        assert audit.safe_outcome(word) == word
    token = "gh" + "p_" + "Ab1Cd2Ef3Gh4" * 3
    # Not one of the server's words: scanned, even when it starts like one.
    assert token not in audit.safe_outcome(f"ok {token}")
    assert audit.safe_outcome(f"failed: {token}") == (
        "failed: [message withheld: it held a GitHub token]"
    )
    # No kind before a colon, or the credential is in it: nothing of the line is kept.
    assert audit.safe_outcome(f"ok {token}") == (
        "outcome: [message withheld: it held a GitHub token]"
    )
    assert token not in audit.safe_outcome(f"{token}: rejected")


def test_since_parsing() -> None:
    assert audit.parse_since("7d") < audit.parse_since("1h")
    with pytest.raises(ValueError, match="7d"):
        audit.parse_since("last week")


def test_cli_audit_summary(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record(entry(backend="copilot", locality="cloud", file="/ws/sent.py"))
    log.record(entry())
    out = subprocess.run(
        [sys.executable, "-m", "localroute", "audit", "--path", str(log.path), "--since", "1d"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "files whose content went to a cloud backend: 1" in out
    assert "/ws/sent.py  → copilot" in out
    as_json = subprocess.run(
        [sys.executable, "-m", "localroute", "audit", "--path", str(log.path), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(as_json)["backends"]["local"]["requests"] == 1


def test_a_file_rotated_replaced_or_removed_by_another_process_gets_the_next_line(
    tmp_path: Path,
) -> None:
    """The file stays open between lines; whatever another process (a second server, the
    command line, the user) did to its path, the next line goes to the file at the path."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, max_bytes=1_000_000)
    log.record(entry(file="/ws/1.py"))
    path.rename(tmp_path / "audit.jsonl.1")  # rotated elsewhere: no file at the path
    log.record(entry(file="/ws/2.py"))
    path.rename(tmp_path / "moved.jsonl")
    path.write_text("")  # a new file at the path
    log.record(entry(file="/ws/3.py"))
    assert [json.loads(x)["file"] for x in path.read_text().splitlines()] == ["/ws/3.py"]
    path.unlink()  # removed, and nothing there
    log.record(entry(file="/ws/4.py"))
    files = {p.name: [json.loads(x)["file"] for x in p.read_text().splitlines()]
             for p in tmp_path.iterdir()}  # fmt: skip
    assert files == {
        "audit.jsonl.1": ["/ws/1.py"],
        "moved.jsonl": ["/ws/2.py"],
        "audit.jsonl": ["/ws/4.py"],
    }
    assert (path.stat().st_mode & 0o777) == 0o600
    log.close()
    log.record(entry(file="/ws/5.py"))  # closed, a line opens it again
    assert [json.loads(x)["file"] for x in path.read_text().splitlines()] == [
        "/ws/4.py",
        "/ws/5.py",
    ]


def test_the_open_file_is_closed_with_the_log(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record(entry())
    fd = log._fd
    assert fd is not None
    del log
    with pytest.raises(OSError):
        os.fstat(fd)
