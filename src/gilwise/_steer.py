"""An I/O-bound thread pool sized as it runs: grow while throughput rises, go back when it
does not (a hill climb, in the manner of a congestion controller), never past a cap.

The engine calls :meth:`Steer.tick` from its loop with the number of items finished so far;
every period (a round of the pool at least) it compares the throughput of the last period with
the one before, and doubles the pool while that pays (from the first period on). After a
change that did not pay (less than ``GAIN`` better), it returns to the last good size and
stays there a few periods before trying again. Each change is recorded (``RunInfo.changes``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

PERIOD_SECONDS = 0.05  # the shortest period over which throughput is compared
PERIOD_ITEMS = 1  # ...and a period holds at least this many finished items per worker
GAIN = 1.1  # a change pays when throughput rises by this factor
REST_PERIODS = 5  # periods to stay at a good size before trying a larger one again


@dataclass(frozen=True)
class Change:
    """The run changed its workers ``seconds`` after it started, from ``before`` to
    ``after``, because ``why``."""

    seconds: float
    before: int
    after: int
    why: str

    def __str__(self) -> str:
        return f"at {self.seconds:.2f} s: workers {self.before} -> {self.after} ({self.why})"


class Steer:
    """Resizes a pool through ``resize(n)`` between ``floor`` and ``cap`` workers."""

    def __init__(self, size: int, cap: int, resize: Callable[[int], None],
                 record: Callable[[Change], None], clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.size, self.cap, self.floor = size, cap, size
        self._resize, self._record, self._clock = resize, record, clock
        self._began = self._period_began = clock()
        self._done_at_start = 0
        self._last_rate = 0.0
        self._good = size  # the size of the best throughput seen
        self._resting = 0
        self._trying = False  # the last change was an experiment still to be judged

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
        if self._trying:
            self._trying = False
            if rate >= last * GAIN:
                self._good = self.size
            else:
                self._change(self._good, f"{rate:.0f}/s at {self.size} workers is no better "
                             f"than {last:.0f}/s at {self._good}", now)
                self._resting = REST_PERIODS
                return
        if self._resting:
            self._resting -= 1
            return
        if self.size < self.cap:  # from the first period on: growing early pays most
            self._trying = True
            self._change(min(self.cap, self.size * 2),
                         f"{rate:.0f} items/s at {self.size} workers: trying more", now)

    def _change(self, size: int, why: str, now: float) -> None:
        if size == self.size:
            return
        self._record(Change(now - self._began, self.size, size, why))
        self.size = size
        self._resize(size)
