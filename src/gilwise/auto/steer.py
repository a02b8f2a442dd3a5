"""An I/O-bound thread pool sized as it runs, in the manner of a congestion controller: more
workers while throughput rises, fewer when latency climbs while throughput does not, never
past a cap.

The engine calls :meth:`Steer.tick` from its loop with the number of items finished so far;
every period (a round of the pool at least) the throughput of the period is compared with the
one before. An item's latency (its own seconds, as the workers time it) is compared with the
least seen, an item run alone in the probe where one finished: past ``CLIMB`` times that, the
extra workers only queue (a server overloaded by connections, the cores taken by children),
so the pool is halved and kept smaller if throughput holds. Otherwise, below the cap, it is
doubled and kept larger if throughput rises. By Little's law, at the same throughput fewer
workers means each item waits less. A change that does not pay is undone, and the pool rests
at its last good size before trying again, twice as long after each miss (up to
``LONGEST_REST``). Each change is recorded (``RunInfo.changes``) with why.
"""

from __future__ import annotations

import time
from collections.abc import Callable

PERIOD_SECONDS = 0.05  # the shortest period over which throughput is compared
PERIOD_ITEMS = 1  # ...and a period holds at least this many finished items per worker
GAIN = 1.1  # a larger pool pays when throughput rises by this factor...
HOLDS = 1.1  # ...and a smaller one when it falls by less than this factor
CLIMB = 1.5  # latency this many times the least seen: the extra workers only queue
REST_PERIODS = 4  # periods to stay at a good size before trying another one...
LONGEST_REST = 64  # ...doubling after each change that did not pay, up to this many


class Change:
    """The run changed its workers ``seconds`` after it started, from ``before`` to
    ``after``, because ``why``."""

    __slots__ = ("seconds", "before", "after", "why")
    seconds: float
    before: int
    after: int
    why: str

    def __init__(self, seconds: float, before: int, after: int, why: str) -> None:
        self.seconds, self.before, self.after, self.why = seconds, before, after, why

    def __repr__(self) -> str:
        return (f"Change(seconds={self.seconds!r}, before={self.before!r}, "
                f"after={self.after!r}, why={self.why!r})")

    def __str__(self) -> str:
        return f"at {self.seconds:.2f} s: workers {self.before} -> {self.after} ({self.why})"


class Steer:
    """Resizes a pool through ``resize(n)`` between 1 and ``cap`` workers. ``latency()``
    is the seconds an item takes lately (None until known); ``alone()`` the seconds an item
    took run alone (0.0 while not known)."""

    def __init__(self, size: int, cap: int, resize: Callable[[int], None],
                 record: Callable[[Change], None], latency: Callable[[], float | None],
                 alone: Callable[[], float] = lambda: 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.size: int = size
        self.cap: int = cap
        self.floor: int = 1
        self._resize, self._record, self._latency = resize, record, latency
        self._alone, self._clock = alone, clock
        self._base = 0.0  # the least latency seen, alone or in the pool
        self._began = self._period_began = clock()
        self._done_at_start = 0
        self._last_rate = 0.0
        self._good = size  # the size the pool returns to when a change does not pay
        self._resting = 0
        self._rest_for = REST_PERIODS
        self._trying = 0  # the change being judged: +1 more workers, -1 fewer, 0 none

    def tick(self, done: int) -> None:
        """``done`` items are finished in all: judge the period if it is over."""
        now = self._clock()
        seconds = now - self._period_began
        finished = done - self._done_at_start
        if seconds < PERIOD_SECONDS or finished < PERIOD_ITEMS * self.size:
            return
        rate = finished / seconds
        self._period_began, self._done_at_start = now, done
        last, self._last_rate = self._last_rate, rate
        latency = self._latency()
        for seen in (latency, self._alone()):
            if seen:
                self._base = min(self._base, seen) if self._base else seen
        if self._trying and not self._judge(rate, last, now):
            return
        if self._resting:
            self._resting -= 1
            return
        if latency and latency > CLIMB * self._base and self.size > self.floor:
            self._try(-1, max(self.floor, self.size // 2),
                      f"latency {latency * 1000:.0f} ms, {latency / self._base:.1f}x the "
                      f"least seen, at {rate:.0f} items/s: trying fewer", now)
        elif self.size < self.cap:
            self._try(+1, min(self.cap, self.size * 2),
                      f"{rate:.0f} items/s at {self.size} workers: trying more", now)

    def _judge(self, rate: float, last: float, now: float) -> bool:
        """Keep the size tried if it paid (True), else go back and rest (False)."""
        more, self._trying = self._trying > 0, 0
        paid = rate >= last * GAIN if more else rate * HOLDS >= last
        if paid:
            self._good, self._rest_for = self.size, REST_PERIODS
            return True
        self._change(self._good, f"{rate:.0f} items/s at {self.size} workers against "
                     f"{last:.0f}/s at {self._good}: going back", now)
        self._resting = self._rest_for
        self._rest_for = min(LONGEST_REST, self._rest_for * 2)
        return False

    def _try(self, direction: int, size: int, why: str, now: float) -> None:
        self._trying = direction
        self._change(size, why, now)

    def _change(self, size: int, why: str, now: float) -> None:
        if size == self.size:
            return
        self._record(Change(now - self._began, self.size, size, why))
        self.size = size
        self._resize(size)
