"""Ordered results behind one slow item: the first item sleeps 3 s, 1,000 others 10 ms each,
on 4 threads (--quick: 0.6 s and 200). ThreadPoolExecutor.map runs the others meanwhile and
takes ~3.3 s; gilwise ordered must too (its in-flight window grows while the head of the
line waits), not stall once its window is full of held results (5.4 s before).
Verdict: gilwise ordered within 1.2x of ThreadPoolExecutor.map and of gilwise unordered.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor

import _harness as h
import gilwise

W = 4


def main() -> int:
    args = h.parse_args(__doc__)
    slow, fast, count = (0.6, 0.01, 200) if args.quick else (3.0, 0.01, 1000)
    items = [slow] + [fast] * count

    def executor():
        with ThreadPoolExecutor(W) as ex:
            return list(ex.map(time.sleep, items))

    def gw(ordered: bool):
        return lambda: list(gilwise.map(time.sleep, items, mode="threads", workers=W,
                                        ordered=ordered))

    contenders = h.measure([
        h.Contender("gilwise ordered", len(items), gw(True)),
        h.Contender("gilwise unordered", len(items), gw(False)),
        h.Contender("ThreadPoolExecutor.map", len(items), executor),
    ], repeats=1 if args.quick else 3)
    print(h.table(f"one {slow} s item first, then {count} x {fast * 1000:.0f} ms, "
                  f"{W} threads", contenders))
    ordered, unordered, tpe = (c.median for c in contenders)
    ok = ordered <= 1.2 * tpe and ordered <= 1.2 * unordered
    print(h.verdict(ok, f"ordered {ordered:.2f} s vs unordered {unordered:.2f} s and "
                    f"ThreadPoolExecutor.map {tpe:.2f} s (target: within 1.2x of both)"))
    return h.exit_status([ok])


if __name__ == "__main__":
    sys.exit(main())
