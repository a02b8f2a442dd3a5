"""The public entry points: ``map``, ``Pool`` and the iterator they return."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gilwise._engine import Engine
from gilwise._hooks import RunHooks
from gilwise._options import Options
from gilwise._outcome import Outcome, TaskError
from gilwise._segment import Segment
from gilwise.backends import make_backend
from gilwise.backends._base import Backend
from gilwise.progress import ProgressBar, wanted


@dataclass
class RunInfo:
    """What a ``map`` call did: the mode it used and why, and what became of the items."""

    mode: str = ""
    workers: int = 0
    reason: str = ""
    done: int = 0
    failed: int = 0
    skipped: int = 0
    retried: int = 0
    from_journal: int = 0
    seconds: float = 0.0
    figures: dict[str, float] = field(default_factory=dict)
    stats: Any = None  # a gilwise.stats.Stats when map(..., stats=True)

    @property
    def throughput(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


class MapResult(Iterator[Any]):
    """Results of a ``map`` call, streamed as they are ready. ``.info`` says how it ran.

    Iterating starts the work; stopping early (``break``, an exception, ``close()``) cancels
    what is still running and leaves no worker behind.
    """

    def __init__(self, gen: Iterator[Any], info: RunInfo) -> None:
        self._gen, self.info = gen, info

    def __iter__(self) -> Iterator[Any]:
        return self._gen  # iterate the generator itself: no extra call per item

    def __next__(self) -> Any:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()  # type: ignore[attr-defined]


class Pool:
    """Workers kept across several ``map`` calls (a pool per mode, started on first use).

    ``with gilwise.Pool(mode="processes", workers=4, initializer=load) as pool: ...``
    """

    def __init__(self, mode: str = "auto", workers: int | None = None, **defaults: Any) -> None:
        self._defaults = Options(mode=mode, workers=workers, **defaults)  # type: ignore[arg-type]
        self._backends: dict[tuple[str, int], Backend] = {}
        self._closed = False
        self._running: set[int] = set()  # ids of backends a map is iterating over now

    # -- context and lifecycle
    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(kill=exc[0] is not None)

    def close(self, kill: bool = False) -> None:
        """Stop every worker (``kill``: at once, without letting them finish)."""
        self._closed = True
        for backend in self._backends.values():
            backend.close(kill=kill)
        self._backends.clear()

    def __del__(self) -> None:
        if getattr(self, "_backends", None):
            self.close(kill=True)

    def _backend(self, options: Options) -> Backend:
        if self._closed:
            raise RuntimeError("this Pool is closed")
        key = (options.mode, options.worker_count())
        backend = self._backends.get(key)
        if backend is None:
            backend = self._backends[key] = make_backend(options)
        backend.start()
        return backend

    # -- work
    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], **options: Any) -> MapResult:
        """Apply ``fn`` to every item in parallel; see :func:`gilwise.map` for the options."""
        return self._map(fn, items, self._defaults.with_(**options), own=False)

    def _map(self, fn: Callable, items: Iterable[Any], opts: Options, own: bool) -> MapResult:
        if not callable(fn):
            raise TypeError(f"fn={fn!r} is not callable")
        info = RunInfo()
        return MapResult(self._run(fn, items, opts, info, own), info)

    def _run(
        self, fn: Callable, items: Iterable[Any], opts: Options, info: RunInfo, own: bool
    ) -> Iterator[Any]:
        started = time.monotonic()
        journal = hooks = claimed = None
        finished = False
        try:
            if opts.journal is not None:
                journal, items = _open_journal(fn, items, opts, info)
            head = None
            saved = journal.saved_mode() if journal else None
            if opts.mode == "auto" and saved:
                opts = opts.with_(mode=saved[0], workers=saved[1])
                info.reason = f"as chosen when this journal was started: {saved[2]}"
            elif opts.mode == "auto":
                from gilwise.auto import probe

                trial = probe(fn, items, opts)
                decision, items = trial.decision, trial.rest
                if decision.mode != "threads" and trial.pending is not None:
                    # processes fork cheaply only while this is the one thread running
                    trial.pending.join()
                head = trial if trial.segment.items else None
                opts = opts.with_(mode=decision.mode, workers=decision.workers)
                info.reason, info.figures = decision.reason, decision.figures
            else:
                info.reason = f"mode={opts.mode!r} was asked for"
            if journal is not None and not saved:
                journal.save_mode(opts.mode, opts.worker_count(), info.reason)
            bar = None
            if wanted(opts.progress):
                total = len(items) if hasattr(items, "__len__") else None  # type: ignore
                if total is not None and head:
                    total += len(head.segment)
                bar = ProgressBar(total, f"gilwise {opts.mode}",
                                  delay=1.0 if opts.progress is None else 0.0)
            if opts.stats:
                from gilwise.stats import Stats

                info.stats = Stats()
            hooks = RunHooks(info, bar, journal, opts.key, info.stats, detailed=opts.outcomes)
            backend = self._backend(opts)
            if id(backend) in self._running:
                raise RuntimeError(
                    "this Pool is already running a map on these workers: finish or close() "
                    "the first map's results before starting another"
                )
            claimed = id(backend)
            self._running.add(claimed)
            info.mode, info.workers = opts.mode, backend.size
            engine = Engine(backend, fn, items, opts, hooks, head=head)
            for segment in engine.segments():
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
            info.retried = engine.retried
            finished = True
        finally:
            if claimed is not None:
                self._running.discard(claimed)
            info.seconds = time.monotonic() - started
            if hooks is not None and hooks.bar is not None:
                hooks.bar.close()
            if journal is not None:
                journal.close()
            if own:
                self.close(kill=not finished)


def _open_journal(
    fn: Callable, items: Iterable[Any], opts: Options, info: RunInfo
) -> tuple[Any, Iterable[Any]]:
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
    return journal, items


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


def map(  # noqa: A001 - the point is to read like builtins.map
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    mode: str = "auto",
    workers: int | None = None,
    ordered: bool = True,
    chunksize: int | str = "auto",
    on_error: str = "raise",
    progress: bool | None = None,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple[Any, ...] = (),
    **options: Any,
) -> MapResult:
    """Apply ``fn`` to every item in parallel and stream the results.

    - ``mode``: "threads", "processes", "interpreters" (Python 3.14+: one GIL per
      sub-interpreter), or "auto" (measure the first items and choose).
    - ``ordered``: results in input order (True) or as they complete (False).
    - ``chunksize``: items per message to a worker; "auto" adapts it to task duration.
    - ``on_error``: "raise" a :class:`TaskError` (after every earlier result), "skip" the
      item, or "return" a :class:`Failure` in its place.
    - ``progress``: a progress bar on stderr (default: when stderr is a terminal).
    - ``initializer(*initargs)`` runs once in each worker process before its first task.
    - ``outcomes=True`` yields an :class:`Outcome` per item (index, item, value or failure,
      attempts, seconds, worker) instead of bare values.

    ``items`` may be any iterable, a generator of unknown length included: it is read
    lazily with a bounded number of items in flight, so memory stays flat.
    """
    opts = Options(
        mode=mode,  # type: ignore[arg-type]
        workers=workers,
        ordered=ordered,
        chunksize=chunksize,  # type: ignore[arg-type]
        on_error=on_error,  # type: ignore[arg-type]
        progress=progress,
        initializer=initializer,
        initargs=tuple(initargs),
        **options,
    )
    return Pool(mode=mode)._map(fn, items, opts, own=True)
