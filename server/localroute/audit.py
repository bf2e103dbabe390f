"""The audit log: one JSON line per backend request, to prove what left the machine.

Each line holds when, which task and file, the privacy class and its reason, the
backend, model and locality, the bytes sent, the tokens, the latency and the
outcome — never the code, never a credential. Files rotate by size
(`audit.jsonl` → `audit.jsonl.1` …).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localroute.config import paths
from localroute.config.models import AuditConfig
from localroute.privacy.secrets import find_secrets

log = logging.getLogger(__name__)

MAX_OUTCOME_CHARS = 300


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log: a request, where it went, what was sent and how it ended."""

    task: str
    file: str
    privacy: str  # "private" | "not private"
    privacy_reason: str
    backend: str | None
    model: str | None
    locality: str | None
    bytes_sent: int
    outcome: str  # "ok" | "refused" | "cancelled" | "unavailable: …" | "rejected: …"
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    consent: bool = False
    """Sent to a cloud backend only because the user consented to this one request."""
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


def default_path(env: Mapping[str, str] | None = None) -> Path:
    return paths.audit_path(env)


_PLAIN_OUTCOMES = frozenset({"ok", "refused", "failed", "cancelled"})
"""Outcomes that are the server's own words, never a backend's: nothing to look through
(a scan for credentials costs more than the rest of an audit line)."""


def safe_outcome(text: str) -> str:
    """One line, bounded, and never a credential (an error may echo what it was sent)."""
    if text in _PLAIN_OUTCOMES:
        return text
    line = " ".join(text.split())[:MAX_OUTCOME_CHARS]
    for hit in find_secrets(line):
        # The kind of failure before the colon is kept ("rejected: …"), unless there is
        # none or it is where the credential is.
        head, colon, _ = line.partition(":")
        kept = head if colon and not find_secrets(head) else "outcome"
        return f"{kept}: [message withheld: it held a {hit.kind}]"
    return line


def audit_log_for(config: AuditConfig, env: Mapping[str, str] | None = None) -> AuditLog | None:
    if not config.enabled:
        return None
    path = Path(config.path).expanduser() if config.path else default_path(env)
    return AuditLog(path, max_bytes=config.max_bytes)


class AuditLog:
    """The audit file, appended to one line a try. The file stays open between lines
    (opening and closing it cost a request more than the write); a stat of its path before
    each line finds it rotated, replaced or removed (by this process or another), and it
    is opened again."""

    def __init__(self, path: Path, *, max_bytes: int = 5_000_000, backups: int = 3) -> None:
        self.path = path
        self._name = os.fspath(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._ready = False  # the folder exists (made once, not on every request)
        self._fd: int | None = None
        self._inode = -1
        self._closer: weakref.finalize[Any, Any] | None = None

    def record(self, entry: AuditEntry) -> None:
        """Append one line; an audit failure is logged, never raised into a request."""
        # Its fields are all plain values: its own dict is what asdict() would deep-copy.
        line = json.dumps(vars(entry), ensure_ascii=False) + "\n"
        try:
            with self._lock:
                if not self._ready:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._ready = True
                fd = self._open_for(len(line))
                # One write(2) of the whole line (O_APPEND: never interleaved with
                # another process's line), without a text wrapper per request.
                data = line.encode("utf-8")
                while data:
                    data = data[os.write(fd, data) :]
        except OSError as exc:
            self.close()
            log.error("cannot write the audit log %s: %s", self.path, exc)

    def _open_for(self, incoming: int) -> int:
        """The open file at the path, rotated first when ``incoming`` bytes would make it
        larger than ``max_bytes``."""
        try:
            info: os.stat_result | None = os.stat(self._name)
        except FileNotFoundError:
            info = None
        if info is not None and info.st_size + incoming > self.max_bytes:
            self._rotate()
            info = None
        if self._fd is None or info is None or info.st_ino != self._inode:
            self._shut()
            fd = os.open(self._name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._fd, self._inode = fd, os.fstat(fd).st_ino
            self._closer = weakref.finalize(self, _close_quietly, fd)
        return self._fd

    def close(self) -> None:
        """Close the file (a later line opens it again)."""
        with self._lock:
            self._shut()

    def _shut(self) -> None:
        closer, self._closer, self._fd = self._closer, None, None
        if closer is not None:
            closer()

    def _rotate(self) -> None:
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def read_entries(path: Path, *, since: float | None = None) -> Iterator[dict[str, Any]]:
    """Every entry of the log and its rotated files, oldest first; bad lines are skipped."""
    files = sorted(path.parent.glob(path.name + ".*"), key=_rotation_index, reverse=True)
    for file in [*files, path]:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict):
                continue
            if since is not None and _timestamp(entry) < since:
                continue
            yield entry


def _rotation_index(path: Path) -> int:
    suffix = path.name.rsplit(".", 1)[-1]
    return int(suffix) if suffix.isdigit() else 0


def _timestamp(entry: Mapping[str, Any]) -> float:
    try:
        return datetime.fromisoformat(str(entry.get("time"))).timestamp()
    except ValueError:
        return 0.0


_DURATION_RE = re.compile(r"^(\d+)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str) -> float:
    """`7d`, `12h`, `30m` → an epoch time that long ago."""
    match = _DURATION_RE.match(text.strip())
    if not match:
        raise ValueError(f"--since takes a duration like 7d, 12h or 30m (got {text!r})")
    return time.time() - int(match.group(1)) * _UNIT_S[match.group(2)]


def summarize(entries: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """Requests, bytes and tokens per backend and per locality; the files whose content
    reached a cloud backend (only where bytes were sent); refusals; consented sends."""
    per_backend: dict[str, dict[str, Any]] = {}
    per_locality: dict[str, dict[str, Any]] = {}
    cloud_files: dict[str, set[str]] = {}
    consented: list[dict[str, Any]] = []
    refused = 0
    failed = 0
    for entry in entries:
        outcome = entry.get("outcome")
        if not entry.get("backend"):
            refused += outcome == "refused"
            failed += outcome == "failed"
            continue
        tokens = (entry.get("prompt_tokens") or 0) + (entry.get("completion_tokens") or 0)
        sent = int(entry.get("bytes_sent") or 0)
        for table, key in (
            (per_backend, str(entry["backend"])),
            (per_locality, str(entry.get("locality"))),
        ):
            row = table.setdefault(key, {"requests": 0, "ok": 0, "bytes_sent": 0, "tokens": 0})
            row["requests"] += 1
            row["ok"] += outcome == "ok"
            row["bytes_sent"] += sent
            row["tokens"] += tokens
        if entry.get("locality") == "cloud" and sent > 0:
            cloud_files.setdefault(str(entry.get("file")), set()).add(str(entry["backend"]))
        if entry.get("consent") and sent > 0:
            consented.append(
                {
                    "time": entry.get("time"),
                    "file": entry.get("file"),
                    "backend": entry.get("backend"),
                    "task": entry.get("task"),
                    "outcome": outcome,
                }
            )
    return {
        "backends": per_backend,
        "localities": per_locality,
        "refused": refused,
        "failed": failed,
        "cloud_files": {file: sorted(names) for file, names in sorted(cloud_files.items())},
        "consented": consented,
    }


def summary_text(summary: Mapping[str, Any], path: Path, since: str | None) -> str:
    """`localroute audit` as text: tables per backend and per locality, then what was
    refused, failed, sent to a cloud and sent with consent."""
    window = f" in the last {since}" if since else ""
    lines = [f"Audit log {path}{window}"]
    for title, rows in (("backend", summary["backends"]), ("locality", summary["localities"])):
        lines.append(f"\n{title:<16} {'requests':>8} {'ok':>5} {'bytes sent':>11} {'tokens':>8}")
        for name, row in sorted(rows.items()):
            lines.append(
                f"{name:<16} {row['requests']:>8} {row['ok']:>5} {row['bytes_sent']:>11} "
                f"{row['tokens']:>8}"
            )
    lines.append(f"\nrefused for privacy: {summary['refused']}")
    lines.append(f"failed (no backend answered): {summary['failed']}")
    cloud = summary["cloud_files"]
    lines.append(f"files whose content went to a cloud backend: {len(cloud)}")
    lines += [f"  {file}  → {', '.join(backends)}" for file, backends in cloud.items()]
    consented = summary["consented"]
    lines.append(f"sent to a cloud backend with your consent: {len(consented)}")
    lines += [
        f"  {item['time']}  {item['file']}  → {item['backend']} ({item['task']})"
        for item in consented
    ]
    return "\n".join(lines)
