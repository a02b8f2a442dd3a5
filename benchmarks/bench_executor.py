"""The drop-ins: gilwise.Executor against the stdlib's executors, and joblib on gilwise's backend.

Each executor is started (and warmed by one call) before timing, as a long-lived executor is
used; 2 workers. Timed: (1) ``submit(...).result()`` one call at a time, the round trip;
(2) ``map`` of N trivial calls (chunksize 1, as ``Executor.map`` defaults to; processes also
with chunksize 100); (3) a joblib ``Parallel`` of 2,000 calls of ~1 ms of pure Python on
joblib's default backend (loky) and on gilwise's (processes), pool start included in both.
Targets: gilwise.Executor no slower than the stdlib's executor of its mode on each (within
10%: a shared 2-core machine), and joblib on gilwise no slower than on loky.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import joblib
from joblib import Parallel, delayed

import _harness as h
import gilwise
import gilwise.joblib  # noqa: F401 - registers the backend
from _work import inc, spin

W = 2
TOLERANCE = 1.10


def round_trips(executors: dict[str, object], n: int) -> list[h.Contender]:
    def one_by_one(ex: object) -> object:
        return lambda: [ex.submit(inc, i).result() for i in range(n)]  # type: ignore[attr-defined]

    return [h.Contender(name, n, one_by_one(ex)) for name, ex in executors.items()]


def maps(executors: dict[str, object], n: int, chunksize: int) -> list[h.Contender]:
    def mapped(ex: object) -> object:
        return lambda: list(ex.map(inc, range(n), chunksize=chunksize))  # type: ignore[attr-defined]

    return [h.Contender(name, n, mapped(ex)) for name, ex in executors.items()]


def main() -> int:
    args = h.parse_args(__doc__)
    n_trips, n_map, n_jobs = (200, 2_000, 200) if args.quick else (2_000, 20_000, 2_000)
    repeats = 3 if args.quick else 7
    passed: list[bool] = []
    for mode, stdlib in (("threads", ThreadPoolExecutor), ("processes", ProcessPoolExecutor)):
        executors = {f"gilwise.Executor {mode}": gilwise.Executor(W, mode=mode),
                     stdlib.__name__: stdlib(W)}
        for ex in executors.values():
            ex.submit(inc, 1).result()  # warm: workers started
        try:
            for title, cs in (
                (f"{mode}: submit().result() round trips, one at a time",
                 round_trips(executors, n_trips)),
                (f"{mode}: map of {n_map:,} x + 1, chunksize 1", maps(executors, n_map, 1)),
                *([(f"{mode}: map of {n_map * 5:,} x + 1, chunksize 100",
                    maps(executors, n_map * 5, 100))] if mode == "processes" else []),
            ):
                h.measure(cs, repeats)
                print(h.table(title, cs, unit="calls/s"))
                ratio = cs[1].rate / cs[0].rate
                ok = ratio <= TOLERANCE
                passed.append(ok)
                print(h.verdict(ok, f"{title}: {cs[1].name} {ratio:.2f}x gilwise's rate "
                                f"(target <= {TOLERANCE:.2f}x)") + "\n")
        finally:
            for ex in executors.values():
                ex.shutdown()  # type: ignore[attr-defined]

    calls = [delayed(spin)(1) for _ in range(n_jobs)]

    def on(backend: str) -> object:
        def run() -> object:
            with joblib.parallel_config(backend=backend, n_jobs=W, **(
                    {"mode": "processes"} if backend == "gilwise" else {})):
                return Parallel()(calls)
        return run

    cs = [h.Contender("gilwise backend (processes)", n_jobs, on("gilwise")),
          h.Contender("loky (joblib's default)", n_jobs, on("loky"), setup=h.fresh_state)]
    h.measure(cs, 3 if args.quick else 5)
    print(h.table(f"joblib Parallel: {n_jobs:,} calls of ~1 ms, {W} workers, pool start "
                  "included", cs, unit="calls/s"))
    ratio = cs[1].rate / cs[0].rate
    passed.append(ratio <= TOLERANCE)
    print(h.verdict(ratio <= TOLERANCE, f"joblib on loky {ratio:.2f}x the rate on gilwise's "
                    f"backend (target <= {TOLERANCE:.2f}x)"))
    return h.exit_status(passed)


if __name__ == "__main__":
    raise SystemExit(main())
