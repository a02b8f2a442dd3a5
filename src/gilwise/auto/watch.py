"""Auto mode, revisited while the batch runs: work that changes nature moves to the right mode.

The probe judged the first items; later ones may differ (fast cache hits first, slow misses
later; waits first, then pure Python). The engine tells the watch of every chunk back from the
backend it sends to, and ticks it from its loop; every window (0.1 s at least) the watch reads
cheap figures the run has anyway:

- in processes, the CPU seconds of the chunks back against their wall seconds less their waits
  for a core (each worker times its own thread; Linux tells the waits apart, so processes
  sharing busy cores do not look idle): items that now mostly wait (under 25 %) move to
  **threads**, as many as auto gives I/O-bound work, and the pool then grows as it runs
  (``_steer``);
- in threads, this process's CPU time against the wall time, in cores' worth: a pool that was
  expected to wait, computing now between half a core and one and a half (one GIL's worth) and
  three times what the probe's figures led to expect, is checked with the probe's ticker
  (``_gilmeter``'s method, up to three times 50 ms): if it holds the GIL, new chunks go to
  **processes**, one per usable core (where the function and items can go to one); if not, it
  is checked again later, less and less often, then taken as it is. A pool narrower than auto
  makes for waiting (one thread per core; one thread for a batch that looked small, its first
  items being quick) whose threads now mostly wait grows as an I/O-bound one.

A move needs windows in a row calling for it for 0.2 s (one slow chunk moves nothing), and a
batch moves at most four times. Chunks already out finish where they are: no item runs twice,
and the order is the engine's, kept by segment (``_handover``). Each move is recorded in
``RunInfo.changes`` with its figures.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from gilwise._chunk import ChunkResult
from gilwise._threadclock import ThreadClock
from gilwise.auto.gilmeter import COUNTS_ABOVE, PAUSE, PROBE_SWITCH_INTERVAL, RUN
from gilwise.backends._base import Backend

WINDOW_SECONDS = 0.1  # figures are judged over at least this long...
WINDOW_CHUNKS = 3  # ...and, in processes, over at least this many chunks back
# windows in a row must call for the same move for this long (two windows of 0.1 s; one, where
# a pool holding the GIL slows the engine's loop to windows longer than this)
AGREE_SECONDS = 0.2
WAITS_BELOW = 0.25  # a worker computing less than this share of its time: its items wait
COMPUTES_ABOVE = 0.5  # a thread pool computing this many cores' worth or more...
RISE = 3.0  # ...and this many times what it was expected to: its work has changed
ONE_GIL = 1.5  # more cores' worth than this cannot be Python under one GIL
CHECK_SECONDS = 0.05  # the ticker's check of the GIL before a move to processes...
# ...finds it held: beside 4 threads of pure Python the ticker waited 0.15-0.7 of the time
# here, but 0.0-0.04 in one check of three on a busy machine (its waits for a core are left
# out), beside 64 0.6-0.95; beside 4 threads hashing 0.00 (64: 0.00, once in ten 0.2-0.5)
GIL_HELD_ABOVE = 0.05
CHECK_TIMES = 3  # a check ticks this many times at most, and the GIL is held if once held
MOST_CHECKS = 4  # checks that found the GIL free before the pool is taken as it is
MOST_MOVES = 4

#: (mode, workers, grows_to, why) -> the started backend to move to, or None (no move, or a
#: resize of the same pool)
Move = Callable[[str, int, int, str], Backend | None]


class ModeChange:
    """The run moved from ``before`` to ``after`` (mode×workers), ``seconds`` after it
    started, because ``why``."""

    __slots__ = ("seconds", "before", "after", "why")
    seconds: float
    before: str
    after: str
    why: str

    def __init__(self, seconds: float, before: str, after: str, why: str) -> None:
        self.seconds, self.before, self.after, self.why = seconds, before, after, why

    def __repr__(self) -> str:
        return (f"ModeChange(seconds={self.seconds!r}, before={self.before!r}, "
                f"after={self.after!r}, why={self.why!r})")

    def __str__(self) -> str:
        return f"at {self.seconds:.2f} s: {self.before} -> {self.after} ({self.why})"


class Watch:
    """Re-judges the work of a batch in ``mode`` on ``workers``; the probe found its threads
    computing ``cpu_wall`` of their time. ``move`` makes the change it asks for."""

    def __init__(
        self, mode: str, workers: int, cpu_wall: float, cores: int, move: Move,
        processes_ok: Callable[[], bool], io_workers: Callable[[float], tuple[int, int]],
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.process_time,
        gil_share: Callable[[], float] | None = None, background: bool = True,
        hold: Callable[[bool], None] = lambda held: None, loops: bool = False,
    ) -> None:
        self.mode: str = mode
        self.workers: int = workers
        self.cpu_wall: float = cpu_wall
        self.cores: int = cores
        self.moves: int = 0
        self.checks: int = 0
        self._quiet = 0  # windows to let pass before the next check of the GIL
        self._share = cpu_wall  # the share of their time the workers computed, last window
        self._move, self._processes_ok, self._io_workers = move, processes_ok, io_workers
        self._clock, self._cpu_clock = clock, cpu_clock
        self._gil_share = gil_share or gil_wait_share
        self._background = background  # the check ticks in a thread of its own (else inline)
        self._check: _Check | None = None
        self._interval = 0.005  # the switch interval to restore after a check
        # hold(True) while a move to processes is being checked: a thread pool must not grow
        # then (starting threads beside ones holding the GIL stalls the engine), hold(False) after
        self._hold = hold
        self._agreed: tuple[str, float] = ("", 0.0)  # the move called for, and for how long
        #: the thread pool has a steer (``_steer``) sizing it, which may have shrunk it on
        #: purpose (latency climbing): then it is not widened here
        self.steered: bool = False
        #: coroutines, each worker thread's event loop awaiting many at once: a loop that
        #: computes a core's worth moves to processes × loops; more threads (more loops) or a
        #: move back would add nothing a loop cannot await
        self._loops = loops
        self._open_window()

    def _open_window(self) -> None:
        self._began, self._cpu_began = self._clock(), self._cpu_clock()
        self._chunks, self._cpu, self._wall = 0, 0.0, 0.0  # wall: on a core or blocked

    def done(self, result: ChunkResult) -> None:
        """A chunk came back from the backend the engine sends to now."""
        self._chunks += 1
        self._cpu += result.cpu
        self._wall += max(0.0, result.seconds - result.waited)

    def tick(self, unsent: bool = True) -> Backend | None:
        """Judge the window if it is over; the backend to move to, or None. ``unsent``: some
        of the batch is still to be sent (else a move would carry nothing)."""
        if self._check is not None:
            if self._check.is_alive():
                return None
            check, self._check = self._check, None
            return self._checked(check.held, check.why, unsent)
        seconds = self._clock() - self._began
        if not unsent or self.moves >= MOST_MOVES or seconds < WINDOW_SECONDS:
            return None
        if self.mode == "processes" and self._chunks < WINDOW_CHUNKS:
            return None
        wanted = self._judge(seconds)
        self._open_window()
        if wanted is None:
            self._agreed = ("", 0.0)
            return None
        mode, why = wanted
        lasted = seconds + (self._agreed[1] if self._agreed[0] == mode else 0.0)
        self._agreed = (mode, lasted)
        if lasted < AGREE_SECONDS:
            return None
        self._agreed = ("", 0.0)
        return self._go(mode, why)

    def _judge(self, seconds: float) -> tuple[str, str] | None:
        """The mode this window calls for, and why; None to stay."""
        if self.mode == "processes":
            if self._loops:
                return None
            share = self._cpu / self._wall if self._wall > 0 else 1.0
            self._share = share
            if share < WAITS_BELOW:
                return "threads", (f"its items now wait: {self._chunks} chunks in processes "
                                   f"computed {share:.0%} of their time")
            return None
        rate = (self._cpu_clock() - self._cpu_began) / seconds  # cores' worth of CPU
        expected = min(self.cores, self.workers * self.cpu_wall)
        gil_bound = COMPUTES_ABOVE <= rate <= ONE_GIL
        if gil_bound and rate >= RISE * expected and self._processes_ok():
            if self._quiet:
                self._quiet -= 1
                return None
            return "processes", (f"it computes now: {rate:.2f} cores' worth of CPU in "
                                 f"{self.workers} threads, where {expected:.2f} was expected")
        share = rate / self.workers
        if share < WAITS_BELOW and not self.steered and not self._loops:  # only a pool
            # narrower than for waits
            self._share = share
            return "threads", (f"its items now wait: {self.workers} threads computed "
                               f"{share:.0%} of the time")
        return None

    def _go(self, mode: str, why: str) -> Backend | None:
        if mode == "processes":
            # checked from another thread: this one must go on feeding the pool, whose
            # threads would otherwise sit idle, the GIL free, while it ticks
            self._check = _Check(self._gil_share, why)
            self._hold(True)
            # beside threads holding the GIL, each of the check's system calls waits for it
            # again, a switch interval behind each thread: 5 ms by default, 0.5 ms while it runs
            self._interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._interval, PROBE_SWITCH_INTERVAL))
            if not self._background:
                self._check.run()
                return self.tick()
            self._check.start()
            return None
        self.cpu_wall = self._share
        workers, grows_to = self._io_workers(max(self._share, 1e-3))
        if self.mode == "threads" and workers <= self.workers:
            return None  # already as wide as auto would make it
        return self._moved(mode, workers, grows_to, why)

    def _checked(self, held: float, why: str, unsent: bool) -> Backend | None:
        """The check of the GIL is over: move to processes if it was held."""
        self._hold(False)
        sys.setswitchinterval(self._interval)
        if not unsent:
            return None
        if held <= GIL_HELD_ABOVE:  # it computes with the GIL released: threads suit it
            self.checks += 1
            self._quiet = 2 ** (self.checks - 1)  # look again, less and less often
            if self.checks >= MOST_CHECKS:
                self.cpu_wall = 1.0  # its nature now, from which no rise can be seen
            return None
        why += f", and a Python thread beside it waited for the GIL {held:.0%} of the time"
        return self._moved("processes", self.cores, 0, why)

    def _moved(self, mode: str, workers: int, grows_to: int, why: str) -> Backend | None:
        self.moves += 1
        backend = self._move(mode, workers, grows_to, why)
        self.mode, self.workers = mode, workers
        self._open_window()
        return backend


class _Check(threading.Thread):
    """Ticks beside the pool up to CHECK_TIMES times, until it finds the GIL held."""

    def __init__(self, gil_share: Callable[[], float], why: str) -> None:
        super().__init__(name="gilwise-watch", daemon=True)
        self.gil_share, self.why, self.held = gil_share, why, 0.0

    def run(self) -> None:
        for _ in range(CHECK_TIMES):
            self.held = max(self.held, self.gil_share())
            if self.held > GIL_HELD_ABOVE:
                return


def gil_wait_share(seconds: float = CHECK_SECONDS) -> float:
    """The share of ``seconds`` this thread waited for the GIL while ticking as auto's probe
    does (``_gilmeter``): a pool holding the GIL keeps it waiting after each pause; one that
    waits or computes with the GIL released does not. Waiting for a core is left out where
    the OS tells it (Linux)."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(PROBE_SWITCH_INTERVAL)
    clock = ThreadClock()
    try:
        first = last = clock.sample()
        waited = 0.0
        while last.wall - first.wall < seconds:
            time.sleep(PAUSE)
            until = time.perf_counter() + RUN
            while time.perf_counter() < until:
                pass
            sample = clock.sample()
            present = sample.cpu - last.cpu
            if sample.waiting is not None and last.waiting is not None:
                present += sample.waiting - last.waiting
            wait = sample.wall - last.wall - present - PAUSE
            if wait > COUNTS_ABOVE:
                waited += wait
            last = sample
            if waited > seconds / 2:  # plainly held: no need to measure on
                break
        return waited / (last.wall - first.wall)
    finally:
        sys.setswitchinterval(interval)
        clock.close()
