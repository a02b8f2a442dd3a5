"""Coroutine functions in gilwise.map against asyncio, aiometer and aiomultiprocess, and rate=.

Each contender runs 3 times (--quick: once), the median counted; peers run on uvloop's loop
where it is installed, as gilwise's workers do.
(1) many coroutines each awaiting a local 127.0.0.1 server that answers after 50 ms,
concurrency 500: gilwise (threads mode, one worker's loop) against asyncio.gather with a
Semaphore(500) and aiometer (target: within 1.1x of the faster peer).
(2) coroutines each doing ~2 ms of pure Python then a 20 ms await: gilwise processes x loops
against one event loop and aiomultiprocess (target: >= 1.7x the single loop).
(4) 200 tasks at rate=100 take 2 s +- 5%.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import _harness as h
import gilwise

DELAY = 0.05


# -- (1) a local server answering each line after 50 ms, in its own process
def _serve(ready: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                await asyncio.sleep(DELAY)
                writer.write(line)
                await writer.drain()
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", 0, backlog=4096)
        ready.put(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


PORT = 0


async def ask(x: int) -> int:
    """One request to the local server: connect, send a line, read the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    try:
        writer.write(f"{x}\n".encode())
        await writer.drain()
        return int(await reader.readline())
    finally:
        writer.close()


async def gather_with_semaphore(n: int, limit: int) -> list[int]:
    room = asyncio.Semaphore(limit)

    async def one(x: int) -> int:
        async with room:
            return await ask(x)

    return await asyncio.gather(*(one(x) for x in range(n)))


async def with_aiometer(n: int, limit: int) -> list[int]:
    import aiometer

    jobs = [functools.partial(ask, x) for x in range(n)]
    return await aiometer.run_all(jobs, max_at_once=limit)  # type: ignore[no-any-return]


# -- (2) CPU between awaits
def spin(seconds: float) -> int:
    end, n = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        n += 1
    return n


async def mixed(x: int) -> int:
    spin(0.002)
    await asyncio.sleep(0.02)
    return x


async def one_loop(n: int, limit: int) -> list[int]:
    room = asyncio.Semaphore(limit)

    async def one(x: int) -> int:
        async with room:
            return await mixed(x)

    return await asyncio.gather(*(one(x) for x in range(n)))


async def with_aiomultiprocess(n: int, workers: int, per_child: int) -> list[int]:
    import aiomultiprocess

    async with aiomultiprocess.Pool(processes=workers, childconcurrency=per_child) as pool:
        return await pool.map(mixed, range(n))


def run_loop(coro: Any) -> Any:
    """Run a peer's coroutine on the loop gilwise's workers use: uvloop's where installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def best_of(repeats: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """The median seconds of ``repeats`` runs, and the last run's result."""
    times, got = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        got = run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), got


def started(_: int) -> float:
    return time.time()


def main() -> int:
    p = h.parser(__doc__)
    p.add_argument("--part", type=int, choices=(1, 2, 4), action="append",
                   help="run only this part (again for more); all by default")
    args = p.parse_args()
    parts = set(args.part or (1, 2, 4))
    passed: list[bool] = []
    out: list[str] = []

    if 1 in parts:
        _part1(args.quick, passed, out)
    if 2 in parts:
        _part2(args.quick, passed, out)
    if 4 in parts:
        _part4(passed, out)
    print("\n\n".join(out))
    return h.exit_status(passed)


def _part1(quick: bool, passed: list[bool], out: list[str]) -> None:
    global PORT
    n1, limit = (2000, 500) if quick else (10_000, 500)
    ready: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(target=_serve, args=(ready,), daemon=True)
    server.start()
    PORT = ready.get(timeout=30)
    try:
        expect = list(range(n1))
        rows = [("contender", "seconds", "items/s")]
        times: dict[str, float] = {}
        for name, run in [
            ("asyncio.gather + Semaphore(500)",
             lambda: run_loop(gather_with_semaphore(n1, limit))),
            ("aiometer.run_all(max_at_once=500)", lambda: run_loop(with_aiometer(n1, limit))),
            ("gilwise.map(threads, workers=1, concurrency=500)",
             lambda: list(gilwise.map(ask, range(n1), mode="threads", workers=1,
                                      concurrency=limit))),
        ]:
            times[name], got = best_of(1 if quick else 3, run)
            assert list(got) == expect, name
            rows.append((name, f"{times[name]:.2f}", f"{n1 / times[name]:.0f}"))
        out.append(h.render(f"(1) {n1} coroutines awaiting a 127.0.0.1 server (50 ms each)",
                            rows))
        ours = times["gilwise.map(threads, workers=1, concurrency=500)"]
        best = min(v for k, v in times.items() if not k.startswith("gilwise"))
        ratio = ours / best
        ok = ratio <= 1.1
        passed.append(ok)
        out.append(h.verdict(ok, f"(1) gilwise takes {ratio:.2f}x the faster peer "
                                 "(target <= 1.1x)"))
    finally:
        server.kill()


def _part2(quick: bool, passed: list[bool], out: list[str]) -> None:
    n2 = 500 if quick else 2000
    workers = os.cpu_count() or 2
    rows = [("contender", "seconds", "items/s")]
    times = {}
    for name, run in [
        ("one event loop, Semaphore(100)", lambda: run_loop(one_loop(n2, 100))),
        (f"aiomultiprocess.Pool({workers} processes, childconcurrency=100)",
         lambda: run_loop(with_aiomultiprocess(n2, workers, 100))),
        (f"gilwise.map(processes, workers={workers})",
         lambda: list(gilwise.map(mixed, range(n2), mode="processes", workers=workers))),
    ]:
        times[name], got = best_of(1 if quick else 3, run)
        assert list(got) == list(range(n2)), name
        rows.append((name, f"{times[name]:.2f}", f"{n2 / times[name]:.0f}"))
    out.append(h.render(f"(2) {n2} coroutines: ~2 ms of Python, then a 20 ms await", rows))
    single = times["one event loop, Semaphore(100)"]
    ours = times[f"gilwise.map(processes, workers={workers})"]
    ok = single / ours >= 1.7
    passed.append(ok)
    out.append(h.verdict(ok, f"(2) gilwise processes x loops: {single / ours:.2f}x one loop "
                             f"(target >= 1.7x), {times[rows[2][0]] / ours:.2f}x aiomultiprocess"))


def _part4(passed: list[bool], out: list[str]) -> None:
    t0 = time.perf_counter()
    starts = list(gilwise.map(started, range(200), mode="threads", workers=4, rate=100))
    took = time.perf_counter() - t0
    span = max(starts) - min(starts)
    ok = abs(took - 2.0) <= 0.1
    passed.append(ok)
    out.append(f"(4) 200 tasks at rate=100: {took:.3f} s in all, starts span {span:.3f} s")
    out.append(h.verdict(ok, f"(4) rate=100 over 200 tasks took {took:.2f} s (target 2 s +- 5%)"))


if __name__ == "__main__":
    sys.exit(main())
