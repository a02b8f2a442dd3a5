"""How the lab runs and times work: sizes for quick and full runs, pools, best-of timings.

Pools are started and warmed before the clock starts, so that scaling rows measure the
work itself; what a process costs to start is measured on its own (``process_cost``).
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import multiprocessing
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gilwise import usable_cores  # noqa: F401  (the lab reads it from here)
from gilwise.lab import work

KINDS = ("threads", "processes", "interpreters")


@dataclass(frozen=True)
class Settings:
    """Sizes of every experiment; ``quick`` fits ``gilwise demo``, ``full`` takes longer.
    Each timing is repeated to keep the best (the run least disturbed by other programs);
    CPU-bound batches are short and repeated more, as other programs disturb them most."""

    quick: bool
    repeats: int  # rounds of the I/O-bound experiment
    cpu_rounds: int  # rounds of the CPU-bound and hashing experiments
    cpu_seconds: float  # sequential time of the CPU-bound batch
    hash_seconds: float  # sequential time of the hashing batch
    hash_mb: int
    io_delay: float  # how long the local server waits before it answers
    io_tasks: int
    io_workers: tuple[int, ...]
    ref_threads: int
    ref_count: int  # references each thread takes
    race_seconds: float  # how long threads race on one counter
    trivial_tasks: int
    big_arg_mb: int
    big_arg_tasks: int
    start_repeats: int

    @classmethod
    def for_mode(cls, quick: bool) -> Settings:
        if quick:
            return cls(quick=True, repeats=2, cpu_rounds=5, cpu_seconds=0.15, hash_seconds=0.12,
                       hash_mb=4, io_delay=0.02, io_tasks=16, io_workers=(1, 4, 16),
                       ref_threads=4, ref_count=1000, race_seconds=0.1,
                       trivial_tasks=300, big_arg_mb=4, big_arg_tasks=6, start_repeats=1)
        return cls(quick=False, repeats=3, cpu_rounds=7, cpu_seconds=0.6, hash_seconds=0.5,
                   hash_mb=8, io_delay=0.05, io_tasks=32, io_workers=(1, 4, 16, 32),
                   ref_threads=8, ref_count=10_000, race_seconds=0.25,
                   trivial_tasks=2000, big_arg_mb=16, big_arg_tasks=10, start_repeats=3)


def gil_enabled() -> bool:
    """False only on a free-threaded build running without its GIL (3.13t+)."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def interpreter_pool() -> type | None:
    """``concurrent.futures.InterpreterPoolExecutor`` (Python 3.14+), or None."""
    return getattr(cf, "InterpreterPoolExecutor", None)


def core_counts(cores: int) -> list[int]:
    """1, 2, 4, … up to the usable cores, and the cores themselves."""
    counts = [1]
    while counts[-1] * 2 <= cores:
        counts.append(counts[-1] * 2)
    if counts[-1] != cores:
        counts.append(cores)
    return counts


def task_count(counts: Sequence[int]) -> int:
    """Enough tasks that every worker count gets an equal share (at least 4 per worker)."""
    top = max(counts)
    lcm = math.lcm(*counts)
    if lcm <= 8 * top:
        return lcm * math.ceil(4 * top / lcm)
    return 4 * top


def start_method() -> str:
    """fork where safe (Linux, no other threads): cheapest; else forkserver, or spawn."""
    if sys.platform == "linux":
        return "fork" if threading.active_count() == 1 else "forkserver"
    return "spawn"


def _executor(kind: str, workers: int, initializer: Callable[..., Any] | None,
              initargs: tuple[Any, ...]) -> cf.Executor:
    if kind == "threads":
        return cf.ThreadPoolExecutor(workers, initializer=initializer, initargs=initargs)
    if kind == "processes":
        context = multiprocessing.get_context(start_method())
        return cf.ProcessPoolExecutor(workers, mp_context=context, initializer=initializer,
                                      initargs=initargs)
    if kind == "interpreters":
        pool = interpreter_pool()
        if pool is None:
            raise RuntimeError("InterpreterPoolExecutor needs Python 3.14+")
        return pool(workers, initializer=initializer, initargs=initargs)
    raise ValueError(f"unknown kind {kind!r}")


@contextmanager
def pool(kind: str, workers: int, initializer: Callable[..., Any] | None = None,
         initargs: tuple[Any, ...] = ()) -> Iterator[cf.Executor]:
    """A started pool: every worker is up (and has imported the work) before it is yielded."""
    executor = _executor(kind, workers, initializer, initargs)
    try:
        list(executor.map(work.pid_after, [0.02] * workers))
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """The shortest of ``repeats`` timed runs: noise from other programs only adds time."""
    best = math.inf
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def time_sequential(fn: Callable[[Any], Any], items: Sequence[Any], repeats: int) -> float:
    return best_of(repeats, lambda: [fn(x) for x in items])


def time_pool(kind: str, workers: int, fn: Callable[[Any], Any], items: Sequence[Any],
              repeats: int, chunksize: int = 1, initializer: Callable[..., Any] | None = None,
              initargs: tuple[Any, ...] = ()) -> float:
    """Best time for a warm pool of ``kind`` to map ``fn`` over ``items``."""
    with pool(kind, workers, initializer, initargs) as executor:
        return best_of(repeats, lambda: list(executor.map(fn, items, chunksize=chunksize)))


@dataclass
class Rounds:
    """Best times from interleaved rounds: the sequential baseline and each (kind, workers)."""

    sequential: float
    best: dict[tuple[str, int], float]
    failed: dict[str, str]  # kind -> why its pools could not start


def time_rounds(fn: Callable[[Any], Any], items: Sequence[Any],
                plans: Sequence[tuple[str, int]], repeats: int,
                initializer: Callable[..., Any] | None = None,
                initargs: tuple[Any, ...] = ()) -> Rounds:
    """Times the sequential loop and every (kind, workers) pool once per round, ``repeats``
    rounds, keeping each one's best: interleaving lets every variant meet the same bursts of
    load from other programs, so the speedups compare like with like. Each pool starts (and
    is warmed) before its clock and is closed after it, so no pool's threads are alive when
    the next one forks its workers."""
    best: dict[tuple[str, int], float] = {}
    failed: dict[str, str] = {}
    sequential = math.inf
    for _ in range(max(1, repeats)):
        sequential = min(sequential, time_sequential(fn, items, 1))
        for kind, workers in plans:
            if kind in failed:
                continue
            try:
                seconds = time_pool(kind, workers, fn, items, 1, initializer=initializer,
                                    initargs=initargs)
            except Exception as exc:  # e.g. a module that sub-interpreters cannot import
                failed[kind] = f"{type(exc).__name__}: {exc}"
                continue
            best[kind, workers] = min(best.get((kind, workers), math.inf), seconds)
    best = {key: value for key, value in best.items() if key[0] not in failed}
    return Rounds(sequential, best, failed)
