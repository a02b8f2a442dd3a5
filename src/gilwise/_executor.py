"""``gilwise.Executor``: a ``concurrent.futures.Executor`` whose futures survive their workers.

The data's way: ``submit`` wraps the call in a :class:`_Call` holding its Future and adds it to
a lane's open :class:`~gilwise.frontier.Frontier` (which wakes the lane's driver thread). Each
lane is one long :class:`~gilwise._run.Run` of :func:`_invoke` over that frontier, in one mode,
driven by its own thread through ``Engine.step``; every finished item settles its Future.
``shutdown`` closes the frontiers: each run ends once the calls added are done.

    submit ──► _Call(fn, args, kwargs; future) ──► lane frontier ──► Run/Engine ──► worker
                                                                     │ step() in the lane's thread
    Future.set_result / set_exception ◄── segment (value or Failure) ◄┘

Unlike ``ProcessPoolExecutor``, a worker that dies fails only the future it held
(``gilwise.WorkerDied``) and the executor goes on; ``timeout=`` kills only a hung task's
worker; the initializer failing breaks the executor (as the stdlib's does).
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

from gilwise._executor_auto import AutoMode, run_batch
from gilwise._lane import BrokenExecutor, _Call, _Lane, _LoggedInitializer
from gilwise._options import Options
from gilwise._outcome import WorkerDied
from gilwise._result import Decision
from gilwise._stdlib_names import NamedBackends, StdlibNames
from gilwise.backends.registry import check_options, worker_count

#: calls a lane takes from its queue per worker (running, or next): the rest stay queued,
#: and cancellable, as in ProcessPoolExecutor's call queue
IN_FLIGHT_PER_WORKER = 2
#: a threads lane's calls stay cancellable until a worker starts them: it may take more
#: ahead, in chunks sized to their measured time, to spare a hand-over per call
THREADS_IN_FLIGHT_PER_WORKER = 64
#: how long ``shutdown(cancel_futures=True)`` lets a lane that has not started yet take
#: its first calls, so that what was submitted first runs, as with the stdlib's executors
FIRST_TAKE_SECONDS = 5.0


_live: weakref.WeakSet[Executor] = weakref.WeakSet()


def _shutdown_all() -> None:
    for executor in list(_live):
        executor.shutdown(wait=True)


# before the interpreter joins non-daemon threads, as the stdlib executors do
threading._register_atexit(_shutdown_all)  # type: ignore[attr-defined]
if hasattr(os, "register_at_fork"):  # a forked child's copies are not its own to shut down
    os.register_at_fork(after_in_child=_live.clear)


class Executor(StdlibNames, AutoMode, cf.Executor):
    """A ``concurrent.futures.Executor`` on gilwise's supervised workers: rename
    ``ProcessPoolExecutor`` or ``ThreadPoolExecutor`` to ``gilwise.Executor`` and a worker
    that dies fails only its own future.

    ``max_workers`` (default: one per usable core; threads: min(32, cores + 4)), ``mode``
    ("auto": each function's first call decides, see :meth:`explain`), ``mp_context`` (a
    multiprocessing context or start method name), ``initializer``/``initargs``,
    ``thread_name_prefix``, ``max_tasks_per_child`` (items, under every start method), and
    gilwise's ``max_memory_per_child``, ``timeout`` (seconds a call may run, its worker
    killed past it), ``retries``/``retry_on``/``backoff``.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        mode: Literal["auto", "threads", "processes", "interpreters"] = "auto",
        mp_context: Any = None,
        initializer: Callable[..., Any] | None = None,
        initargs: tuple[Any, ...] = (),
        max_tasks_per_child: int | None = None,
        max_memory_per_child: int | str | None = None,
        thread_name_prefix: str = "",
        timeout: float | None = None,
        retries: int = 0,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] = (BaseException,),
        backoff: float = 0.1,
    ) -> None:
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers <= 0):
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if mode not in ("auto", "threads", "processes", "interpreters"):
            raise ValueError(f"mode={mode!r} is not one of auto, threads, processes, "
                             "interpreters")
        if max_tasks_per_child is not None and (
                not isinstance(max_tasks_per_child, int) or max_tasks_per_child <= 0):
            raise ValueError("max_tasks_per_child must be >= 1")
        start = getattr(mp_context, "get_start_method", lambda: mp_context)()
        self._options = Options(
            mode=mode, workers=max_workers, ordered=False, chunksize=1, on_error="return",
            progress=False,
            initializer=None if initializer is None else _LoggedInitializer(initializer),
            initargs=tuple(initargs),
            timeout=timeout, retries=retries, retry_on=retry_on, backoff=backoff,
            start_method=start, max_tasks_per_child=max_tasks_per_child,
            max_memory_per_child=max_memory_per_child)
        check_options(self._options)  # e.g. max_tasks_per_child= with threads: refused
        self._thread_name_prefix, self._mp_given = thread_name_prefix, mp_context
        #: the stdlib executors' name for it, which code and CPython's tests read
        self._max_workers = worker_count(
            self._options.with_(mode="processes") if mode == "auto" else self._options)
        self._backends = NamedBackends(thread_name_prefix)
        self._lanes: dict[str, _Lane] = {}
        self._lock = threading.RLock()  # a caller stepping a lane may settle auto's first call
        self._shutdown = False
        self._broken: str | None = None
        self._decisions: dict[Any, Decision] = {}  # auto mode: per function
        # auto mode: functions whose first call runs alone, timed; their later calls wait
        self._held: dict[Any, list[_Call]] = {}
        _live.add(self)
        # dropped without shutdown (its lanes hold it only weakly): as shutdown(wait=False)
        self._dropped = weakref.finalize(self, _dropped, self._lanes, self._backends)
        self._dropped.atexit = False

    # -- the concurrent.futures contract
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        """Schedule ``fn(*args, **kwargs)``; its Future."""
        with self._lock:
            if self._broken is not None:
                raise BrokenExecutor(self._broken)
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if not callable(fn):
                raise TypeError(f"{fn!r} is not callable")
            future: cf.Future[Any] = cf.Future()
            call = _Call(fn, args, kwargs, False, future)
            mode = self._mode_for(call)
            if mode is not None:
                self._lane(mode).put(call)
            return future

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any], timeout: float | None = None,
            chunksize: int = 1, buffersize: int | None = None) -> Iterator[Any]:
        """``fn`` over the iterables' items, results in order (as ``Executor.map`` of 3.14:
        ``timeout`` from this call, ``buffersize`` bounds the calls submitted ahead)."""
        if buffersize is not None and (not isinstance(buffersize, int)
                                       or isinstance(buffersize, bool)):
            raise TypeError("buffersize must be an integer or None")
        if buffersize is not None and buffersize < 1:
            raise ValueError("buffersize must be None or > 0")
        if not isinstance(chunksize, int) or chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        end = None if timeout is None else timeout + time.monotonic()
        args: Iterator[tuple[Any, ...]] = zip(*iterables)
        if chunksize > 1:
            args = _batched(fn, args, chunksize)
            fn = run_batch  # one call a batch of ``chunksize`` items
        first = itertools.islice(args, buffersize) if buffersize else args
        futures = deque(self.submit(fn, *a) for a in first)
        # the results hold the executor weakly, as the stdlib's: dropped, it still ends them
        submit = weakref.WeakMethod(self.submit) if buffersize else None
        return _results(futures, args, submit, fn, end, chunksize > 1)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No new calls; with ``cancel_futures``, those not started are cancelled; with
        ``wait``, returns once every call left is done and the workers stopped."""
        with self._lock:
            self._shutdown = True
            lanes = list(self._lanes.values())
        self._dropped.detach()
        for lane in lanes:
            if cancel_futures:
                lane.taking.wait(FIRST_TAKE_SECONDS)
                for call in lane.calls.take_queued():
                    call.future.cancel()
                for call in list(lane.pending):  # taken, not started (threads)
                    call.future.cancel()
            lane.calls.close()
        if wait:
            _finish(lanes, self._backends)
        else:
            threading.Thread(target=_finish, args=(lanes, self._backends), daemon=True).start()

    def abort(self) -> None:
        """Stop now: calls not started are cancelled, running ones stopped (their futures
        cancelled too), the workers killed; the executor is shut down (joblib's
        ``abort_everything``)."""
        self._stop_now(kill=True, every_lane=True, wait=True,
                       error=lambda: cf.CancelledError("the executor was aborted"))

    def terminate_workers(self) -> None:
        """As 3.14's ``ProcessPoolExecutor.terminate_workers``: ``shutdown(wait=False,
        cancel_futures=True)``, then SIGTERM to every worker process alive; the calls they
        were running fail with ``gilwise.WorkerDied``. Threads and sub-interpreters cannot
        be stopped: their running calls end as they would, the others are cancelled."""
        self._force_shutdown(operation="terminate")

    def kill_workers(self) -> None:
        """As 3.14's ``ProcessPoolExecutor.kill_workers``: :meth:`terminate_workers`, with
        SIGKILL (to what each worker's call started too)."""
        self._force_shutdown(operation="kill")

    def _force_shutdown(self, operation: str) -> None:
        """``terminate_workers`` ("terminate") or ``kill_workers`` ("kill"); the stdlib's
        name, which CPython's tests call."""
        if operation not in ("terminate", "kill"):
            raise ValueError(f"Unsupported operation: {operation!r}")
        self._stop_now(kill=operation == "kill", every_lane=False, wait=False,
                       error=lambda: WorkerDied(f"its worker was stopped by the executor's "
                                                f"{operation}_workers()"))

    def _stop_now(self, kill: bool, every_lane: bool, wait: bool,
                  error: Callable[[], BaseException]) -> None:
        """Shut down now: the calls not started are cancelled, the worker processes sent
        SIGTERM (``kill``: SIGKILL) and their lanes stopped, each call they held failed with
        ``error()``. With ``every_lane``, the other lanes too (a thread's call is left to
        run, its future failed); else those lanes end once their running calls do. With
        ``wait``, returns once every worker is stopped."""
        with self._lock:
            self._shutdown = True
            lanes = list(self._lanes.values())
        self._dropped.detach()
        stopped = [lane for lane in lanes if every_lane or lane.options.mode == "processes"]
        for lane in lanes:
            for call in lane.calls.take_queued():
                call.future.cancel()
            for call in list(lane.pending):  # taken, not started (threads)
                call.future.cancel()
        for lane in stopped:
            lane.aborting = True  # its driver stops the engine: no worker respawned
        self._backends.signal_workers(kill)
        for lane in lanes:
            lane.calls.close()  # wakes the driver
        if wait:
            self._end_now(lanes, stopped, error)
        else:
            threading.Thread(target=self._end_now, args=(lanes, stopped, error),
                             daemon=True).start()

    def _end_now(self, lanes: list[_Lane], stopped: list[_Lane],
                 error: Callable[[], BaseException]) -> None:
        for lane in lanes:
            if lane.thread is not threading.current_thread():
                lane.thread.join()
        for lane in stopped:
            for call in list(lane.pending):
                if not call.future.done():
                    call.future.set_exception(error())
            lane.pending.clear()
        self._backends.close(kill=True)

    @property
    def max_workers(self) -> int:
        """The workers each mode's lane starts: ``max_workers`` as given, else the mode's
        default (threads: min(32, cores + 4); processes, interpreters: one per usable
        core; auto: one per usable core, what its CPU-bound functions get, though a
        function it sends to threads for waiting gets the threads' default)."""
        return self._max_workers

    # -- lanes and auto's choice
    def _lane(self, mode: str) -> _Lane:
        lane = self._lanes.get(mode)
        if lane is None:
            options = self._options.with_(mode=mode)
            # calls taken from the queue are running (no longer cancellable): no more than
            # keep every worker busy with one waiting behind it
            if mode == "threads":
                options = options.with_(chunksize="auto", max_in_flight=(
                    THREADS_IN_FLIGHT_PER_WORKER * worker_count(options)))
            else:
                options = options.with_(
                    max_in_flight=IN_FLIGHT_PER_WORKER * worker_count(options))
            lane = self._lanes[mode] = _Lane(options, self._backends, self._lock,
                                             _weakly(self._measured),
                                             _weakly(self._set_broken),
                                             self._thread_name_prefix)
        return lane

    def _set_broken(self, why: str) -> None:
        self._broken = why

    def __repr__(self) -> str:
        state = "broken" if self._broken else "shut down" if self._shutdown else "running"
        return f"<gilwise.Executor mode={self._options.mode!r} {state}>"


def _results(futures: deque[cf.Future[Any]], more: Iterator[Any],
             submit_ref: weakref.WeakMethod[Any] | None, fn: Callable[..., Any],
             end: float | None, batched: bool) -> Iterator[Any]:
    """``Executor.map``'s results, in order; with ``submit_ref`` (``buffersize``), a call of
    ``more`` submitted for each result taken, while the executor lives."""
    # no local names the result across a yield: the caller alone keeps it alive
    try:
        while futures:
            submit = submit_ref() if submit_ref is not None else None
            if submit is not None:  # keep buffersize calls out: one in for one out
                for a in itertools.islice(more, 1):
                    futures.append(submit(fn, *a))
                submit = None
            left = None if end is None else end - time.monotonic()
            if batched:
                yield from _result_or_cancel(futures.popleft(), left)
            else:
                yield _result_or_cancel(futures.popleft(), left)
    finally:
        for future in futures:
            future.cancel()


def _result_or_cancel(future: cf.Future[Any], timeout: float | None) -> Any:
    try:
        return future.result(timeout)
    finally:
        future.cancel()


def _batched(fn: Callable[..., Any], items: Iterator[tuple[Any, ...]], size: int
             ) -> Iterator[tuple[Any, ...]]:
    """The arguments of ``run_batch`` for ``fn`` over ``size`` items at a time."""
    while batch := list(itertools.islice(items, size)):
        yield fn, batch


def _finish(lanes: list[_Lane], backends: Any) -> None:
    """The end of ``shutdown``: the lanes' calls done, then the workers stopped (in a
    thread of its own where it does not wait)."""
    for lane in lanes:
        if lane.thread is not threading.current_thread():
            lane.thread.join()
    backends.close(kill=False)


def _dropped(lanes: dict[str, _Lane], backends: Any) -> None:
    """An executor collected without ``shutdown``: the calls it was given still run, then
    its workers stop (as the stdlib's, which exit once their executor is gone)."""
    left = list(lanes.values())

    def close() -> None:
        for lane in left:
            lane.calls.close()
        _finish(left, backends)

    threading.Thread(target=close, daemon=True, name="gilwise-executor-dropped").start()


def _weakly(method: Callable[..., None]) -> Callable[..., None]:
    """``method`` called while its object lives: a lane so holds its executor weakly."""
    ref = weakref.WeakMethod(method)

    def call(*args: Any) -> None:
        bound = ref()
        if bound is not None:
            bound(*args)

    return call
