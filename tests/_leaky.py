"""Tasks for the recycling tests: one leaking memory, one blowing past the ceiling, and a
look at the worker's own private memory."""

from __future__ import annotations

import os
import time

MB = 1 << 20
_kept: list[bytes] = []


def private_bytes() -> int:
    """This process's private memory, as smaps_rollup counts it."""
    with open("/proc/self/smaps_rollup", "rb") as rollup:
        return 1024 * sum(int(line.split()[1]) for line in rollup.read().splitlines()
                          if line.startswith((b"Private_Clean:", b"Private_Dirty:")))


def leak(x: int) -> tuple[int, int, int]:
    """Keeps 5 MB more on every call (a module-level list that is never emptied)."""
    _kept.append(os.urandom(16) * (5 * MB // 16))
    return x * 2, os.getpid(), private_bytes()


def blow_up(x: int) -> int:
    """Item 3 takes 400 MB at once and holds on; the others return at once."""
    if x == 3:
        hog = b"\x01" * (400 * MB)
        time.sleep(60)
        return len(hog)
    return x * 2


def pid(x: int) -> int:
    return os.getpid()
