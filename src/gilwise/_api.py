"""The public entry points: ``map`` and ``Pool`` (the results they return: ``_result``).

Their keyword arguments are exactly the fields of :class:`~gilwise._options.Options`, typed and
with its defaults, so that help() and IDEs show every option (tests/test_api.py checks).
"""

# No `from __future__ import annotations`, and the Literal choices written out rather than
# named by an alias: help() then shows them, e.g. on_error: Literal['raise', 'skip', 'return'].
import os
import sys
import threading
from collections.abc import Callable, Generator, Iterable
from typing import Any, Literal

from gilwise._coro import AsyncCall, is_async
from gilwise._keygate import PerKey
from gilwise._options import Options, parse_rate
from gilwise._outcome import BlockingCallWarning
from gilwise._rate import RateGate, RateLimited
from gilwise._result import MapResult, RunInfo
from gilwise._run import Run
from gilwise.backends import make_backend
from gilwise.backends._base import Backend
from gilwise.backends.registry import check_options, worker_count
from gilwise.frontier import Frontier


class PoolDefault:
    """The default of every ``Pool.map`` option: the value the Pool was made with."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<the Pool's>"


POOL_DEFAULT = PoolDefault()
#: a coroutine chunk holds this many times ``concurrency`` items: a worker's loop refills its
#: ``concurrency`` slots as coroutines end, from the next chunk once this one's items all started
CHUNK_ROUNDS = 4


def _options_in(arguments: dict[str, Any]) -> dict[str, Any]:
    """The option arguments among a function's ``locals()``: one per option of Options."""
    return {name: arguments[name] for name in Options.__slots__}


class _Backends:
    """A Pool's started backends, by mode, size and cluster, kept from map to map; the runs
    claim them (:class:`~gilwise._run.Backends`)."""

    def __init__(self) -> None:
        self.started: dict[tuple[Any, ...], Backend] = {}
        self.closed = False
        self.running: set[int] = set()  # ids of backends a map is iterating over now
        # shutdown(wait=False)'s thread and the exit hook's shutdown may both close
        self._closing = threading.Lock()

    def backend(self, options: Options) -> Backend:
        """A started backend for ``options``."""
        if self.closed:
            raise RuntimeError("this Pool is closed")
        key = (options.mode, worker_count(options), options.scheduler, id(options.client),
               options.max_tasks_per_child, options.max_memory_per_child)
        backend = self.started.get(key) or self._resized(key)
        if backend is not None and backend.size != key[1] and id(backend) not in self.running:
            backend.resize(key[1])  # grown by the last map's steer: back to what is asked
        if backend is None:
            backend = self.started[key] = make_backend(options)
        backend.start()
        return backend

    def _resized(self, key: tuple[Any, ...]) -> Backend | None:
        """An idle backend of the same mode (and cluster), resized to ``key``'s size: a Pool
        reuses its workers from map to map rather than keeping a pool per worker count."""
        for old, backend in list(self.started.items()):
            same = old[0] == key[0] and old[2:] == key[2:]
            if same and id(backend) not in self.running:
                del self.started[old]
                if backend.resize(key[1]):
                    self.started[key] = backend
                    return backend
                backend.close()
        return None

    def signal_workers(self, kill: bool) -> None:
        """From any thread: SIGTERM (``kill``: SIGKILL) the worker processes of every backend
        (``Backend.signal_workers``)."""
        for backend in list(self.started.values()):
            backend.signal_workers(kill)

    def close(self, kill: bool) -> None:
        self.closed = True
        with self._closing:  # a second caller waits for the first one's workers to stop
            for backend in self.started.values():
                backend.close(kill=kill)
            self.started.clear()


class Pool:
    """Workers kept across several ``map`` calls (a pool per mode, started on first use).

    ``with gilwise.Pool(mode="processes", workers=4, initializer=load) as pool: ...``
    Its options are those of :func:`gilwise.map`: the defaults of every ``pool.map``.
    """

    def __init__(
        self,
        *,
        mode: Literal["auto", "threads", "processes", "interpreters", "dask"] = "auto",
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
        journal: str | os.PathLike[str] | None = None,
        key: Callable[[Any], Any] | None = None,
        retry_failed: bool = False,
        max_in_flight: int | None = None,
        per_key: tuple[Callable[[Any], Any], int] | PerKey | None = None,
        start_method: Literal["fork", "forkserver", "spawn"] | None = None,
        outcomes: bool = False,
        stats: bool = False,
        scheduler: str | None = None,
        client: Any = None,
        max_tasks_per_child: int | None = None,
        max_memory_per_child: int | str | None = None,
        native_threads: int | Literal["keep"] | None = None,
        share_above: int | None = 1_000_000,
        concurrency: int | None = None,
        rate: float | str | None = None,
    ) -> None:
        self._defaults = check_options(Options(**_options_in(locals())))
        self._workers = _Backends()

    # -- context and lifecycle
    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(kill=exc[0] is not None)

    def close(self, kill: bool = False) -> None:
        """Stop every worker (``kill``: at once, without letting them finish)."""
        self._workers.close(kill)

    def __del__(self) -> None:
        workers = getattr(self, "_workers", None)
        if workers is not None and workers.started:
            self.close(kill=True)

    # -- work
    def map(
        self,
        fn: Callable[[Any], Any],
        items: Iterable[Any],
        *,
        mode: Literal["auto", "threads", "processes", "interpreters", "dask"] | PoolDefault = (
            POOL_DEFAULT
        ),
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
        journal: str | os.PathLike[str] | None | PoolDefault = POOL_DEFAULT,
        key: Callable[[Any], Any] | None | PoolDefault = POOL_DEFAULT,
        retry_failed: bool | PoolDefault = POOL_DEFAULT,
        max_in_flight: int | None | PoolDefault = POOL_DEFAULT,
        per_key: tuple[Callable[[Any], Any], int] | PerKey | None | PoolDefault = POOL_DEFAULT,
        start_method: Literal["fork", "forkserver", "spawn"] | None | PoolDefault = POOL_DEFAULT,
        outcomes: bool | PoolDefault = POOL_DEFAULT,
        stats: bool | PoolDefault = POOL_DEFAULT,
        scheduler: str | None | PoolDefault = POOL_DEFAULT,
        client: Any | PoolDefault = POOL_DEFAULT,
        max_tasks_per_child: int | None | PoolDefault = POOL_DEFAULT,
        max_memory_per_child: int | str | None | PoolDefault = POOL_DEFAULT,
        native_threads: int | Literal["keep"] | None | PoolDefault = POOL_DEFAULT,
        share_above: int | None | PoolDefault = POOL_DEFAULT,
        concurrency: int | None | PoolDefault = POOL_DEFAULT,
        rate: float | str | None | PoolDefault = POOL_DEFAULT,
    ) -> MapResult:
        """Apply ``fn`` to every item in parallel; see :func:`gilwise.map` for the options.
        An option left out takes the value this Pool was made with."""
        changes = {k: v for k, v in _options_in(locals()).items() if v is not POOL_DEFAULT}
        options = check_options(self._defaults.with_(**changes))
        return self._map(fn, items, options, own=False, where="Pool.map")

    def _map(
        self, fn: Callable, items: Iterable[Any], opts: Options, own: bool, where: str
    ) -> MapResult:
        _check_function(fn, where)
        fn, opts = for_workers(fn, items, opts)
        if isinstance(items, Frontier) and opts.mode == "auto":
            raise ValueError(f"{where}: a Frontier needs mode='threads' or 'processes': auto "
                             "mode would probe items before the results can add any")
        info = RunInfo()
        return MapResult(self._run(fn, items, opts, info, own, where), info)

    def _run(
        self, fn: Callable, items: Iterable[Any], opts: Options, info: RunInfo, own: bool,
        where: str = "gilwise.map",
    ) -> Generator[Any, None, None]:
        _warn_if_in_loop(where)  # where it blocks: iterated, not called (to_thread's way)
        run = Run(fn, items, opts, info, self._workers)
        finished = False
        try:
            yield from run.stream(fit=own)
            finished = True
        except GeneratorExit:  # closed, or freed by the loop that held it: a stop, not an error
            info.stopped_early = True
            raise
        finally:
            if not finished:
                stop_coroutines(fn)
            run.close()
            if own:
                self.close(kill=not finished)


def map(  # noqa: A001 - the point is to read like builtins.map
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    mode: Literal["auto", "threads", "processes", "interpreters", "dask"] = "auto",
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
    journal: str | os.PathLike[str] | None = None,
    key: Callable[[Any], Any] | None = None,
    retry_failed: bool = False,
    max_in_flight: int | None = None,
    per_key: tuple[Callable[[Any], Any], int] | PerKey | None = None,
    start_method: Literal["fork", "forkserver", "spawn"] | None = None,
    outcomes: bool = False,
    stats: bool = False,
    scheduler: str | None = None,
    client: Any = None,
    max_tasks_per_child: int | None = None,
    max_memory_per_child: int | str | None = None,
    native_threads: int | Literal["keep"] | None = None,
    share_above: int | None = 1_000_000,
    concurrency: int | None = None,
    rate: float | str | None = None,
) -> MapResult:
    """Apply ``fn`` to every item in parallel and stream the results.

    - ``mode``: "threads", "processes", "interpreters" (Python 3.14+: one GIL per
      sub-interpreter), "dask" (tasks on a Dask cluster: ``pip install 'gilwise[dask]'``), or
      "auto" (measure the first items and choose; never dask).
    - ``workers``: default one per usable core (threads: min(32, cores + 4)).
    - ``ordered``: results in input order (True) or as they complete (False).
    - ``chunksize``: items per message to a worker; "auto" adapts it to task duration.
    - ``on_error``: "raise" the task's own exception (after every earlier result; a
      :class:`TaskError` where there is none: a worker died, a timeout), "skip" the item,
      or "return" a :class:`Failure` in its place.
    - ``progress``: a progress bar on stderr (default: when stderr is a terminal).
    - ``initializer(*initargs)`` runs once in each worker before its first task.
    - ``timeout``: seconds a task may run before it fails with :class:`TaskTimeout`.
    - ``retries``, ``retry_on``, ``backoff``: retry failed items of those exception types,
      with exponential backoff from ``backoff`` seconds.
    - ``journal``: a SQLite file recording finished items, so a rerun skips them; ``key``
      names items by ``key(item)`` instead of position; ``retry_failed`` reruns failures.
    - ``max_in_flight``: items read but not yet yielded (default: a few chunks per worker,
      growing up to 16 times while ordered results wait on a slow item; given: a hard cap).
    - ``per_key=(key_fn, n)``: at most ``n`` items with the same ``key_fn(item)`` run at once
      (per host, per tenant); items of a full key wait aside while other keys' items go.
      ``per_key=PerKey(key_fn, n, interval=s)`` also spaces one key's starts ``s`` seconds
      apart, and its ``set(key, ...)`` / ``defer(key, seconds)`` change one key while the
      map runs (a Crawl-delay, a Retry-After): its items wait aside, no worker sleeps.
    - ``start_method``: how worker processes start ("fork", "forkserver", "spawn"; default:
      the cheapest that is safe here).
    - ``outcomes=True`` yields an :class:`Outcome` per item (index, item, value or failure,
      attempts, seconds, worker) instead of bare values; ``stats=True`` collects run
      statistics in ``.info.stats``.
    - ``scheduler`` (mode="dask"): the address of a Dask scheduler, e.g.
      "tcp://host:8786" (default: ``$DASK_SCHEDULER_ADDRESS``); ``client``: a
      ``distributed.Client`` of yours instead. With neither, a LocalCluster of one worker
      process per usable core runs the batch.
    - ``max_tasks_per_child`` (processes, interpreters): a worker is replaced after this many
      items; ``max_memory_per_child`` (processes; bytes or "500MB"): a worker whose private
      memory is over it after an item is replaced, and one growing past twice it while an item
      runs is killed at once, failing that item alone.
    - ``native_threads``: threads each worker's native pools (BLAS, OpenMP) may run (default:
      cores // workers, unless ``OMP_NUM_THREADS`` and the like are set; "keep": untouched).
    - ``share_above``: buffers (NumPy arrays...) of this many bytes or more go to worker
      processes, and back, through shared memory, read-only there (None: never).
    - ``concurrency``: coroutines each worker keeps in flight when ``fn`` is an ``async
      def`` (default 100; ignored for plain functions). A coroutine function is awaited on
      an event loop per worker thread or process (uvloop's where installed); its
      ``timeout`` cancels it (its ``finally`` runs).
    - ``rate``: at most this many task starts per second across the batch, evenly spaced
      (``10``, or ``"600/min"``: "/s", "/min", "/h").

    ``items`` may be any iterable, a generator of unknown length included: it is read
    lazily with a bounded number of items in flight, so memory stays flat.
    """
    options = check_options(Options(**_options_in(locals())))
    return Pool()._map(fn, items, options, own=True, where="gilwise.map")


def for_workers(fn: Callable, items: Iterable[Any], opts: Options) -> tuple[Callable, Options]:
    """What the workers call for ``fn``, and the options that go with it: a coroutine function
    awaited there, up to ``concurrency`` at once each (its timeout a cancellation); a plain
    one waiting for its turn under ``rate``."""
    gate = None if opts.rate is None else RateGate(parse_rate(opts.rate))
    if is_async(fn):  # awaited in the workers, up to `concurrency` at once each
        fn = AsyncCall(fn, opts.concurrency, opts.timeout, gate)
        size = CHUNK_ROUNDS * fn.concurrency if opts.chunksize == "auto" else opts.chunksize
        if opts.chunksize == "auto" and opts.mode != "auto" and hasattr(items, "__len__"):
            # an equal number of chunks per worker (processes x loops), none left idle
            total, workers = len(items), worker_count(opts)  # type: ignore[arg-type]
            rounds = max(1, -(-total // (size * workers)))
            size = max(1, -(-total // (rounds * workers)))
        opts = opts.with_(timeout=None, chunksize=size)
    elif gate is not None:  # each call waits for its turn: N starts a second at most
        fn = RateLimited(fn, gate)
    return fn, opts


def stop_coroutines(fn: Callable) -> None:
    """A batch that stopped early: the coroutines this process's worker threads run for it
    are cancelled now (their ``finally`` runs), rather than left to finish."""
    if isinstance(fn, AsyncCall):
        fn.cancel()


def _check_function(fn: Any, where: str) -> None:
    """Refuse, before any work, what cannot be mapped: a non-callable."""
    if not callable(fn):
        raise TypeError(f"{where}: fn={fn!r} is not callable")
_warned_in_loop = False  # the warning below is given once per process


def _warn_if_in_loop(what: str) -> None:
    """Warn, once, where the blocking map is iterated inside a running event loop
    (every other task of that loop stalls until the batch ends), pointing at ``amap``. Not in
    a Jupyter kernel: its cells run inside its loop by design, and a blocking cell is normal."""
    global _warned_in_loop
    asyncio = sys.modules.get("asyncio")  # not loaded: no loop runs (and no import cost)
    if _warned_in_loop or asyncio is None or asyncio.events._get_running_loop() is None:
        return
    if "ipykernel" in sys.modules:
        return
    _warned_in_loop = True
    import warnings

    warnings.warn(f"iterating {what}'s results inside a running event loop blocks that loop "
                  "until the batch ends: use `async for value in gilwise.amap(...)` (or `await "
                  "gilwise.arun(fn, ...)` for one call) there", BlockingCallWarning,
                  stacklevel=_user_level())


def _user_level() -> int:
    """The ``stacklevel`` of the first caller outside gilwise (the user's line)."""
    frame, level = sys._getframe(2), 2
    package = os.path.dirname(__file__) + os.sep
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level

