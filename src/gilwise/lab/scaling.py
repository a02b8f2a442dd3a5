"""Experiments 2 to 4: the same batch run sequentially, in threads and in processes at
several worker counts, for work that holds the GIL, waits on I/O, or runs C code without it."""

from __future__ import annotations

import platform
from collections.abc import Callable, Sequence
from typing import Any

from gilwise.lab import work
from gilwise.lab.model import Check, Experiment, Row, Verdict, decide, load_average
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
AGREE = 1.15  # one worker's time and the sequential loop's agree within this factor
FREE_THREADED = "threads (free-threaded)"
CPU_NAME = "Pure-Python CPU-bound work"
IO_NAME = "I/O-bound work (local socket)"
C_NAME = "C code that releases the GIL (hashlib)"

CPU_CLAIM = "threads do not speed up pure-Python CPU-bound work"
IO_CLAIM = "threads speed up I/O-bound work as much as processes do"
SPARE_CORES = (f"one worker of each kind takes as long as the sequential loop (within "
               f"{AGREE}×: the timings are steady), and processes speed the batch up at least "
               f"{HELPS}× (the cores were free, so work that could run in parallel did)")
IO_CONTROL = (f"processes speed the same waits up at least {HELPS}×: the server answers "
              "clients in parallel")

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


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def cpu_bound(settings: Settings, loops: int | None = None) -> Experiment:
    """Experiment 2: pure-Python arithmetic holds the GIL, so threads take turns. ``loops``
    per task, where given (the same work on every interpreter), else sized to the settings."""
    exp = Experiment("cpu", CPU_NAME, CPU_CLAIM, SPARE_CORES)
    cores = usable_cores()
    counts = core_counts(cores)
    items_count = task_count(counts)
    if loops is None:
        loops = spin_loops(settings.cpu_seconds, items_count)
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
    exp.judge(cpu_verdict(exp, cores, free, load_average()))
    return exp


def spin_loops(seconds: float, tasks: int) -> int:
    """Loops per task of ``work.spin`` that make ``tasks`` tasks take ``seconds`` here."""
    per_loop = best_of(3, lambda: work.spin(50_000)) / 50_000
    return max(1_000, int(seconds / tasks / per_loop))


def io_bound(settings: Settings) -> Experiment:
    """Experiment 3: a thread waiting on a socket releases the GIL, so many can wait at once."""
    exp = Experiment("io", IO_NAME, IO_CLAIM, IO_CONTROL)
    counts = settings.io_workers
    plans: list[Plan] = [("threads", "threads", counts), ("processes", "processes", counts)]
    with slow_server(settings.io_delay) as address:
        _measure(exp, work.fetch, [address] * settings.io_tasks, plans, settings.repeats,
                 f", each waits {settings.io_delay * 1000:.0f} ms for 127.0.0.1 to answer")
    exp.judge(io_verdict(exp))
    return exp


def gil_releasing(settings: Settings) -> Experiment:
    """Experiment 4: hashlib hashes big buffers with the GIL released, so threads scale."""
    exp = Experiment("c-release", C_NAME,
                     f"threads speed up hashlib.sha256 on {settings.hash_mb} MB buffers",
                     SPARE_CORES)
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
    exp.judge(c_verdict(exp, cores, load_average()))
    return exp


def _spare_cores(exp: Experiment, threads: str, cores: int,
                 load: float | None) -> tuple[Check, str]:
    """The control of experiments 2 and 4, and what its failure means: one worker of each kind
    took as long as the sequential loop (else other programs disturbed the timings more than
    the claim's margin), and processes scaled (so the cores were free)."""
    if cores < 2:
        return (Check("2 or more usable cores", "only one usable core here", False),
                "one usable core: nothing can run in parallel")
    busy = f", load average {load:.1f}" if load is not None else ""
    alone = [(kind, r.speedup) for kind in (threads, "processes") for r in exp.measured(kind)
             if r.workers == 1 and r.speedup is not None]
    strays = [f"{kind} alone at {speedup:.2f}×" for kind, speedup in alone
              if not 1 / AGREE <= speedup <= AGREE]
    if strays:
        return (Check(f"one worker within {AGREE}× of the loop", " and ".join(strays) + busy,
                      False), "the machine is busy")
    processes = exp.best_speedup("processes", 2)
    measured = f"processes peaked at {_ratio(processes)} on {cores} cores{busy}"
    holds = None if processes is None else processes >= HELPS
    return (Check(f"processes at least {HELPS}× (one worker of each kind as fast as the loop)",
                  measured, holds), "the machine is busy")


def cpu_verdict(exp: Experiment, cores: int, free_threaded: bool,
                load: float | None = None) -> Verdict:
    """Experiment 2's claim (threads stay under HELPS), tested only where the timings were
    steady and processes scaled."""
    threads = FREE_THREADED if free_threaded else "threads"
    t = exp.best_speedup(threads)
    claim = Check(f"threads under {HELPS}×", f"threads peaked at {_ratio(t)}",
                  None if t is None else t < HELPS)
    control, failed = _spare_cores(exp, threads, cores, load)
    refuted = ("this Python runs without a GIL, so its threads run Python in parallel"
               if free_threaded else "threads gained despite the GIL")
    return decide(claim, control, failed, "one GIL lets one thread run Python at a time",
                  refuted)


def io_verdict(exp: Experiment) -> Verdict:
    """Experiment 3's claim (threads reach HELPS and 80% of processes), tested only where
    processes sped the waits up: else the server, or the machine, was the bottleneck."""
    t, p = exp.best_speedup("threads"), exp.best_speedup("processes")
    claim = Check(f"threads at least {HELPS}× and 80% of processes",
                  f"threads reached {_ratio(t)}",
                  None if t is None or p is None else t >= HELPS and t >= 0.8 * p)
    control = Check(f"processes at least {HELPS}×", f"processes reached {_ratio(p)}",
                    None if p is None else p >= HELPS)
    return decide(claim, control, "the waits did not overlap (server or machine too slow)",
                  "a thread waiting on a socket releases the GIL",
                  "threads fell short though the waits could overlap")


def c_verdict(exp: Experiment, cores: int, load: float | None = None) -> Verdict:
    """Experiment 4's claim (threads reach HELPS with 2+ workers), tested only where the
    timings were steady and processes scaled."""
    t = exp.best_speedup("threads", 2)
    claim = Check(f"threads at least {HELPS}×", f"threads reached {_ratio(t)}",
                  None if t is None else t >= HELPS)
    control, failed = _spare_cores(exp, "threads", cores, load)
    return decide(claim, control, failed, "hashlib releases the GIL while it hashes",
                  "threads stayed under it though the cores were free")
