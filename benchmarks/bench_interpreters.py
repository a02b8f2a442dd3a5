"""Sub-interpreters vs processes on Python 3.14: should auto mode ever choose interpreters?

Runs under the project's CPython 3.14 venv (``make interpreters``), re-executing itself
there when started by another Python; without it, says so and exits. gilwise in both modes,
beside the stdlib's InterpreterPoolExecutor and ProcessPoolExecutor, one-shot (pool start
included), 2 workers. A second round keeps a thread alive in the parent, as in a program
that runs a server thread: there gilwise's processes come from a forkserver, not a fork.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY314 = HERE.parent / ".venv-3.14" / "bin" / "python"

if sys.version_info < (3, 14):
    if PY314.exists() and os.environ.get("GILWISE_BENCH_REEXEC") != "1":
        os.environ["GILWISE_BENCH_REEXEC"] = "1"
        os.execv(str(PY314), [str(PY314), __file__, *sys.argv[1:]])
    print(f"skipped: needs Python 3.14 (this is {sys.version.split()[0]}); "
          "`make interpreters test-interpreters` builds .venv-3.14")
    sys.exit(0)

from concurrent.futures import InterpreterPoolExecutor, ProcessPoolExecutor  # noqa: E402

import _harness as h  # noqa: E402
import gilwise  # noqa: E402
from _work import calibrate, inc, spin  # noqa: E402

W = 2


def contenders(fn, items: list[int]) -> list[h.Contender]:
    def stdlib(executor_type):
        def run():
            with executor_type(W) as ex:
                return list(ex.map(fn, items, chunksize=max(1, len(items) // (4 * W))))
        return run

    n = len(items)
    return [
        h.Contender("gilwise processes", n,
                    lambda: list(gilwise.map(fn, items, mode="processes", workers=W))),
        h.Contender("gilwise interpreters", n,
                    lambda: list(gilwise.map(fn, items, mode="interpreters", workers=W))),
        h.Contender("ProcessPoolExecutor.map", n, stdlib(ProcessPoolExecutor),
                    note="chunksize n/8"),
        h.Contender("InterpreterPoolExecutor.map", n, stdlib(InterpreterPoolExecutor),
                    note="chunksize n/8"),
    ]


def main() -> int:
    args = h.parse_args(__doc__)
    repeats = 2 if args.quick else 5
    loops = calibrate(0.025)
    workloads = [
        (f"{8 if args.quick else 64} x ~25 ms pure Python", spin,
         [loops] * (8 if args.quick else 64)),
        ("8 x ~25 ms pure Python (a short batch)", spin, [loops] * 8),
        (f"{20_000 if args.quick else 200_000:,} x (x + 1)", inc,
         list(range(20_000 if args.quick else 200_000))),
    ]
    processes_won = []
    stop = threading.Event()
    for parent in ("one thread in the parent", "another thread alive in the parent"):
        if parent.startswith("another"):
            threading.Thread(target=stop.wait, daemon=True).start()
        for name, fn, items in workloads:
            cs = h.measure(contenders(fn, items), repeats, slow_repeats=1, slow_seconds=2.0)
            print(h.table(f"{name}, {W} workers, {parent} (Python "
                          f"{sys.version.split()[0]})", cs))
            print()
            processes_won.append(cs[0].median <= cs[1].median)
    stop.set()
    print(h.verdict(all(processes_won),
                    f"auto's choice of processes over interpreters for GIL-holding work: "
                    f"processes as fast or faster in {sum(processes_won)} of "
                    f"{len(processes_won)} cases"))
    return h.exit_status([all(processes_won)])


if __name__ == "__main__":
    sys.exit(main())
