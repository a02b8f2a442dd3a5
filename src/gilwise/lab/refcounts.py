"""Experiment 1: why CPython has a GIL. Every reference to an object changes one counter
in that object, and a counter changed by several threads without a lock loses updates."""

from __future__ import annotations

import sys
import threading
import time

from gilwise.lab.model import Experiment, Row
from gilwise.lab.runners import Settings

NAME = "Reference counts"
CLAIM = ("every new reference to an object changes one shared counter, and a counter "
         "shared by threads loses updates without a lock")


class _Counter:
    value = 0


def _plus_one(value: int) -> int:
    # A call between the read and the write: a point where the interpreter may switch threads.
    return value + 1


def _bump(counter: _Counter, seconds: float, lock: threading.Lock | None,
          start: threading.Barrier, done: list[int]) -> None:
    """Read-modify-write for ``seconds``, as ``Py_INCREF`` does to a refcount; records how
    many increments this thread made (in a local count, which no other thread touches)."""
    start.wait()  # all threads begin together, so their updates overlap
    made, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(1000):
            if lock is None:
                counter.value = _plus_one(counter.value)
            else:
                with lock:
                    counter.value = _plus_one(counter.value)
        made += 1000
    done.append(made)


def _race(threads: int, seconds: float, locked: bool) -> tuple[int, int]:
    """Increments lost, and made, when ``threads`` threads bump one counter for ``seconds``.
    Running for a set time (not a set count) makes the threads overlap even on a busy machine."""
    counter, lock, done = _Counter(), threading.Lock() if locked else None, []
    start = threading.Barrier(threads)
    workers = [threading.Thread(target=_bump, args=(counter, seconds, lock, start, done))
               for _ in range(threads)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so that races show quickly
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    return sum(done) - counter.value, sum(done)


def _held_counts(threads: int, refs: int) -> tuple[int, int, int]:
    """``sys.getrefcount`` of one object before, while and after threads hold references."""
    shared = ["an object shared by threads"]
    holding, letting_go = threading.Barrier(threads + 1), threading.Barrier(threads + 1)

    def hold() -> None:
        held = [shared] * refs  # ``refs`` new references: each one is an increment
        holding.wait()
        letting_go.wait()
        del held

    workers = [threading.Thread(target=hold) for _ in range(threads)]
    before = sys.getrefcount(shared)
    for worker in workers:
        worker.start()
    holding.wait()
    during = sys.getrefcount(shared)
    letting_go.wait()
    for worker in workers:
        worker.join()
    return before, during, sys.getrefcount(shared)


def run(settings: Settings) -> Experiment:
    exp = Experiment("refcounts", NAME, CLAIM)
    threads, refs, race = settings.ref_threads, settings.ref_count, settings.race_seconds
    before, during, after = _held_counts(threads, refs)
    count = "references"
    exp.rows += [
        Row("refcount: nobody else holds it", 0, value=before, unit=count,
            note=f"sys.getrefcount = {before}"),
        Row(f"refcount: {threads} threads hold {refs:,} each", threads, value=during,
            unit=count, note=f"sys.getrefcount = {during:,} (+{during - before:,})"),
        Row("refcount: the threads let go", threads, value=after, unit=count,
            note=f"sys.getrefcount = {after}"),
    ]
    lost, total = _race(threads, race, locked=False)
    exp.rows.append(Row("counter += 1, no lock", threads, value=lost, unit="lost updates",
                        note=f"lost {lost:,} of {total:,} increments"))
    lost_locked, total_locked = _race(threads, race, locked=True)
    exp.rows.append(Row("counter += 1, with a lock", threads, value=lost_locked,
                        unit="lost updates",
                        note=f"lost {lost_locked:,} of {total_locked:,} increments"))
    counted = during - before == threads * refs and after == before
    holds = counted and lost > 0 and lost_locked == 0
    why = ("refcounts are such counters, and the GIL is their lock" if holds
           else "this run did not show both effects")
    exp.judge(holds, f"{threads * refs:,} references moved the count by {during - before:,}; "
              f"unlocked, {lost:,} of {total:,} increments were lost, locked {lost_locked}: {why}")
    return exp
