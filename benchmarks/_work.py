"""Task functions for the benchmarks, importable so that every peer can pickle them."""

from __future__ import annotations

import time

SPIN_LOOPS = 100_000  # set by calibrate(); passed to workers as the item itself


def inc(x: int) -> int:
    return x + 1


def spin(loops: int) -> int:
    """Pure-Python CPU work: ``loops`` iterations of integer arithmetic."""
    total = 0
    for i in range(loops):
        total += i * i % 7
    return total


def calibrate(seconds: float) -> int:
    """How many ``spin`` loops take ``seconds`` on this machine (best of a few tries)."""
    probe = 200_000
    best = min(_timed(spin, probe) for _ in range(5))
    return max(1, int(probe * seconds / best))


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _timed(fn, arg) -> float:
    t0 = time.perf_counter()
    fn(arg)
    return time.perf_counter() - t0


def column_sum(array, column: int) -> float:
    """bench_numeric: a task reading the whole bound array."""
    return float(array.sum() + array[:, column % array.shape[1]].sum())


def svd(matrix):
    import numpy as np

    return np.linalg.svd(matrix)[1]


def big_result(seed: int, megabytes: int = 40):
    import numpy as np

    return np.full((megabytes * 1_000_000 // 8,), float(seed))
