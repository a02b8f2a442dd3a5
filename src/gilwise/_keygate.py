"""Per-key limits (``per_key=(key_fn, N)`` or a ``PerKey``): the feeder's gate.

A chunk whose key has every slot taken, or whose key may not start yet (its interval since
the last start, or a ``defer``), is held aside, not sent, so the feeder goes on with other
keys' items; it is sent as soon as its key has a slot and its time has come. No worker
ever sleeps for a key. The engine sends one item per chunk under a gate, so a chunk's key
is its item's key.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gilwise._chunk import Chunk


class PerKey:
    """At most ``limit`` items of one key at once, their starts at least ``interval``
    seconds apart. ``set`` changes one key's limit or interval, ``defer`` holds back its
    next items: both may be called from any thread while a map runs (the function itself,
    as a scraper does for a host's Crawl-delay or Retry-After, or the consumer).
    ``clock``: what the seconds are measured on (a test's fake clock). mode="auto" runs its
    first items one at a time to measure them; they keep the limit and the interval too (an
    item whose key must wait ends the measuring, and goes to the chosen workers)."""

    def __init__(self, key: Callable[[Any], Hashable], limit: int, interval: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not callable(key):
            raise TypeError(f"PerKey's key {key!r} must be a function of an item")
        _check(limit, interval)
        self.key: Callable[[Any], Hashable] = key
        self.limit: int = limit
        self.interval: float = interval
        self.clock: Callable[[], float] = clock
        self._lock = threading.Lock()
        self._limits: dict[Hashable, int] = {}
        self._intervals: dict[Hashable, float] = {}
        self._next: dict[Hashable, float] = {}  # key -> clock time its next item may start
        self.version: int = 0  # bumped when a key may go sooner: a gate looks at its held keys

    def set(self, key: Hashable, *, limit: int | None = None,
            interval: float | None = None) -> None:
        """Give ``key`` its own ``limit`` and/or ``interval`` (None: leave it)."""
        _check(self.limit if limit is None else limit,
               self.interval if interval is None else interval)
        with self._lock:
            sooner = False
            if limit is not None:
                sooner = limit > self.limit_of(key)
                self._limits[key] = limit
            if interval is not None:
                if interval < self.interval_of(key) and key in self._next:
                    # the booked start moves to the shorter interval's
                    self._next[key] -= self.interval_of(key) - interval
                    sooner = True
                self._intervals[key] = interval
            if sooner:
                self.version += 1

    def defer(self, key: Hashable, seconds: float) -> None:
        """No item of ``key`` starts for ``seconds`` from now (later starts stand)."""
        with self._lock:
            until = self.clock() + max(0.0, seconds)
            if until > self._next.get(key, float("-inf")):
                self._next[key] = until

    def limit_of(self, key: Hashable) -> int:
        return self._limits.get(key, self.limit)

    def interval_of(self, key: Hashable) -> float:
        return self._intervals.get(key, self.interval)

    def not_before(self, key: Hashable) -> float:
        """When ``key``'s next item may start on ``clock`` (the past if it may now)."""
        return self._next.get(key, float("-inf")) if self._next else float("-inf")

    def started(self, key: Hashable, now: float) -> None:
        """An item of ``key`` starts at ``now``: the next one not before its interval."""
        interval = self.interval_of(key)
        if interval > 0:
            with self._lock:
                self._next[key] = max(self._next.get(key, now), now + interval)

    def __repr__(self) -> str:
        return f"PerKey({self.key!r}, {self.limit!r}, interval={self.interval!r})"


def _check(limit: Any, interval: Any) -> None:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError(f"per_key's limit {limit!r} must be a positive integer")
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) \
            or not interval >= 0:
        raise ValueError(f"per_key's interval {interval!r} must be seconds >= 0")


def per_key_of(value: PerKey | tuple[Callable[[Any], Hashable], int]) -> PerKey:
    """``per_key=`` as given: a PerKey, or a ``(key function, limit)`` pair."""
    if isinstance(value, PerKey):
        return value
    if not (isinstance(value, tuple) and len(value) == 2 and callable(value[0])):
        raise TypeError(f"per_key={value!r} must be a (key function, limit) pair or a "
                        "gilwise.PerKey")
    return PerKey(value[0], value[1])


class KeyGate:
    """Slots and start times per key: ``admit`` a chunk or hold it, ``release`` its slot,
    ``take`` a held chunk whose key may go now; ``wait`` says how long until one may."""

    def __init__(self, per_key: PerKey | tuple[Callable[[Any], Hashable], int]) -> None:
        self.per_key = per_key_of(per_key)
        self.key_fn = self.per_key.key
        self.running: dict[Hashable, int] = {}
        self._held: dict[Hashable, deque[Chunk]] = {}
        self._freed: deque[Hashable] = deque()  # held keys that may have room now
        self._timed: list[tuple[float, int, Hashable]] = []  # (when, tie, key) held for time
        self._tie = 0
        self._key_of: dict[int, Hashable] = {}  # chunk id -> key, while it holds a slot
        self._version = self.per_key.version
        self.held = 0

    def key(self, chunk: Chunk) -> Hashable:
        """The chunk's key (raises what ``key_fn`` raises, or TypeError if unhashable)."""
        key = self.key_fn(chunk.items[0])
        hash(key)
        return key

    def admit(self, chunk: Chunk, key: Hashable) -> bool:
        """Take a slot of ``key`` for ``chunk`` (True), or hold the chunk (False)."""
        if key not in self._held and self._may_start(key):
            self._occupy(chunk.id, key)
            return True
        self._held.setdefault(key, deque()).append(chunk)
        self.held += 1
        return False

    def _may_start(self, key: Hashable) -> bool:
        """A slot is free and the key's time has come (else, if only time is missing,
        the key is woken then)."""
        per_key = self.per_key
        if self.running.get(key, 0) >= per_key.limit_of(key):
            return False
        when = per_key.not_before(key)
        if when > per_key.clock():
            self._tie += 1
            heapq.heappush(self._timed, (when, self._tie, key))
            return False
        return True

    def occupy(self, key: Hashable) -> None:
        """Count an item running outside the engine's chunks (auto's probe) in its key."""
        self.running[key] = self.running.get(key, 0) + 1

    def _occupy(self, chunk_id: int, key: Hashable) -> None:
        self.occupy(key)
        self._key_of[chunk_id] = key
        self.per_key.started(key, self.per_key.clock())

    def release(self, chunk_id: int) -> None:
        """The chunk is back (done, lost or given up on): free its slot."""
        key = self._key_of.pop(chunk_id, None)
        if key is not None:
            self.vacate(key)

    def vacate(self, key: Hashable) -> None:
        """Free one slot of ``key``; its oldest held chunk may go next."""
        self.running[key] -= 1
        if not self.running[key]:
            del self.running[key]
        if key in self._held:
            self._freed.append(key)

    def take(self) -> Chunk | None:
        """A held chunk whose key may go now, oldest of its key first."""
        if self.per_key.version != self._version:  # a limit or time changed: look again
            self._version = self.per_key.version
            self._freed.extend(self._held)
        if self._timed:
            now = self.per_key.clock()
            while self._timed and self._timed[0][0] <= now:
                self._freed.append(heapq.heappop(self._timed)[2])
        while self._freed:
            key = self._freed.popleft()
            queue = self._held.get(key)
            if queue is None or not self._may_start(key):
                continue
            chunk = queue.popleft()
            if queue:
                self._freed.append(key)  # a raised limit may let more go at once
            else:
                del self._held[key]
            self.held -= 1
            self._occupy(chunk.id, key)
            return chunk
        return None

    def wait(self, longest: float) -> float:
        """Seconds to wait at most (up to ``longest``) before a held key's time comes."""
        if not self._timed:
            return longest
        return max(0.0, min(longest, self._timed[0][0] - self.per_key.clock()))
