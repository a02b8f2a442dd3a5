"""How a thread spent a stretch of wall time: on a core, runnable but waiting for a core, or
blocked (on the GIL, a lock, I/O).

Auto mode needs the three apart: a machine busy with other processes keeps a thread waiting
for a core, which says nothing about the GIL; a thread blocked while it only runs Python is
waiting for the GIL. Linux tells the waiting-for-a-core time per thread
(``/proc/self/task/<tid>/schedstat``, second field); elsewhere only the time on a core is known.
"""

from __future__ import annotations

import os
import threading
import time

#: where Linux keeps a thread's scheduler figures: ns on a core, ns runnable and waiting, runs
SCHEDSTAT = "/proc/self/task/{tid}/schedstat"
#: ...and its state: R while on a core or waiting for one, S or D while blocked
STAT = "/proc/self/task/{tid}/stat"
# Linux adds a wait for a core to a thread's waiting time only once it ends: sampled from
# another thread meanwhile, the wait so far looks like time blocked (a busy machine's waits
# last a few ms, a 20 ms window's worth of I/O). ``settled_sample`` waits up to this long for
# a moment when none is under way
SETTLE_SECONDS = 0.02
SETTLE_POLL = 0.0002
SETTLE_UNCOUNTED = 0.001  # ...or for one when a wait so far is at most this


class Sample:
    """A thread's clocks at one moment (seconds); ``waiting`` is None where the OS hides it."""

    __slots__ = ("wall", "cpu", "waiting", "settled")
    wall: float
    cpu: float
    waiting: float | None
    settled: bool  # False: taken as the thread waited for a core, that wait not yet counted

    def __init__(self, wall: float, cpu: float, waiting: float | None,
                 settled: bool = True) -> None:
        self.wall, self.cpu, self.waiting, self.settled = wall, cpu, waiting, settled

    def __repr__(self) -> str:
        return f"Sample(wall={self.wall!r}, cpu={self.cpu!r}, waiting={self.waiting!r})"


class Span:
    """Shares of the wall time between two samples of one thread."""

    __slots__ = ("seconds", "on_core", "waiting")
    seconds: float
    on_core: float
    waiting: float | None  # runnable, waiting for a core (None: not known here)

    def __init__(self, seconds: float, on_core: float, waiting: float | None) -> None:
        self.seconds, self.on_core, self.waiting = seconds, on_core, waiting

    def __repr__(self) -> str:
        return f"Span(seconds={self.seconds!r}, on_core={self.on_core!r}, waiting={self.waiting!r})"

    @property
    def blocked(self) -> float | None:
        """Neither on a core nor waiting for one: on the GIL, a lock or I/O."""
        if self.waiting is None:
            return None
        return max(0.0, 1.0 - self.on_core - self.waiting)


class ThreadClock:
    """One thread's clocks: made in the thread it measures, sampled from any thread; ``close``
    it when done.

    The scheduler's file stays open and is read with one call: every system call lets go of
    the GIL, and work that holds the GIL takes it for as long as it runs (a whole ``re`` or
    ``json`` call) at each such moment."""

    def __init__(self) -> None:
        # reads from other threads and ``close`` in this one take turns: a file closed between
        # a read's check and its call would be read as None (or as another file, reopened)
        self._files = threading.Lock()
        self._owner = threading.get_ident()
        self._cpu_id = _cpu_clock_id()
        tid = threading.get_native_id()
        try:
            self._fd: int | None = os.open(SCHEDSTAT.format(tid=tid), os.O_RDONLY)
        except OSError:
            self._fd = None
        self.exact: bool = self._waiting() is not None
        self._stat: int | None = None
        if self.exact:
            try:
                self._stat = os.open(STAT.format(tid=tid), os.O_RDONLY)
            except OSError:
                pass

    def close(self) -> None:
        with self._files:
            for fd in (self._fd, self._stat):
                if fd is not None:
                    os.close(fd)
            self._fd = self._stat = None

    @property
    def readable_elsewhere(self) -> bool:
        """Whether other threads can read this thread's CPU time (not on every platform)."""
        return self._cpu_id is not None

    def sample(self) -> Sample:
        """The clocks now; OSError if they cannot be read from here, or the thread has ended
        (its clocks end with it)."""
        # the waiting time first: it is final only for waits that have ended
        waiting = self._waiting() if self.exact else None
        if self._cpu_id is not None:
            cpu = time.clock_gettime(self._cpu_id)
        elif threading.get_ident() == self._owner:
            cpu = time.thread_time()
        else:
            raise OSError("another thread's CPU time cannot be read on this platform")
        if self.exact and waiting is None:
            raise OSError("the thread has ended")
        return Sample(time.perf_counter(), cpu, waiting)

    def settled_sample(self, limit: float = SETTLE_SECONDS) -> Sample:
        """The clocks at a moment when no more than ``SETTLE_UNCOUNTED`` seconds of a wait for
        a core can be under way (its waiting time so far all counted, near enough): at once
        where it is on a core or blocked, else once it has run between two reads that close
        together (reading it here may be what takes its core). Up to ``limit`` seconds later;
        past that ``settled`` is False. Where the state cannot be read, as ``sample``."""
        deadline = time.perf_counter() + limit
        sample = self.sample()
        if not self._queued(sample):
            return sample
        while True:
            time.sleep(SETTLE_POLL)
            last, sample = sample, self.sample()
            ran = sample.cpu > last.cpu and sample.wall - last.wall <= SETTLE_UNCOUNTED
            if ran or not self._queued(sample):
                return sample
            if time.perf_counter() >= deadline:
                sample.settled = False
                return sample

    def _queued(self, sample: Sample) -> bool:
        """Whether the thread waits for a core now: runnable (R), yet its CPU clock has not
        moved since ``sample`` (False where that cannot be told)."""
        if self._cpu_id is None:
            return False
        with self._files:
            if self._stat is None:
                return False
            try:
                state = os.pread(self._stat, 512, 0).rsplit(b")", 1)[1].split()[0]
            except (OSError, IndexError):
                return False
        if time.perf_counter() - sample.wall > SETTLE_UNCOUNTED:
            return True  # read too late to tell: it may have waited at ``sample``, then run
        return state == b"R" and time.clock_gettime(self._cpu_id) == sample.cpu

    def _waiting(self) -> float | None:
        with self._files:
            if self._fd is None:
                return None
            try:
                return int(os.pread(self._fd, 128, 0).split()[1]) / 1e9
            except (OSError, IndexError, ValueError):
                return None


def span(start: Sample, end: Sample) -> Span:
    """The shares of the wall time from ``start`` to ``end`` (of one thread)."""
    seconds = end.wall - start.wall
    if seconds <= 0:
        return Span(0.0, 1.0, 0.0 if start.waiting is not None else None)
    on_core = min(1.0, max(0.0, (end.cpu - start.cpu) / seconds))
    waiting = None
    if start.waiting is not None and end.waiting is not None:
        waiting = min(1.0 - on_core, max(0.0, (end.waiting - start.waiting) / seconds))
    return Span(seconds, on_core, waiting)


def _cpu_clock_id() -> int | None:
    """The calling thread's CPU clock, readable from other threads (where the OS has one)."""
    get = getattr(time, "pthread_getcpuclockid", None)
    if get is None:
        return None
    try:
        cid = get(threading.get_ident())
        time.clock_gettime(cid)
    except OSError:
        return None
    return cid
