"""A resumable journal: every finished item recorded in SQLite as it completes.

Running the same batch again with the same journal skips what is done and yields the
recorded results in their place: only for the very item and function that produced them
(a digest of each item is stored beside its result, a digest of the function's code in the
journal and beside each result), so a changed item runs again and a changed function is
refused, unless ``retry_failed`` asks to keep what the old code did and rerun its failures
with the new one (fix and rerun). Writes go through WAL and are committed at least every
half second, so a ``kill -9`` of the parent loses at most the last second of results.

One run writes a journal at a time (an flock, ``_lockfile``); it records the batch's state,
its input's total when known and the items running now, for ``gilwise status`` to read.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gilwise._lockfile import process_start, release, take
from gilwise._outcome import Failure, JournalError
from gilwise._pickling import dumps
from gilwise._segment import Segment

COMMIT_SECONDS = 0.5
PYTHON = "{}.{}".format(*sys.version_info)  # each has its own bytecode, so its own digests
# 2: a digest of each item beside its result, and of the function's code;
# 3: the code that made each result (read from a 2 too: its results are the meta's code's)
FORMAT = "3"
READABLE = ("2", FORMAT)
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
    item_digest BLOB NOT NULL,
    code TEXT  -- the digest of the function that made it
) WITHOUT ROWID;  -- one b-tree, by key: inserts cost less
CREATE TABLE IF NOT EXISTS running (position INTEGER NOT NULL, worker TEXT NOT NULL,
                                    since REAL NOT NULL);
"""
#: an item running now: (its position in the input, its worker, time.time() it started)
Running = tuple[int, str, float]




class Journal:
    """One batch's journal file. ``bind`` it to a function, then look items up and record."""

    def __init__(self, path: str | Path) -> None:
        self.path: Path = Path(path)
        try:
            self._lock = take(self.path)
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot open the journal ({exc.strerror})") from None
        if self._lock is None:
            raise JournalError(self._in_use())
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            release(self._lock)
            raise JournalError(f"{self.path}: not a usable journal ({exc})") from None
        self._pending: list[tuple[Any, ...]] = []
        self._last_commit = time.monotonic()
        self._done: dict[str, bytes] = {}  # key -> digest of the item that was done
        self._code = ""
        self._running: list[Running] = []
        self._running_changed = False
        self._recycled = 0
        self._claimed = False  # bound: this run's state is the journal's

    def _in_use(self) -> str:
        """The one line of a second run on a journal in use."""
        holder = ""
        try:
            uri = f"file:{self.path.resolve()}?mode=ro"
            with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=1)) as db:
                meta = dict(db.execute("SELECT name, value FROM meta"))
            holder = f" (pid {meta['writer_pid']})" if "writer_pid" in meta else ""
        except (sqlite3.Error, KeyError):
            pass
        return (f"{self.path} is in use by another run{holder}: two runs on one journal would "
                "do the same items twice; wait for it to end (gilwise status "
                f"{self.path} shows how it stands), or use another journal file")

    def bind(self, function: str, code: str, retry_failed: bool) -> int:
        """Check the journal was made by this function, unchanged (or claim it); returns
        the number of items already done. ``code``: the function's digest. With
        ``retry_failed``, a changed function is accepted: the results the old code made are
        kept, its failures run again with the new one."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(items)")}
        meta = dict(self._db.execute("SELECT name, value FROM meta"))
        if "item_digest" not in columns or (meta and meta.get("format") not in READABLE):
            raise JournalError(
                f"{self.path} was written by an older gilwise, without the digests that "
                "tell a changed item or function: delete it to start over"
            )
        if "code" not in columns:  # format 2: its results are all the meta's code's
            with self._db:
                self._db.execute("BEGIN")
                self._db.execute("ALTER TABLE items ADD COLUMN code TEXT")
                self._db.execute("UPDATE items SET code = ?", (meta.get("code"),))
                self._db.execute("UPDATE meta SET value = ? WHERE name = 'format'", (FORMAT,))
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
        elif meta.get("code") != code and not retry_failed:
            raise JournalError(self._changed(meta, function))
        self._code = code
        self._set(code=code, python=PYTHON)  # with retry_failed: the fixed code from now on
        query = "SELECT key, item_digest FROM items" + (" WHERE ok = 1" if retry_failed else "")
        self._done = dict(self._db.execute(query))
        self._claim()
        return len(self._done)

    def _changed(self, meta: dict[str, str], function: str) -> str:
        rerun = ("; or, to keep its results and run only its failures again with the new "
                 "code, pass retry_failed=True (--retry-failed)")
        if meta.get("python") != PYTHON:
            return (f"{self.path} was made under Python {meta.get('python')}, whose bytecode "
                    f"differs: {function} cannot be told unchanged; delete the journal to start "
                    f"over, or use another file{rerun}")
        return (f"{self.path} was made by another version of {function}: the function changed "
                "since (its code, constants, defaults or closure values), so the results "
                "recorded are not its own; delete the journal to start over, or use another "
                f"file{rerun}")

    def _claim(self) -> None:
        """This run writes the journal from now on: who, since when; nothing runs yet."""
        pid = os.getpid()
        self._claimed = True
        self._db.execute("DELETE FROM running")
        self._db.execute("DELETE FROM meta WHERE name IN ('total', 'ended_at')")
        self._set(writer_pid=pid, writer_start=process_start(pid), started_at=time.time(),
                  state="running", recycled=0)

    def _set(self, **values: Any) -> None:
        self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             [(name, str(value)) for name, value in values.items()])

    def set_total(self, total: int) -> None:
        """The input's length, when it is known: what ``status`` counts against."""
        self._set(total=total)

    def saved_mode(self) -> tuple[str, int, str] | None:
        """The (mode, workers, reason) an earlier run chose, so a resume does not re-probe."""
        meta = dict(self._db.execute("SELECT name, value FROM meta"))
        if "mode" not in meta:
            return None
        return meta["mode"], int(meta["workers"]), meta["reason"]

    def save_mode(self, mode: str, workers: int, reason: str) -> None:
        self._set(mode=mode, workers=workers, reason=reason)

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
        failures, attempts, values, start, code = (
            segment.failures, segment.attempts, segment.values, segment.start, self._code
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
                        attempts.get(pos, 1), seconds[pos], workers[pos], now, digests[pos],
                        code))
            else:
                append((keys[pos], start + pos, 0, None, failure.exc_type, failure.message,
                        failure.traceback, attempts.get(pos, 1), seconds[pos], workers[pos], now,
                        digests[pos], code))
        self.tick()

    def tick(self, running: Callable[[], list[Running]] | None = None,
             recycled: int | None = None) -> None:
        """Commit what is due (every COMMIT_SECONDS): finished items, and where ``running``
        is given, the items running now and the workers ``recycled`` so far."""
        if time.monotonic() - self._last_commit < COMMIT_SECONDS:
            return
        if running is not None:
            now = running()
            if now != self._running:
                self._running, self._running_changed = now, True
        if recycled is not None and recycled != self._recycled:
            self._recycled, self._running_changed = recycled, True
        if self._pending or self._running_changed:
            self.commit()
        else:
            self._last_commit = time.monotonic()

    def commit(self) -> None:
        if self._pending or self._running_changed:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT OR REPLACE INTO items VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    self._pending,
                )
                if self._running_changed:
                    self._db.execute("DELETE FROM running")
                    self._db.executemany("INSERT INTO running VALUES (?, ?, ?)", self._running)
                    self._set(recycled=self._recycled)
            self._pending.clear()
            self._running_changed = False
        self._last_commit = time.monotonic()

    def close(self, finished: bool = False) -> None:
        """Commit the rest and let go of the journal: the batch ``finished`` (every item of
        it yielded), else it stopped (an error, an interrupt, a loop left early)."""
        try:
            if self._claimed:
                self._running, self._running_changed = [], True
                self.commit()
                self._set(state="finished" if finished else "stopped", ended_at=time.time())
            self._db.close()
        finally:
            release(self._lock)

    def counts(self) -> dict[str, int]:
        ok, failed = self._db.execute(
            "SELECT COALESCE(SUM(ok), 0), COALESCE(SUM(1 - ok), 0) FROM items"
        ).fetchone()
        return {"ok": ok, "failed": failed}

