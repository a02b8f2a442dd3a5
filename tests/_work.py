"""Task functions for the interpreter and free-threaded tests.

They live in their own small module, importable by name, because a sub-interpreter loads
them by importing this module (tests/ is on the parent's sys.path, which workers copy): a
test module would drag pytest into every interpreter.
"""

from __future__ import annotations

import os
import time

INIT_CALLS = 0
TAG: str | None = None


class Boom(Exception):
    """An exception class of our own, to check it survives the trip back."""


def square(x: int) -> int:
    return x * x


def fail_on_seven(x: int) -> int:
    if x == 7:
        raise Boom(f"seven is bad: {x}")
    return x


def sleep_then_return(x: float) -> float:
    time.sleep(x)
    return x


def spin(n: int) -> int:
    """Pure-Python CPU work that holds the (per-interpreter) GIL the whole time."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def remember(tag: str) -> None:
    """An initializer: counts its calls in this interpreter's copy of the module."""
    global INIT_CALLS, TAG
    INIT_CALLS += 1
    TAG = tag


def read_state(_: object) -> tuple[str | None, int, int]:
    """(tag set by the initializer, its call count, the id of the interpreter running this)."""
    from concurrent import interpreters

    time.sleep(0.005)
    return TAG, INIT_CALLS, interpreters.get_current().id


def fail_init() -> None:
    raise RuntimeError("no model file")


def speedup(mode: str, loops: int = 1_000_000, tasks: int = 8, rounds: int = 5) -> float:
    """How much faster 2 workers of ``mode`` run ``tasks`` spins than 1 worker (parent side).

    Both pools are started and warm before timing; each round times 1 worker then 2, and the
    best of each counts (other programs on a shared machine only ever add time). Stops early
    once clearly parallel.
    """
    import gilwise

    items = [loops] * tasks
    best = {1: float("inf"), 2: float("inf")}
    with gilwise.Pool(mode=mode, workers=1) as one, gilwise.Pool(mode=mode, workers=2) as two:
        pools = {1: one, 2: two}
        for pool in pools.values():
            list(pool.map(spin, [10] * 4, chunksize=1))
        for _ in range(rounds):
            for workers, pool in pools.items():
                started = time.perf_counter()
                list(pool.map(spin, items, chunksize=1))
                best[workers] = min(best[workers], time.perf_counter() - started)
            if best[1] / best[2] > 1.7:
                break
    return best[1] / best[2]


BUSY_BELOW = 1.3  # 2 processes gain less than this: the machine has no second core to give


def parallel_verdict(mode: str) -> tuple[bool | None, str]:
    """Whether 2 workers of ``mode`` run pure Python in parallel, and the figures.

    Over 1.4x is parallel. Below that, 2 processes measured right after are the control: what
    this shared machine lets any 2 workers reach now. Near the control is parallel too (other
    programs took the second core); well below it is not. With no spare core at all, the
    verdict is None: nothing can be measured.
    """
    ratio = speedup(mode)
    if ratio > 1.4:
        return True, f"{mode}: {ratio:.2f}x with 2 workers"
    control = speedup("processes")
    figures = f"{mode}: {ratio:.2f}x with 2 workers, processes: {control:.2f}x"
    if control < BUSY_BELOW:
        return None, figures
    return ratio > 0.85 * control, figures


OVERLAP_WINDOW = 0.002  # seconds: two threads' CPU time summed over a window this long...
OVERLAP_ABOVE = 1.5  # ...over this many windows' worth: they were on two cores at once


def overlap_verdict(seconds: float = 2.0) -> tuple[bool | None, str]:
    """Whether 2 threads of a threads pool run pure Python at the same moment, told by their
    CPU clocks read every fraction of a millisecond from this thread: behind one GIL their
    sum never grows faster than the wall clock; in parallel it does, in some 2 ms window,
    even where other processes keep the cores busy most of the time (the scheduler gives
    each thread its slices, some at the same time). Looks for up to ``seconds``; None where
    another thread's CPU clock cannot be read."""
    import threading

    import gilwise

    if not hasattr(time, "pthread_getcpuclockid"):
        return None, "no per-thread CPU clocks here"
    clocks: list[int] = []
    stop = threading.Event()

    def spin_until_stopped(_: int) -> None:
        clocks.append(time.pthread_getcpuclockid(threading.get_ident()))
        while not stop.is_set():
            spin(10_000)

    with gilwise.Pool(mode="threads", workers=2) as pool:
        runs = threading.Thread(target=lambda: list(pool.map(spin_until_stopped, range(2),
                                                              chunksize=1)))
        runs.start()
        best, windows = 0.0, 0
        try:
            deadline = time.perf_counter() + seconds
            while len(clocks) < 2 and time.perf_counter() < deadline:
                time.sleep(0.001)
            if len(clocks) < 2:
                return False, "the two tasks never ran at once"
            began = time.perf_counter()
            cpu = sum(time.clock_gettime(c) for c in clocks)
            while best <= OVERLAP_ABOVE and time.perf_counter() < deadline:
                time.sleep(0.0002)
                now = time.perf_counter()
                if now - began >= OVERLAP_WINDOW:
                    total = sum(time.clock_gettime(c) for c in clocks)
                    best = max(best, (total - cpu) / (now - began))
                    windows += 1
                    began, cpu = now, total
        finally:
            stop.set()
            runs.join()
    return best > OVERLAP_ABOVE, (f"threads: at most {best:.2f} s of CPU per second of wall "
                                  f"time together, in {windows} windows of 2 ms")


def _own_clocks() -> tuple[float, float, float] | None:
    """This thread's wall clock, seconds on a core and seconds waiting for one (Linux's
    /proc/self/task/<tid>/schedstat); None elsewhere."""
    import threading

    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as f:
            on_core, waiting = f.read().split()[:2]
    except (OSError, ValueError):
        return None
    return time.perf_counter(), int(on_core) / 1e9, int(waiting) / 1e9


def spin_clocked(n: int) -> tuple[float, float] | None:
    """``spin(n)``, returning the seconds its thread was blocked (neither on a core nor
    waiting for one: behind a GIL, say) and on a core meanwhile; None where not known."""
    before = _own_clocks()
    spin(n)
    after = _own_clocks()
    if before is None or after is None:
        return None
    wall, ran, queued = (b - a for a, b in zip(before, after))
    return max(0.0, wall - ran - queued), ran


def blocked_verdict(mode: str, loops: int = 1_000_000, tasks: int = 8) -> tuple[bool | None, str]:
    """Whether 2 workers of ``mode`` run pure Python in parallel, told by how long each task
    was blocked while it ran: behind one GIL about half the time it computes, in parallel
    hardly ever (sub-interpreters: 0-6%; not for free-threaded 3.13t's threads, which block
    each other 40-80% of the time for a reason not found yet, in parallel all the same).
    Other processes keeping the cores busy only make the tasks wait for a core, which Linux
    counts apart: the verdict holds on a busy machine. None where those figures
    are not kept (then ``parallel_verdict``)."""
    import gilwise

    with gilwise.Pool(mode=mode, workers=2) as pool:
        list(pool.map(spin, [10] * 4, chunksize=1))  # both started
        clocked = list(pool.map(spin_clocked, [loops] * tasks, chunksize=1))
    if any(c is None for c in clocked):
        return None, "no scheduler figures per thread here"
    blocked = sum(b for b, _ in clocked)  # type: ignore[misc]
    ran = sum(r for _, r in clocked)  # type: ignore[misc]
    share = blocked / (blocked + ran) if blocked + ran else 1.0
    figures = (f"{mode}: tasks blocked {share:.0%} of the time they were not waiting for a "
               f"core ({blocked:.2f} s blocked, {ran:.2f} s on a core)")
    return share < 0.2, figures


def sleep_on_500(x: int) -> int:
    if x == 500:
        time.sleep(0.05)
    return x + 1


class CountsUnpickling:
    """A big bound object that notes each time it is unpickled (a line appended to ``log``):
    how often a map sent it to its workers."""

    def __init__(self, log: str, size: int) -> None:
        self.log, self.payload = log, bytes(size)

    def __reduce__(self) -> tuple[object, tuple[str, bytes]]:
        return _unpickled, (self.log, self.payload)

    def length(self, x: int) -> int:
        return len(self.payload) + x


def _unpickled(log: str, payload: bytes) -> CountsUnpickling:
    with open(log, "a") as file:
        file.write(f"{os.getpid()}\n")
    made = CountsUnpickling.__new__(CountsUnpickling)
    made.log, made.payload = log, payload
    return made
