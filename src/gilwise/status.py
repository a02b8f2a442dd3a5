"""How a batch stands, read from its journal: live or dead, without disturbing the writer.

The journal is opened read-only (SQLite WAL lets a reader in while a run writes). Its state
is the writer's word (``running``, ``finished``, ``stopped``), except that a ``running``
journal whose writer process is gone is ``stopped``: it was killed before the end.
``gilwise status`` prints :func:`text` of :func:`read`; ``--json`` prints the dict itself.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gilwise._lockfile import alive
from gilwise._outcome import JournalError

RATE_WINDOW = 60.0  # seconds: the rate is that of the last minute (of activity)
HISTORY_POINTS = 60
HUNG_FACTOR = 10  # an item running this many times longer than the average stands out


def read(path: str | Path, now: float | None = None) -> dict[str, Any]:
    """The status of the batch whose journal is ``path``, as a JSON-ready dict; raises
    JournalError (one line) for a file that is not a gilwise journal."""
    path = Path(path)
    if not path.is_file():
        raise JournalError(f"{path}: no such journal file")
    now = time.time() if now is None else now
    try:
        with contextlib.closing(_connect(path)) as db:
            return _read(db, path, now)
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"{path}: not a gilwise journal ({exc})") from None


def _connect(path: Path) -> sqlite3.Connection:
    """Read-only. A journal whose writer is gone may have no WAL index to share: SQLite
    then reads the file as it stands (immutable), which is safe with no writer."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    db = sqlite3.connect(uri, uri=True, timeout=5)
    try:
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        db.close()
        db = sqlite3.connect(uri + "&immutable=1", uri=True)
    return db


def _read(db: sqlite3.Connection, path: Path, now: float) -> dict[str, Any]:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    meta = dict(db.execute("SELECT name, value FROM meta")) if "meta" in tables else {}
    if "items" not in tables or "format" not in meta:
        raise JournalError(f"{path}: not a gilwise journal (no gilwise tables in it)")
    pid = int(meta["writer_pid"]) if meta.get("writer_pid") else None
    state = meta.get("state", "stopped")
    if state == "running" and (pid is None or not alive(pid, meta.get("writer_start", ""))):
        state = "stopped"  # its writer died before the end (kill -9, a crash, power)
    done, failed = db.execute(
        "SELECT COALESCE(SUM(ok), 0), COALESCE(SUM(1 - ok), 0) FROM items").fetchone()
    total = int(meta["total"]) if meta.get("total") else None
    started = float(meta["started_at"]) if meta.get("started_at") else None
    ended = float(meta["ended_at"]) if meta.get("ended_at") else None
    last = db.execute("SELECT MAX(finished_at) FROM items").fetchone()[0]
    until = now if state == "running" else (ended or last or now)
    rate = _rate(db, until, started)
    running = []
    if state == "running" and "running" in tables:
        running = [{"position": position, "worker": worker, "seconds": max(0.0, now - since)}
                   for position, worker, since in db.execute(
                       "SELECT position, worker, since FROM running ORDER BY position")]
    left = None if total is None else max(0, total - done - failed)
    eta = None
    if state == "finished":
        eta = 0.0
    elif state == "running" and left is not None and rate > 0:
        eta = left / rate
    average = db.execute("SELECT AVG(seconds) FROM items WHERE ok = 1").fetchone()[0]
    return {
        "journal": str(path),
        "state": state,
        "pid": pid,
        "function": meta.get("function"),
        "mode": meta.get("mode"),
        "workers": int(meta["workers"]) if meta.get("workers") else None,
        "started_at": started,
        "ended_at": ended if state != "running" else None,
        "done": done,
        "failed": failed,
        "total": total,
        "rate": rate,
        "eta_seconds": eta,
        "running": running,
        "item_seconds": average,
        "failures": _failures(db),
        "recycled": int(meta.get("recycled", 0) or 0),
        "history": _history(db, started, until),
    }


def _rate(db: sqlite3.Connection, until: float, started: float | None) -> float:
    """Items per second over the last minute up to ``until`` (or since this run started,
    where that is shorter); items resumed from earlier runs do not count."""
    since = until - RATE_WINDOW
    if started is not None:
        since = max(since, started)
    span = until - since
    if span <= 0:
        return 0.0
    count = db.execute("SELECT COUNT(*) FROM items WHERE finished_at > ? AND finished_at <= ?",
                       (since, until)).fetchone()[0]
    return count / span


def _failures(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """Failures by type, most frequent first, one example each."""
    rows = db.execute(
        "SELECT error_type, COUNT(*), MIN(position) FROM items WHERE ok = 0 "
        "GROUP BY error_type ORDER BY COUNT(*) DESC, error_type").fetchall()
    found = []
    for etype, count, position in rows:
        message = db.execute("SELECT error_message FROM items WHERE ok = 0 AND position = ? "
                             "AND error_type = ?", (position, etype)).fetchone()
        found.append({"type": etype, "count": count,
                      "example": {"position": position, "message": message[0] if message else ""}})
    return found


def _history(db: sqlite3.Connection, started: float | None, until: float) -> list[list[float]]:
    """Throughput over this run: [seconds since it started, items/s] per step, at most
    HISTORY_POINTS of them (for ``--serve``'s plot)."""
    if started is None or until <= started:
        return []
    step = max(1.0, (until - started) / HISTORY_POINTS)
    counts = dict(db.execute(
        "SELECT CAST((finished_at - ?) / ? AS INTEGER), COUNT(*) FROM items "
        "WHERE finished_at >= ? GROUP BY 1", (started, step, started)))
    steps = int((until - started) / step) + 1
    return [[round(i * step, 1), counts.get(i, 0) / step] for i in range(steps)]


# ---------------------------------------------------------------- the text form


def text(status: dict[str, Any], now: float | None = None) -> str:
    """The status for people, a few aligned lines."""
    now = time.time() if now is None else now
    state = status["state"]
    who = f" (pid {status['pid']})" if status["pid"] and state == "running" else ""
    lines = [f"{status['journal']}: {state}{who}"]
    started, ended = status["started_at"], status["ended_at"]
    if started:
        end = f", ended {_when(ended)}" if ended else ""
        lines.append(f"  started   {_when(started)} ({_span(now - started)} ago){end}")
    how = f" ({status['mode']}×{status['workers']})" if status["mode"] else ""
    lines.append(f"  function  {status['function']}{how}")
    total = status["total"]
    of = f" of {total:,} ({(status['done'] + status['failed']) / total:.1%})" if total else \
        " (total unknown)"
    lines.append(f"  progress  {status['done']:,} done, {status['failed']:,} failed{of}")
    eta = "" if status["eta_seconds"] is None else f"; ETA {_span(status['eta_seconds'])}"
    lines.append(f"  rate      {status['rate']:,.1f} items/s over the last minute{eta}")
    average = status["item_seconds"]
    for i, item in enumerate(status["running"]):
        hung = average and item["seconds"] > max(HUNG_FACTOR * average, 1.0)
        flag = f"  <- {item['seconds'] / average:,.0f}x an item's average: hung?" if hung else ""
        lines.append(f"  {'running' if i == 0 else '':8}  item {item['position']} on worker "
                     f"{item['worker']} for {_span(item['seconds'])}{flag}")
    if state == "running" and not status["running"]:
        lines.append("  running   (none this moment)")
    for i, failure in enumerate(status["failures"]):
        example = failure["example"]
        lines.append(f"  {'failures' if i == 0 else '':8}  {failure['type']} ×{failure['count']}, "
                     f"e.g. item {example['position']}: {_short(example['message'])}")
    lines.append(f"  recycled  {status['recycled']} workers")
    return "\n".join(lines)


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def _span(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _short(message: str, limit: int = 70) -> str:
    message = " ".join(str(message).split())
    return message if len(message) <= limit else message[: limit - 3] + "..."
