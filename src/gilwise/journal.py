"""A resumable journal: every finished item recorded in SQLite as it completes.

Running the same batch again with the same journal skips what is done and yields the
recorded results in their place. Writes go through WAL and are committed at least every
half second, so a ``kill -9`` of the parent loses at most the last second of results.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from gilwise._outcome import Failure, JournalError
from gilwise._pickling import dumps
from gilwise._segment import Segment

COMMIT_SECONDS = 0.5
FINGERPRINT_ITEMS = 16
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
    finished_at REAL NOT NULL
);
"""


def function_name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}:{getattr(fn, '__qualname__', type(fn).__qualname__)}"


def peek(items: Iterable[Any], n: int = FINGERPRINT_ITEMS) -> tuple[list[Any], Iterable[Any]]:
    """The first ``n`` items, and an iterable that still yields all of them."""
    if isinstance(items, (list, tuple, range)):
        return list(items[:n]), items
    it = iter(items)
    head = []
    for item in it:
        head.append(item)
        if len(head) >= n:
            break
    return head, _chain(head, it)


def _chain(head: list[Any], rest: Iterator[Any]) -> Iterator[Any]:
    yield from head
    yield from rest


def item_digests(items: list[Any]) -> list[str]:
    """Short hashes of the first items: how a journal recognises its input."""
    return [hashlib.sha256(repr(item).encode()).hexdigest()[:12] for item in items]


class Journal:
    """One batch's journal file. ``open`` it for a function and the input's first keys."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"{self.path}: not a usable journal ({exc})") from None
        self._pending: list[tuple[Any, ...]] = []
        self._last_commit = time.monotonic()
        self._done: dict[str, bool] = {}

    def bind(self, function: str, first_items: list[Any] | None, retry_failed: bool) -> int:
        """Check the journal belongs to this batch (or claim it); returns items already done.

        ``first_items``: the input's first items, which must match those of the run that made
        the journal (as far as both go); None when items are known by a key, not position.
        """
        meta = dict(self._db.execute("SELECT name, value FROM meta"))
        digests = item_digests(first_items or [])
        if not meta:
            self._db.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("function", function), ("input", json.dumps(digests))],
            )
        elif meta.get("function") != function:
            raise JournalError(
                f"{self.path} was made by {meta.get('function')}, not {function}: "
                "use another journal file, or delete this one to start over"
            )
        elif first_items is not None and not _same_start(json.loads(meta["input"]), digests):
            raise JournalError(
                f"{self.path} was made for another input (its first items differ): "
                "use another journal file, or delete this one to start over"
            )
        query = "SELECT key, ok FROM items" + (" WHERE ok = 1" if retry_failed else "")
        self._done = {key: bool(ok) for key, ok in self._db.execute(query)}
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

    def lookup(self, key: str) -> tuple[bool, Any] | None:
        """(ok, value or Failure parts) for a key done in an earlier run, else None."""
        if key not in self._done:
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
    def record(self, segment: Segment, positions: Iterable[int], keys: list[str]) -> None:
        """Queue the finished items at ``positions`` of ``segment``; commit when due."""
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
                        attempts.get(pos, 1), seconds[pos], workers[pos], now))
            else:
                append((keys[pos], start + pos, 0, None, failure.exc_type, failure.message,
                        failure.traceback, attempts.get(pos, 1), seconds[pos], workers[pos], now))
        self.tick()

    def tick(self) -> None:
        if self._pending and time.monotonic() - self._last_commit >= COMMIT_SECONDS:
            self.commit()

    def commit(self) -> None:
        if self._pending:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT OR REPLACE INTO items VALUES (?,?,?,?,?,?,?,?,?,?,?)", self._pending
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


def _same_start(old: list[str], new: list[str]) -> bool:
    common = min(len(old), len(new))
    return old[:common] == new[:common]
