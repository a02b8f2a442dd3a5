"""Task functions for the reliability benchmark (importable, so every peer can pickle them)."""

from __future__ import annotations

import os
import time


def small(x: int) -> int:
    """A small task: ~50 µs of pure Python."""
    total = 0
    for i in range(1_500):
        total += i * x % 7
    return total


def die_or_stamp(x: int) -> tuple[int, float]:
    """Item 0 kills its worker after stamping the time; the others stamp when they start."""
    now = time.monotonic()
    if x == 0:
        with open(os.environ["GILWISE_BENCH_DEATH"], "w") as f:
            f.write(repr(now))
        os._exit(1)
    time.sleep(0.002)
    return os.getpid(), now


def die_on_zero(x: int) -> int:
    if x == 0:
        time.sleep(0.05)
        os._exit(1)
    time.sleep(0.002)
    return x
