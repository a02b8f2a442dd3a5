"""One ``map`` call, in parts that every front end reuses (``map``/``Pool``, the apps, and
the coming Executor facade and async wrapper): settle the mode, attach the observers, drive
the engine, apply ``on_error``.

    run = Run(fn, items, options, info)
    run.settle()                      # auto's probe, or the journal's saved mode
    run.attach()                      # journal, progress bar, stats: the RunHooks
    for value in run.results(run.drive(backend, make)): ...
    run.close()                       # always, in a finally
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gilwise._engine import Engine
from gilwise._hooks import RunHooks
from gilwise._options import Options
from gilwise._outcome import Outcome, raised
from gilwise._result import RunInfo
from gilwise._segment import Segment
from gilwise.backends._base import Backend
from gilwise.backends.registry import MODE_SPECS
from gilwise.progress import ProgressBar, wanted

#: how long auto mode waits for the probe's running item before starting processes without
#: fork (its start costs more than this; a longer item would hold back the whole batch)
FORK_WAIT_SECONDS = 0.05


class Run:
    """``fn`` over ``items`` with ``options``, reporting into ``info`` as it goes."""

    def __init__(
        self, fn: Callable[[Any], Any], items: Iterable[Any], options: Options, info: RunInfo
    ) -> None:
        self.fn, self.items, self.options, self.info = fn, items, options, info
        self._asked = options  # before auto's choice filled in the mode and workers
        self.started = time.monotonic()
        self.journal: Any = None
        self.head: Any = None  # the items auto mode ran while choosing (a Trial)
        self.hooks: RunHooks | None = None
        self.engine: Engine | None = None
        self._saved: tuple[str, int, str] | None = None
        self.grows_to = 0  # auto's I/O-bound pool is resized as it runs, up to this many
        self.decision: Any = None  # auto's, when it probed: the batch is watched as it runs
        self.backend: Backend | None = None  # the one the engine sends new chunks to
        self._make: Callable[[Options], Backend] | None = None
        self.watch: Any = None
        self._can_fork: bool | None = None
        self._first_reason = ""
        self._held_steer: Any = None
        self._switch_interval: float | None = None  # to restore at the end, if changed

    # -- settle the mode
    def settle(self) -> Options:
        """Open the journal, then fix the mode: the journal's saved one on a resume, auto's
        choice after probing the first items, or the one asked for. Returns the options."""
        opts = self.options
        if opts.journal is not None:
            self.journal = _open_journal(self.fn, opts)
            self._saved = self.journal.saved_mode()
        if opts.mode == "auto" and self._saved:
            mode, workers, reason = self._saved
            opts = opts.with_(mode=mode, workers=workers)
            self.info.reason = f"as chosen when this journal was started: {reason}"
        elif opts.mode == "auto":
            opts = self._probe(opts)
        else:
            self.info.reason = f"mode={opts.mode!r} was asked for"
        if self.journal is not None and not self._saved:
            self.journal.save_mode(opts.mode, opts.worker_count(), self.info.reason)
        self.options = opts
        return opts

    def fit_to_batch(self) -> Options:
        """A one-shot map of known length starts no more workers than it has items left to
        send (three items on 64 cores: three processes, not 64). A Pool keeps its size: its
        workers serve the maps after this one."""
        opts = self.options
        if opts.mode == "dask" or not hasattr(self.items, "__len__"):
            return opts
        left = len(self.items)  # type: ignore[arg-type]
        if self.head is not None and self.head.pending is not None:
            left += 1  # auto's probe item still running holds a worker's place (the engine's)
        left = max(1, left)
        if left < opts.worker_count():
            self.options = opts = opts.with_(workers=left)
        return opts

    def _probe(self, opts: Options) -> Options:
        from gilwise.auto import probe

        trial = probe(self.fn, self.items, opts)
        decision, self.items = trial.decision, trial.rest
        if MODE_SPECS[decision.mode].forks and trial.pending is not None:
            # forking is cheap and safe only while one thread runs: wait a moment for the
            # probe's item, no longer (the workers then start from a forkserver at once)
            trial.pending.join(FORK_WAIT_SECONDS)
            if trial.pending.is_alive():
                self._quicken_gil()  # the item may hold the GIL: see _quicken_gil
        self.head = trial if trial.segment.items else None
        self.grows_to = decision.grows_to
        self.decision = decision if trial.segment.items else None
        self.info.reason, self.info.figures = decision.reason, decision.figures
        self._first_reason = decision.reason
        return opts.with_(mode=decision.mode, workers=decision.workers)

    # -- observers
    def attach(self) -> RunHooks:
        """The observers of the run: journal, progress bar, stats (all in RunHooks)."""
        opts, info = self.options, self.info
        bar = None
        if wanted(opts.progress):
            items = self.items
            total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
            if total is not None and self.head:
                total += len(self.head.segment)
            bar = ProgressBar(total, f"gilwise {opts.mode}",
                              delay=1.0 if opts.progress is None else 0.0)
        if opts.stats:
            from gilwise.stats import Stats

            info.stats = Stats()
        self.hooks = RunHooks(info, bar, self.journal, opts.key, info.stats,
                              detailed=opts.outcomes)
        return self.hooks

    # -- the work
    def drive(self, backend: Backend, make: Callable[[Options], Backend] | None = None,
              **engine_options: Any) -> Iterator[Segment]:
        """Finished segments from the engine on a started ``backend``. With ``make`` (a
        started backend for other options), auto mode may move the batch to another mode as
        its work changes nature (``_watch``)."""
        self.info.mode, self.info.workers = self.options.mode, backend.size
        self.info.start_method = getattr(backend, "start_method", None)
        self.backend, self._make = backend, make
        watch = None
        over = hasattr(self.items, "__len__") and not len(self.items)  # type: ignore[arg-type]
        if make is not None and self.decision is not None and not over:
            from gilwise._watch import Watch

            if backend.name == "threads" and backend.size > 1:
                self._processes_ok()  # now: once the pool is busy, pickling the function
                # to see would wait on its threads for the GIL

            watch = Watch(backend.name, backend.size,
                          self.decision.figures.get("cpu_wall", 1.0), _cores(), self._move,
                          self._processes_ok, self._io_workers, hold=self._hold)
        self.watch = watch
        self.engine = Engine(backend, self.fn, self.items, self.options, self.hooks,
                             head=self.head, steer=self._steer(backend, self.grows_to),
                             watch=watch, **engine_options)
        if watch is not None:
            watch.steered = self.engine.steer is not None
        yield from self.engine.segments()
        self.info.retried = self.engine.retried

    def _steer(self, backend: Backend, grows_to: int) -> Any:
        """Auto's I/O-bound pool, resized as it runs (it may also shrink from its cap)."""
        if not grows_to:
            return None
        from gilwise._steer import Change, Steer

        began = time.monotonic() - self.started

        def record(change: Any) -> None:  # its time from the run's start, as a move's
            self.info.changes.append(
                Change(began + change.seconds, change.before, change.after, change.why))

        alone = self.head.alone_seconds if self.head else (lambda: 0.0)
        return Steer(backend.size, grows_to, self._resize(backend), record, self._latency, alone)

    def _latency(self) -> float | None:
        """An item's seconds as the workers time them lately (None before any came back)."""
        return self.engine.sizer.per_item if self.engine is not None else None

    def _resize(self, backend: Backend) -> Callable[[int], None]:
        def resize(size: int) -> None:
            backend.resize(size)
            self.info.workers = size
            if self.watch is not None:
                self.watch.workers = size

        return resize

    # -- auto mode's moves as the batch runs (asked for by the watch)
    def _move(self, mode: str, workers: int, grows_to: int, why: str) -> Backend | None:
        """Go on in ``mode`` on ``workers``: resize the pool if it is the same mode, else the
        started backend the engine sends new chunks to from now on (None where it cannot)."""
        from gilwise._watch import ModeChange

        current = self.backend
        assert current is not None and self._make is not None and self.engine is not None
        before = f"{self.info.mode}×{self.info.workers}"
        seconds = time.monotonic() - self.started
        workers = self._asked.workers or workers
        opts = self.options.with_(mode=mode, workers=workers)
        if mode == current.name:
            backend, moved = current, None
            current.resize(workers)
        else:
            try:
                backend = moved = self._make(opts)
            except Exception as exc:  # noqa: BLE001 - it stays where it is, and says why
                self.info.changes.append(ModeChange(seconds, before, before,
                                                    f"{why}; but {mode} could not start: {exc}"))
                return None
        self.options, self.backend = opts, backend
        self.info.mode, self.info.workers = mode, workers
        self.info.start_method = getattr(backend, "start_method", None)
        if current.name == "threads" and moved is not None:
            self._quicken_gil()  # the threads left behind hold the GIL until their items end
        if moved is not None:  # the reason is the current mode's: the move's, then the first
            self.info.reason = f"{why} (moved from {before} at {seconds:.2f} s; {before} was " \
                               f"first chosen: {self._first_reason})"
        self.info.changes.append(ModeChange(seconds, before, f"{mode}×{workers}", why))
        self.engine.steer = self._steer(backend, grows_to)
        if self.watch is not None:
            self.watch.steered = self.engine.steer is not None
        return moved

    def _quicken_gil(self) -> None:
        """Have the GIL change hands every 0.5 ms until the run ends, instead of 5 ms: this
        thread starts and feeds worker processes beside threads of the batch that hold the GIL
        (auto's probe item, or threads left behind by a move), and waits a switch interval
        behind them after each of its system calls (on 3.14, a forkserver beside one such
        thread took 1.0 s to start, 0.5 s with this)."""
        from gilwise._gilmeter import PROBE_SWITCH_INTERVAL

        if self._switch_interval is None:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._switch_interval, PROBE_SWITCH_INTERVAL))

    def _hold(self, held: bool) -> None:
        """Stop (or let again) the pool's steer from growing it: see Watch."""
        assert self.engine is not None
        if held:
            self._held_steer, self.engine.steer = self.engine.steer, None
        elif self.engine.steer is None:
            self.engine.steer, self._held_steer = self._held_steer, None

    def _processes_ok(self) -> bool:
        """Whether the batch may go to processes: several cores, a GIL, and what is sent
        (the function, an item, the initializer) can go to a process."""
        from gilwise.auto import _unpicklable, gil_enabled

        if self._can_fork is None:
            item = self.head.segment.items[0] if self.head else None
            self._can_fork = (_cores() >= 2 and gil_enabled()
                              and not _unpicklable(self.fn, item, self.options))
        return self._can_fork

    def _io_workers(self, demand: float) -> tuple[int, int]:
        """(threads, the most the pool may grow to) as auto sizes I/O-bound work computing
        ``demand`` of its time."""
        from gilwise._gilmeter import Measure
        from gilwise.auto import _io_bound

        measured = Measure(0.0, 0, 0.0, True, 1.0 - demand, 0.0, demand)
        decision = _io_bound(measured, _cores(), self._asked, None)  # what is left: unknown
        return decision.workers, decision.grows_to

    def results(self, segments: Iterable[Segment]) -> Iterator[Any]:
        """Values (or Outcomes) in the segments' order, with ``on_error`` applied."""
        opts, info = self.options, self.info
        for segment in segments:
            if not segment.failures and not opts.outcomes:
                yield from segment.values
                continue
            for pos, value in enumerate(segment.values):
                failure = segment.failures.get(pos)
                if failure is not None and opts.on_error == "raise":
                    raise raised(failure)
                if failure is not None and opts.on_error == "skip":
                    info.skipped += 1
                elif opts.outcomes:
                    yield _outcome(segment, pos)
                else:
                    yield value if failure is None else failure

    def close(self) -> None:
        """End the run's observers, whatever happened; the time it took goes to ``info``."""
        self.info.seconds = time.monotonic() - self.started
        self.info._ended = True
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None
        if self.hooks is not None and self.hooks.bar is not None:
            self.hooks.bar.close()
        if self.journal is not None:
            self.journal.close()


def _cores() -> int:
    from gilwise._options import usable_cores

    return usable_cores()


def _open_journal(fn: Callable[[Any], Any], opts: Options) -> Any:
    """Open the journal and check it was made by this function, unchanged (each item is
    checked against its own digest as it comes)."""
    from gilwise._identity import function_digest, function_name
    from gilwise.journal import Journal

    journal = Journal(opts.journal)  # type: ignore[arg-type]
    try:
        journal.bind(function_name(fn), function_digest(fn), opts.retry_failed)
    except BaseException:
        journal.close()
        raise
    return journal


def _outcome(segment: Segment, pos: int) -> Outcome:
    return Outcome(
        index=segment.start + pos,
        item=segment.items[pos],
        value=segment.values[pos],
        failure=segment.failures.get(pos),
        attempts=segment.attempts.get(pos, 1),
        seconds=segment.seconds[pos] if segment.seconds else 0.0,
        worker=segment.worker[pos] if segment.worker else "",
    )
