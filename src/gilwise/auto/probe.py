"""Auto mode's probe thread: it runs the batch's first items while ``_gilmeter`` measures
beside it, and leaves a ``Trial`` (the decision, the items it ran, its last one perhaps still
running) for the engine to adopt.

The probe thread is a worker of the batch like any other: what it runs gets the initializer,
and the engine holds its items to the timeout and retries them.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gilwise._keygate import PerKey, per_key_of
from gilwise._options import Options
from gilwise._outcome import ErrorInfo, describe
from gilwise._result import Decision
from gilwise._segment import Segment
from gilwise._threadclock import Sample, ThreadClock

QUICK_BATCH_SECONDS = 0.001  # the probe thread's batches grow while they take less than this
MAX_BATCH = 4096


class ProbeRunner(threading.Thread):
    """Runs the run's initializer, then items one after another until asked to stop; keeps
    each outcome in order."""

    def __init__(self, fn: Callable[[Any], Any], source: Iterator[Any],
                 options: Options | None = None) -> None:
        super().__init__(name="gilwise-probe", daemon=True)
        self.fn: Callable[[Any], Any] = fn
        self.source: Iterator[Any] = source
        self.options: Options = options or Options()
        self.init_error: ErrorInfo | None = None
        self.item_started: float = 0.0  # time.monotonic() as the item running now began
        self.items: list[Any] = []  # started, in order
        self.values: list[Any] = []  # of the finished items, in order (None where failed)
        self.errors: dict[int, ErrorInfo] = {}  # the failed ones, by position
        self.cpu: float = 0.0  # thread CPU seconds of the finished items
        self.walls: list[float] = []  # wall seconds of each finished slow item
        self.began: float = 0.0  # perf_counter() when this thread started running
        self.calling: threading.Event = threading.Event()  # set as the first item is handed to fn
        self.clock: ThreadClock  # made by the thread itself as it starts
        self.first: Sample | None = None  # its clocks as it started...
        self.final: Sample | None = None  # ...and as it ended
        #: an item read but not started, its key having to wait (``per_key``): the rest's first
        self.held_back: list[Any] = []
        self._pull = threading.Lock()
        self._stopping = False

    def run(self) -> None:
        self.began = time.perf_counter()
        self.clock = ThreadClock()
        self.first = self.clock.sample()
        try:
            if self._run_initializer():
                self._run_items()
        finally:
            self.final = self.clock.sample()
            self.clock.close()

    def _run_initializer(self) -> bool:
        initializer = self.options.initializer
        if initializer is None:
            return True
        try:
            initializer(*self.options.initargs)  # in this thread, as in every worker thread
        except BaseException as exc:  # noqa: BLE001 - reported as the workers' would be
            self.init_error = describe(exc)
            return False
        return True

    def _run_items(self) -> None:
        """Items in batches that grow while they take under a millisecond: quick items cost
        little more here than in a worker's chunk, slow ones go one at a time."""
        source, pull, started = self.source, self._pull, self.items
        timed = not self.clock.readable_elsewhere  # else the meter reads this thread's clock
        per_key = per_key_of(self.options.per_key) if self.options.per_key else None
        size = 1
        while True:
            with pull:  # the source is only ever read by one thread at a time
                if self._stopping:
                    return
                batch = list(itertools.islice(source, size))
                if not batch:
                    return
                if per_key is not None and not _may_start(per_key, batch[0]):
                    self.held_back = batch  # one item: under per_key, items go one at a time
                    return
                started.extend(batch)
            self.item_started = began = time.monotonic()  # ~ each of a quick batch's items
            if not self.calling.is_set():
                self.calling.set()
            c0 = time.thread_time() if timed else 0.0
            self._run_batch(batch)
            if timed:
                self.cpu += time.thread_time() - c0
            took = time.monotonic() - began
            if len(batch) == 1:
                self.walls.append(took)
            if per_key is None:
                size = min(size * 2, MAX_BATCH) if took < QUICK_BATCH_SECONDS else 1

    def _run_batch(self, batch: list[Any]) -> None:
        fn, values = self.fn, self.values
        append, first, start = values.append, len(values), 0
        while start < len(batch):
            try:
                for item in batch[start:] if start else batch:
                    append(fn(item))
                return
            except BaseException as exc:  # noqa: BLE001 - SystemExit too: it is the item's
                self.errors[len(values)] = describe(exc)
                append(None)
                start = len(values) - first

    def stop(self) -> int:
        """Start no more items; returns how many were started (the last may still run)."""
        with self._pull:
            self._stopping = True
            return len(self.items)

    def sample(self) -> Sample | None:
        """This thread's clocks now, or its last ones if it has ended; None where another
        thread's clocks cannot be read (then only ``cpu``, of the finished items, is known)."""
        if self.final is not None:
            return self.final
        try:
            return self.clock.settled_sample()  # a wait for a core under way is not I/O
        except OSError:
            return self.final  # set before its clocks end, if that is why

    def alone_seconds(self) -> float:
        """An item's wall time alone, from the slow items run so far (the first left out
        where there are more: it pays one-time costs); 0.0 if none finished."""
        kept = self.walls[1:] or self.walls
        return sorted(kept)[len(kept) // 2] if kept else 0.0


class Trial:
    """The decision, the items run to reach it (errors by position), the rest, and the
    probe thread if its last item is still running (``adopt`` it when it finishes)."""

    __slots__ = ("decision", "segment", "errors", "rest", "pending", "first_pending")
    decision: Decision
    segment: Segment
    errors: dict[int, ErrorInfo]
    rest: Iterable[Any]
    pending: ProbeRunner | None
    first_pending: int

    def __init__(self, decision: Decision, segment: Segment, errors: dict[int, ErrorInfo],
                 rest: Iterable[Any], pending: ProbeRunner | None = None,
                 first_pending: int = 0) -> None:
        self.decision, self.segment, self.errors, self.rest = decision, segment, errors, rest
        self.pending, self.first_pending = pending, first_pending

    def __repr__(self) -> str:
        return (f"Trial(decision={self.decision!r}, segment={self.segment!r}, "
                f"pending={self.pending!r}, first_pending={self.first_pending!r})")

    @classmethod
    def of(cls, decision: Decision, runner: ProbeRunner, count: int, rest: Iterable[Any]
           ) -> Trial:
        """What the probe leaves once ``decision`` is made: the ``count`` items it started,
        those finished with their outcomes, and ``runner`` if its last item still runs."""
        items, values = runner.items, runner.values
        finished = len(values)  # the runner may still be finishing the items after these
        segment = Segment(0, items if len(items) == count else items[:count])
        if finished < count:
            segment.values = values[:finished] + [None] * (count - finished)
        else:
            segment.values = values
        errors = {pos: info for pos, info in list(runner.errors.items()) if pos < finished}
        segment.open = len(errors) + (count - finished)
        pending = runner if finished < count else None
        if pending is None:
            runner.join()  # it runs nothing more, only returns: a fork must not see it alive
        return cls(decision, segment, errors, rest, pending, finished)

    def adopt(self) -> list[tuple[int, tuple[Any, ErrorInfo | None]]] | None:
        """Outcomes of the items still running when the decision was made, by position,
        once they have finished (None until then)."""
        if self.pending is None:
            return []
        runner = self.pending
        if len(runner.values) < len(self.segment):
            return None
        return [(pos, (runner.values[pos], runner.errors.get(pos)))
                for pos in range(self.first_pending, len(self.segment))]

    def alone_seconds(self) -> float:
        """Seconds an item took alone in the probe thread; 0.0 while none has finished."""
        if self.decision.item_seconds or self.pending is None:
            return self.decision.item_seconds
        return self.pending.alone_seconds()

    def overdue(self, timeout: float) -> int | None:
        """The position of the item still running in the probe thread if it has run longer
        than ``timeout`` seconds (time.monotonic()); None otherwise."""
        runner = self.pending
        if runner is None or len(runner.values) >= len(self.segment):
            return None
        if time.monotonic() - runner.item_started <= timeout:
            return None
        return len(runner.values)


def _may_start(per_key: PerKey, item: Any) -> bool:
    """Whether ``item`` may start now under ``per_key``'s interval or deferral (then its start
    is booked, as the engine's gate books its own); False also where its key function fails,
    so that the engine fails the item with that error, as it would any other."""
    try:
        key = per_key.key(item)
        hash(key)
    except Exception:  # noqa: BLE001 - the engine reports it
        return False
    now = per_key.clock()
    if per_key.not_before(key) > now:
        return False
    per_key.started(key, now)
    return True
