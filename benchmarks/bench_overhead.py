"""Overhead: 200,000 trivial tasks (x + 1) on 2 worker processes, one-shot and warm.

One-shot: the pool is started (and stopped) inside the timed call, from a fresh state.
Warm: the pool is started and has done one small map before timing begins.
Peers that send one item per message (chunksize 1) get 20,000 items: compare rates.
Fast contenders are timed 21 times (noise weighs most on them), slow ones 5 times.
The input is a ``range``, which gilwise slices (a chunk pickles to a few bytes); one-shot
also shows, for information, gilwise on a generator of the same items (read one by one, as
any iterable) and with another thread alive in the parent: gilwise then starts its workers
through forkserver, and each worker re-imports the parent's main module (this script, with
joblib and mpire). A last table times that case in a fresh interpreter whose main module
imports only gilwise: the first map (which starts the forkserver) and the next ones.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import statistics
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import joblib
from mpire import WorkerPool

import _harness as h
import gilwise
from _work import inc

W = 2


def one_shot(n: int, n1: int) -> list[h.Contender]:
    threads_seen: list[int] = []

    def pool_map():
        with mp.Pool(W) as p:
            return p.map(inc, range(n))

    def pool_imap():
        with mp.Pool(W) as p:
            return list(p.imap(inc, range(n1)))

    def ppe(items: int, chunksize: int):
        def run():
            with ProcessPoolExecutor(W) as ex:
                return list(ex.map(inc, range(items), chunksize=chunksize))
        return run

    def mpire_map():
        with WorkerPool(W) as pool:
            return pool.map(inc, range(n))

    def gilwise_run(items=lambda: range(n), **options):
        return lambda: list(gilwise.map(inc, items(), mode="processes", workers=W, **options))

    def with_a_thread_alive(run):
        def alive():
            stop = threading.Event()
            other = threading.Thread(target=stop.wait)
            other.start()
            try:
                return run()
            finally:
                stop.set()
                other.join()
        return alive

    def gilwise_setup():
        h.fresh_state()
        threads_seen.append(h.threads_alive())

    contenders = [
        h.Contender("gilwise processes", n, gilwise_run(), setup=gilwise_setup),
        h.Contender("gilwise processes", n, gilwise_run(lambda: (x for x in range(n))),
                    note="generator input; info"),
        h.Contender("gilwise processes", n, with_a_thread_alive(gilwise_run()),
                    note="another thread alive: forkserver, workers import this script; info"),
        h.Contender("gilwise processes", n, gilwise_run(start_method="forkserver"),
                    note="forkserver, as when a thread is alive; not default"),
        h.Contender("multiprocessing Pool.map", n, pool_map),
        h.Contender("multiprocessing Pool.imap", n1, pool_imap, note="chunksize 1"),
        h.Contender("ProcessPoolExecutor.map", n1, ppe(n1, 1), note="chunksize 1"),
        h.Contender("ProcessPoolExecutor.map", n, ppe(n, 500), note="chunksize 500, not default"),
        h.Contender("joblib Parallel", n,
                    lambda: joblib.Parallel(n_jobs=W)(joblib.delayed(inc)(x) for x in range(n))),
        h.Contender("mpire WorkerPool.map", n, mpire_map),
    ]
    for c in contenders[1:]:
        c.setup = h.fresh_state
    return contenders, threads_seen


def warm(n: int, n1: int, pools: list) -> list[h.Contender]:
    warmup = range(100)
    gw = gilwise.Pool(mode="processes", workers=W)  # first, while this process has one thread
    list(gw.map(inc, warmup))
    mpp = mp.Pool(W)
    mpp.map(inc, warmup)
    ex = ProcessPoolExecutor(W)
    list(ex.map(inc, warmup))
    par = joblib.Parallel(n_jobs=W).__enter__()
    par(joblib.delayed(inc)(x) for x in warmup)
    mpw = WorkerPool(W, keep_alive=True)
    mpw.map(inc, warmup)
    pools.extend([gw.close, mpp.terminate, ex.shutdown, lambda: par.__exit__(None, None, None),
                  mpw.terminate])
    return [
        h.Contender("gilwise Pool.map", n, lambda: list(gw.map(inc, range(n)))),
        h.Contender("multiprocessing Pool.map", n, lambda: mpp.map(inc, range(n))),
        h.Contender("multiprocessing Pool.imap", n1, lambda: list(mpp.imap(inc, range(n1))),
                    note="chunksize 1"),
        h.Contender("ProcessPoolExecutor.map", n1, lambda: list(ex.map(inc, range(n1))),
                    note="chunksize 1"),
        h.Contender("ProcessPoolExecutor.map", n,
                    lambda: list(ex.map(inc, range(n), chunksize=500)),
                    note="chunksize 500, not default"),
        h.Contender("joblib Parallel", n, lambda: par(joblib.delayed(inc)(x) for x in range(n))),
        h.Contender("mpire WorkerPool.map", n, lambda: mpw.map(inc, range(n))),
    ]


#: run in a fresh interpreter: maps of x + 1 on 2 processes, another thread alive or not
FORKSERVER = """
import json, sys, threading, time
import gilwise

def inc(x):
    return x + 1

def timed(n):
    t0 = time.perf_counter()
    list(gilwise.map(inc, range(n), mode="processes", workers=2))
    return time.perf_counter() - t0

if __name__ == "__main__":
    n, repeats = int(sys.argv[1]), int(sys.argv[2])
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    first = timed(n)
    later = [timed(n) for _ in range(repeats)]
    stop.set()
    other.join()
    alone = [timed(n) for _ in range(repeats)]
    print(json.dumps({"first": first, "later": later, "alone": alone}))
"""


def forkserver_cost(n: int, repeats: int) -> None:
    """gilwise one-shot with and without another thread alive, in a fresh interpreter whose
    main module imports nothing but gilwise (its file is re-imported by each worker)."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "forkserver_cost.py"
        script.write_text(FORKSERVER, encoding="utf-8")
        done = subprocess.run([sys.executable, str(script), str(n), str(repeats)],
                              capture_output=True, text=True, check=True)
    times = json.loads(done.stdout)
    rows = [("gilwise.map, one-shot", "runs", "median s", "min-max s"),
            ("another thread alive, first map (starts the forkserver)", "1",
             f"{times['first']:.3f}", "-")]
    for label, key in (("another thread alive, later maps (forkserver)", "later"),
                       ("no other thread (fork)", "alone")):
        rows.append((label, str(repeats), f"{statistics.median(times[key]):.3f}",
                     f"{min(times[key]):.3f}-{max(times[key]):.3f}"))
    print(h.render(f"Start-up with another thread alive: {n:,} x (x + 1), {W} processes, a "
                   "fresh interpreter importing only gilwise (info)", rows))


def check(label: str, contenders: list[h.Contender]) -> tuple[str, bool]:
    """gilwise on a range, against every peer run with its defaults."""
    gw = contenders[0]
    peers = [c for c in contenders[1:]
             if not c.name.startswith(h.GILWISE) and "not default" not in c.note]
    best = max(peers, key=lambda c: c.rate)
    ok = gw.rate >= best.rate
    return h.verdict(ok, f"{label}: gilwise {gw.rate:,.0f} tasks/s vs fastest default peer "
                         f"({best.name}) {best.rate:,.0f} tasks/s = {gw.rate / best.rate:.2f}x"), ok


def main() -> int:
    args = h.parse_args(__doc__)
    n, n1, repeats, slow = (20_000, 2_000, 2, 2) if args.quick else (200_000, 20_000, 21, 5)
    results = []
    shots, threads_seen = one_shot(n, n1)
    h.measure(shots, repeats, slow)
    print(h.table(f"Overhead, one-shot: x + 1, {W} processes (pool start included)", shots))
    if any(t > 1 for t in threads_seen):
        print(f"WARNING: threads alive when gilwise started ({threads_seen}): it did not fork")
    line, ok = check("one-shot", shots)
    print(line, end="\n\n")
    results.append(ok)
    pools: list = []
    try:
        warms = warm(n, n1, pools)
        h.measure(warms, repeats, slow)
    finally:
        for close in pools:
            close()
    print(h.table(f"Overhead, warm: x + 1, {W} processes (pool started beforehand)", warms))
    line, ok = check("warm", warms)
    print(line, end="\n\n")
    results.append(ok)
    forkserver_cost(n, repeats if args.quick else 11)
    return h.exit_status(results)


if __name__ == "__main__":
    sys.exit(main())
