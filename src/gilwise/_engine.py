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
supervision (:class:`~gilwise.backends._base.Supervised`) where it has it (``_recovery``).
A ``watch`` (auto mode's) may hand the engine another backend mid-batch: new chunks go there,
those out finish where they are (``_handover``).

It runs in the caller's thread as a generator, with no helper threads: a Ctrl-C lands here
as KeyboardInterrupt, and closing the generator (a ``break`` in the caller, an exception)
cancels the work still out. Errors are values (Failure) here; the caller's ``on_error``
decides at the edge whether they become exceptions.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from gilwise._chunking import ChunkSizer
from gilwise._handover import OLD_POLL_SECONDS, Handover
from gilwise._keygate import KeyGate
from gilwise._options import Options
from gilwise._outcome import (
    PayloadError,
    describe,
)
from gilwise._recovery import Recovery, _lost_info
from gilwise._segment import Segment, Tail
from gilwise._task import Chunk, ChunkResult
from gilwise.backends._base import Backend, Done, Lost, Supervised
from gilwise.backends.registry import MODE_SPECS
from gilwise.frontier import Frontier

POLL_SECONDS = 0.05
#: ordered results held behind a slow item let the window grow up to this many times its size
#: (and up to WINDOW_HELD_MAX items), so that the other items run meanwhile
WINDOW_GROWTH = 16
WINDOW_HELD_MAX = 65_536
DEFAULT_CHUNK_SECONDS = 0.02
_CHUNK_IDS = itertools.count()  # unique in this process: a late answer is never mistaken


class Engine(Recovery):
    """One batch: ``fn`` over ``items`` on a started ``backend``; iterate :meth:`segments`."""

    def __init__(
        self,
        backend: Backend,
        fn: Callable[[Any], Any],
        items: Iterable[Any],
        options: Options,
        hooks: Any = None,
        head: Any = None,
        clock: Callable[[], float] = time.monotonic,
        steer: Any = None,
        watch: Any = None,
    ) -> None:
        self.backend, self.options, self.hooks, self.fn = backend, options, hooks, fn
        self.steer = steer  # a _steer.Steer sizing the pool as the run goes, or None
        # auto mode's: done(result) for each chunk back from this backend; tick() -> another
        # started backend to move to, or None
        self.watch = watch
        self._handover = Handover()
        self.completed = 0  # items whose chunk came back, for the steer
        self.clock = clock  # timeouts, retry delays and the poll's wait: a test's fake clock
        self._supervised = backend if isinstance(backend, Supervised) else None
        # per-item seconds asked for (outcomes, stats, a journal): every chunk times each item
        self._timed = bool(hooks is not None and hooks.timed)
        self.fn_id = backend.register(fn)
        total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
        self.sizer = _sizer(backend, options, total)
        plain = isinstance(items, (list, tuple, range, Tail))
        # a list, tuple or range is sliced, not iterated: a range's chunks pickle to a few
        # bytes, a list's are copied in C
        self._sequence: Sequence[Any] | None = items if plain else None  # type: ignore[assignment]
        # a Frontier may grow from the results: empty is the end only with nothing in flight
        self._frontier = items if isinstance(items, Frontier) else None
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

    # ------------------------------------------------------------------ feeding
    def _guard(self, items: Iterable[Any]) -> Iterator[Any]:
        """Read the input; if reading fails, finish what was read, then raise (in segments)."""
        try:
            yield from items
        except Exception as exc:
            self.source_error = exc

    def _limit(self) -> int:
        if self.options.max_in_flight is not None:
            return self.options.max_in_flight
        base = max(64, 3 * self._capacity * self.sizer.next_size())
        return min(base * self._grown, max(base, WINDOW_HELD_MAX))

    def _widen(self) -> bool:
        """Grow the window (doubling, up to WINDOW_GROWTH times) where workers idle only
        because it is full of results held behind an unfinished head of the line (ordered):
        the others run meanwhile, as with ``Executor.map``. Back to size once the head is
        yielded."""
        segments = self._segments
        if (self._touched is not None or self.options.max_in_flight is not None
                or self._grown >= WINDOW_GROWTH or not segments or not segments[0].open
                or self._outstanding < self._limit()):
            return False
        before = self._limit()
        self._grown *= 2
        return self._limit() > before

    def _add(self, segment: Segment) -> None:
        self._live += 1
        if self._touched is None:
            self._segments.append(segment)
        else:
            self._touched.append(segment)  # a journal may fill it whole

    def _fresh_chunk(self) -> Chunk | None:
        while not self._exhausted and self._outstanding < self._limit():
            size = self.sizer.next_size()
            if self._sequence is not None:
                batch = self._sequence[self._taken:self._taken + size]
                self._taken += len(batch)
            elif self._frontier is not None:
                batch = self._frontier.take(size)
            else:
                batch = list(itertools.islice(self._source, size))
            if not batch:
                # a frontier's results, all yielded, added nothing: it is done
                self._exhausted = self._frontier is None or not self._live
                return None
            segment = Segment(self._next_index, batch)
            self._next_index += len(batch)
            self._add(segment)
            self._outstanding += len(segment.items)
            todo = self.hooks.prefill(segment) if self.hooks else range(len(segment.items))
            if todo and self._gate is not None:
                singles = [self._chunk(segment, [p]) for p in todo]
                self._requeued.extend(singles[1:])
                return singles[0]
            if todo:
                return self._chunk(segment, todo)
        return None

    def _unsent(self) -> bool:
        """Whether some of the batch is still to be sent to a backend."""
        if self._retries or self._requeued:
            return True
        if self._sequence is not None:
            return self._taken < len(self._sequence)
        return not self._exhausted

    def _move_to(self, backend: Backend) -> None:
        """Send new chunks to ``backend`` from now on; those out finish where they are."""
        self._handover.leave(self.backend, self._in_flight)
        self._handover.take_back(backend)  # a move back to where the batch was before
        self._sent_at.clear()  # only a backend without supervision needs them: never moved
        self.backend, self.fn_id = backend, backend.register(self.fn)
        self._supervised = backend if isinstance(backend, Supervised) else None
        left = len(self._sequence) - self._taken if self._sequence is not None else None
        self.sizer = _sizer(backend, self.options, left)

    def _chunk(self, segment: Segment, positions: list[int] | range) -> Chunk:
        tracked = (
            self.options.timeout is not None or len(positions) == 1 or self.sizer.slow_items
            or self.sizer.measuring or self._timed
        )
        items = segment.items if isinstance(positions, range) and len(positions) == len(
            segment.items
        ) else [segment.items[p] for p in positions]
        return Chunk(next(_CHUNK_IDS), self.fn_id, items, tracked, segment, positions)

    def _next_chunk(self) -> Chunk | None:
        gate = self._gate
        if gate is None:
            return self._next_any()
        while True:  # held chunks whose key has room first, then the others, in their order
            chunk = gate.take()
            if chunk is not None:
                return chunk
            chunk = self._next_any()
            if chunk is None:
                return None
            try:
                key = gate.key(chunk)
            except Exception as exc:  # the key function failed: the item fails with it
                self._fail(chunk.segment, chunk.positions[0], describe(exc, "key"))
                continue
            if gate.admit(chunk, key):
                return chunk

    def _next_any(self) -> Chunk | None:
        if self._retries and self._retries[0][0] <= self.clock():
            return heapq.heappop(self._retries)[2]
        if self._requeued:
            return self._requeued.popleft()
        return self._fresh_chunk()

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
        if -1 in result.errors:  # the chunk, or its result, could not be unpickled
            self._unsendable(chunk, PayloadError(result.errors[-1].message))
            return
        if current:  # a chunk from the backend left behind says nothing of the new one
            self.sizer.observe(len(result.values), result.seconds, result.item_seconds)
            if self.watch is not None:
                self.watch.done(result)
        self.completed += len(result.values)
        segment = chunk.segment
        if self._touched is not None:
            self._touched.append(segment)
        if self.hooks:
            self.hooks.ran(segment, chunk.positions, result)
        if not result.errors and isinstance(chunk.positions, range) and (
            len(chunk.positions) == len(segment.items)
        ):
            segment.values = result.values
            segment.open = 0
            return
        for j, pos in enumerate(chunk.positions):
            info = result.errors.get(j)
            if info is None:
                segment.values[pos] = result.values[j]
                segment.open -= 1
            else:
                self._fail(segment, pos, info)

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
            while True:
                if self._head is not None:
                    self._adopt_head()
                self._dispatch()
                ready = self._pop_ready()
                yield from ready
                if not self._live and self._exhausted and not self._retries:
                    if self.source_error is not None:
                        raise self.source_error
                    break
                if ready:
                    continue
                wait = OLD_POLL_SECONDS if self._handover else POLL_SECONDS
                if self._retries:
                    wait = max(0.0, min(wait, self._retries[0][0] - self.clock()))
                if self._gate is not None:  # a key held back until its time
                    wait = self._gate.wait(wait)
                self._collect(self.backend.poll(wait), True)
                if self._handover:
                    self._collect(self._handover.poll(), False)
                if self.options.timeout is not None:
                    self._check_timeouts()
                if self.watch is not None:
                    moved = self.watch.tick(self._unsent())
                    if moved is not None:
                        self._move_to(moved)
                if self.steer is not None:
                    self.steer.tick(self.completed)
                if self.hooks:
                    self.hooks.tick()
            finished = True
        finally:
            self._source, self._sequence = iter(()), None  # let the input go
            if not finished and self._in_flight:
                self._handover.cancel(list(self._in_flight))
                self.backend.cancel(list(self._in_flight))
                self._in_flight.clear()

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
            if self.hooks:
                self.hooks.finished(segment)
        return ready


def _sizer(backend: Backend, options: Options, total: int | None) -> ChunkSizer:
    fixed = None if options.chunksize == "auto" else options.chunksize
    spec = MODE_SPECS.get(backend.name)
    target = spec.chunk_seconds if spec else DEFAULT_CHUNK_SECONDS
    return ChunkSizer(fixed, backend.size, total, target)
