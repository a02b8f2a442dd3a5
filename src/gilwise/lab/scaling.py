"""Experiments 2 to 4: the same batch run sequentially, in threads and in processes at
several worker counts, for work that holds the GIL, waits on I/O, or runs C code without it."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Sequence
from typing import Any

from gilwise.lab import work
from gilwise.lab.model import Experiment, Row
from gilwise.lab.runners import (
    Settings,
    best_of,
    core_counts,
    gil_enabled,
    interpreter_pool,
    task_count,
    time_rounds,
    usable_cores,
)
from gilwise.lab.slow_server import slow_server

HELPS = 1.3  # a speedup below this is "no real help": noise and overheads stay under it
FREE_THREADED = "threads (free-threaded)"
CPU_NAME = "Pure-Python CPU-bound work"
IO_NAME = "I/O-bound work (local socket)"
C_NAME = "C code that releases the GIL (hashlib)"

# (kind of pool, label in the table, worker counts)
Plan = tuple[str, str, Sequence[int]]


def _measure(exp: Experiment, fn: Callable[[Any], Any], items: Sequence[Any],
             plans: Sequence[Plan], repeats: int, note: str, **pool_args: Any) -> None:
    """A sequential row, then one row per plan and worker count with its speedup over it."""
    pairs = [(kind, workers) for kind, _, counts in plans for workers in counts]
    rounds = time_rounds(fn, items, pairs, repeats, **pool_args)
    base = rounds.sequential
    exp.rows.append(Row("sequential", 1, base, 1.0, note=f"{len(items)} tasks in one loop{note}"))
    for kind, label, counts in plans:
        if kind in rounds.failed:
            _skip(exp, label, f"could not run: {rounds.failed[kind]}")
            continue
        for workers in counts:
            seconds = rounds.best[kind, workers]
            exp.rows.append(Row(label, workers, seconds, base / seconds))


def _skip(exp: Experiment, label: str, reason: str) -> None:
    exp.rows.append(Row(label, 0, note=reason, skipped=reason))


def _busy(processes: float | None, cores: int) -> str:
    """A hint when even processes did not scale: then other programs took the cores."""
    if cores < 2 or processes is None or processes >= HELPS or not hasattr(os, "getloadavg"):
        return ""
    return (f"; processes did not scale either: the machine looks busy (load "
            f"{os.getloadavg()[0]:.1f} on {cores} cores)")


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def cpu_bound(settings: Settings) -> Experiment:
    """Experiment 2: pure-Python arithmetic holds the GIL, so threads take turns."""
    exp = Experiment("cpu", CPU_NAME,
                     "threads do not speed up pure-Python CPU-bound work")
    cores = usable_cores()
    counts = core_counts(cores)
    items_count = task_count(counts)
    per_loop = best_of(3, lambda: work.spin(50_000)) / 50_000
    loops = max(1_000, int(settings.cpu_seconds / items_count / per_loop))
    free = not gil_enabled()
    threads = FREE_THREADED if free else "threads"
    plans: list[Plan] = [("threads", threads, counts), ("processes", "processes", counts)]
    if interpreter_pool() is not None:
        plans.append(("interpreters", "sub-interpreters", counts))
    _measure(exp, work.spin, [loops] * items_count, plans, settings.cpu_rounds,
             f", {loops:,} loops each")
    if not free:
        _skip(exp, FREE_THREADED, "this Python has a GIL; free-threaded builds "
              "(python3.13t and later, GIL off) run threads in parallel")
    if interpreter_pool() is None:
        _skip(exp, "sub-interpreters", "needs Python 3.14+ (InterpreterPoolExecutor); this is "
              f"{platform.python_version()}")
    t, p = exp.best_speedup(threads), exp.best_speedup("processes")
    holds = t is not None and t < HELPS
    if holds:
        why = "one GIL lets one thread run Python at a time"
    elif free:
        why = "this Python runs without a GIL, so its threads run Python in parallel"
    else:
        why = f"threads gained at least {HELPS}× despite the GIL"
    exp.judge(holds, f"threads peaked at {_ratio(t)}, processes at {_ratio(p)} on {cores} "
              f"core(s): {why}{_busy(p, cores)}")
    return exp


def io_bound(settings: Settings) -> Experiment:
    """Experiment 3: a thread waiting on a socket releases the GIL, so many can wait at once."""
    exp = Experiment("io", IO_NAME,
                     "threads speed up I/O-bound work as much as processes do")
    counts = settings.io_workers
    plans: list[Plan] = [("threads", "threads", counts), ("processes", "processes", counts)]
    with slow_server(settings.io_delay) as address:
        _measure(exp, work.fetch, [address] * settings.io_tasks, plans, settings.repeats,
                 f", each waits {settings.io_delay * 1000:.0f} ms for 127.0.0.1 to answer")
    t, p = exp.best_speedup("threads"), exp.best_speedup("processes")
    holds = t is not None and p is not None and t >= HELPS and t >= 0.8 * p
    why = ("a thread waiting on a socket releases the GIL" if holds else
           f"threads fell short of {HELPS}× or of 80% of processes")
    exp.judge(holds, f"threads reached {_ratio(t)}, processes {_ratio(p)} with up to "
              f"{max(counts)} workers on {usable_cores()} core(s): {why}")
    return exp


def gil_releasing(settings: Settings) -> Experiment:
    """Experiment 4: hashlib hashes big buffers with the GIL released, so threads scale."""
    exp = Experiment("c-release", C_NAME,
                     f"threads speed up hashlib.sha256 on {settings.hash_mb} MB buffers")
    cores = usable_cores()
    counts = core_counts(cores)
    size = settings.hash_mb * 1024 * 1024
    per_hash = best_of(3, lambda: work.hash_buffer((size, 1)))
    items_count = task_count(counts)
    rounds = max(1, round(settings.hash_seconds / items_count / per_hash))
    plans: list[Plan] = [("threads", "threads", counts), ("processes", "processes", counts)]
    _measure(exp, work.hash_buffer, [(size, rounds)] * items_count, plans, settings.cpu_rounds,
             f", {rounds} hash(es) of {settings.hash_mb} MB each",
             initializer=work.buffer, initargs=(size,))
    t, p = exp.best_speedup("threads", 2), exp.best_speedup("processes", 2)
    if cores < 2:
        exp.judge(False, "only one usable core here: nothing can run in parallel")
    else:
        holds = t is not None and t >= HELPS
        why = ("hashlib releases the GIL while it hashes" if holds else
               f"threads stayed under {HELPS}×")
        exp.judge(holds, f"threads reached {_ratio(t)}, processes {_ratio(p)} on {cores} "
                  f"cores: {why}{_busy(p, cores)}")
    return exp
