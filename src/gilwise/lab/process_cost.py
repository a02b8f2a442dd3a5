"""Experiment 5: what a process costs. Starting one, and sending it every task and argument
through a pipe (pickled), is far dearer than a thread: short tasks don't pay for it."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import time
from collections.abc import Callable

from gilwise.lab import work
from gilwise.lab.model import INCONCLUSIVE, Check, Experiment, Row, Verdict, decide
from gilwise.lab.runners import Settings, time_pool, time_sequential, usable_cores

NAME = "Cost of a process"
PER_TASK = "seconds per task"
CLAIM = "a process costs far more than a thread: to start, and for every task sent to it"
CONTROL = ("sending the trivial tasks to processes in chunks cuts their cost: the cost "
           "measured is the messages', not noise from other programs")
START_THREAD, START_PROCESS = "start a thread", "start a process"
TRIVIAL, ARGUMENT = "trivial tasks: ", " MB argument: "
CHUNKED = "processes, "  # "trivial tasks: processes, N per message"


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


def _starts(exp: Experiment, repeats: int) -> None:
    """Rows for starting a thread and a process (each start method)."""
    # best of many: a start takes ~0.1 ms, and on a busy machine one that waits for a core
    # takes a whole time slice (ms), which would make a thread look as dear as a process
    thread = min(_start_seconds(lambda: cf.ThreadPoolExecutor(1)) for _ in range(20))
    exp.rows.append(Row(START_THREAD, 1, thread, note=f"{thread * 1e6:,.0f} µs to the "
                        "first result"))
    for method in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context(method)

        def make(context: multiprocessing.context.BaseContext = context) -> cf.Executor:
            return cf.ProcessPoolExecutor(1, mp_context=context)

        if method == "forkserver":
            _start_seconds(make)  # its first use also starts the server: not timed
        seconds = min(_start_seconds(make) for _ in range(repeats))
        exp.rows.append(Row(f"{START_PROCESS} ({method})", 1, seconds,
                            note=f"{seconds * 1000:,.1f} ms to the first result, "
                            f"{seconds / thread:,.0f}× a thread"))


def run(settings: Settings) -> Experiment:
    exp = Experiment("process-cost", NAME, CLAIM, CONTROL)
    cores = usable_cores()
    _starts(exp, settings.start_repeats)

    tasks = settings.trivial_tasks
    items = list(range(tasks))
    base = time_sequential(work.identity, items, 3)
    exp.rows.append(Row(f"{TRIVIAL}sequential", 1, base, 1.0, value=base / tasks,
                        unit=PER_TASK, note=_per_task(base, tasks)))
    chunk = max(1, tasks // (4 * cores))
    for label, kind, chunksize in (("threads", "threads", 1), ("processes", "processes", 1),
                                   (f"{CHUNKED}{chunk} per message", "processes", chunk)):
        seconds = time_pool(kind, cores, work.identity, items, 1, chunksize=chunksize)
        exp.rows.append(Row(f"{TRIVIAL}{label}", cores, seconds, base / seconds,
                            value=seconds / tasks, unit=PER_TASK,
                            note=_per_task(seconds, tasks)))

    size = settings.big_arg_mb * 1024 * 1024
    big = [bytes(size)] * settings.big_arg_tasks
    big_base = time_sequential(work.size_of, big, 3)
    for kind in ("threads", "processes"):
        seconds = time_pool(kind, cores, work.size_of, big, 1)
        exp.rows.append(Row(f"{settings.big_arg_mb}{ARGUMENT}{kind}", cores, seconds,
                            big_base / seconds, value=seconds / len(big), unit=PER_TASK,
                            note=_per_task(seconds, len(big))))

    exp.judge(verdict(exp, cores))
    return exp


def _fastest(exp: Experiment, starts: str = "", ends: str = "") -> float | None:
    """The shortest time of the rows whose variant starts and ends so, if any ran."""
    times = [r.seconds for r in exp.rows if r.skipped is None and r.seconds is not None
             and r.variant.startswith(starts) and r.variant.endswith(ends)]
    return min(times) if times else None


def verdict(exp: Experiment, cores: int) -> Verdict:
    """The claim (a process starts 10× slower than a thread; trivial tasks and a big argument
    cost processes more than threads), tested only where chunking cut the processes' cost."""
    thread, process = _fastest(exp, START_THREAD), _fastest(exp, START_PROCESS)
    threads = _fastest(exp, TRIVIAL + "threads")
    one_by_one = _fastest(exp, TRIVIAL + "processes", ends="processes")
    chunked = _fastest(exp, TRIVIAL + CHUNKED)
    big_threads = _fastest(exp, ends=ARGUMENT + "threads")
    big_processes = _fastest(exp, ends=ARGUMENT + "processes")
    numbers = (thread, process, threads, one_by_one, chunked, big_threads, big_processes)
    if any(n is None for n in numbers):
        return Verdict(INCONCLUSIVE, "it could not be measured here", "rows are missing")
    claim = Check("a process start over 10× a thread's, and processes slower than threads on "
                  "trivial tasks and on big arguments",
                  f"a process started in {_short(process)}, a thread in {_short(thread)}; "
                  f"trivial tasks took {_short(one_by_one)} in processes, {_short(threads)} "
                  f"in threads; big arguments {_short(big_processes)} against "
                  f"{_short(big_threads)}",
                  process > 10 * thread and one_by_one > threads and big_processes > big_threads)
    control = Check("chunks faster than one task per message",
                    f"in chunks the trivial tasks took {_short(chunked)}, one per message "
                    f"{_short(one_by_one)}", chunked < one_by_one)
    per_task = exp.row(TRIVIAL + "processes").value or 0.0
    if cores > 1:
        break_even = per_task * cores / (cores - 1)
        pays = f"tasks under ~{break_even * 1e3:.2f} ms don't pay unless sent in chunks"
    else:
        pays = "with one core, processes never pay for CPU-bound work"
    return decide(claim, control, "the timings are noise: chunks did not cut the cost",
                  pays, "processes were not dearer here")


def _short(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"
