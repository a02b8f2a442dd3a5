"""A resumable journal: every finished item recorded in SQLite as it completes.

Running the same batch again with the same journal skips what is done and yields the
recorded results in their place: only for the very item and function that produced them
(a digest of each item is stored beside its result, a digest of the function's code in the
journal), so a changed item runs again and a changed function is refused. Writes go through
WAL and are committed at least every half second, so a ``kill -9`` of the parent loses at
most the last second of results.
"""

from __future__ import annotations

import pickle
import sqlite3
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gilwise._outcome import Failure, JournalError
from gilwise._pickling import dumps
from gilwise._segment import Segment

COMMIT_SECONDS = 0.5
PYTHON = "{}.{}".format(*sys.version_info)  # each has its own bytecode, so its own digests
FORMAT = "2"  # 2: a digest of each item beside its result, and of the function's code
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    value BLOB,
    error_type TEXT,
    error_message TEXT,
    traceback TEXT,
    attempts INTEGER NOT NULL,
    seconds REAL NOT NULL,
    worker TEXT NOT NULL,
    finished_at REAL NOT NULL,
    item_digest BLOB NOT NULL
) WITHOUT ROWID;  -- one b-tree, by key: inserts cost less
"""




class Journal:
    """One batch's journal file. ``bind`` it to a function, then look items up and record."""

    def __init__(self, path: str | Path) -> None:
        self.path: Path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"{self.path}: not a usable journal ({exc})") from None
        self._pending: list[tuple[Any, ...]] = []
        self._last_commit = time.monotonic()
        self._done: dict[str, bytes] = {}  # key -> digest of the item that was done

    def bind(self, function: str, code: str, retry_failed: bool) -> int:
        """Check the journal was made by this function, unchanged (or claim it); returns
        the number of items already done. ``code``: the function's digest."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(items)")}
        meta = dict(self._db.execute("SELECT name, value FROM meta"))
        if "item_digest" not in columns or (meta and meta.get("format") != FORMAT):
            raise JournalError(
                f"{self.path} was written by an older gilwise, without the digests that "
                "tell a changed item or function: delete it to start over"
            )
        if not meta:
            self._db.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("format", FORMAT), ("function", function), ("code", code),
                 ("python", PYTHON)],
            )
        elif meta.get("function") != function:
            raise JournalError(
                f"{self.path} was made by {meta.get('function')}, not {function}: "
                "use another journal file, or delete this one to start over"
            )
        elif meta.get("code") != code and meta.get("python") != PYTHON:
            raise JournalError(
                f"{self.path} was made under Python {meta.get('python')}, whose bytecode "
                f"differs: {function} cannot be told unchanged; delete the journal to start "
                "over, or use another file"
            )
        elif meta.get("code") != code:
            raise JournalError(
                f"{self.path} was made by another version of {function}: the function changed "
                "since (its code, constants, defaults or closure values), so the results "
                "recorded are not its own; delete the journal to start over, or use another file"
            )
        query = "SELECT key, item_digest FROM items" + (" WHERE ok = 1" if retry_failed else "")
        self._done = dict(self._db.execute(query))
        return len(self._done)

    def saved_mode(self) -> tuple[str, int, str] | None:
        """The (mode, workers, reason) an earlier run chose, so a resume does not re-probe."""
        meta = dict(self._db.execute("SELECT name, value FROM meta"))
        if "mode" not in meta:
            return None
        return meta["mode"], int(meta["workers"]), meta["reason"]

    def save_mode(self, mode: str, workers: int, reason: str) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [("mode", mode), ("workers", str(workers)), ("reason", reason)],
        )

    # -- resuming
    @property
    def resuming(self) -> bool:
        """Whether an earlier run left items done (else there is nothing to look up)."""
        return bool(self._done)

    def lookup(self, key: str, digest: bytes) -> tuple[bool, Any] | None:
        """(ok, value or Failure parts) recorded for ``key`` by an earlier run, if that run
        had this very item (``digest``: its ``item_digest``); else None: it is to run."""
        if self._done.get(key) != digest:
            return None
        row = self._db.execute(
            "SELECT ok, value, error_type, error_message, traceback, attempts, position "
            "FROM items WHERE key = ?", (key,)
        ).fetchone()
        ok, blob, etype, message, tb, attempts, position = row
        if ok:
            return True, pickle.loads(blob)
        return False, Failure(position, None, etype, message, tb or "", attempts)

    # -- recording
    def record(
        self, segment: Segment, positions: Iterable[int], keys: list[str], digests: list[bytes]
    ) -> None:
        """Queue the finished items at ``positions`` of ``segment`` (their keys and item
        digests at the same positions); commit when due."""
        now = time.time()
        n = len(segment.items)
        seconds = segment.seconds or [0.0] * n
        workers = segment.worker or [""] * n
        failures, attempts, values, start = (
            segment.failures, segment.attempts, segment.values, segment.start
        )
        append = self._pending.append
        for pos in positions:
            failure = failures.get(pos) if failures else None
            if failure is None:
                try:
                    blob = dumps(values[pos])
                except Exception:
                    continue  # a value we cannot store is simply run again next time
                append((keys[pos], start + pos, 1, blob, None, None, None,
                        attempts.get(pos, 1), seconds[pos], workers[pos], now, digests[pos]))
            else:
                append((keys[pos], start + pos, 0, None, failure.exc_type, failure.message,
                        failure.traceback, attempts.get(pos, 1), seconds[pos], workers[pos], now,
                        digests[pos]))
        self.tick()

    def tick(self) -> None:
        if self._pending and time.monotonic() - self._last_commit >= COMMIT_SECONDS:
            self.commit()

    def commit(self) -> None:
        if self._pending:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT OR REPLACE INTO items VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", self._pending
                )
            self._pending.clear()
        self._last_commit = time.monotonic()

    def close(self) -> None:
        self.commit()
        self._db.close()

    def counts(self) -> dict[str, int]:
        ok, failed = self._db.execute(
            "SELECT COALESCE(SUM(ok), 0), COALESCE(SUM(1 - ok), 0) FROM items"
        ).fetchone()
        return {"ok": ok, "failed": failed}

