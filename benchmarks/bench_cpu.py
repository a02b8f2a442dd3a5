"""CPU-bound: 64 tasks of ~25 ms pure Python on 2 worker processes vs running them in turn.

The loop count is calibrated at start so that one task takes ~25 ms here. Each parallel run
starts its own pool (one-shot), from a fresh state.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
from concurrent.futures import ProcessPoolExecutor

import joblib
from mpire import WorkerPool

import _harness as h
import gilwise
from _work import calibrate, spin

W = 2
TASKS = 64
TASK_SECONDS = 0.025
TARGET = 1.9


def contenders(items: list[int]) -> list[h.Contender]:
    def ppe():
        with ProcessPoolExecutor(W) as ex:
            return list(ex.map(spin, items))

    def mpire_map():
        with WorkerPool(W) as pool:
            return pool.map(spin, items)

    def pool_map():
        with mp.Pool(W) as p:
            return p.map(spin, items)

    n = len(items)
    return [
        h.Contender("gilwise processes", n,
                    lambda: list(gilwise.map(spin, items, mode="processes", workers=W))),
        h.Contender("sequential", n, lambda: [spin(x) for x in items]),
        h.Contender("ProcessPoolExecutor.map", n, ppe),
        h.Contender("joblib Parallel", n,
                    lambda: joblib.Parallel(n_jobs=W)(joblib.delayed(spin)(x) for x in items)),
        h.Contender("mpire WorkerPool.map", n, mpire_map),
        h.Contender("multiprocessing Pool.map", n, pool_map),
    ]


def main() -> int:
    args = h.parse_args(__doc__)
    tasks, repeats = (16, 2) if args.quick else (TASKS, 5)
    loops = calibrate(TASK_SECONDS)
    cs = contenders([loops] * tasks)
    for c in cs:
        c.setup = h.fresh_state
    h.measure(cs, repeats)
    seq = next(c for c in cs if c.name == "sequential")
    print(f"calibrated: {loops:,} loops = {TASK_SECONDS * 1000:.0f} ms per task; "
          f"ideal parallel time {tasks * TASK_SECONDS / W:.2f} s")
    print(h.table(f"CPU-bound: {tasks} tasks x ~{TASK_SECONDS * 1000:.0f} ms, {W} processes", cs,
                  extra={"speedup vs sequential": lambda c: f"{seq.median / c.median:.2f}x"}))
    speedup = seq.median / cs[0].median
    print(h.verdict(speedup >= TARGET, f"gilwise speedup over sequential {speedup:.2f}x "
                                       f"(target >= {TARGET})"))
    return h.exit_status([speedup >= TARGET])


if __name__ == "__main__":
    sys.exit(main())
