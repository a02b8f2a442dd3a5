"""The one loop every mode shares: feed lazily, chunk adaptively, supervise, collect.

The data's way::

    items ──► Segment (consecutive input items; the unit of order and of the journal)
                 │ positions still to run (a journal may have filled some)
                 ▼
              Chunk (some positions of one segment, sized to ~target seconds; tracked or not)
                 │ backend.submit(chunk)            while len(in flight) < backend.capacity()
                 ▼
              backend ──► worker ──► run_chunk ──► ChunkResult
                 │ backend.poll(): Done(chunk_id, result) | Lost(chunk_id, kind, position)
                 ▼
              Segment filled in (values, failures; a lost or failed item retried or resent)
                 │ in input order (ordered) or as each completes
                 ▼
              caller (Run applies on_error)

The books are kept by chunk id only (``in_flight``). Blame and timeouts use the backend's
supervision (:class:`~gilwise.backends._base.Supervised`) where it has it (``recovery``).
A ``pilot`` (auto mode's) may hand the engine another backend mid-batch: new chunks go there,
those out finish where they are (``handover``).

Two ways to drive it, both in the caller's thread, with no helper threads of its own:

- :meth:`Engine.segments`, a generator that blocks in the backend's poll: a Ctrl-C lands
  there as KeyboardInterrupt, and closing it (a ``break`` in the caller, an exception)
  cancels the work still out;
- :meth:`Engine.step`, which does what can be done now and returns the segments finished,
  for a loop of the caller's own (an event loop, an executor's driver thread); another
  thread ends its wait early with :meth:`Engine.wake`, and :meth:`Engine.stop` cancels.
  :meth:`Engine.send` only sends: an executor's ``submit`` gets its call to a worker with it.

Errors are values (Failure) here; the caller's ``on_error`` decides at the edge whether they
become exceptions.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from gilwise._chunk import Chunk, ChunkResult
from gilwise._engine.feed import Feed
from gilwise._engine.handover import OLD_POLL_SECONDS, Handover
from gilwise._engine.recovery import Recovery, _lost_info
from gilwise._engine.sizing import sizer_for
from gilwise._keygate import KeyGate
from gilwise._observers import Observers
from gilwise._options import Options
from gilwise._outcome import ErrorInfo, PayloadError
from gilwise._segment import Segment, Tail
from gilwise.backends._base import Backend, Done, Lost, Supervised
from gilwise.frontier import Frontier

POLL_SECONDS = 0.05


class Pilot(Protocol):
    """What steers a running batch (auto mode's ``Autopilot``): told of each chunk back from
    the current backend, and asked on each turn of the loop whether to move elsewhere."""

    def done(self, result: ChunkResult) -> None:
        """A chunk came back from the backend new chunks go to."""

    def tick(self, unsent: bool, completed: int, per_item: float | None) -> Backend | None:
        """``completed`` items came back in all, an item takes ``per_item`` seconds lately,
        ``unsent``: some of the batch is still to send. Another started backend to send new
        chunks to from now on, or None."""


class Head(Protocol):
    """Items run before the engine started (auto mode's probe: a ``Trial``): their results
    count, and one may still be running, in a worker's place."""

    segment: Segment
    errors: dict[int, ErrorInfo]
    first_pending: int

    @property
    def pending(self) -> threading.Thread | None:
        """The thread still running an item (at ``first_pending``), or None."""

    def adopt(self) -> list[tuple[int, tuple[Any, ErrorInfo | None]]] | None:
        """The outcomes of the items still running then, once finished; None before."""

    def overdue(self, timeout: float) -> int | None:
        """The position of the item running longer than ``timeout``, if one is."""


class Engine(Feed, Recovery):
    """One batch: ``fn`` over ``items`` on a started ``backend``; iterate :meth:`segments`,
    or call :meth:`step` until :attr:`over`."""

    def __init__(
        self,
        backend: Backend,
        fn: Callable[[Any], Any],
        items: Iterable[Any],
        options: Options,
        observers: Observers | None = None,
        head: Head | None = None,
        clock: Callable[[], float] = time.monotonic,
        pilot: Pilot | None = None,
    ) -> None:
        self.backend, self.options, self.observers, self.fn = backend, options, observers, fn
        self.pilot = pilot
        #: the batch is over: every item yielded (a :meth:`step` returns no more)
        self.over = False
        #: it is over because every item of the input was yielded (not stopped early)
        self.complete = False
        self._handover = Handover()
        self.completed = 0  # items whose chunk came back, for the pilot
        self.clock = clock  # timeouts, retry delays and the poll's wait: a test's fake clock
        self._supervised = backend if isinstance(backend, Supervised) else None
        # per-item seconds asked for (outcomes, stats, a journal): every chunk times each item
        self._timed = bool(observers is not None and observers.timed)
        self.fn_id = backend.register(fn)
        total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
        self.sizer = sizer_for(backend, options, total)
        plain = isinstance(items, (list, tuple, range, Tail))
        # a list, tuple or range is sliced, not iterated: a range's chunks pickle to a few
        # bytes, a list's are copied in C
        self._sequence: Sequence[Any] | None = items if plain else None  # type: ignore[assignment]
        # a Frontier may grow from the results: empty is the end only with nothing in flight
        self._frontier = items if isinstance(items, Frontier) else None
        if self._frontier is not None:
            self._frontier.watch(self.wake)  # an item added ends the wait of a step
        self._taken = 0
        self._source = iter(items) if plain else self._guard(items)
        self.source_error: BaseException | None = None
        self._next_index = len(head.segment) if head else 0
        self._exhausted = False
        self._segments: deque[Segment] = deque()  # fed, not yet yielded (ordered mode)
        self._live = 0  # segments fed, not yet yielded
        # unordered: the segments that had items finish since the last look, the only ones
        # that can have become ready (the scraper holds thousands open: no scan of them all)
        self._touched: list[Segment] | None = None if options.ordered else []
        self._outstanding = 0  # items the feeder read and not yet yielded: the bound on input
        self._grown = 1  # the window's growth while a slow head holds ordered results
        self._requeued: deque[Chunk] = deque()  # to send before new items
        self._retries: list[tuple[float, int, Chunk]] = []  # (when, tie-break, chunk)
        self._in_flight: dict[int, Chunk] = {}  # submitted, not yet collected
        self._sent_at: dict[int, float] = {}  # without supervision: when each was submitted
        self._capacity = 1
        self._retry_when = itertools.count()
        self.retried = 0
        self._head = head  # the items auto mode ran while choosing: their results count
        # per_key: one item per chunk, a chunk whose key is full held aside (_keygate)
        self._gate = KeyGate(options.per_key) if options.per_key else None
        self._head_key: Any = None  # the key of the item auto's probe still runs
        if self._gate and head and head.pending is not None:
            self._head_key = self._gate.key_fn(head.segment.items[head.first_pending])
            self._gate.occupy(self._head_key)
        # read by the probe, not the feeder: they must not hold back the feeder's first
        # chunks while an item of theirs still runs
        self._probed = head.segment if head else None
        if head:
            self._add(head.segment)
            for pos, info in head.errors.items():
                self._fail(head.segment, pos, info)

    # ------------------------------------------------------------------ sending
    def _move_to(self, backend: Backend) -> None:
        """Send new chunks to ``backend`` from now on; those out finish where they are."""
        self._handover.leave(self.backend, self._in_flight)
        self._handover.take_back(backend)  # a move back to where the batch was before
        self._sent_at.clear()  # only a backend without supervision needs them: never moved
        self.backend, self.fn_id = backend, backend.register(self.fn)
        self._supervised = backend if isinstance(backend, Supervised) else None
        left = len(self._sequence) - self._taken if self._sequence is not None else None
        self.sizer = sizer_for(backend, self.options, left)

    def _dispatch(self) -> None:
        """Submit chunks while the backend has room: it decides where each runs."""
        capacity = self.backend.capacity()
        if self._head is not None and self._head.pending is not None:
            capacity -= 1  # auto's probe thread still runs an item: it fills a worker's place
        self._capacity = capacity
        in_flight = self._in_flight
        while len(in_flight) < capacity:
            chunk = self._next_chunk()
            if chunk is None:
                if self._widen():
                    continue
                return
            chunk.fn_id = self.fn_id  # made before a move to another backend, perhaps
            try:
                self.backend.submit(chunk)
            except PayloadError as exc:
                self._release(chunk)
                self._unsendable(chunk, exc)
                continue
            in_flight[chunk.id] = chunk
            if self._supervised is None and self.options.timeout is not None:
                self._sent_at[chunk.id] = self.clock()

    # ------------------------------------------------------------------ collecting
    def _on_done(self, event: Done, current: bool = True) -> None:
        chunk = self._in_flight.pop(event.chunk_id, None)
        if chunk is None:
            return  # not this run's, or given up on already
        self._sent_at.pop(chunk.id, None)
        self._release(chunk)
        result: ChunkResult = event.result
        if result.unreadable is not None:  # the chunk, or its result, could not be unpickled
            self._unsendable(chunk, PayloadError(result.unreadable))
            return
        if current:  # a chunk from the backend left behind says nothing of the new one
            self.sizer.observe(len(result.values), result.seconds, result.item_seconds)
            if self.pilot is not None:
                self.pilot.done(result)
        self.completed += len(result.values)
        segment = chunk.segment
        positions = chunk.positions
        if len(result.values) < len(positions):  # its worker was recycled mid-chunk
            self._requeued.appendleft(self._chunk(segment, list(positions[len(result.values):])))
            positions = positions[:len(result.values)]
        if self._touched is not None:
            self._touched.append(segment)
        if not result.errors and isinstance(positions, range) and (
            len(positions) == len(segment.items)
        ):
            segment.values = result.values
            segment.open = 0
        else:
            for j, pos in enumerate(positions):
                info = result.errors.get(j)
                if info is None:
                    segment.values[pos] = result.values[j]
                    segment.open -= 1
                else:
                    self._fail(segment, pos, info)
        if self.observers:  # after the values are in: a journal records them at once
            self.observers.ran(segment, positions, result)

    def _on_lost(self, event: Lost) -> None:
        chunk = self._in_flight.pop(event.chunk_id, None)
        if chunk is not None:
            self._sent_at.pop(chunk.id, None)
            self._release(chunk)
            self._lost(chunk, event)

    def _release(self, chunk: Chunk) -> None:
        if self._gate is not None:
            self._gate.release(chunk.id)

    def _adopt_head(self) -> None:
        """Take in the items auto mode's probe thread was still running, once finished; one
        running past the timeout fails (or is retried) like any other, its thread abandoned
        (a thread cannot be stopped) and its late outcome ignored."""
        finished = self._head.adopt()
        if finished is None:
            timeout = self.options.timeout
            late = self._head.overdue(timeout) if timeout is not None else None
            if late is not None:
                reason = f"task ran longer than the timeout of {timeout} s"
                lost = Lost(-1, "timeout", reason + " (its thread is abandoned)", 0)
                self._fail(self._head.segment, late, _lost_info(lost))
                self._head = None
            return
        if self._head_key is not None:
            self._gate.vacate(self._head_key)  # type: ignore[union-attr]
            self._head_key = None
        segment = self._head.segment
        if self._touched is not None:
            self._touched.append(segment)
        for pos, (value, info) in finished:
            if info is None:
                segment.values[pos] = value
                segment.open -= 1
            else:
                self._fail(segment, pos, info)
        self._head = None

    # ------------------------------------------------------------------ the loop
    def segments(self) -> Iterator[Segment]:
        """Finished segments: in input order if ``ordered``, else as they complete."""
        finished = False
        try:
            while not self.over:
                yield from self.step(POLL_SECONDS)
            finished = True
        finally:
            if not finished:
                self.stop()

    def step(self, timeout: float = 0.0) -> list[Segment]:
        """Do what can be done now (send chunks, collect what came back, waiting up to
        ``timeout`` seconds for the first event, or less where a retry or a key is due) and
        return the segments finished since, in order if ``ordered``. Once :attr:`over`,
        returns nothing more; raises the input's reading error at the end, as iterating does.
        """
        if self.over:
            return []
        if timeout > 0:  # (with no wait, collecting first and sending once does it all)
            ready = self._advance()
            if ready or self.over:
                return ready
        self._collect(self.backend.poll(self.next_wait(timeout)), True)
        if self._handover:
            self._collect(self._handover.poll(), False)
        if self.options.timeout is not None:
            self._check_timeouts()
        if self.pilot is not None:
            moved = self.pilot.tick(self._unsent(), self.completed, self.sizer.per_item)
            if moved is not None:
                self._move_to(moved)
        if self.observers:
            self.observers.tick(self.running_now)
        return self._advance()

    def next_wait(self, timeout: float) -> float:
        """How long a step may wait for an event, at most ``timeout``: less where a retry or
        a held key is due, or chunks are out on a backend left behind (a driver that waits
        on the backend itself, outside the step, waits this long)."""
        wait = min(timeout, OLD_POLL_SECONDS) if self._handover else timeout
        if self._retries:
            wait = max(0.0, min(wait, self._retries[0][0] - self.clock()))
        if self._gate is not None:  # a key held back until its time
            wait = self._gate.wait(wait)
        return wait

    @property
    def backlog(self) -> bool:
        """Chunks wait to be sent again (a retry, or what a lost worker held)."""
        return bool(self._retries or self._requeued)

    def running_now(self) -> list[tuple[int, str, float]]:
        """The items running now, where the backend can tell: (position in the input, worker,
        ``time.time()`` it started)."""
        backend = self._supervised
        where = getattr(backend, "running_on", None)
        if where is None:
            return []
        wall = time.time() - time.monotonic()
        found = []
        for chunk_id, chunk in self._in_flight.items():
            running = where(chunk_id)
            if running is not None and running[0] < len(chunk.positions):
                pos, started, worker = running
                found.append((chunk.segment.start + chunk.positions[pos], worker, wall + started))
        return sorted(found)

    def send(self) -> None:
        """Send what the backend has room for now, collecting nothing (the next step does):
        a call added to an open frontier reaches a worker at once, before the books of the
        results before it are kept (the worker starts while they are)."""
        if not self.over and self._head is None:
            self._dispatch()

    def wake(self) -> None:
        """From any thread: end the wait of a :meth:`step` in progress (or of the next one)
        now, e.g. when an open :class:`~gilwise.frontier.Frontier` was given an item."""
        self.backend.wake()

    def stop(self) -> None:
        """End the batch early: let the input go, cancel what is still out (best effort)."""
        self._let_go()
        if self._in_flight:
            self._handover.cancel(list(self._in_flight))
            self.backend.cancel(list(self._in_flight))
            self._in_flight.clear()

    def _let_go(self) -> None:
        self.over = True
        self._source, self._sequence = iter(()), None
        if self._frontier is not None:
            self._frontier.unwatch(self.wake)

    def _advance(self) -> list[Segment]:
        """Take in the probe's last items, send what the backend has room for, and return
        the segments ready; at the end of the batch, mark it :attr:`over`."""
        if self.over:
            return []
        if self._head is not None:
            self._adopt_head()
        self._dispatch()
        ready = self._pop_ready()
        if not ready and not self._live and self._exhausted and not self._retries:
            self.complete = self.source_error is None
            self._let_go()
            if self.source_error is not None:
                raise self.source_error
        return ready

    def _collect(self, events: list[Any], current: bool) -> None:
        for event in events:
            if isinstance(event, Done):
                self._on_done(event, current)
            else:
                self._on_lost(event)

    def _pop_ready(self) -> list[Segment]:
        ready: list[Segment] = []
        if self._touched is None:
            segments = self._segments
            while segments and segments[0].open == 0:
                ready.append(segments.popleft())
        elif self._touched:
            ready = [s for s in dict.fromkeys(self._touched) if s.open == 0]
            self._touched.clear()
        self._live -= len(ready)
        if ready and self._touched is None:
            self._grown = 1  # the head moved on: the window is back to its size
        for segment in ready:
            if segment is not self._probed:
                self._outstanding -= len(segment.items)
            if self.observers:
                self.observers.finished(segment)
        return ready
