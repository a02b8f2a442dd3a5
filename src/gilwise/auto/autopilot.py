"""Auto mode's hand on a running batch, given to the run and flown through the engine.

Before the batch: :meth:`Autopilot.choose` runs the probe (``decide.probe``) and settles the
mode and workers. While it runs, the engine calls :meth:`~Autopilot.done` for each chunk back
and :meth:`~Autopilot.tick` on each turn of its loop; the autopilot's ``watch`` re-judges the
work (and may hand the engine another backend: a move), its ``steer`` resizes an I/O-bound
thread pool. What it changes is reported into the run's ``RunInfo`` (``changes``, ``mode``,
``workers``, ``reason``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from gilwise._chunk import ChunkResult
from gilwise._cores import usable_cores
from gilwise._options import Options
from gilwise._result import Decision, RunInfo
from gilwise.auto.decide import _io_bound, _unpicklable, gil_enabled, probe
from gilwise.auto.gilmeter import PROBE_SWITCH_INTERVAL, Measure
from gilwise.auto.native import NATIVE_PARALLEL
from gilwise.auto.probe import Trial
from gilwise.auto.steer import Change, Steer
from gilwise.auto.watch import ModeChange, Watch
from gilwise.backends._base import Backend
from gilwise.backends.registry import MODE_SPECS

#: how long auto mode waits for the probe's running item before starting processes without
#: fork (its start costs more than this; a longer item would hold back the whole batch)
FORK_WAIT_SECONDS = 0.05

#: the share of its time a coroutine loop is expected to compute: a loop computing three
#: times this and half a core or more is checked for holding the GIL (``Watch``)
LOOP_EXPECTED = 0.15

#: a started backend for other options (a ``Pool``'s, claimed for the run): where a move goes
MakeBackend = Callable[[Options], Backend]


class Autopilot:
    """Chooses the mode of ``fn``'s batch, then steers it as it runs (see the module)."""

    def __init__(self, fn: Callable[[Any], Any], asked: Options, info: RunInfo,
                 started: float) -> None:
        self.fn: Callable[[Any], Any] = fn
        self.asked: Options = asked
        self.info: RunInfo = info
        self.started: float = started
        self.options: Options = asked  # the current mode and workers, once chosen
        self.head: Trial | None = None  # the items the probe ran while choosing
        self.decision: Decision | None = None  # None: nothing left to watch
        self.grows_to: int = 0  # an I/O-bound pool may be resized up to this many threads
        self.backend: Backend | None = None  # the one the engine sends new chunks to
        self.watch: Watch | None = None
        self.steer: Steer | None = None
        self._make: MakeBackend | None = None
        self._held_steer: Steer | None = None
        self._can_fork: bool | None = None
        self._first_reason = ""
        self._per_item: float | None = None  # an item's seconds as the engine sees them lately
        self._switch_interval: float | None = None  # to restore at the end, if changed
        self._loops = False  # coroutines on event loops: see await_on_one_loop

    # -- before the batch
    def choose(self, items: Iterable[Any]) -> Iterable[Any]:
        """Run the first items, measuring, and choose the mode (into ``options`` and the
        run's ``info``); returns the items still to run."""
        trial = probe(self.fn, items, self.asked)
        decision = trial.decision
        if MODE_SPECS[decision.mode].forks and trial.pending is not None:
            # forking is cheap and safe only while one thread runs: wait a moment for the
            # probe's item, no longer (the workers then start from a forkserver at once)
            trial.pending.join(FORK_WAIT_SECONDS)
            if trial.pending.is_alive():
                self.quicken_gil()  # the item may hold the GIL: see quicken_gil
        ran = bool(trial.segment.items)
        self.head = trial if ran else None
        self.decision = decision if ran else None
        self.grows_to = decision.grows_to
        self.info.reason, self.info.figures = decision.reason, decision.figures
        self._first_reason = decision.reason
        self.options = self.asked.with_(mode=decision.mode, workers=decision.workers)
        return trial.rest

    def await_on_one_loop(self, reason: str) -> None:
        """A coroutine function: no probe (its awaits go on one worker thread's event loop);
        watched as it runs, a loop that computes a core's worth of Python between awaits
        (holding the GIL) moves to processes, a loop in each, one per usable core."""
        workers = self.asked.workers or 1
        self._loops = True
        self.decision = Decision("threads", workers, reason, {"cpu_wall": LOOP_EXPECTED})
        self.info.reason = self._first_reason = reason
        self.options = self.asked.with_(mode="threads", workers=workers)

    # -- while it runs
    def fly(self, backend: Backend, make: MakeBackend | None, left: bool) -> None:
        """Take the controls of the batch on the started ``backend``: watch it where it may
        move (``make`` gives backends to move to, ``left``: items remain) and steer an
        I/O-bound pool."""
        self.backend, self._make = backend, make
        # work parallel in native code keeps the pool chosen for it: its threads, each
        # limited to its share of the cores, compute less than a core apiece on a busy
        # machine, which the watch would read as waiting and widen the pool for
        native = self.decision is not None and bool(self.decision.figures.get(NATIVE_PARALLEL))
        if make is not None and self.decision is not None and left and not native:
            if backend.name == "threads" and backend.size > 1:
                self.processes_ok()  # now: once the pool is busy, pickling the function
                # to see would wait on its threads for the GIL
            backend.timed = True  # the watch reads each chunk's CPU seconds and waits
            self.watch = Watch(backend.name, backend.size,
                               self.decision.figures.get("cpu_wall", 1.0), usable_cores(),
                               self.move, self.processes_ok, self.io_workers, hold=self.hold,
                               loops=self._loops)
        self._set_steer(backend, self.grows_to)

    def done(self, result: ChunkResult) -> None:
        """A chunk came back from the backend the engine sends to now."""
        if self.watch is not None:
            self.watch.done(result)

    def tick(self, unsent: bool, completed: int, per_item: float | None) -> Backend | None:
        """A turn of the engine's loop (``completed`` items back in all, an item taking
        ``per_item`` seconds lately, ``unsent``: some of the batch is still to send): the
        started backend to send new chunks to from now on, or None."""
        self._per_item = per_item
        moved = self.watch.tick(unsent) if self.watch is not None else None
        if self.steer is not None:
            self.steer.tick(completed)
        return moved

    def land(self) -> None:
        """The batch is over: give back the switch interval."""
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None

    # -- the moves (asked for by the watch)
    def move(self, mode: str, workers: int, grows_to: int, why: str) -> Backend | None:
        """Go on in ``mode`` on ``workers``: resize the pool if it is the same mode, else the
        started backend the engine sends new chunks to from now on (None where it cannot)."""
        current, info = self.backend, self.info
        assert current is not None and self._make is not None
        before = f"{info.mode}×{info.workers}"
        seconds = time.monotonic() - self.started
        workers = self.asked.workers or workers
        opts = self.options.with_(mode=mode, workers=workers)
        moved: Backend | None = None
        if mode == current.name:
            backend = current
            current.resize(workers)
        else:
            try:
                backend = moved = self._make(opts)
            except Exception as exc:  # noqa: BLE001 - it stays where it is, and says why
                info.changes.append(ModeChange(seconds, before, before,
                                               f"{why}; but {mode} could not start: {exc}"))
                return None
        self.options, self.backend = opts, backend
        if moved is not None and self.watch is not None:
            moved.timed = True
        info.mode, info.workers = mode, workers
        info.start_method = getattr(backend, "start_method", None)
        if current.name == "threads" and moved is not None:
            self.quicken_gil()  # the threads left behind hold the GIL until their items end
        if moved is not None:  # the reason is the current mode's: the move's, then the first
            info.reason = f"{why} (moved from {before} at {seconds:.2f} s; {before} was " \
                          f"first chosen: {self._first_reason})"
        info.changes.append(ModeChange(seconds, before, f"{mode}×{workers}", why))
        self._set_steer(backend, grows_to)
        return moved

    def _set_steer(self, backend: Backend, grows_to: int) -> None:
        """Auto's I/O-bound pool, resized as it runs (it may also shrink from its cap)."""
        self._held_steer = None
        self.steer = None
        if grows_to:
            began = time.monotonic() - self.started

            def record(change: Change) -> None:  # its time from the run's start, as a move's
                self.info.changes.append(
                    Change(began + change.seconds, change.before, change.after, change.why))

            alone = self.head.alone_seconds if self.head else (lambda: 0.0)
            self.steer = Steer(backend.size, grows_to, self._resize(backend), record,
                               lambda: self._per_item, alone)
        if self.watch is not None:
            self.watch.steered = self.steer is not None

    def _resize(self, backend: Backend) -> Callable[[int], None]:
        def resize(size: int) -> None:
            backend.resize(size)
            self.info.workers = size
            if self.watch is not None:
                self.watch.workers = size

        return resize

    def quicken_gil(self) -> None:
        """Have the GIL change hands every 0.5 ms until the run ends, instead of 5 ms: this
        thread starts and feeds worker processes beside threads of the batch that hold the GIL
        (auto's probe item, or threads left behind by a move), and waits a switch interval
        behind them after each of its system calls (on 3.14, a forkserver beside one such
        thread took 1.0 s to start, 0.5 s with this)."""
        if self._switch_interval is None:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._switch_interval, PROBE_SWITCH_INTERVAL))

    def hold(self, held: bool) -> None:
        """Stop (or let again) the pool's steer from growing it: see Watch."""
        if held:
            self._held_steer, self.steer = self.steer, None
        elif self.steer is None:
            self.steer, self._held_steer = self._held_steer, None

    def processes_ok(self) -> bool:
        """Whether the batch may go to processes: several cores, a GIL, and what is sent
        (the function, an item, the initializer) can go to a process."""
        if self._can_fork is None:
            item = self.head.segment.items[0] if self.head else None
            self._can_fork = (usable_cores() >= 2 and gil_enabled()
                              and not _unpicklable(self.fn, item, self.options))
        return self._can_fork

    def io_workers(self, demand: float) -> tuple[int, int]:
        """(threads, the most the pool may grow to) as auto sizes I/O-bound work computing
        ``demand`` of its time."""
        measured = Measure(0.0, 0, 0.0, True, 1.0 - demand, 0.0, demand)
        decision = _io_bound(measured, usable_cores(), self.asked, None)  # what is left: ?
        return decision.workers, decision.grows_to
