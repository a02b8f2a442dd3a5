"""What reliability costs and buys: the journal's overhead, a dead worker's replacement time,
and what one worker dying mid-batch (item 50 of 100) does to the batch in gilwise and in the
peers. Targets: journal overhead under 15% on ~50 µs tasks; gilwise keeps at least 99 of 100
results and every peer fewer."""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import _crash  # noqa: E402
import gilwise  # noqa: E402
from _harness import exit_status, parse_args, render, verdict  # noqa: E402


def journal_cost(n: int, repeats: int) -> bool:
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
    ok = results["~50 µs"] < 0.15
    print(verdict(ok, f"journal overhead under 15% on small tasks "
                  f"({results['~50 µs'] * 100:.0f}%)"))
    print()
    return ok


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


def one_death(n: int, wait: float) -> bool:
    """Item ``DEATH_AT`` of ``n`` kills its worker once earlier results are back; each library
    runs the batch through its default ordered API, and we count the results the caller gets
    (a peer that hangs is given up on after ``wait`` seconds without a result)."""
    at = _crash.DEATH_AT
    outcomes = [_gilwise_death(n)]
    outcomes.append(_peer_death("ProcessPoolExecutor.map", _ppe_map, n))
    outcomes.append(_peer_death("multiprocessing Pool.imap", _pool_imap(wait), n))
    outcomes.append(_peer_death("joblib Parallel (generator)", _joblib, n))
    rows = [("contender", "results kept", "what the caller sees")]
    rows += [(name, f"{kept} of {n}", seen) for name, kept, seen in outcomes]
    print(render(f"One worker dies at item {at} of {n}, mid-batch", rows))
    gilwise_kept = outcomes[0][1]
    peers = ", ".join(f"{name} {kept}" for name, kept, _ in outcomes[1:])
    ok = gilwise_kept >= n - 1 and all(kept < gilwise_kept for _, kept, _ in outcomes[1:])
    print(verdict(ok, f"gilwise keeps {gilwise_kept} of {n} (>= {n - 1}), every peer fewer "
                  f"({peers})"))
    print()
    return ok


def _gilwise_death(n: int) -> tuple[str, int, str]:
    got = list(gilwise.map(_crash.die_mid_batch, range(n), mode="processes", workers=2,
                           on_error="return"))
    failures = [(i, x) for i, x in enumerate(got) if isinstance(x, gilwise.Failure)]
    kept = sum(x == i for i, x in enumerate(got))
    seen = "; ".join(f"item {i}: {f.exc_type}: {f.message}" for i, f in failures) or "no error"
    return "gilwise (on_error='return')", kept, seen


def _peer_death(name: str, run, n: int) -> tuple[str, int, str]:
    """Runs a peer's batch, counting in-order results until the peer raises or gives up."""
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    kept: list[int] = []
    try:
        seen = run(n, kept)
    except (BrokenProcessPool, TerminatedWorkerError) as exc:
        seen = f"{type(exc).__name__} after {len(kept)} results"
    return name, sum(x == i for i, x in enumerate(kept)), seen


def _ppe_map(n: int, kept: list[int]) -> str:
    with ProcessPoolExecutor(2) as pool:
        for value in pool.map(_crash.die_mid_batch, range(n)):
            kept.append(value)
    return "no error"


def _pool_imap(wait: float):
    def run(n: int, kept: list[int]) -> str:
        with multiprocessing.Pool(2) as pool:
            results = pool.imap(_crash.die_mid_batch, range(n))
            try:
                for _ in range(n):
                    kept.append(results.next(timeout=wait))
            except multiprocessing.TimeoutError:
                return (f"no error: hangs after {len(kept)} results (the dead worker's item "
                        f"never comes back; gave up after {wait:.0f} s)")
        return "no error"
    return run


def _joblib(n: int, kept: list[int]) -> str:
    from joblib import Parallel, delayed

    for value in Parallel(n_jobs=2, return_as="generator")(
            delayed(_crash.die_mid_batch)(i) for i in range(n)):
        kept.append(value)
    return "no error"


def main() -> int:
    args = parse_args(__doc__)
    results = [journal_cost(5_000 if args.quick else 20_000, 1 if args.quick else 5)]
    replacement_time(3 if args.quick else 10)
    results.append(one_death(100, 2.0 if args.quick else 5.0))
    return exit_status(results)


if __name__ == "__main__":
    sys.exit(main())
