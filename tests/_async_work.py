"""Coroutine functions for tests/test_coroutines.py, importable by worker processes."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

_in_flight = 0
_most = 0
_enough: dict[int, asyncio.Event] = {}  # by loop id: set once `wanted` coroutines overlap


async def double(x: int) -> int:
    await asyncio.sleep(0.001)
    return 2 * x


class Doubler:
    async def __call__(self, x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x


async def fail_on_3(x: int) -> int:
    await asyncio.sleep(0)
    if x == 3:
        raise ValueError(f"bad item {x}")
    return x


async def hang_then_mark(args: tuple[int, str]) -> int:
    """Item 0 hangs; its ``finally`` leaves a marker file (a cancellation runs it)."""
    x, folder = args
    try:
        if x == 0:
            await asyncio.sleep(600)
        return x
    finally:
        Path(folder, f"finally-{x}").write_text("ran")


async def wait_then_mark(args: tuple[int, str]) -> int:
    """A negative item returns (or, below -100, raises) once -x % 100 positive ones have started
    (each marks its start); a positive one awaits 60 s, its ``finally`` leaving whether it was
    cancelled or ended."""
    x, folder = args
    if x < 0:
        for _ in range(1500):  # 30 s at most: the test then fails on what did not start
            if len(list(Path(folder).glob("started-*"))) >= -x % 100:
                break
            await asyncio.sleep(0.02)
        if x < -100:
            raise ValueError(f"item {x} failed")
        return x
    Path(folder, f"started-{x}").write_text("")
    how = "ended"
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        how = "cancelled"
        raise
    finally:  # written whole, then named: the test reads it as soon as the name appears
        Path(folder, f".finally-{x}").write_text(how)
        Path(folder, f".finally-{x}").replace(Path(folder, f"finally-{x}"))
    return x


async def fail_first_attempt(args: tuple[int, str]) -> int:
    """Fails the first time it sees an item (a file marks the attempt), then succeeds."""
    x, folder = args
    marker = Path(folder, f"attempt-{x}")
    await asyncio.sleep(0)
    if not marker.exists():
        marker.write_text("1")
        raise ConnectionError(f"flaky {x}")
    return x


async def overlap(wanted: int) -> int:
    """Waits (up to 30 s) until ``wanted`` coroutines of this worker are in flight at once;
    returns the most seen in flight: a count, not a time."""
    global _in_flight, _most
    loop_id = id(asyncio.get_running_loop())
    enough = _enough.setdefault(loop_id, asyncio.Event())
    _in_flight += 1
    _most = max(_most, _in_flight)
    if _in_flight >= wanted:
        enough.set()
    try:
        await asyncio.wait_for(enough.wait(), 30)
    except asyncio.TimeoutError:
        pass
    finally:
        _in_flight -= 1
    return _most


def started_at(x: int) -> float:
    """When this task started (time.time(), comparable across processes)."""
    return time.time()


async def async_started_at(x: int) -> float:
    now = time.time()
    await asyncio.sleep(0.01)
    return now


def pid(_: Any) -> int:
    return os.getpid()


async def loop_module(_: Any) -> str:
    """The module of the event loop running this coroutine."""
    return type(asyncio.get_running_loop()).__module__


def returns_awaitable(x: int) -> Any:
    """A plain function (not `async def`) whose result is awaitable."""
    return double(x)


async def compute_then_wait(x: int) -> int:
    """~2 ms of pure Python (the GIL held), then a 20 ms await: one loop saturates its core."""
    end = time.perf_counter() + 0.002
    while time.perf_counter() < end:
        pass
    await asyncio.sleep(0.02)
    return x


async def only_wait(x: int) -> int:
    await asyncio.sleep(0.02)
    return x


_next_chunk: dict[str, asyncio.Event] = {}  # by test: set once an item of chunk 2 started


async def waits_for_the_next_chunk(args: tuple[int, str, int]) -> bool:
    """Item 0 (chunk 1's last to end) waits, up to 30 s, for an item of the next chunk (from
    ``first_of_next`` on) to start on this worker's loop: True if one did while it ran."""
    x, tag, first_of_next = args
    started = _next_chunk.setdefault(tag, asyncio.Event())
    if x >= first_of_next:
        started.set()
    if x == 0:
        try:
            await asyncio.wait_for(started.wait(), 30)
        except asyncio.TimeoutError:
            return False
    return True


async def dies_on_13(x: int) -> int:
    """Item 13 kills its worker process; the others wait a moment, so chunks overlap."""
    await asyncio.sleep(0.05)
    if x == 13:
        os._exit(3)
    return x


async def hang_from_4(args: tuple[int, str]) -> int:
    """Items from 4 on hang; each one leaves a marker file as it starts, and one in its
    ``finally``."""
    x, folder = args
    Path(folder, f"started-{x}").write_text("")
    try:
        if x >= 4:
            await asyncio.sleep(600)
        return x
    finally:
        Path(folder, f"finally-{x}").write_text("ran")
