"""Experiment 1: why CPython has a GIL. Every reference to an object changes one counter
in that object, and a counter changed by several threads without a lock loses updates."""

from __future__ import annotations

import sys
import threading
import time

from gilwise.lab.model import INCONCLUSIVE, Check, Experiment, Row, Verdict, decide
from gilwise.lab.runners import Settings

NAME = "Reference counts"
CLAIM = ("every new reference to an object changes one shared counter, and a counter "
         "shared by threads loses updates without a lock")
CONTROL = ("the count returns when the threads let go, the threads took turns on the "
           "counter, and with a lock no update is lost (so a lost update is a real one)")
REFERENCES, LOST, SWITCHES = "references", "lost updates", "switches between threads"


class _Counter:
    value = 0


def _plus_one(value: int) -> int:
    # A call between the read and the write: a point where the interpreter may switch threads.
    return value + 1


def _bump(counter: _Counter, seconds: float, lock: threading.Lock | None,
          start: threading.Barrier, done: list[int], turns: list[int], me: int) -> None:
    """Read-modify-write for ``seconds``, as ``Py_INCREF`` does to a refcount; records how
    many increments this thread made (in a local count, which no other thread touches), and
    appends ``me`` to ``turns`` after every thousand, so that turn-taking shows."""
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
        turns.append(me)
    done.append(made)


def _race(threads: int, seconds: float, locked: bool) -> tuple[int, int, int]:
    """Increments lost, increments made, and switches seen from one thread's increments to
    another's, when ``threads`` threads bump one counter for ``seconds``. Running for a set
    time (not a set count) makes the threads overlap even on a busy machine."""
    counter, lock, done, turns = _Counter(), threading.Lock() if locked else None, [], []
    start = threading.Barrier(threads)
    workers = [threading.Thread(target=_bump,
                                args=(counter, seconds, lock, start, done, turns, me))
               for me in range(threads)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so that races show quickly
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    switches = sum(a != b for a, b in zip(turns, turns[1:]))
    return sum(done) - counter.value, sum(done), switches


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
    exp = Experiment("refcounts", NAME, CLAIM, CONTROL)
    threads, refs, race = settings.ref_threads, settings.ref_count, settings.race_seconds
    before, during, after = _held_counts(threads, refs)
    exp.rows += [
        Row("refcount: nobody else holds it", 0, value=before, unit=REFERENCES,
            note=f"sys.getrefcount = {before}"),
        Row(f"refcount: {threads} threads hold {refs:,} each", threads, value=during,
            unit=REFERENCES, note=f"sys.getrefcount = {during:,} (+{during - before:,})"),
        Row("refcount: the threads let go", threads, value=after, unit=REFERENCES,
            note=f"sys.getrefcount = {after}"),
    ]
    lost, total, switches = _race(threads, race, locked=False)
    exp.rows.append(Row("counter += 1, no lock", threads, value=lost, unit=LOST,
                        note=f"lost {lost:,} of {total:,} increments"))
    exp.rows.append(Row("threads took turns, no lock", threads, value=switches, unit=SWITCHES,
                        note=f"{switches:,} switches from one thread's increments to "
                        "another's"))
    lost_locked, total_locked, _ = _race(threads, race, locked=True)
    exp.rows.append(Row("counter += 1, with a lock", threads, value=lost_locked, unit=LOST,
                        note=f"lost {lost_locked:,} of {total_locked:,} increments"))
    exp.judge(verdict(exp, threads * refs))
    return exp


def _value(exp: Experiment, unit: str, index: int) -> float | None:
    values = [r.value for r in exp.rows if r.unit == unit and r.skipped is None]
    return values[index] if index < len(values) else None


def verdict(exp: Experiment, taken: int) -> Verdict:
    """The claim (``taken`` references move the count by exactly ``taken``; the unlocked
    counter loses updates), tested only where the control held: the count came back, the
    threads took turns, and the locked counter lost nothing."""
    before, during, after = (_value(exp, REFERENCES, i) for i in range(3))
    lost, lost_locked = _value(exp, LOST, 0), _value(exp, LOST, 1)
    switches = _value(exp, SWITCHES, 0)
    numbers = (before, during, after, lost, lost_locked, switches)
    if any(n is None for n in numbers):
        return Verdict(INCONCLUSIVE, "it could not be measured here", "rows are missing")
    moved = during - before
    claim = Check(f"+{taken:,} while held, and lost updates without a lock",
                  f"{taken:,} references moved the count by {moved:,}; unlocked, "
                  f"{lost:,.0f} increments were lost", moved == taken and lost > 0)
    control = Check("the count back where it was, turns taken, none lost with a lock",
                    f"the count came back to {after:,.0f} (from {before:,.0f}), "
                    f"{switches:,.0f} switches, {lost_locked:,.0f} lost with a lock",
                    after == before and switches > 0 and lost_locked == 0)
    if lost_locked:
        failed = "the counting is unsound: the locked counter lost updates"
    elif after != before:
        failed = "something else held references to the object"
    else:
        failed = "the threads never took turns on the counter"
    return decide(claim, control, failed, "refcounts are such counters, and the GIL is "
                  "their lock", "this run did not show both effects")
