"""One writer per journal: an exclusive ``flock`` held on the file while a run writes it.

The kernel drops an flock when the process holding it dies, ``kill -9`` included, so a lock
left by a dead run never blocks the next one. A forked worker would inherit the lock's
descriptor (and keep the lock alive after its parent's death): each child closes its copy
as it is forked. Where ``fcntl`` is missing (Windows), nothing is locked.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_held: set[int] = set()  # the descriptors holding a lock in this process


def _forget_in_child() -> None:
    for fd in list(_held):
        try:
            os.close(fd)
        except OSError:
            pass
    _held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def take(path: Path) -> int | None:
    """A descriptor holding ``path``'s exclusive lock (the file is created if missing, never
    changed), or None when another process (or another journal here) holds it. -1 where
    locks are not available."""
    if fcntl is None:
        return -1
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:  # a file system without flock: run unlocked rather than not at all
        return fd
    _held.add(fd)
    return fd


def release(fd: int) -> None:
    if fd >= 0:
        _held.discard(fd)
        os.close(fd)


def _stat(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()
    except OSError:
        return []


def process_start(pid: int) -> str:
    """When process ``pid`` started (Linux: clock ticks since boot, from /proc), so that a
    reused pid is not taken for the process that wrote a journal; "" where unknown."""
    fields = _stat(pid)
    return fields[19].decode() if len(fields) > 19 else ""


def alive(pid: int, start: str) -> bool:
    """Whether the process ``pid`` that started at ``start`` still runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's: it exists
    fields = _stat(pid)
    if not fields:
        return True  # no /proc: os.kill's word
    if fields[0] in (b"Z", b"X"):
        return False
    return not (start and len(fields) > 19 and fields[19].decode() != start)
