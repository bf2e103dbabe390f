"""The SQLite file behind :mod:`localroute.results_cache`: entries by key, bounded in bytes,
safe with writers in several processes.

WAL mode: readers never wait for a writer; each write is one short ``BEGIN IMMEDIATE``
transaction, so two processes never deadlock upgrading a read to a write, and a busy
file is waited for (``busy_timeout``) rather than failed. The total size is kept in the
database by triggers; past the bound, least recently used entries are deleted (a hit
refreshes its entry's use at most hourly, so a run that only reads writes nothing).

Chosen over one file per answer written with a rename: eviction by use and size is one
indexed query rather than a directory scan, and the answers are one file, not thousands
(figures in ``bench/scale.py --store``). Blocking: callers run it in a thread.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

TOUCH_AFTER_S = 3600.0
"""A hit refreshes an entry's last use only when it is older than this."""

EVICT_TO = 0.9
"""Eviction goes down to this share of the bound, so it does not run at every write."""

ENTRY_OVERHEAD = 64
"""Bytes counted per entry besides key and value (row and index overhead)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    size INTEGER NOT NULL,
    used REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS answers_by_use ON answers (used);
CREATE TABLE IF NOT EXISTS totals (id INTEGER PRIMARY KEY CHECK (id = 0), bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO totals VALUES (0, 0);
CREATE TRIGGER IF NOT EXISTS answers_added AFTER INSERT ON answers BEGIN
    UPDATE totals SET bytes = bytes + new.size WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS answers_removed AFTER DELETE ON answers BEGIN
    UPDATE totals SET bytes = bytes - old.size WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS answers_resized AFTER UPDATE OF size ON answers BEGIN
    UPDATE totals SET bytes = bytes - old.size + new.size WHERE id = 0;
END;
"""


class AnswerStore:
    """The SQLite file: get and put by key, bounded in bytes. Blocking; thread-safe."""

    def __init__(self, path: Path, *, max_bytes: int, busy_timeout_s: float = 5.0) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Created private before SQLite opens it; its -wal and -shm files take this mode.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(
            path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            # Freed pages go back to the file system after an eviction (new files only).
            self._db.execute("PRAGMA auto_vacuum = INCREMENTAL")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            # executescript commits what is pending first: the transaction is in the script.
            self._db.executescript(f"BEGIN IMMEDIATE;\n{_SCHEMA}\nCOMMIT;")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._db.close()
            raise

    def _write(self) -> _Transaction:
        return _Transaction(self._db)

    def get_first(self, keys: Sequence[str]) -> tuple[str, str] | None:
        """The first of ``keys`` (in order) that has an entry, and its value."""
        if not keys:
            return None
        marks = ",".join("?" * len(keys))
        with self._lock:
            rows = self._db.execute(
                f"SELECT key, value, used FROM answers WHERE key IN ({marks})", list(keys)
            ).fetchall()
            if not rows:
                return None
            found = {key: (value, used) for key, value, used in rows}
            key = next(k for k in keys if k in found)
            value, used = found[key]
            now = time.time()
            if now - used > TOUCH_AFTER_S:
                with self._write():
                    self._db.execute("UPDATE answers SET used = ? WHERE key = ?", (now, key))
        return key, value

    def put(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``; evict the least recently used past the bound."""
        size = len(key) + len(value.encode("utf-8")) + ENTRY_OVERHEAD
        if size > self.max_bytes:
            return
        with self._lock:
            with self._write():
                self._db.execute(
                    "INSERT INTO answers (key, value, size, used) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                    "size = excluded.size, used = excluded.used",
                    (key, value, size, time.time()),
                )
                total = self._total()
                evicted = total > self.max_bytes
                if evicted:
                    self._evict(total)
            if evicted:
                self._db.execute("PRAGMA incremental_vacuum")

    def delete(self, key: str) -> None:
        with self._lock, self._write():
            self._db.execute("DELETE FROM answers WHERE key = ?", (key,))

    def _total(self) -> int:
        row = self._db.execute("SELECT bytes FROM totals WHERE id = 0").fetchone()
        return int(row[0]) if row else 0

    def _evict(self, total: int) -> None:
        """Delete the least recently used entries that free ``total - target`` bytes."""
        excess = total - int(self.max_bytes * EVICT_TO)
        self._db.execute(
            "DELETE FROM answers WHERE key IN (SELECT key FROM ("
            "SELECT key, size, SUM(size) OVER (ORDER BY used, key ROWS UNBOUNDED PRECEDING) "
            "AS running FROM answers) WHERE running - size < ?)",
            (excess,),
        )

    def stats(self) -> tuple[int, int]:
        """Entries and bytes counted."""
        with self._lock:
            count = self._db.execute("SELECT count(*) FROM answers").fetchone()[0]
            return int(count), self._total()

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error): the write lock is taken at
    the start, so two processes never deadlock upgrading a read to a write."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if kind is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")
