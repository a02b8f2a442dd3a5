"""mode="dask" on one 2-worker LocalCluster: tiny tasks against plain client.map, CPU-bound
work against processes mode, and what the mode costs to start.

Tiny tasks: 200,000 ``x + 1`` through gilwise (chunks as pickled blobs, a bounded window of
futures) against plain ``client.map`` (one future per item) on 20,000. CPU-bound: 64 x 25 ms
of pure Python, gilwise dask against gilwise processes (2 workers each). Start-up: a
LocalCluster started by gilwise until the first result, and one batch on a client already
connected.
"""

from __future__ import annotations

import logging
import sys
import time

import _harness as h
import gilwise
from _work import calibrate, inc, spin

W = 2
TASK_SECONDS = 0.025
RATE_TARGET = 100.0  # gilwise dask's rate on tiny tasks, over plain client.map's
CPU_TARGET = 0.8  # gilwise dask's speedup over processes mode: the same cores, ~the same time
START_TARGET = 5.0  # seconds: a LocalCluster of 2 processes started, plus the first result
WARM_TARGET = 0.1  # seconds: one tiny batch on a connected client


def startup_with_own_cluster() -> float:
    """A LocalCluster started by gilwise (through a Pool, so its close is not counted)."""
    with gilwise.Pool(mode="dask", workers=W) as pool:
        t0 = time.perf_counter()
        assert list(pool.map(inc, [1])) == [2]
        return time.perf_counter() - t0


def main() -> int:
    args = h.parse_args(__doc__)
    import dask
    from distributed import Client, LocalCluster

    tiny, plain_n, tasks, repeats = (
        (50_000, 2_000, 16, 1) if args.quick else (200_000, 20_000, 64, 3)
    )
    loops = calibrate(TASK_SECONDS)
    cpu_items = [loops] * tasks
    # processes mode first, while this process has one thread (as a user's script would)
    processes = h.Contender("gilwise processes", tasks,
                            lambda: list(gilwise.map(spin, cpu_items, mode="processes",
                                                     workers=W)))
    h.measure([processes], repeats)
    cold = startup_with_own_cluster()

    # as gilwise's own LocalCluster and docs/how-to/dask.md advise for pure-Python work: no profiler
    with dask.config.set({"distributed.worker.profile.enabled": False}), \
            LocalCluster(n_workers=W, threads_per_worker=1, processes=True,
                         dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            Client(cluster, set_as_default=False) as client:
        warm = h.timed(lambda: list(gilwise.map(inc, [1], mode="dask", client=client)))
        tiny_cs = [
            h.Contender("gilwise dask", tiny,
                        lambda: list(gilwise.map(inc, range(tiny), mode="dask", client=client))),
            h.Contender("plain client.map", plain_n,
                        lambda: client.gather(client.map(inc, range(plain_n), pure=False))),
        ]
        h.measure(tiny_cs, repeats)
        dask_cpu = h.Contender("gilwise dask", tasks,
                               lambda: list(gilwise.map(spin, cpu_items, mode="dask",
                                                        client=client)))
        h.measure([dask_cpu], repeats)

    print(h.table(f"tiny tasks (x + 1) on a {W}-worker LocalCluster", tiny_cs))
    print()
    print(h.table(f"CPU-bound: {tasks} x ~{TASK_SECONDS * 1000:.0f} ms, {W} workers (Dask's "
                  "profiler off)",
                  [dask_cpu, processes]))
    print()
    print(f"start-up: LocalCluster of {W} processes + first result {cold:.2f} s; "
          f"one tiny batch on a connected client {warm * 1000:.0f} ms")
    ratio = tiny_cs[0].rate / tiny_cs[1].rate
    speedup = processes.median / dask_cpu.median
    checks = [
        (ratio >= RATE_TARGET, f"dask tiny tasks {ratio:,.0f}x plain client.map's rate "
                               f"(target >= {RATE_TARGET:.0f}x)"),
        (speedup >= CPU_TARGET, f"dask CPU-bound speedup over processes mode {speedup:.2f}x "
                                f"(target >= {CPU_TARGET})"),
        (cold <= START_TARGET, f"LocalCluster start + first result {cold:.2f} s "
                               f"(target <= {START_TARGET:.0f} s)"),
        (warm <= WARM_TARGET, f"one batch on a connected client {warm * 1000:.0f} ms "
                              f"(target <= {WARM_TARGET * 1000:.0f} ms)"),
    ]
    for ok, text in checks:
        print(h.verdict(ok, text))
    return h.exit_status([ok for ok, _ in checks])


if __name__ == "__main__":
    sys.exit(main())
