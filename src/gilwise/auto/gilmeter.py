"""Does the work hold the GIL, and is it waiting or computing? Measured beside it.

The probe thread runs the first items while the caller's thread runs a ticker beside it, in
cycles: sleep a moment (letting go of the GIL), then run a little pure Python. Work that holds
the GIL takes it during the sleep and keeps it until made to let go, a switch interval later:
the ticker waits about that long after every sleep. Work that releases the GIL (I/O, hashlib,
zlib, NumPy) hands it back at once.

A busy machine delays the ticker too, but by keeping it waiting for a core, which Linux tells
apart (``/proc/self/task/<tid>/schedstat``) and which is left out (the GIL's share is of the
ticker's time off the run queue); elsewhere the least of
repeated 20 ms windows counts, since other processes only add to it. Nor does the ticker's
wait count beyond the time the probe thread ran (on a core, or waiting for one).

The probe thread's clocks are read from the ticker's thread: Linux counts a wait for a core
only once it ends, so they are read at a moment the probe thread is not waiting for one
(``ThreadClock.settled_sample``); else a busy machine's waits would look like I/O.

The ticker holds the GIL a small, known share of the time (longer where it loses its core
meanwhile: that time is counted), so the probe thread's own blocked time beyond that share is
its waiting on I/O, sleeps or children. Ambiguous figures are
measured longer, within a bound.

A function's first call pays once for what later calls find ready (a lazy import: the first
``socket.create_connection`` imports the IDNA codec, pure Python): the figures start over as the
first item ends, unless it runs longer than a window's worth. Such costs only make an item look
busier, or wait on the process's own native threads (BLAS starting its pool: checked): a first
item plainly waiting for 3 ms and 5 cycles (or to its end, if shorter) while no native thread
computes is decided on at once, which saves a batch of 20 ms waits most of its probe.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from gilwise._threadclock import Sample, ThreadClock, span

# During the measure the GIL changes hands every 0.5 ms instead of 5 ms: work that holds it
# keeps the ticker waiting that long after each of its pauses
PROBE_SWITCH_INTERVAL = 0.0005
PAUSE = 0.0005  # the ticker's sleep, each cycle: the GIL is free for the work to take...
RUN = 0.0002  # ...then its pure-Python run, shorter than a switch interval
# A wait for the GIL after a pause longer than this counts (the timer's slack is ~0.05 ms;
# work that holds the GIL keeps the ticker waiting a switch interval or more)
COUNTS_ABOVE = 0.25e-3
# The share of the measure the ticker waited for the GIL while the work was on a core: beside
# pure Python 0.3-0.5 (less on a busy machine), beside a long C call that holds it (json, re)
# up to 0.9, beside work that releases it 0.00-0.05 (I/O that a busy machine preempts while
# it holds the GIL included)
HOLDS_ABOVE = 0.15
GIL_AMBIGUOUS = (0.08, 0.22)
PLAINLY_HELD = 0.6
# The share of the probe thread's time it was blocked on something else than the GIL (I/O,
# a child process, a sleep): over this, I/O-bound
IO_BOUND_ABOVE = 0.5
IO_AMBIGUOUS = (0.35, 0.65)
# The first item may decide alone where its thread was blocked on something else than the GIL
# more than this share of the time, with the GIL plainly free (sleep, a socket, a child: 0.97+),
# after this long: the kernel's count of blocked time is not lengthened by a busy machine
PLAINLY_WAITING = 0.9
PLAIN_WINDOW_SECONDS = 0.003
PLAIN_CYCLES = 5  # ...and this many of the ticker's cycles
FEWEST_CYCLES = 8
# A share of the GIL above the ambiguous band's floor that rests mostly on its LONE_WAITS
# longest waits is measured on, up to LONE_WAITS_MEASURE: a wait of a few ms
# is what a busy machine does to work that holds the GIL a moment between calls that let go
# of it (its thread, or its VM's core, taken away meanwhile, stretching the moment); work
# that holds the GIL makes the ticker wait again and again
LONE_WAITS = 2
LONE_WAITS_MEASURE = 0.3
WINDOW_SECONDS = 0.02  # the measure lasts this long when its figures are clear...
LONGEST_MEASURE = 0.12  # ...and up to this while they are ambiguous
# The first item's figures are left out where it ends within this: its one-time costs are not
# the work's; a longer first item is measured as the work
FIRST_ITEM_SECONDS = 0.05


class Probed(Protocol):
    """The probe thread, as the meter sees it."""

    calling: threading.Event  # set once it has begun its first item
    began: float  # perf_counter() when it started
    cpu: float  # CPU seconds of its finished items
    values: list[Any]  # of its finished items

    def is_alive(self) -> bool: ...
    def sample(self) -> Sample | None: ...


class Measure:
    """What the ticker saw beside the probe thread, and how sure it is."""

    __slots__ = ("seconds", "cycles", "gil_held", "exact", "blocked", "ticker_present",
                 "cpu_wall", "settled", "ticker_holding", "native_cores")
    seconds: float  # how long the ticker ran
    cycles: int
    gil_held: float  # share of the measure the ticker waited for the GIL
    exact: bool  # waiting for a core was told apart (else: the least of repeated windows)
    blocked: float  # share of the probe thread's time neither on a core nor waiting for one
    ticker_present: float  # share of the measure the ticker was not blocked (held the GIL)
    cpu_wall: float  # the probe thread's CPU time against its wall time
    settled: bool  # False: the probe thread's last wait for a core was still under way
    # share of the measure the ticker held the GIL or wanted it (from its pause's end to its
    # sample's), waits for a core while holding it included
    ticker_holding: float
    #: cores the work's threads wanted together (native BLAS/OpenMP threads included): see
    #: ``auto/native.py``; set by the probe after the measure
    native_cores: float

    def __init__(self, seconds: float, cycles: int, gil_held: float, exact: bool,
                 blocked: float, ticker_present: float, cpu_wall: float,
                 settled: bool = True, ticker_holding: float = 0.0,
                 native_cores: float = 0.0) -> None:
        self.seconds, self.cycles, self.gil_held, self.exact = seconds, cycles, gil_held, exact
        self.blocked, self.ticker_present, self.cpu_wall = blocked, ticker_present, cpu_wall
        self.settled, self.ticker_holding = settled, ticker_holding
        self.native_cores = native_cores

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Measure({fields})"

    @property
    def io(self) -> float:
        """Share of the probe thread's time blocked on something else than the GIL, of the
        time it was either blocked or on a core: its waits for a core, which a busy machine
        lengthens after every wake-up, are left out. Where the work holds the GIL it waits
        for it while the ticker holds it; where it lets go of it, those waits are short."""
        # work that lets go of the GIL may still wait for it while the ticker holds it,
        # longest where the ticker loses its core meanwhile (a busy machine)
        ticker = self.ticker_present if self.holds_gil else self.ticker_holding
        own = max(0.0, self.blocked - ticker)
        return own / (own + self.cpu_wall) if own + self.cpu_wall > 0 else 0.0

    @property
    def demand(self) -> float:
        """Share of the probe thread's time it computed, of the time it computed or waited
        on something else than the GIL (not for a core)."""
        return 1.0 - self.io

    @property
    def clear(self) -> bool:
        """Each figure clearly on one side of its threshold (and the probe thread's time all
        counted)."""
        return (self.settled and not _inside(self.gil_held, GIL_AMBIGUOUS)
                and not _inside(self.io, IO_AMBIGUOUS))

    @property
    def plainly_waiting(self) -> bool:
        """Waiting so plainly that no longer measure could say otherwise: both threads' time
        told apart (``exact``), the work blocked on I/O and the GIL free."""
        return (self.exact and self.settled and self.io > PLAINLY_WAITING
                and self.gil_held < GIL_AMBIGUOUS[0])

    @property
    def holds_gil(self) -> bool:
        return self.gil_held > HOLDS_ABOVE

    @property
    def io_bound(self) -> bool:
        return self.io > IO_BOUND_ABOVE

    def gil_words(self) -> str:
        return f"a Python thread beside it waited for the GIL {self.gil_held:.0%} of the time"

    def certainty(self) -> str:
        how = "busy cores told apart" if self.exact else "least of 20 ms windows"
        ms = self.seconds * 1000
        if self.clear:
            return f"clear after {ms:.0f} ms, {self.cycles} cycles ({how})"
        return (f"borderline even after {ms:.0f} ms, {self.cycles} cycles, the most allowed "
                f"({how})")

    def figures(self) -> dict[str, float]:
        return {"gil_held": self.gil_held, "io_share": self.io, "demand": self.demand,
                "cpu_wall": self.cpu_wall, "native_cores": self.native_cores,
                "measured_seconds": self.seconds,
                "cycles": float(self.cycles), "exact": float(self.exact),
                "clear": float(self.clear)}


def measure(runner: Probed, settled: Callable[[], bool] = lambda: False,
            native_busy: Callable[[], bool] = lambda: False) -> Measure:
    """Tick beside ``runner`` until the figures are clear, or for the longest measure, or
    until ``settled()`` says the decision no longer matters. ``native_busy()``: whether the
    process's native threads (BLAS, OpenMP) computed meanwhile (``native.py``): then a probe
    thread blocked waited on them, not plainly on I/O."""
    while not runner.calling.wait(PAUSE) and runner.is_alive():  # its start-up
        pass
    ticker = ThreadClock()
    try:
        return _tick_beside(runner, ticker, settled, native_busy)
    finally:
        ticker.close()


def _tick_beside(runner: Probed, ticker: ThreadClock, settled: Callable[[], bool],
                 native_busy: Callable[[], bool]) -> Measure:
    p0 = runner.sample()  # first: it may wait for the probe thread to leave a queue
    t0 = ticker.sample()
    cycles, waited, held = 0, 0.0, 0.0  # seconds waited for the GIL, and not blocked
    longest: list[float] = []  # the LONE_WAITS longest waits for the GIL that counted
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()  # else its share decides nothing
    holding = 0.0  # seconds from the end of each pause to the cycle's sample
    skipped = 0.0  # seconds spent reading the probe thread's clocks: not the ticker's cycles
    queued = 0.0  # seconds the ticker waited for a core: no time to wait for the GIL in
    windows: list[float] = []  # by CPU time only: the share of each 20 ms window
    window_began, window_waited = t0.wall, 0.0
    last = t0
    in_first_item = not runner.values
    while True:
        if in_first_item and runner.values:  # the first item is over: its figures are not kept
            in_first_item = False
            ran = last.wall - t0.wall - skipped
            # a busy machine lengthens the item: the time the ticker waited for a core is left out
            if ran - queued < FIRST_ITEM_SECONDS and runner.is_alive():
                share = waited / (ran - queued) if ran > queued else 0.0
                first = _reading(runner, t0, p0, last, cycles, share, held, skipped, holding)
                if cycles >= PLAIN_CYCLES and first.plainly_waiting and not native_busy():
                    return first  # ...unless they plainly say waiting, as one-time costs cannot
                p0 = runner.sample()
                t0 = last = ticker.sample()
                cycles, waited, held, skipped, queued, holding = 0, 0.0, 0.0, 0.0, 0.0, 0.0
                longest = []
                windows, window_began, window_waited = [], t0.wall, 0.0
        if not cycles and settled():  # over before a first cycle: a one-item batch, say
            return _reading(runner, t0, p0, ticker.sample(), 0, 0.0, 0.0)
        time.sleep(PAUSE)  # the GIL is free for the work to take...
        ran_from = time.perf_counter()
        ran_until = ran_from + RUN
        while time.perf_counter() < ran_until:  # ...then a pure-Python run
            for _ in range(20):
                pass
        sample = ticker.sample()
        # the cycle's time neither on a core nor waiting for one, less the pause: the GIL's
        present = sample.cpu - last.cpu
        if sample.waiting is not None and last.waiting is not None:
            queued += sample.waiting - last.waiting  # waiting for a core is not for the GIL
            present += sample.waiting - last.waiting
        wait = sample.wall - last.wall - present - PAUSE
        if wait > COUNTS_ABOVE:
            longest = sorted([*longest, wait])[-LONE_WAITS:]
            waited += wait
            window_waited += wait
        held += present
        holding += sample.wall - ran_from
        last, now = sample, sample.wall
        cycles += 1
        if now - window_began >= WINDOW_SECONDS:
            windows.append(window_waited / (now - window_began))
            window_began, window_waited = now, 0.0
        elapsed = now - t0.wall
        seconds = elapsed - skipped  # ticking, the figures' time
        alive = runner.is_alive()
        exact = t0.waiting is not None
        # of the time the ticker could have had the GIL (not its waits for a core: on a busy
        # machine, most of its time)
        share = (waited / (seconds - queued) if seconds > queued else 0.0) if exact else \
            (waited / seconds if not windows else min(windows))
        # a few long waits (a C call holding the GIL: json, re) are as telling as many short
        many = cycles >= FEWEST_CYCLES or share > PLAINLY_HELD
        lone_waits = gil and share >= GIL_AMBIGUOUS[0] and sum(longest) > waited / 2
        if settled():
            return _reading(runner, t0, p0, ticker.sample(), cycles, share, held, skipped,
                            holding)
        if in_first_item and seconds - queued < FIRST_ITEM_SECONDS and alive \
                and elapsed < LONGEST_MEASURE:
            if seconds >= PLAIN_WINDOW_SECONDS and cycles >= PLAIN_CYCLES:
                measured = _reading(runner, t0, p0, ticker.sample(), cycles, share, held,
                                    skipped, holding)
                if measured.plainly_waiting and not native_busy():
                    return measured
                last = ticker.sample()  # the time the reading took is no cycle's
                skipped += last.wall - now
            continue  # it may end soon, and its figures with it
        longest_measure = LONE_WAITS_MEASURE if lone_waits else LONGEST_MEASURE
        if (seconds >= WINDOW_SECONDS and many and not lone_waits) or not alive \
                or elapsed >= longest_measure:
            measured = _reading(runner, t0, p0, ticker.sample(), cycles, share, held, skipped,
                                holding)
            if measured.clear or not alive or elapsed >= longest_measure:
                return measured
            last = ticker.sample()
            skipped += last.wall - now


def _reading(runner: Probed, t0: Sample, p0: Sample | None, t1: Sample, cycles: int,
             gil_held: float, held: float, skipped: float = 0.0, holding: float = 0.0
             ) -> Measure:
    seconds = t1.wall - t0.wall - skipped  # the ticker's cycles
    p1 = runner.sample()
    probe = span(p0, p1) if p0 is not None and p1 is not None else None
    if probe is not None:
        cpu_wall = probe.on_core
        blocked = probe.blocked if probe.blocked is not None else 1.0 - probe.on_core
    else:  # the probe thread's clocks cannot be read from here: its finished items tell
        wall = time.perf_counter() - runner.began
        cpu_wall = min(1.0, runner.cpu / wall) if wall > 0 else 1.0
        blocked = 1.0 - cpu_wall
    if probe is not None:
        # the work keeps the ticker waiting by holding the GIL while it runs: on a core, or
        # waiting for one where that is told apart (work that holds the GIL keeps it while
        # other processes take the cores: the ticker waits on, however little it computes)
        gil_held = min(gil_held, probe.on_core + (probe.waiting or 0.0))
    present = held / seconds if seconds > 0 else 0.0
    exact = t0.waiting is not None and probe is not None and probe.blocked is not None
    settled = p1 is None or p1.settled
    if not settled:
        # still waiting for a core after every read for SETTLE_SECONDS: runnable, not blocked
        # on I/O; how long that wait has lasted is not known, so no time is counted blocked
        blocked = 0.0
    holds = holding / seconds if seconds > 0 else 0.0
    return Measure(t1.wall - t0.wall, cycles, gil_held, exact, blocked, present, cpu_wall,
                   settled, holds)


def _inside(value: float, band: tuple[float, float]) -> bool:
    return band[0] < value < band[1]
