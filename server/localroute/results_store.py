"""The SQLite file behind :mod:`localroute.results_cache`: entries by key, bounded in bytes,
safe with writers in several processes.

WAL mode: readers never wait for a writer; each write is one short ``BEGIN IMMEDIATE``
transaction, so two processes never deadlock upgrading a read to a write, and a busy
file is waited for (``busy_timeout``) rather than failed. The total size is kept in the
database by triggers; past the bound, least recently used entries are deleted (a hit
refreshes its entry's use at most hourly, so a run that only reads writes nothing).

Chosen over one file per answer written with a rename: eviction by use and size is one
indexed query rather than a directory scan, and the answers are one file, not thousands
(figures in ``bench/scale.py --store``). Blocking: reads are short enough for an event
loop; callers run writes in a thread.
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


StoreError = sqlite3.Error
"""What the store raises when the file cannot be read or written."""


class StoreDamaged(sqlite3.DatabaseError):
    """The file is not a database, or a damaged one."""


class AnswerStore:
    """The SQLite file: read and write by key, bounded in bytes. Blocking.

    Two connections: reads go through one (cheap enough for an event loop: in WAL mode a
    reader never waits for a writer), writes through the other, in batches (one
    transaction for many answers), from a worker thread.
    """

    def __init__(self, path: Path, *, max_bytes: int, busy_timeout_s: float = 5.0) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._read_lock = threading.Lock()
        self._write_lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Created private before SQLite opens it; its -wal and -shm files take this mode.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        self._writer = _connect(path, busy_timeout_s)
        try:
            # Freed pages go back to the file system after an eviction (new files only).
            self._writer.execute("PRAGMA auto_vacuum = INCREMENTAL")
            _switch_to_wal(self._writer, busy_timeout_s)
            self._writer.execute("PRAGMA synchronous = NORMAL")
            # executescript commits what is pending first: the transaction is in the script.
            self._writer.executescript(f"BEGIN IMMEDIATE;\n{_SCHEMA}\nCOMMIT;")
            self._reader = _connect(path, busy_timeout_s)
            self._reader.execute("PRAGMA query_only = 1")
        except BaseException as exc:
            if self._writer.in_transaction:
                self._writer.execute("ROLLBACK")
            self._writer.close()
            if isinstance(exc, sqlite3.DatabaseError) and (
                "not a database" in str(exc) or "malformed" in str(exc)
            ):
                raise StoreDamaged(str(exc)) from exc
            raise

    def get_first(self, keys: Sequence[str]) -> tuple[str, str, bool] | None:
        """The first of ``keys`` (in order) that has an entry, its value, and whether its
        last use should be refreshed (see :meth:`write`)."""
        if not keys:
            return None
        marks = ",".join("?" * len(keys))
        with self._read_lock:
            rows = self._reader.execute(
                f"SELECT key, value, used FROM answers WHERE key IN ({marks})", list(keys)
            ).fetchall()
        if not rows:
            return None
        found = {key: (value, used) for key, value, used in rows}
        key = next(k for k in keys if k in found)
        value, used = found[key]
        return key, value, time.time() - used > TOUCH_AFTER_S

    def write(
        self,
        puts: Sequence[tuple[str, str]] = (),
        touches: Sequence[str] = (),
        deletes: Sequence[str] = (),
    ) -> None:
        """Store, mark as used now, and delete entries, in one transaction; then evict the
        least recently used past the bound."""
        now = time.time()
        rows = [
            (key, value, size, now)
            for key, value in puts
            if (size := len(key) + len(value.encode("utf-8")) + ENTRY_OVERHEAD) <= self.max_bytes
        ]
        with self._write_lock:
            db = self._writer
            with _Transaction(db):
                db.executemany(
                    "INSERT INTO answers (key, value, size, used) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                    "size = excluded.size, used = excluded.used",
                    rows,
                )
                db.executemany(
                    "UPDATE answers SET used = ? WHERE key = ?", [(now, k) for k in touches]
                )
                db.executemany("DELETE FROM answers WHERE key = ?", [(k,) for k in deletes])
                total = self._total()
                evicted = total > self.max_bytes
                if evicted:
                    self._evict(total)
            if evicted:
                db.execute("PRAGMA incremental_vacuum")

    def put(self, key: str, value: str) -> None:
        """Store one entry (see :meth:`write`)."""
        self.write(puts=[(key, value)])

    def delete(self, key: str) -> None:
        self.write(deletes=[key])

    def _total(self) -> int:
        row = self._writer.execute("SELECT bytes FROM totals WHERE id = 0").fetchone()
        return int(row[0]) if row else 0

    def _evict(self, total: int) -> None:
        """Delete the least recently used entries that free ``total - target`` bytes."""
        excess = total - int(self.max_bytes * EVICT_TO)
        self._writer.execute(
            "DELETE FROM answers WHERE key IN (SELECT key FROM ("
            "SELECT key, size, SUM(size) OVER (ORDER BY used, key ROWS UNBOUNDED PRECEDING) "
            "AS running FROM answers) WHERE running - size < ?)",
            (excess,),
        )

    def stats(self) -> tuple[int, int]:
        """Entries and bytes counted."""
        with self._write_lock:
            count = self._writer.execute("SELECT count(*) FROM answers").fetchone()[0]
            return int(count), self._total()

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            self._reader.close()
            self._writer.close()


def _switch_to_wal(db: sqlite3.Connection, busy_timeout_s: float) -> None:
    """``PRAGMA journal_mode = WAL``, waiting out other processes as ``busy_timeout`` would.

    SQLite switches a file that is not in WAL mode yet without calling the busy handler:
    while another process holds a write lock on it (several processes creating the same
    new file at once: one of them is writing the schema), the switch fails at once with
    "database is locked". It is tried again until the busy timeout has passed.
    """
    deadline = time.monotonic() + busy_timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(0.01)


def _connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    db = sqlite3.connect(
        path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
    )
    db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    return db


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
