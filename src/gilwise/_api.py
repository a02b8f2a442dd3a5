"""The public entry points: ``map`` and ``Pool`` (the results they return: ``_result``).

Their keyword arguments are exactly the fields of :class:`~gilwise._options.Options`, typed and
with its defaults, so that help() and IDEs show every option (tests/test_api.py checks).
"""

# No `from __future__ import annotations`, and the Literal choices written out rather than
# named by an alias: help() then shows them, e.g. on_error: Literal['raise', 'skip', 'return'].
import dataclasses
import functools
import inspect
import time
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import Any, Literal

from gilwise._engine import Engine
from gilwise._hooks import RunHooks
from gilwise._options import Options
from gilwise._outcome import Outcome, TaskError
from gilwise._result import MapResult, RunInfo
from gilwise._segment import Segment
from gilwise.backends import make_backend
from gilwise.backends._base import Backend
from gilwise.progress import ProgressBar, wanted


class PoolDefault:
    """The default of every ``Pool.map`` option: the value the Pool was made with."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<the Pool's>"


POOL_DEFAULT = PoolDefault()


def _options_in(arguments: dict[str, Any]) -> dict[str, Any]:
    """The option arguments among a function's ``locals()``: one per Options field."""
    return {f.name: arguments[f.name] for f in dataclasses.fields(Options)}


class Pool:
    """Workers kept across several ``map`` calls (a pool per mode, started on first use).

    ``with gilwise.Pool(mode="processes", workers=4, initializer=load) as pool: ...``
    Its options are those of :func:`gilwise.map`: the defaults of every ``pool.map``.
    """

    def __init__(
        self,
        *,
        mode: Literal["auto", "threads", "processes", "interpreters"] = "auto",
        workers: int | None = None,
        ordered: bool = True,
        chunksize: int | Literal["auto"] = "auto",
        on_error: Literal["raise", "skip", "return"] = "raise",
        progress: bool | None = None,
        initializer: Callable[..., Any] | None = None,
        initargs: tuple[Any, ...] = (),
        timeout: float | None = None,
        retries: int = 0,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] = (BaseException,),
        backoff: float = 0.1,
        journal: str | Path | None = None,
        key: Callable[[Any], Any] | None = None,
        retry_failed: bool = False,
        max_in_flight: int | None = None,
        start_method: Literal["fork", "forkserver", "spawn"] | None = None,
        outcomes: bool = False,
        stats: bool = False,
    ) -> None:
        self._defaults = Options(**_options_in(locals()))
        self._backends: dict[tuple[str, int], Backend] = {}
        self._closed = False
        self._running: set[int] = set()  # ids of backends a map is iterating over now

    # -- context and lifecycle
    def __enter__(self) -> "Pool":
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
    def map(
        self,
        fn: Callable[[Any], Any],
        items: Iterable[Any],
        *,
        mode: Literal["auto", "threads", "processes", "interpreters"] | PoolDefault = POOL_DEFAULT,
        workers: int | None | PoolDefault = POOL_DEFAULT,
        ordered: bool | PoolDefault = POOL_DEFAULT,
        chunksize: int | Literal["auto"] | PoolDefault = POOL_DEFAULT,
        on_error: Literal["raise", "skip", "return"] | PoolDefault = POOL_DEFAULT,
        progress: bool | None | PoolDefault = POOL_DEFAULT,
        initializer: Callable[..., Any] | None | PoolDefault = POOL_DEFAULT,
        initargs: tuple[Any, ...] | PoolDefault = POOL_DEFAULT,
        timeout: float | None | PoolDefault = POOL_DEFAULT,
        retries: int | PoolDefault = POOL_DEFAULT,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] | PoolDefault = (
            POOL_DEFAULT
        ),
        backoff: float | PoolDefault = POOL_DEFAULT,
        journal: str | Path | None | PoolDefault = POOL_DEFAULT,
        key: Callable[[Any], Any] | None | PoolDefault = POOL_DEFAULT,
        retry_failed: bool | PoolDefault = POOL_DEFAULT,
        max_in_flight: int | None | PoolDefault = POOL_DEFAULT,
        start_method: Literal["fork", "forkserver", "spawn"] | None | PoolDefault = POOL_DEFAULT,
        outcomes: bool | PoolDefault = POOL_DEFAULT,
        stats: bool | PoolDefault = POOL_DEFAULT,
    ) -> MapResult:
        """Apply ``fn`` to every item in parallel; see :func:`gilwise.map` for the options.
        An option left out takes the value this Pool was made with."""
        changes = {k: v for k, v in _options_in(locals()).items() if v is not POOL_DEFAULT}
        return self._map(fn, items, self._defaults.with_(**changes), own=False, where="Pool.map")

    def _map(
        self, fn: Callable, items: Iterable[Any], opts: Options, own: bool, where: str
    ) -> MapResult:
        _check_function(fn, where)
        info = RunInfo()
        return MapResult(self._run(fn, items, opts, info, own), info)

    def _run(
        self, fn: Callable, items: Iterable[Any], opts: Options, info: RunInfo, own: bool
    ) -> Generator[Any, None, None]:
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
        except GeneratorExit:  # closed, or freed by the loop that held it: a stop, not an error
            info.stopped_early = True
            raise
        finally:
            if claimed is not None:
                self._running.discard(claimed)
            info.seconds = time.monotonic() - started
            info._ended = True
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
    mode: Literal["auto", "threads", "processes", "interpreters"] = "auto",
    workers: int | None = None,
    ordered: bool = True,
    chunksize: int | Literal["auto"] = "auto",
    on_error: Literal["raise", "skip", "return"] = "raise",
    progress: bool | None = None,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple[Any, ...] = (),
    timeout: float | None = None,
    retries: int = 0,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = (BaseException,),
    backoff: float = 0.1,
    journal: str | Path | None = None,
    key: Callable[[Any], Any] | None = None,
    retry_failed: bool = False,
    max_in_flight: int | None = None,
    start_method: Literal["fork", "forkserver", "spawn"] | None = None,
    outcomes: bool = False,
    stats: bool = False,
) -> MapResult:
    """Apply ``fn`` to every item in parallel and stream the results.

    - ``mode``: "threads", "processes", "interpreters" (Python 3.14+: one GIL per
      sub-interpreter), or "auto" (measure the first items and choose).
    - ``workers``: default one per usable core (threads: min(32, cores + 4)).
    - ``ordered``: results in input order (True) or as they complete (False).
    - ``chunksize``: items per message to a worker; "auto" adapts it to task duration.
    - ``on_error``: "raise" a :class:`TaskError` (after every earlier result), "skip" the
      item, or "return" a :class:`Failure` in its place.
    - ``progress``: a progress bar on stderr (default: when stderr is a terminal).
    - ``initializer(*initargs)`` runs once in each worker before its first task.
    - ``timeout``: seconds a task may run before it fails with :class:`TaskTimeout`.
    - ``retries``, ``retry_on``, ``backoff``: retry failed items of those exception types,
      with exponential backoff from ``backoff`` seconds.
    - ``journal``: a SQLite file recording finished items, so a rerun skips them; ``key``
      names items by ``key(item)`` instead of position; ``retry_failed`` reruns failures.
    - ``max_in_flight``: items read but not yet yielded (default: a few chunks per worker).
    - ``start_method``: how worker processes start ("fork", "forkserver", "spawn"; default:
      the cheapest that is safe here).
    - ``outcomes=True`` yields an :class:`Outcome` per item (index, item, value or failure,
      attempts, seconds, worker) instead of bare values; ``stats=True`` collects run
      statistics in ``.info.stats``.

    ``items`` may be any iterable, a generator of unknown length included: it is read
    lazily with a bounded number of items in flight, so memory stays flat.
    """
    options = Options(**_options_in(locals()))
    return Pool()._map(fn, items, options, own=True, where="gilwise.map")


def _check_function(fn: Any, where: str) -> None:
    """Refuse, before any work, what cannot be mapped: a non-callable, or a coroutine function
    (not run yet: each item would give an un-awaited coroutine)."""
    if not callable(fn):
        raise TypeError(f"{where}: fn={fn!r} is not callable")
    target = fn
    while isinstance(target, functools.partial):
        target = target.func
    is_async = inspect.iscoroutinefunction(fn) or (
        not isinstance(target, type) and inspect.iscoroutinefunction(type(target).__call__)
    )
    if is_async:
        name = getattr(target, "__qualname__", None) or f"a {type(target).__qualname__} object"
        raise TypeError(
            f"{where}: {name} is a coroutine function (async def); coroutines are not "
            f"supported yet: map a plain function that runs it, e.g. "
            f"lambda item: asyncio.run({getattr(target, '__name__', 'fn')}(item))"
        )
