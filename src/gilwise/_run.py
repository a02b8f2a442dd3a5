"""One ``map`` call, in phases that every front end reuses (``map`` and ``Pool``, the apps,
and the coming Executor facade and async wrapper):

    run = Run(fn, items, options, info, backends)
    run.settle()                      # the journal's saved mode, auto's choice, or as asked
    run.attach()                      # the observers: journal, progress bar, stats
    engine = run.start()              # claims a started backend, makes the engine
    for value in run.results(engine.segments()): ...     # or engine.step() from a loop
    run.close()                       # always, in a finally: releases the backends

``Run.stream()`` is all of it for a caller that iterates. Auto mode's part is an
:class:`~gilwise.auto.autopilot.Autopilot`, given the run's choice and the engine's controls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from gilwise._coro import AsyncCall, auto_reason
from gilwise._engine import Engine
from gilwise._observers import Observers
from gilwise._options import Options
from gilwise._outcome import Outcome, raised
from gilwise._rate import RateLimited
from gilwise._result import RunInfo
from gilwise._segment import Segment
from gilwise.auto.autopilot import Autopilot
from gilwise.backends._base import Backend
from gilwise.backends.registry import worker_count
from gilwise.progress import ProgressBar, wanted

if TYPE_CHECKING:  # imported when a run has a journal (sqlite3, hashing)
    from gilwise.journal import Journal


class Backends(Protocol):
    """Where a run gets its started backends (a ``Pool``'s, kept from map to map)."""

    #: ids of the backends a run holds now: no other run may use them meanwhile
    running: set[int]

    def backend(self, options: Options) -> Backend:
        """A started backend for ``options``' mode and workers."""


class Run:
    """``fn`` over ``items`` with ``options``, reporting into ``info`` as it goes, on
    backends from ``backends``."""

    def __init__(self, fn: Callable[[Any], Any], items: Iterable[Any], options: Options,
                 info: RunInfo, backends: Backends) -> None:
        self.fn, self.items, self.options, self.info = fn, items, options, info
        self.backends = backends
        self.started = time.monotonic()
        self.journal: Journal | None = None
        self.observers: Observers | None = None
        self.engine: Engine | None = None
        self.autopilot: Autopilot | None = None  # auto mode's, once it chose
        self._claimed: list[int] = []
        self._recycled_before: dict[int, tuple[Backend, int]] = {}  # claimed: (it, its count)

    # -- settle the mode
    def settle(self) -> Options:
        """Open the journal, then fix the mode: the journal's saved one on a resume, auto's
        choice after probing the first items, or the one asked for. Returns the options."""
        opts = self.options
        saved = None
        if opts.journal is not None:
            fn = self.fn
            while isinstance(fn, (AsyncCall, RateLimited)):  # the user's function's digest
                fn = fn.fn
            self.journal = _open_journal(fn, opts)
            saved = self.journal.saved_mode()
        if opts.mode == "auto" and saved:
            mode, workers, reason = saved
            opts = opts.with_(mode=mode, workers=workers)
            self.info.reason = f"as chosen when this journal was started: {reason}"
        elif opts.mode == "auto" and isinstance(self.fn, AsyncCall):
            self.autopilot = Autopilot(self.fn, opts, self.info, self.started)
            self.autopilot.await_on_one_loop(auto_reason(self.fn.concurrency))
            opts = self.autopilot.options
        elif opts.mode == "auto":
            self.autopilot = Autopilot(self.fn, opts, self.info, self.started)
            self.items = self.autopilot.choose(self.items)
            opts = self.autopilot.options
        else:
            self.info.reason = f"mode={opts.mode!r} was asked for"
        if self.journal is not None and not saved:
            self.journal.save_mode(opts.mode, worker_count(opts), self.info.reason)
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
        head = self.autopilot.head if self.autopilot else None
        if head is not None and head.pending is not None:
            left += 1  # auto's probe item still running holds a worker's place (the engine's)
        left = max(1, left)
        if left < worker_count(opts):
            self.options = opts = opts.with_(workers=left)
            if self.autopilot is not None:
                self.autopilot.options = opts
        return opts

    # -- observers
    def attach(self) -> Observers:
        """The observers of the run: journal, progress bar, stats."""
        opts, info = self.options, self.info
        head = self.autopilot.head if self.autopilot else None
        bar = None
        if wanted(opts.progress):
            items = self.items
            total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
            if total is not None and head:
                total += len(head.segment)
            bar = ProgressBar(total, f"gilwise {opts.mode}",
                              delay=1.0 if opts.progress is None else 0.0)
        if opts.stats:
            from gilwise.stats import Stats

            info.stats = stats = Stats()
        else:
            stats = None
        if self.journal is not None and hasattr(self.items, "__len__"):
            total = len(self.items)  # type: ignore[arg-type]
            self.journal.set_total(total + (len(head.segment) if head else 0))
        self.observers = Observers(info, bar, self.journal, opts.key, stats,
                                   detailed=opts.outcomes)
        return self.observers

    # -- the backends
    def claim(self, options: Options) -> Backend:
        """A started backend for ``options``, this run's until it closes."""
        backend = self.backends.backend(options)
        if id(backend) in self._claimed:
            return backend  # back to workers this run left: they are its own
        if id(backend) in self.backends.running:
            raise RuntimeError(
                "this Pool is already running a map on these workers: finish or close() "
                "the first map's results before starting another"
            )
        self._claimed.append(id(backend))
        self.backends.running.add(id(backend))
        self._recycled_before[id(backend)] = (backend, backend.recycled)
        return backend

    # -- the work
    def start(self, **engine_options: Any) -> Engine:
        """The engine of the batch, on a backend claimed for the settled options; auto's
        autopilot (if it chose) steers it and may move it to other backends it claims."""
        backend = self.claim(self.options)
        self.info.mode, self.info.workers = self.options.mode, backend.size
        self.info.start_method = getattr(backend, "start_method", None)
        if not self.info.chosen:  # what it starts with: --explain's first line
            self.info.chosen = f"{self.options.mode}×{backend.size}: {self.info.reason}"
        pilot = self.autopilot
        if pilot is not None:
            items = self.items
            left = not hasattr(items, "__len__") or bool(len(items))  # type: ignore[arg-type]
            pilot.fly(backend, self.claim, left)
        self.engine = Engine(backend, self.fn, self.items, self.options, self.observers,
                             head=pilot.head if pilot else None, pilot=pilot,
                             **engine_options)
        return self.engine

    def stream(self, fit: bool = False) -> Iterator[Any]:
        """Every phase for a caller that iterates: settles, attaches and starts now, and
        returns the results, with ``on_error`` applied (``fit``: a one-shot map, see
        :meth:`fit_to_batch`). Close the run after. (Not a generator itself: each value
        passes through as few generator frames as possible.)"""
        self.settle()
        if fit:
            self.fit_to_batch()
        self.attach()
        return self.results(self.start().segments())

    def results(self, segments: Iterable[Segment]) -> Iterator[Any]:
        """Values (or Outcomes) in the segments' order, with ``on_error`` applied."""
        opts, info = self.options, self.info
        for segment in segments:
            self._count_recycles()
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

    def _count_recycles(self) -> None:
        """The workers this run's backends recycled while it held them, into ``info``."""
        if self._recycled_before:
            self.info.recycled = sum(b.recycled - before
                                     for b, before in self._recycled_before.values())
            if self.info.stats is not None:
                self.info.stats.recycled = self.info.recycled

    def close(self) -> None:
        """End the run's observers and release its backends, whatever happened; the time it
        took goes to ``info``."""
        self.info.seconds = time.monotonic() - self.started
        self.info._ended = True
        if self.engine is not None:
            self.info.retried = self.engine.retried
        self._count_recycles()
        for backend_id in self._claimed:
            self.backends.running.discard(backend_id)
        self._claimed.clear()
        if self.autopilot is not None:
            self.autopilot.land()
        if self.observers is not None and self.observers.bar is not None:
            self.observers.bar.close()
        if self.journal is not None:
            self.journal.close(finished=self.engine is not None and self.engine.complete)


def _open_journal(fn: Callable[[Any], Any], opts: Options) -> Journal:
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
