"""Experiment 5: what a process costs. Starting one, and sending it every task and argument
through a pipe (pickled), is far dearer than a thread: short tasks don't pay for it."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import time
from collections.abc import Callable

from gilwise.lab import work
from gilwise.lab.model import Experiment, Row
from gilwise.lab.runners import Settings, time_pool, time_sequential, usable_cores

NAME = "Cost of a process"
PER_TASK = "seconds per task"
CLAIM = "a process costs far more than a thread: to start, and for every task sent to it"


def _start_seconds(make: Callable[[], cf.Executor]) -> float:
    """Seconds from creating a one-worker pool to the first result back from it."""
    started = time.perf_counter()
    executor = make()
    try:
        executor.submit(work.pid).result()
        return time.perf_counter() - started
    finally:
        executor.shutdown(wait=True)


def _per_task(seconds: float, tasks: int) -> str:
    micros = seconds / tasks * 1e6
    return f"{micros:.3g} µs per task" if micros < 1000 else f"{micros / 1000:,.1f} ms per task"


def _starts(exp: Experiment, repeats: int) -> tuple[float, float]:
    """Rows for starting a thread and a process (each start method); the two best times."""
    thread = min(_start_seconds(lambda: cf.ThreadPoolExecutor(1)) for _ in range(3))
    exp.rows.append(Row("start a thread", 1, thread, note=f"{thread * 1e6:,.0f} µs to the "
                        "first result"))
    best = float("inf")
    for method in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context(method)

        def make(context: multiprocessing.context.BaseContext = context) -> cf.Executor:
            return cf.ProcessPoolExecutor(1, mp_context=context)

        if method == "forkserver":
            _start_seconds(make)  # its first use also starts the server: not timed
        seconds = min(_start_seconds(make) for _ in range(repeats))
        best = min(best, seconds)
        exp.rows.append(Row(f"start a process ({method})", 1, seconds,
                            note=f"{seconds * 1000:,.1f} ms to the first result, "
                            f"{seconds / thread:,.0f}× a thread"))
    return thread, best


def run(settings: Settings) -> Experiment:
    exp = Experiment("process-cost", NAME, CLAIM)
    cores = usable_cores()
    thread_start, process_start = _starts(exp, settings.start_repeats)

    tasks = settings.trivial_tasks
    items = list(range(tasks))
    base = time_sequential(work.identity, items, 3)
    exp.rows.append(Row("trivial tasks: sequential", 1, base, 1.0, value=base / tasks,
                        unit=PER_TASK, note=_per_task(base, tasks)))
    chunk = max(1, tasks // (4 * cores))
    timings = {}
    for label, kind, chunksize in (("threads", "threads", 1), ("processes", "processes", 1),
                                   (f"processes, {chunk} per message", "processes", chunk)):
        seconds = time_pool(kind, cores, work.identity, items, 1, chunksize=chunksize)
        timings[label] = seconds
        exp.rows.append(Row(f"trivial tasks: {label}", cores, seconds, base / seconds,
                            value=seconds / tasks, unit=PER_TASK,
                            note=_per_task(seconds, tasks)))

    size = settings.big_arg_mb * 1024 * 1024
    big = [bytes(size)] * settings.big_arg_tasks
    big_base = time_sequential(work.size_of, big, 3)
    big_times = {}
    for kind in ("threads", "processes"):
        seconds = time_pool(kind, cores, work.size_of, big, 1)
        big_times[kind] = seconds
        exp.rows.append(Row(f"{settings.big_arg_mb} MB argument: {kind}", cores, seconds,
                            big_base / seconds, value=seconds / len(big), unit=PER_TASK,
                            note=_per_task(seconds, len(big))))

    per_task = timings["processes"] / tasks
    if cores > 1:
        break_even = per_task * cores / (cores - 1)
        pays = f"tasks under ~{break_even * 1e3:.2f} ms don't pay unless sent in chunks"
    else:
        pays = "with one core, processes never pay for CPU-bound work"
    holds = (process_start > 10 * thread_start and timings["processes"] > timings["threads"]
             and big_times["processes"] > big_times["threads"])
    exp.judge(holds, f"a process started in {process_start * 1000:.1f} ms, a thread in "
              f"{thread_start * 1e6:.0f} µs; each task sent alone cost a process "
              f"{per_task * 1e6:.0f} µs and a {settings.big_arg_mb} MB argument "
              f"{big_times['processes'] / len(big) * 1e3:.1f} ms: {pays}")
    return exp
