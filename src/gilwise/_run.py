"""One ``map`` call, in parts that every front end reuses (``map``/``Pool``, the apps, and
the coming Executor facade and async wrapper): settle the mode, attach the observers, drive
the engine, apply ``on_error``.

    run = Run(fn, items, options, info)
    run.settle()                      # auto's probe, or the journal's saved mode
    run.attach()                      # journal, progress bar, stats: the RunHooks
    for value in run.results(run.drive(backend)): ...
    run.close()                       # always, in a finally
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gilwise._engine import Engine
from gilwise._hooks import RunHooks
from gilwise._options import Options
from gilwise._outcome import Outcome, TaskError
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
        self.started = time.monotonic()
        self.journal: Any = None
        self.head: Any = None  # the items auto mode ran while choosing (a Trial)
        self.hooks: RunHooks | None = None
        self.engine: Engine | None = None
        self._saved: tuple[str, int, str] | None = None
        self.grows_to = 0  # auto's I/O-bound pool is resized as it runs, up to this many

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

    def _probe(self, opts: Options) -> Options:
        from gilwise.auto import probe

        trial = probe(self.fn, self.items, opts)
        decision, self.items = trial.decision, trial.rest
        if MODE_SPECS[decision.mode].forks and trial.pending is not None:
            # forking is cheap and safe only while one thread runs: wait a moment for the
            # probe's item, no longer (the workers then start from a forkserver at once)
            trial.pending.join(FORK_WAIT_SECONDS)
        self.head = trial if trial.segment.items else None
        self.grows_to = decision.grows_to
        self.info.reason, self.info.figures = decision.reason, decision.figures
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
    def drive(self, backend: Backend, **engine_options: Any) -> Iterator[Segment]:
        """Finished segments from the engine on a started ``backend``."""
        self.info.mode, self.info.workers = self.options.mode, backend.size
        steer = None
        if self.grows_to:
            from gilwise._steer import Steer

            alone = self.head.alone_seconds if self.head else (lambda: 0.0)
            steer = Steer(backend.size, self.grows_to, self._resize(backend),
                          self.info.changes.append, self._latency, alone)
        self.engine = Engine(backend, self.fn, self.items, self.options, self.hooks,
                             head=self.head, steer=steer, **engine_options)
        yield from self.engine.segments()
        self.info.retried = self.engine.retried

    def _latency(self) -> float | None:
        """An item's seconds as the workers time them lately (None before any came back)."""
        return self.engine.sizer.per_item if self.engine is not None else None

    def _resize(self, backend: Backend) -> Callable[[int], None]:
        def resize(size: int) -> None:
            backend.resize(size)
            self.info.workers = size

        return resize

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
                    raise TaskError(failure)
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
        if self.hooks is not None and self.hooks.bar is not None:
            self.hooks.bar.close()
        if self.journal is not None:
            self.journal.close()


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
