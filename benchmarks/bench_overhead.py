"""Overhead: 200,000 trivial tasks (x + 1) on 2 worker processes, one-shot and warm.

One-shot: the pool is started (and stopped) inside the timed call, from a fresh state.
Warm: the pool is started and has done one small map before timing begins.
Peers that send one item per message (chunksize 1) get 20,000 items: compare rates.
Fast contenders are timed 21 times (noise weighs most on them), slow ones 5 times.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
from concurrent.futures import ProcessPoolExecutor

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

    def gilwise_run(**options):
        return lambda: list(gilwise.map(inc, range(n), mode="processes", workers=W, **options))

    def gilwise_setup():
        h.fresh_state()
        threads_seen.append(h.threads_alive())

    contenders = [
        h.Contender("gilwise processes", n, gilwise_run(), setup=gilwise_setup),
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


def check(label: str, contenders: list[h.Contender]) -> tuple[str, bool]:
    gw, peers = contenders[0], [c for c in contenders[1:] if "not default" not in c.note]
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
    print(line)
    results.append(ok)
    return h.exit_status(results)


if __name__ == "__main__":
    sys.exit(main())
