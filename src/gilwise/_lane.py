"""One mode's lane of a :class:`gilwise.Executor`: a long run of :func:`_invoke` over an open
queue of calls (:class:`_Calls`, a Frontier kept open until shutdown), driven by its own
thread through ``Engine.step``; each finished call settles its Future.

A threads lane is shared: ``submit`` steps the engine in the caller's thread, so a call goes
to a worker without waking the driver; the worker settles its Future and the backend is
hushed (``ThreadBackend.hush``), so the driver wakes only for what needs it (a failure, calls
waiting for a worker, the end). Its calls are taken ahead in chunks and stay cancellable
until a worker starts them, as ``ThreadPoolExecutor``'s do.
"""

from __future__ import annotations

import concurrent.futures as cf
import sys
import threading
from collections.abc import Callable
from typing import Any

from gilwise._options import Options
from gilwise._outcome import Failure, TaskError, WorkerInitError
from gilwise._result import RunInfo
from gilwise._run import Backends, Run
from gilwise._segment import Segment
from gilwise._threadclock import ThreadClock, span
from gilwise.frontier import Frontier

#: how long a lane's driver waits in one step: a submit or shutdown wakes it sooner
STEP_SECONDS = 1.0
class BrokenExecutor(WorkerInitError, cf.BrokenExecutor):
    """The initializer failed in a worker: no call can run (as ``BrokenProcessPool``)."""


class _Call:
    """One submitted call; travels to a worker without its Future."""

    __slots__ = ("fn", "args", "kwargs", "measure", "future", "starting", "started")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                 measure: bool = False, future: cf.Future[Any] | None = None) -> None:
        self.fn, self.args, self.kwargs, self.measure = fn, args, kwargs, measure
        self.future = future
        #: set when a worker starts it (a threads lane's ``taking``)
        self.starting: threading.Event | None = None
        self.started = False  # a worker thread marked its future running (a retry: again)

    def __reduce__(self) -> tuple[Any, ...]:
        return _Call, (self.fn, self.args, self.kwargs, self.measure)


class _Measured:
    """A call's value with the seconds it computed and took, less any wait for a core (auto
    mode's first call)."""

    __slots__ = ("value", "cpu", "wall")

    def __init__(self, value: Any, cpu: float, wall: float) -> None:
        self.value, self.cpu, self.wall = value, cpu, wall

    def __reduce__(self) -> tuple[Any, ...]:
        return _Measured, (self.value, self.cpu, self.wall)


def _invoke(call: _Call) -> Any:
    """What every worker runs: the call itself (timed where auto mode measures it). A worker
    thread of this process (the call came with its Future) settles a value at once, rather
    than after the lane's driver has read it: one thread hand-over less per call; failures
    still go through the engine (its retries)."""
    future = call.future
    if future is not None and not call.started:
        call.started = True
        if not future.set_running_or_notify_cancel():
            return None  # cancelled while it waited in its chunk
        starting = call.starting
        if starting is not None and not starting.is_set():
            starting.set()
    if not call.measure:
        value = call.fn(*call.args, **call.kwargs)
        if future is not None:
            try:
                future.set_result(value)
            except cf.InvalidStateError:
                pass  # the driver failed it first: past its timeout
        return value
    clock = ThreadClock()  # a busy machine keeps it waiting for a core: not the work's doing
    try:
        before = clock.sample()
        value = call.fn(*call.args, **call.kwargs)
        took = span(before, clock.sample())
    finally:
        clock.close()
    waited = took.seconds * (took.waiting or 0.0)
    return _Measured(value, took.seconds * took.on_core, took.seconds - waited)


def _settle_value(future: cf.Future[Any], value: Any) -> None:
    """Its result, unless it is settled already (by the other of worker and driver)."""
    if future.done():  # the common case, without the cost of an exception
        return
    try:
        future.set_result(value)
    except cf.InvalidStateError:
        pass


def _settle_failure(future: cf.Future[Any], exc: BaseException) -> None:
    """Its exception, unless a worker thread settled it first (then past its timeout)."""
    try:
        future.set_exception(exc)
    except cf.InvalidStateError:
        pass


class _LoggedInitializer:
    """The initializer, its failure logged in the worker as the stdlib executors log it
    (``concurrent.futures``, CRITICAL, "Exception in initializer:"), then raised."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self, *args: Any) -> None:
        try:
            self.fn(*args)
        except BaseException:
            import logging

            logging.getLogger("concurrent.futures").critical("Exception in initializer:",
                                                             exc_info=True)
            raise

    def __reduce__(self) -> tuple[Any, ...]:
        return _LoggedInitializer, (self.fn,)


class _Calls(Frontier):
    """A lane's open input: a call leaves it only once its Future is marked running (one
    cancelled meanwhile is dropped), so a queued call can still be cancelled. On a threads
    lane the worker thread marks it, as ``ThreadPoolExecutor``'s do (``_invoke``): a call
    stays cancellable in its chunk until it starts."""

    #: set once the engine took calls (threads: a worker started one) or the lane ended:
    #: see ``FIRST_TAKE_SECONDS``
    taking: threading.Event
    #: the worker marks a call running (threads), not the engine as it takes it
    started_by_worker = False

    def take(self, n: int) -> list[Any]:
        if not self._queue:
            return []
        taken: list[Any] = []
        while len(taken) < n:
            batch = super().take(n - len(taken))
            if not batch:
                break
            if self.started_by_worker:
                taken += [call for call in batch if not call.future.cancelled()]
                continue
            taken += [call for call in batch if call.future.set_running_or_notify_cancel()]
        if taken and not self.started_by_worker:
            self.taking.set()
        return taken

    def take_queued(self) -> list[Any]:
        """Every call still queued (not taken by the engine yet), left as it is."""
        return super().take(sys.maxsize)

    def add_unseen(self, call: _Call) -> int:
        """Queue ``call`` without waking the engine (the caller steps it, or wakes it);
        how many calls were queued before it."""
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            before = len(self._queue)
            self._queue.append(call)
            self.added += 1
            return before


class _Lane:
    """One mode's long run, driven by its own thread."""

    def __init__(self, options: Options, backends: Backends, lock: threading.Lock,
                 on_measured: Callable[[_Call, _Measured | None], None],
                 on_broken: Callable[[str], None], thread_name_prefix: str = "") -> None:
        self.options = options
        self.calls = _Calls(until_closed=True)
        self.calls.taking = self.taking = threading.Event()
        self.calls.started_by_worker = options.mode == "threads"
        self.pending: set[_Call] = set()  # submitted, not settled: failed all if it breaks
        self.aborting = False  # abort(): the driver stops the engine at its next step
        self.info = RunInfo()
        # a threads lane is shared: callers step its engine too, taking turns (``put``)
        self._stepping = threading.Lock()
        self._shared: Any = None  # the engine while callers may step it
        self._failed: BaseException | None = None  # what a caller's step raised
        self._backends, self._lock = backends, lock
        self._on_measured, self._on_broken = on_measured, on_broken
        self.thread = threading.Thread(target=self._drive, daemon=True,
                                       name=f"{thread_name_prefix}gilwise-"
                                       f"{options.mode}-driver")
        self.thread.start()

    def put(self, call: _Call) -> None:
        """Queue ``call``. On a shared lane (see ``_drive``) the caller's thread steps the
        engine itself, sending the call to a worker at once, as ``ThreadPoolExecutor``'s
        submit does, rather than waking the driver to do it."""
        self.pending.add(call)
        if self.calls.started_by_worker:
            call.starting = self.taking
        engine = self._shared
        if engine is None:
            if not self.calls.add_unseen(call):  # calls queued before it wait for room,
                self.calls.wake()  # which a result makes, waking the driver anyway
            return
        if self.calls.add_unseen(call):
            return  # calls wait already: the result that frees a worker wakes the driver
        if not self._stepping.acquire(blocking=False):
            engine.wake()  # the driver steps now: it takes the call at its next step
            return
        try:
            if not engine.over and not self.aborting:
                engine.send()  # to a worker now, where the books show room (~10 µs sooner)
                self._step(engine, 0.0)  # then the books: what came back, and the call if
                # it found no room before
        except BaseException as exc:  # noqa: BLE001 - the driver breaks the lane with it
            self._failed = exc
            engine.wake()
        finally:
            self._stepping.release()

    def settled_start(self, timeout: float) -> None:
        """Wait up to ``timeout`` for a lane given calls to have started its workers (its
        first calls taken, and the step that took them over), as a stdlib submit has."""
        if self.thread.is_alive() and self.taking.wait(timeout) and \
                self._stepping.acquire(timeout=timeout):  # a done-callback may hold it
            self._stepping.release()

    def _drive(self) -> None:
        run = Run(_invoke, self.calls, self.options, self.info, self._backends)
        hushed, stepped = None, True  # a first step takes what came before the driver
        try:
            run.settle()
            run.attach()
            engine = run.start()
            if self.options.mode == "threads" and hasattr(engine.backend, "hush"):
                hushed = engine.backend
                hushed.hush(self._loud)
                self._shared = engine
            while not engine.over:
                if self._failed is not None:
                    raise self._failed
                if self.aborting:
                    with self._stepping:
                        engine.stop()  # what runs is cancelled: its workers stopped
                    break
                if hushed is None:
                    self._step(engine, STEP_SECONDS)
                    continue
                if not stepped:  # segments handed back may have made room: step again
                    hushed.wait(engine.next_wait(STEP_SECONDS))
                with self._stepping:
                    stepped = self._step(engine, 0.0)
        except BaseException as exc:  # noqa: BLE001 - told to every call left, then ends
            self._shared = None
            self._break(exc)
        finally:
            self._shared = None
            if hushed is not None:
                hushed.hush(None)
            self.taking.set()
            run.close()

    def _step(self, engine: Any, timeout: float) -> bool:
        """One step of the engine; whether it handed back any calls."""
        segments = engine.step(timeout)
        for segment in segments:
            self._settle(segment)
            # the caller holds the results now: nothing here keeps them alive
            segment.values, segment.items = [], []
        return bool(segments)

    def _loud(self, result: Any) -> bool:
        """Whether a worker's result must wake the driver now: where it failed (retries,
        its future), measured a call (auto), or calls wait for the worker it freed. The
        others are collected at the next step, the caller's or the driver's: their futures
        are settled already (``_invoke``)."""
        calls = self.calls
        if result.errors or calls.pending or calls.closed:
            return True
        engine = self._shared
        if engine is not None and engine.backlog:
            return True
        return any(type(value) is _Measured for value in result.values)

    def _settle(self, segment: Segment) -> None:
        if self.calls.started_by_worker and not segment.failures and not any(
                call.measure for call in segment.items):
            self.pending.difference_update(segment.items)  # their workers settled them
            return
        for pos, call in enumerate(segment.items):
            self.pending.discard(call)
            failure = segment.failures.get(pos)
            future = call.future
            if failure is not None:
                if call.measure:  # nothing learnt: the function's next call is measured
                    self._on_measured(call, None)
                _settle_failure(future, _exception(failure))
                continue
            value = segment.values[pos]
            if isinstance(value, _Measured):
                self._on_measured(call, value)
                value = value.value
            _settle_value(future, value)  # a worker thread may have done so (``_invoke``)

    def _break(self, exc: BaseException) -> None:
        """The run cannot go on (its initializer failed): every call left fails with it."""
        if isinstance(exc, WorkerInitError):
            exc = BrokenExecutor(str(exc))
        with self._lock:  # a submit sees it broken, or its call is failed below
            self._on_broken(str(exc))
            self.calls.close()
        for call in list(self.pending):
            if not call.future.done():
                call.future.set_exception(exc)
        self.pending.clear()


def _exception(failure: Failure) -> BaseException:
    """What ``future.result()`` raises: the task's own exception (its remote traceback as its
    ``__cause__``, as ProcessPoolExecutor does), else gilwise's for its failure."""
    exc = failure.exception
    if exc is None:
        return TaskError(failure)
    if failure.traceback and exc.__cause__ is None and exc.__traceback__ is None:
        exc.__cause__ = RemoteTraceback(failure.traceback)
    return exc


class RemoteTraceback(Exception):
    """The traceback of a task's exception in the worker, chained as its ``__cause__``."""

    def __init__(self, tb: str) -> None:
        self.tb = tb

    def __str__(self) -> str:
        return f'\n"""\n{self.tb}"""'
