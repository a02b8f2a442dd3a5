"""``mode="auto"``: measure the first items, then choose threads or processes, and say why.

The first items run in a probe thread while this thread runs a pure-Python ticker for a
short window (8 to 30 ms, with the GIL handed over every 0.5 ms). Two figures come out:

1. the share of the window the ticker spent on a core (its CPU time against wall time).
   Work that holds the GIL (pure Python, json, re) keeps the ticker waiting half the time
   or more: it goes to processes, if the function and items can be pickled. Work that
   releases the GIL (waiting on I/O, hashlib, zlib, NumPy, subprocesses) leaves it running
   (if slower, on a sibling hyperthread).
2. the probe thread's CPU time against wall time: mostly waiting means I/O-bound, so many
   threads, enough to cover the wait; mostly computing (with the GIL released) means
   threads, one per core.

On a free-threaded build with the GIL off, threads run Python in parallel: threads, many
for I/O-bound work, one per core otherwise. Sub-interpreters (3.14) are never chosen: measured
here, processes beat them at every batch size (benchmarks/bench_interpreters.py), and only
processes survive a crash and can kill a task past its timeout.

The probed items are real results. When the window closes the decision is made at once;
an item still running in the probe thread finishes there while the chosen workers start on
the rest, and its result joins the others (the engine adopts it).
"""

from __future__ import annotations

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
from gilwise._segment import Segment, Tail

WINDOW_SECONDS = 0.03  # the longest the ticker runs beside the probe thread...
CLEAR_AFTER_SECONDS = 0.008  # ...and the shortest, if the share is clearly one way by then
CLEARLY_HOLDS, CLEARLY_RELEASES = 0.6, 0.85
# During the window the GIL changes hands every 0.5 ms instead of 5 ms, so the window
# holds many hand-overs and the shares it measures are steady
PROBE_SWITCH_INTERVAL = 0.0005
TICK = 200  # loop iterations between checks of the ticker's stop condition
IO_BOUND_BELOW = 0.5  # probe thread's cpu/wall under this: mostly waiting
# While a task runs in another thread, a pure-Python thread stays on a core this share of
# the time or more: the task lets go of the GIL (seen here: holding it leaves 0.05 to 0.55,
# releasing it 0.83 to 1.0)
RELEASES_ABOVE = 0.7
MAX_IO_THREADS = 64


@dataclass
class Decision:
    """The mode chosen, with how many workers, the reason in words and the figures behind."""

    mode: str
    workers: int
    reason: str
    figures: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.mode}×{self.workers}: {self.reason}"


class ProbeRunner(threading.Thread):
    """Runs items one after another until asked to stop; keeps each outcome in order."""

    def __init__(self, fn: Callable[[Any], Any], source: Iterator[Any]) -> None:
        super().__init__(name="gilwise-probe", daemon=True)
        self.fn, self.source = fn, source
        self.items: list[Any] = []  # started, in order
        self.outcomes: list[tuple[Any, ErrorInfo | None]] = []  # finished, in order
        self.cpu = 0.0  # thread CPU seconds of the finished items
        self.began = 0.0  # perf_counter() when this thread started running
        self.calling = threading.Event()  # set as the first item is handed to fn
        self._pull = threading.Lock()
        self._stopping = False

    def run(self) -> None:
        self.began = time.perf_counter()
        while True:
            with self._pull:  # the source is only ever read by one thread at a time
                if self._stopping:
                    return
                try:
                    item = next(self.source)
                except StopIteration:
                    return
                self.items.append(item)
            self.calling.set()
            c0 = time.thread_time()
            try:
                outcome: tuple[Any, ErrorInfo | None] = (self.fn(item), None)
            except BaseException as exc:  # noqa: BLE001 - SystemExit too: it is the item's
                outcome = (None, describe(exc))
            self.cpu += time.thread_time() - c0
            self.outcomes.append(outcome)

    def stop(self) -> int:
        """Start no more items; returns how many were started (the last may still run)."""
        with self._pull:
            self._stopping = True
            return len(self.items)

    def cpu_so_far(self) -> float:
        """CPU seconds this thread has used, the running item included where the OS tells."""
        clock = getattr(time, "pthread_getcpuclockid", None)
        if clock is not None and self.ident is not None and self.is_alive():
            try:
                return time.clock_gettime(clock(self.ident))
            except OSError:
                pass
        return self.cpu


@dataclass
class Trial:
    """The decision, the items run to reach it (errors by position), the rest, and the
    probe thread if its last item is still running (``adopt`` it when it finishes)."""

    decision: Decision
    segment: Segment
    errors: dict[int, ErrorInfo]
    rest: Iterable[Any]
    pending: ProbeRunner | None = None
    first_pending: int = 0

    def adopt(self) -> list[tuple[int, tuple[Any, ErrorInfo | None]]] | None:
        """Outcomes of the items still running when the decision was made, by position,
        once they have finished (None until then)."""
        if self.pending is None:
            return []
        if self.pending.is_alive():
            return None
        outcomes = self.pending.outcomes
        return [(pos, outcomes[pos]) for pos in range(self.first_pending, len(self.segment))]


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


def _tick(stop: Callable[[float], bool]) -> None:
    """Run pure-Python loops until ``stop(seconds)``."""
    started = time.perf_counter()
    seconds = 0.0
    while not stop(seconds):
        for _ in range(TICK):
            pass
        seconds = time.perf_counter() - started


def _ticker_share(runner: ProbeRunner) -> float:
    """Tick beside ``runner`` for the window: the share of the time this thread was on a
    core. Waiting for the GIL takes it off; another thread computing with the GIL released
    (even on a sibling hyperthread, which slows it) does not."""
    _tick(lambda _: runner.calling.is_set() or not runner.is_alive())  # its start-up
    cpu_start = time.thread_time()
    share = 1.0

    def over(seconds: float) -> bool:
        nonlocal share
        if seconds <= 0:
            return False
        share = (time.thread_time() - cpu_start) / seconds
        if seconds >= WINDOW_SECONDS or not runner.is_alive():
            return True
        clear = share < CLEARLY_HOLDS or share > CLEARLY_RELEASES
        return seconds >= CLEAR_AFTER_SECONDS and clear

    _tick(over)
    return min(1.0, share)


def probe(fn: Callable[[Any], Any], items: Iterable[Any], options: Options) -> Trial:
    """Run the first items, measuring, and decide the mode for the rest."""
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    reader = _Source(items)
    runner = ProbeRunner(fn, iter(reader))
    cores = usable_cores()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(PROBE_SWITCH_INTERVAL)
    try:
        runner.start()
        share = _ticker_share(runner)
        count = runner.stop()
        cpu = runner.cpu_so_far()
        wall = time.perf_counter() - runner.began
    finally:
        sys.setswitchinterval(interval)
    if not runner.is_alive() or count == 0:
        runner.join()  # it had finished, or is between items: nothing left to wait for
    ratio = min(1.0, cpu / wall) if wall > 0 else 1.0
    figures = {"cpu_wall": ratio, "ticker_share": share, "probe_seconds": wall}
    decision = _decide(fn, runner.items, ratio, share, cores, options)
    decision.figures.update(figures)
    rest: Iterable[Any]
    if isinstance(items, (list, tuple, range)):
        rest = Tail(items, count)  # the engine slices it as it would the whole input
    elif total is not None:
        rest = _Sized(iter(reader.rest()), total - count)
    else:
        rest = reader.rest()
    return _trial(decision, runner, count, rest)


def _decide(
    fn: Callable, ran: list[Any], ratio: float, share: float, cores: int, options: Options
) -> Decision:
    kept = f"a Python thread beside it ran {share:.0%} of the time"
    if not ran:
        return Decision("threads", 1, "no items to run")
    if not gil_enabled():  # no GIL to contend for: cpu/wall alone tells I/O from CPU
        if ratio < IO_BOUND_BELOW:
            return _io_bound(ratio, cores, options)
        return Decision("threads", options.workers or cores,
                        f"CPU-bound (cpu/wall {ratio:.2f}; {kept}) on a free-threaded build "
                        "with the GIL off: threads run Python in parallel")
    if share < RELEASES_ABOVE:
        if cores < 2:
            return Decision("threads", 1, "one usable core: nothing runs in parallel")
        unpicklable = _unpicklable(fn, ran[0])
        if unpicklable:
            return Decision("threads", options.workers or cores, f"holds the GIL ({kept}), "
                            f"but {unpicklable} cannot go to another process")
        return Decision("processes", options.workers or cores,
                        f"CPU-bound and holds the GIL ({kept})")
    if ratio < IO_BOUND_BELOW:
        return _io_bound(ratio, cores, options)
    return Decision("threads", options.workers or cores,
                    f"CPU-bound (cpu/wall {ratio:.2f}) but releases the GIL ({kept})")


def _io_bound(ratio: float, cores: int, options: Options) -> Decision:
    """Mostly waiting: enough threads that the cores stay busy while the others wait."""
    workers = options.workers or min(
        MAX_IO_THREADS, max(cores + 4, math.ceil(cores / max(ratio, 1e-3)))
    )
    return Decision("threads", workers, f"I/O-bound (cpu/wall {ratio:.2f}): threads cover the wait")


def _trial(decision: Decision, runner: ProbeRunner, count: int, rest: Iterable[Any]) -> Trial:
    segment = Segment(0, runner.items[:count])
    finished = len(runner.outcomes)
    segment.values = [value for value, _ in runner.outcomes[:finished]] + [None] * (
        count - finished
    )
    errors = {pos: info for pos, (_, info) in enumerate(runner.outcomes[:finished]) if info}
    segment.open = len(errors) + (count - finished)
    pending = runner if finished < count else None
    if pending is None:
        runner.join()  # it runs nothing more, only returns: a fork must not see it alive
    return Trial(decision, segment, errors, rest, pending, finished)


def _unpicklable(fn: Callable, item: Any) -> str:
    for what, obj in (("the function", fn), ("an item", item)):
        try:
            cloudpickle.dumps(obj)
        except Exception as exc:
            return f"{what} ({type(exc).__name__}: {exc})"
    return ""


def explain(fn: Callable[[Any], Any], items: Iterable[Any], **options: Any) -> Decision:
    """What ``mode="auto"`` would choose for ``fn`` over ``items``, and why (runs a few).
    With ``mode="dask"``: the cluster it would run on, its workers and threads (runs none)."""
    opts = Options(**options)
    if opts.mode == "dask":
        from gilwise.backends.dask import describe_cluster

        return describe_cluster(opts)
    trial = probe(fn, items, opts)
    if trial.pending is not None:
        trial.pending.join()
    return trial.decision
