"""gilwise inside an event loop: the caller's loop lag while ``gilwise.amap`` runs a CPU-bound
batch in processes, and amap's throughput on tiny items.

(1) Lag: a heartbeat task sleeps 5 ms at a time in the caller's loop and records how late each
wake-up is, while a batch of ~20 ms pure-Python items runs on 2 worker processes, driven by:
``gilwise.amap``; ``await loop.run_in_executor(None, lambda: list(gilwise.map(...)))`` (the
naive wrapper); ``await asyncio.to_thread(list, gilwise.map(...))``; ``anyio.to_process``
per item where anyio is installed; and, for scale, the blocking ``list(gilwise.map(...))``
called in the loop. Target: amap's max lag <= 20 ms.
(2) Throughput: 2,000 tiny items (x + 1) on 2 processes, pool start included: amap against
``ProcessPoolExecutor`` with ``asyncio.wrap_future`` per item, and with ``run_in_executor``
per item. Target: amap at least as fast as the faster of them.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor

import _harness as h
import gilwise
from _work import calibrate, inc, spin

W = 2
BEAT = 0.005
LAG_TARGET = 0.020


async def with_heartbeat(job: Callable[[], Awaitable[object]]) -> tuple[list[float], float]:
    """The lateness of each 5 ms heartbeat while ``job`` runs, and the job's seconds."""
    lags: list[float] = []
    running = True

    async def heartbeat() -> None:
        while running:
            due = time.perf_counter() + BEAT
            await asyncio.sleep(BEAT)
            lags.append(max(0.0, time.perf_counter() - due))

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0.05)  # the heartbeat settles
    lags.clear()
    t0 = time.perf_counter()
    await job()
    took = time.perf_counter() - t0
    running = False
    await beat
    return lags, took


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else max(values, default=0)


def lag_contenders(loops: int, n: int) -> dict[str, Callable[[], Awaitable[object]]]:
    items = [loops] * n

    async def amap() -> object:
        return [v async for v in gilwise.amap(spin, items, mode="processes", workers=W)]

    async def run_in_executor() -> object:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, lambda: list(gilwise.map(spin, items, mode="processes", workers=W)))

    async def to_thread() -> object:
        return await asyncio.to_thread(list, gilwise.map(spin, items, mode="processes",
                                                         workers=W))

    async def blocking() -> object:
        return list(gilwise.map(spin, items, mode="processes", workers=W))

    contenders = {"gilwise.amap": amap, "run_in_executor(list(gilwise.map))": run_in_executor,
                  "asyncio.to_thread(list, gilwise.map)": to_thread}
    try:
        import anyio.to_process

        async def anyio_per_item() -> object:
            limiter = anyio.CapacityLimiter(W)
            return await asyncio.gather(*(anyio.to_process.run_sync(spin, x, limiter=limiter)
                                          for x in items))

        contenders["anyio.to_process per item"] = anyio_per_item
    except ImportError:
        pass  # lag_section says so
    contenders["list(gilwise.map) in the loop (blocks)"] = blocking
    return contenders


def lag_section(quick: bool) -> bool:
    loops = calibrate(0.02)
    n = 40 if quick else 200
    rows = [("contender", "batch s", "heartbeats", "max lag ms", "p99 lag ms", "max / amap's")]
    results: dict[str, tuple[float, float, float, int]] = {}
    # untimed: the first batch started from a thread starts multiprocessing's forkserver,
    # which every later one reuses
    asyncio.run(with_heartbeat(lag_contenders(loops, 4)["gilwise.amap"]))
    for name, job in lag_contenders(loops, n).items():
        lags, took = asyncio.run(with_heartbeat(job))
        results[name] = (took, max(lags, default=0.0), p99(lags), len(lags))
    if "anyio.to_process per item" not in results:
        print("(anyio is not installed: anyio.to_process left out)")
    base = results["gilwise.amap"][1] or 1e-9
    for name, (took, worst, p, beats) in results.items():
        rows.append((name, f"{took:.2f}", str(beats), f"{worst * 1000:.1f}", f"{p * 1000:.1f}",
                     f"{worst / base:.1f}x"))
    print(h.render(f"(1) loop lag, 5 ms heartbeat, {n} items of ~20 ms on {W} processes",
                   rows))
    worst = results["gilwise.amap"][1]
    ok = worst <= LAG_TARGET
    print(h.verdict(ok, f"amap's max loop lag {worst * 1000:.1f} ms (target <= "
                    f"{LAG_TARGET * 1000:.0f} ms); p99 {results['gilwise.amap'][2] * 1000:.1f} "
                    "ms") + "\n")
    return ok


def throughput_section(quick: bool, repeats: int) -> bool:
    n = 2_000

    async def amap() -> object:
        return [v async for v in gilwise.amap(inc, range(n), mode="processes", workers=W)]

    async def wrap_future() -> object:
        with ProcessPoolExecutor(W) as ex:
            return await asyncio.gather(*(asyncio.wrap_future(ex.submit(inc, i))
                                          for i in range(n)))

    async def run_in_executor() -> object:
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(W) as ex:
            return await asyncio.gather(*(loop.run_in_executor(ex, inc, i) for i in range(n)))

    cs = [h.Contender(f"{h.GILWISE}.amap", n, lambda: asyncio.run(amap())),
          h.Contender("ProcessPoolExecutor + wrap_future", n, lambda: asyncio.run(wrap_future())),
          h.Contender("ProcessPoolExecutor + run_in_executor", n,
                      lambda: asyncio.run(run_in_executor()))]
    h.measure(cs, repeats)
    print(h.table(f"(2) {n:,} tiny items (x + 1) on {W} processes, pool start included", cs,
                  unit="items/s"))
    best_peer = max(c.rate for c in cs[1:])
    ratio = cs[0].rate / best_peer
    ok = ratio >= 1.0
    print(h.verdict(ok, f"amap {ratio:.2f}x the faster ProcessPoolExecutor peer's rate "
                    "(target >= 1.00x)") + "\n")
    return ok


def main() -> int:
    args = h.parse_args(__doc__)
    passed = [lag_section(args.quick), throughput_section(args.quick, 3 if args.quick else 5)]
    return h.exit_status(passed)


if __name__ == "__main__":
    raise SystemExit(main())
