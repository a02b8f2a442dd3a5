"""How the engine reads its input: lazily, into segments (the unit of order and of the
journal) and chunks (what one worker gets), never more than a bound of items ahead of what
the caller took. A part of the engine (a mixin, like ``recovery``: it keeps the engine's
books), apart so that the loop reads on its own."""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from gilwise._chunk import Chunk
from gilwise._engine.sizing import ChunkSizer
from gilwise._keygate import KeyGate
from gilwise._observers import Observers
from gilwise._options import Options
from gilwise._outcome import ErrorInfo, describe
from gilwise._segment import Segment
from gilwise.frontier import Frontier

_CHUNK_IDS = itertools.count()  # unique in this process: a late answer is never mistaken
#: ordered results held behind a slow item let the window grow up to this many times its size
#: (and up to WINDOW_HELD_MAX items), so that the other items run meanwhile
WINDOW_GROWTH = 16
WINDOW_HELD_MAX = 65_536


class Feed:
    """The engine's reading of its input (see ``_engine.Engine``)."""

    # the engine's books, set in Engine.__init__
    options: Options
    observers: Observers | None
    sizer: ChunkSizer
    fn_id: int
    source_error: BaseException | None
    _sequence: Sequence[Any] | None
    _frontier: Frontier | None
    _source: Iterator[Any]
    _taken: int
    _next_index: int
    _exhausted: bool
    _segments: deque[Segment]
    _live: int
    _touched: list[Segment] | None
    _outstanding: int
    _grown: int
    _capacity: int
    _requeued: deque[Chunk]
    _retries: list[tuple[float, int, Chunk]]
    _gate: KeyGate | None
    _timed: bool
    clock: Callable[[], float]
    _fail: Callable[[Segment, int, ErrorInfo], None]  # Recovery's

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
        frontier = self._frontier
        if frontier is not None and not frontier.pending and not frontier.ended:
            return None  # an open frontier, empty for now: nothing to read (the fast way)
        while not self._exhausted and self._outstanding < self._limit():
            size = self.sizer.next_size()
            if self.options.max_in_flight is not None:  # the bound shared by the workers
                size = min(size, max(1, self.options.max_in_flight // max(1, self._capacity)))
            if self._sequence is not None:
                batch = self._sequence[self._taken:self._taken + size]
                self._taken += len(batch)
            elif self._frontier is not None:
                batch = self._frontier.take(size)
            else:
                batch = list(itertools.islice(self._source, size))
            if not batch:
                # a frontier's results, all yielded, added nothing (and, if it is open until
                # closed, it was closed): it is done
                self._exhausted = self._frontier is None or (
                    not self._live and self._frontier.ended)
                return None
            segment = Segment(self._next_index, batch)
            self._next_index += len(batch)
            self._add(segment)
            self._outstanding += len(segment.items)
            todo = (self.observers.prefill(segment) if self.observers
                    else range(len(segment.items)))
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

    def _chunk(self, segment: Segment, positions: list[int] | range) -> Chunk:
        tracked = (
            self.options.timeout is not None or len(positions) == 1 or self.sizer.slow_items
            or self.sizer.measuring or self._timed
            or self.options.max_memory_per_child is not None  # a kill blames its item
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

