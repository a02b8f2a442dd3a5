"""I/O-bound: 400 tasks of time.sleep(0.02) on 8, 32 and 128 threads.

Ideal time is 0.02 * ceil(400 / workers); each run starts its own threads (one-shot).
"""

from __future__ import annotations

import math
import sys
from concurrent.futures import ThreadPoolExecutor

import _harness as h
import gilwise
from _work import nap

TASKS = 400
SLEEP = 0.02
WORKERS = (8, 32, 128)
TARGET = 1.15


def contenders(items: list[float], workers: int) -> list[h.Contender]:
    def tpe():
        with ThreadPoolExecutor(workers) as ex:
            return list(ex.map(nap, items))

    n = len(items)
    return [
        h.Contender(f"gilwise threads x{workers}", n,
                    lambda: list(gilwise.map(nap, items, mode="threads", workers=workers))),
        h.Contender(f"ThreadPoolExecutor x{workers}", n, tpe),
    ]


def main() -> int:
    args = h.parse_args(__doc__)
    tasks, repeats = (100, 2) if args.quick else (TASKS, 5)
    items = [SLEEP] * tasks
    passed = []
    for workers in WORKERS:
        ideal = SLEEP * math.ceil(tasks / workers)
        cs = h.measure(contenders(items, workers), repeats)
        print(h.table(f"I/O-bound: {tasks} x sleep({SLEEP}), {workers} threads, "
                      f"ideal {ideal:.2f} s", cs,
                      extra={"time / ideal": lambda c, i=ideal: f"{c.median / i:.3f}x"}))
        ratio = cs[0].median / ideal
        passed.append(ratio <= TARGET)
        print(h.verdict(passed[-1], f"gilwise x{workers} at {ratio:.3f}x ideal "
                                    f"(target <= {TARGET}x)"), end="\n\n")
    return h.exit_status(passed)


if __name__ == "__main__":
    sys.exit(main())
