"""What becomes of an item whose chunk failed, could not be sent, or was lost with its
worker: blame, split, retry with backoff, timeouts. A part of the engine (a mixin: it keeps
the engine's books), apart so that the loop reads on its own."""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from collections.abc import Callable

from gilwise._chunk import Chunk
from gilwise._engine.handover import Handover
from gilwise._options import Options
from gilwise._outcome import (
    ErrorInfo,
    Failure,
    PayloadError,
    TaskTimeout,
    WorkerDied,
    describe,
    error_class,
)
from gilwise._segment import Segment
from gilwise.backends._base import Backend, Lost, Supervised


class Recovery:
    """The engine's handling of failures and losses (see ``_engine.Engine``)."""

    # the engine's books, set in Engine.__init__
    backend: Backend
    options: Options
    clock: Callable[[], float]
    retried: int
    _supervised: Supervised | None
    _handover: Handover
    _requeued: deque[Chunk]
    _retries: list[tuple[float, int, Chunk]]
    _retry_when: itertools.count[int]
    _in_flight: dict[int, Chunk]
    _sent_at: dict[int, float]
    _touched: list[Segment] | None

    def _chunk(self, segment: Segment, positions: list[int] | range) -> Chunk:
        raise NotImplementedError

    def _release(self, chunk: Chunk) -> None:
        raise NotImplementedError

    def _unsendable(self, chunk: Chunk, exc: PayloadError) -> None:
        if len(chunk.positions) > 1:  # find the culprit: send the items one by one
            self._split(chunk)
        else:
            self._fail(chunk.segment, chunk.positions[0], _info(exc, "payload"))

    def _split(self, chunk: Chunk) -> None:
        singles = [self._chunk(chunk.segment, [p]) for p in chunk.positions]
        self._requeued.extendleft(reversed(singles))

    def _lost(self, chunk: Chunk, event: Lost) -> None:
        """A worker died or hung in ``chunk``: blame the item it ran, send the rest again.

        Where the position is not known (an untracked chunk, a backend without supervision),
        the chunk is sent again whole (its items may never have started), and after three
        losses, or at once for a timeout, it is split to run its items one by one."""
        chunk.lost += 1
        positions = list(chunk.positions)
        blame = event.position
        if blame is None or blame >= len(positions):
            if chunk.tracked and chunk.lost < 3 and event.kind != "timeout":
                self._requeued.appendleft(chunk)  # no item of it had started
                return
            if len(positions) > 1:
                self._split(chunk)  # no position known: run its items alone to find the culprit
                return
            blame = 0  # one item: it is the cause
        self._fail(chunk.segment, positions[blame], _lost_info(event))
        rest = positions[:blame] + positions[blame + 1 :]
        if rest:
            self._requeued.appendleft(self._chunk(chunk.segment, rest))

    def _fail(self, segment: Segment, pos: int, info: ErrorInfo) -> None:
        attempts = segment.attempts.get(pos, 1)
        if attempts <= self.options.retries and self._retryable(info):
            segment.attempts[pos] = attempts + 1
            self.retried += 1
            delay = self.options.backoff * (2 ** (attempts - 1)) * random.uniform(0.5, 1.5)
            chunk = self._chunk(segment, [pos])
            heapq.heappush(self._retries, (self.clock() + delay, next(self._retry_when), chunk))
            return
        index = segment.start + pos
        segment.failures[pos] = Failure(
            index, segment.items[pos], info.exc_type, info.message, info.traceback,
            attempts, info.exception,
        )
        segment.values[pos] = None
        segment.open -= 1
        if self._touched is not None:
            self._touched.append(segment)

    def _retryable(self, info: ErrorInfo) -> bool:
        exc = info.exception
        cls = error_class(info) or (type(exc) if exc is not None else None)
        if cls is None:  # the exception did not survive pickling: match by name
            return any(t in (BaseException, Exception) or t.__qualname__ == info.exc_type
                       for t in self.options.retry_on)
        return issubclass(cls, self.options.retry_on)

    def _check_timeouts(self) -> None:
        timeout = self.options.timeout
        reason = f"task ran longer than the timeout of {timeout} s"
        now = self.clock()
        if self._supervised is not None:
            for chunk_id in list(self._in_flight):
                backend = self._handover.supervisor(chunk_id, self.backend)
                running = backend.running(chunk_id) if backend is not None else None
                if running is not None and now - running[1] > timeout:
                    backend.kill(chunk_id, reason)  # type: ignore[union-attr]
            return
        # No supervision: a running task cannot be stopped nor its item named. A chunk out
        # longer than the timeout since it was submitted is given up on (its late result is
        # ignored) and its items run alone, each failing once it alone overstays.
        late = [cid for cid, sent in self._sent_at.items() if now - sent > timeout]
        if late:
            self.backend.cancel(late)
        for chunk_id in late:
            del self._sent_at[chunk_id]
            chunk = self._in_flight.pop(chunk_id)
            self._release(chunk)
            self._lost(chunk, Lost(chunk_id, "timeout", reason, None))


def _info(exc: BaseException, kind: str) -> ErrorInfo:
    info = describe(exc, kind)
    info.traceback = ""
    return info


def _lost_info(event: Lost) -> ErrorInfo:
    if event.kind == "timeout":
        return _info(TaskTimeout(event.reason), "timeout")
    return _info(WorkerDied(event.reason), "died")
