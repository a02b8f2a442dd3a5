"""``mode="auto"``: measure the first items, then choose threads or processes, and say why.

The first items run here, in the caller's thread and then in two threads at once; their
results are real results, handed to the engine, never thrown away.

1. CPU time against wall time (``time.thread_time`` / ``perf_counter``): mostly waiting
   means I/O-bound, so threads, enough of them to cover the wait.
2. For CPU-bound work: the next items run in a second thread while this one runs a
   pure-Python ticker. Work that releases the GIL (hashlib, zlib, NumPy, subprocesses)
   leaves the ticker its full speed and stays in threads; work that holds the GIL leaves
   it about half, and goes to processes if the function and items can be pickled.
3. On a free-threaded build with the GIL off, threads run Python in parallel: threads.
"""

from __future__ import annotations

import itertools
import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import cloudpickle

from gilwise._options import Options, usable_cores
from gilwise._outcome import ErrorInfo, describe
from gilwise._segment import Segment

MIN_SAMPLE_SECONDS = 0.02  # run items alone until this much time is measured
MAX_SAMPLE_ITEMS = 256
IO_BOUND_BELOW = 0.5  # cpu/wall under this: mostly waiting
# While a task runs in another thread, a pure-Python thread keeps this share of its solo
# speed or more: the task lets go of the GIL (holding it leaves about half)
RELEASES_ABOVE = 0.75
MAX_IO_THREADS = 64
TICK = 200  # loop iterations between checks of the ticker's stop condition
TICKER_SOLO_SECONDS = 0.005


@dataclass
class Decision:
    """The mode chosen, with how many workers, the reason in words and the figures behind."""

    mode: str
    workers: int
    reason: str
    figures: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.mode}×{self.workers}: {self.reason}"


@dataclass
class Trial:
    """The decision, the items run to reach it (with errors by position), and the rest."""

    decision: Decision
    segment: Segment
    errors: dict[int, ErrorInfo]
    rest: Iterable[Any]


class _Sized:
    """The items not yet run, keeping ``len`` when the input had one."""

    def __init__(self, it: Iterator[Any], length: int) -> None:
        self._it, self._length = it, length

    def __iter__(self) -> Iterator[Any]:
        return self._it

    def __len__(self) -> int:
        return self._length


class _Source:
    """Reads the input for the probe; an error while reading waits for the engine to raise
    it, after everything read before it has run."""

    def __init__(self, items: Iterable[Any]) -> None:
        self._it = iter(items)
        self._error: Exception | None = None

    def __iter__(self) -> Iterator[Any]:
        while self._error is None:
            try:
                item = next(self._it)
            except StopIteration:
                return
            except Exception as exc:
                self._error = exc
                return
            yield item

    def rest(self) -> Iterator[Any]:
        if self._error is not None:
            raise self._error
        yield from self._it


def gil_enabled() -> bool:
    """False only on a free-threaded build running with the GIL off."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def _run(fn: Callable, item: Any) -> tuple[Any, ErrorInfo | None]:
    try:
        return fn(item), None
    except Exception as exc:
        return None, describe(exc)


def probe(fn: Callable[[Any], Any], items: Iterable[Any], options: Options) -> Trial:
    """Run the first items, measuring, and decide the mode for the rest."""
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    reader = _Source(items)
    source = iter(reader)
    ran: list[Any] = []
    values: list[Any] = []
    errors: dict[int, ErrorInfo] = {}
    cores = usable_cores()

    def record(item: Any, outcome: tuple[Any, ErrorInfo | None]) -> None:
        if outcome[1] is not None:
            errors[len(ran)] = outcome[1]
        ran.append(item)
        values.append(outcome[0])

    # 1. alone, in this thread: CPU against wall
    wall = cpu = 0.0
    alone = 0
    for item in source:
        w0, c0 = time.perf_counter(), time.thread_time()
        outcome = _run(fn, item)
        wall += time.perf_counter() - w0
        cpu += time.thread_time() - c0
        record(item, outcome)
        alone += 1
        if wall >= MIN_SAMPLE_SECONDS or alone >= MAX_SAMPLE_ITEMS:
            break
    figures: dict[str, float] = {"cpu_wall": cpu / wall if wall > 0 else 1.0}
    if alone:
        figures["seconds_per_item"] = wall / alone

    def finish(decision: Decision) -> Trial:
        segment = Segment(0, ran)
        segment.values = values
        segment.open = len(errors)
        decision.figures.update(figures)
        rest: Iterable[Any] = reader.rest()
        if total is not None:
            rest = _Sized(iter(rest), total - len(ran))
        return Trial(decision, segment, errors, rest)

    if not ran:
        return finish(Decision("threads", 1, "no items to run"))
    ratio = figures["cpu_wall"]
    if ratio < IO_BOUND_BELOW:
        workers = options.workers or min(
            MAX_IO_THREADS, max(cores + 4, math.ceil(cores / max(ratio, 1e-3)))
        )
        reason = f"I/O-bound (cpu/wall {ratio:.2f}): threads cover the wait"
        return finish(Decision("threads", workers, reason))
    workers = options.workers or cores
    if not gil_enabled():
        return finish(
            Decision("threads", workers, f"CPU-bound (cpu/wall {ratio:.2f}) on a free-threaded "
                     "build with the GIL off: threads run in parallel")
        )
    if cores < 2:
        return finish(Decision("threads", 1, "one usable core: nothing runs in parallel"))

    # 2. the next items in a second thread while this one runs a pure-Python ticker: the
    # task's own progress plus the ticker's share of its solo speed is what 2 threads do
    batch = list(itertools.islice(source, alone))
    if not batch:
        return finish(Decision("threads", workers, "too few items to be worth processes"))
    contended, share = _run_beside_ticker(fn, batch, record)
    speedup = (wall / alone) * len(batch) / contended + share if contended > 0 else 1.0
    figures["two_threads_speedup"] = speedup
    figures["ticker_share"] = share
    kept = f"a Python thread beside it kept {share:.0%} of its speed"
    if share >= RELEASES_ABOVE:
        return finish(Decision("threads", workers, f"CPU-bound (cpu/wall {ratio:.2f}) but "
                               f"releases the GIL ({kept})"))
    unpicklable = _unpicklable(fn, ran[0])
    if unpicklable:
        return finish(Decision("threads", workers, f"CPU-bound and holds the GIL, but "
                               f"{unpicklable} cannot go to another process"))
    return finish(Decision("processes", workers, f"CPU-bound (cpu/wall {ratio:.2f}) and holds "
                           f"the GIL ({kept})"))


def _tick(stop: Callable[[], bool]) -> float:
    """Pure-Python loops per second until ``stop()``: how much of a core this thread gets."""
    loops = 0
    started = time.perf_counter()
    while not stop():
        for _ in range(TICK):
            pass
        loops += 1
    return loops / max(time.perf_counter() - started, 1e-9)


def _run_beside_ticker(
    fn: Callable, batch: list[Any], record: Callable[[Any, Any], None]
) -> tuple[float, float]:
    """Run ``batch`` in a thread while ticking here: (its wall time, the ticker's share)."""
    solo_until = time.perf_counter() + TICKER_SOLO_SECONDS
    solo = _tick(lambda: time.perf_counter() >= solo_until)
    outcomes: list[Any] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcomes.extend(_run(fn, item) for item in batch)
        finally:
            done.set()

    started = time.perf_counter()
    thread = threading.Thread(target=run, name="gilwise-probe", daemon=True)
    thread.start()
    beside = _tick(done.is_set)
    thread.join()
    contended = time.perf_counter() - started
    for item, outcome in zip(batch, outcomes):
        record(item, outcome)
    return contended, min(1.0, beside / solo) if solo > 0 else 0.0


def _unpicklable(fn: Callable, item: Any) -> str:
    for what, obj in (("the function", fn), ("an item", item)):
        try:
            cloudpickle.dumps(obj)
        except Exception as exc:
            return f"{what} ({type(exc).__name__}: {exc})"
    return ""


def explain(fn: Callable[[Any], Any], items: Iterable[Any], **options: Any) -> Decision:
    """What ``mode="auto"`` would choose for ``fn`` over ``items``, and why (runs a few)."""
    return probe(fn, items, Options(**options)).decision
