"""What reliability costs and buys: the journal's overhead, a dead worker's replacement time,
and what one dead worker does to a batch in gilwise and in the peers."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import _crash  # noqa: E402
import gilwise  # noqa: E402
from _harness import parse_args, render, verdict  # noqa: E402


def journal_cost(n: int, repeats: int) -> None:
    rows = [("items", "task", "without journal s", "with journal s", "overhead")]
    results = {}
    for label, fn in (("~50 µs", _crash.small), ("trivial x+1", _inc)):
        plain, journaled = [], []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                list(gilwise.map(fn, range(n), mode="processes", workers=2))
                plain.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                list(gilwise.map(fn, range(n), mode="processes", workers=2,
                                 journal=Path(tmp) / "run.db"))
                journaled.append(time.perf_counter() - t0)
        a, b = statistics.median(plain), statistics.median(journaled)
        results[label] = b / a - 1
        rows.append((f"{n:,}", label, f"{a:.3f}", f"{b:.3f}", f"{(b / a - 1) * 100:+.0f}%"))
    print(render(f"Journal cost, processes x2, median of {repeats}", rows))
    print(verdict(results["~50 µs"] < 0.15, "journal overhead under 15% on small tasks "
                  f"({results['~50 µs'] * 100:.0f}%)"))
    print()


def _inc(x: int) -> int:
    return x + 1


def replacement_time(repeats: int) -> None:
    gaps = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["GILWISE_BENCH_DEATH"] = str(Path(tmp) / "death")
        for _ in range(repeats):
            with gilwise.Pool(mode="processes", workers=2) as pool:
                list(pool.map(_crash.small, range(4)))  # warm
                pids_before = {p.pid for p in _children()}
                out = list(pool.map(_crash.die_or_stamp, range(40), chunksize=1,
                                    on_error="return"))
            died_at = float((Path(tmp) / "death").read_text())
            newcomers = [t for pid, t in out[1:] if pid not in pids_before]
            gaps.append(min(newcomers) - died_at)
    rows = [("runs", "median ms", "min ms", "max ms"),
            (str(repeats), f"{statistics.median(gaps) * 1e3:.1f}", f"{min(gaps) * 1e3:.1f}",
             f"{max(gaps) * 1e3:.1f}")]
    print(render("From a worker's death to its replacement's first task", rows))
    print()


def _children():
    import psutil

    return psutil.Process().children()


def one_death(n: int) -> None:
    rows = [("contender", "results kept", "what the caller sees")]
    got = list(gilwise.map(_crash.die_on_zero, range(n), mode="processes", workers=2,
                           chunksize=1, on_error="return"))
    kept = sum(not isinstance(x, gilwise.Failure) for x in got)
    rows.append(("gilwise", f"{kept} of {n}", f"item 0: {got[0].exc_type}: {got[0].message}"))
    kept, seen = 0, ""
    try:
        with ProcessPoolExecutor(2) as pool:
            for _ in pool.map(_crash.die_on_zero, range(n)):
                kept += 1
    except Exception as exc:  # BrokenProcessPool
        seen = type(exc).__name__
    rows.append(("ProcessPoolExecutor.map", f"{kept} of {n}", seen))
    try:
        from joblib import Parallel, delayed

        kept = 0
        for _ in Parallel(n_jobs=2, return_as="generator")(
            delayed(_crash.die_on_zero)(i) for i in range(n)
        ):
            kept += 1
        seen = "no error"
    except Exception as exc:  # TerminatedWorkerError
        seen = type(exc).__name__
    rows.append(("joblib Parallel", f"{kept} of {n}", seen))
    print(render(f"One worker dies in a batch of {n}", rows))
    print()


def main() -> None:
    args = parse_args(__doc__)
    journal_cost(5_000 if args.quick else 20_000, 1 if args.quick else 5)
    replacement_time(3 if args.quick else 10)
    one_death(100)


if __name__ == "__main__":
    main()
