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


DEATH_AT = 50  # the item of a 100-item batch that kills its worker: mid-batch


def die_mid_batch(x: int) -> int:
    """Item ``DEATH_AT`` kills its worker, 0.1 s after it starts, so that the results of
    the items before it are back with the caller first; the others take 2 ms each."""
    if x == DEATH_AT:
        time.sleep(0.1)
        os._exit(1)
    time.sleep(0.002)
    return x
