"""``gilwise.amap`` and ``gilwise.arun``: gilwise from inside an event loop, never blocking it.

The data's way::

    async iterable ──► pump task (the caller's loop) ──► _Fed frontier ──┐  bounded: the pump
    sync iterable ─────────────────────────────────────────────────────┤  waits for takes
                                                                       ▼
            driver thread: Run.settle/attach/start, then Engine.step(STEP_SECONDS) ... stop()
                                                                       │ values (on_error
                                                                       ▼ applied), an error
            loop.call_soon_threadsafe ──► the iterator's deque ──► ``async for`` (the loop)

Why a driver thread: no backend says when a result arrives (the processes backend reads its
workers' pipes only inside ``poll``, with no helper thread), so someone must wait in
``Engine.step``; that wait is the driver's, never the loop's. The loop only takes values
from a deque. Stopping (a cancelled task, ``aclose()``, a ``break`` that frees the
iterator) sets a flag and calls ``Engine.wake()``: the driver stops the engine at once,
cancels what is queued and kills the workers still running. The driver hands values over
in bounded batches and steps no further while the caller has not read them: memory stays
flat however slow the consumer.
"""

# No `from __future__ import annotations`: help(gilwise.amap) shows the options' choices, as
# help(gilwise.map) does (see _api).
import asyncio
import functools
import os
import threading
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import Any, Literal

from gilwise._api import _Backends, _check_function, for_workers, stop_coroutines
from gilwise._keygate import PerKey
from gilwise._options import Options
from gilwise._outcome import Failure, PayloadError, TaskTimeout, WorkerDied, raised
from gilwise._result import RunInfo
from gilwise._run import Run
from gilwise.backends.registry import check_options
from gilwise.frontier import Frontier

#: how long the driver waits in one step: a stop or an item added wakes it sooner
STEP_SECONDS = 0.5
#: values handed to the loop and not yet read, past which the driver waits for the reader
HANDED_MAX = 1024
#: items of an async iterable read ahead of what the engine took
READ_AHEAD = 64


class _Fed(Frontier):
    """An async iterable's items, added by the pump task; each take tells the pump."""

    on_take: Callable[[], None] | None = None

    def take(self, n: int) -> list[Any]:
        taken = super().take(n)
        if taken and self.on_take is not None:
            self.on_take()
        return taken


class _Driver:
    """One batch run by its own thread through ``Engine.step``; what it yields is handed to
    the loop. Holds no reference to the iterator the caller holds (whose end stops it)."""

    def __init__(self, fn: Callable[[Any], Any], items: Any, options: Options,
                 info: RunInfo, loop: asyncio.AbstractEventLoop) -> None:
        self.loop, self.options, self.info = loop, options, info
        self.values: deque[Any] = deque()
        self.error: BaseException | None = None
        self.ended = False  # the driver handed everything (values, an error) and stopped
        self.stopping = False
        self.waiter: asyncio.Future[None] | None = None  # the reader, waiting for values
        self.room = threading.Event()  # the reader read enough: the driver may step on
        self.room.set()
        # values handed over (counted by the driver) and read (by the reader): their
        # difference bounds what waits for the reader, in the deque or in the loop's queue
        self.handed = self.read = 0
        # a Frontier ends once empty with nothing in flight: the results read must have had
        # their chance to add items before the driver looks again (as map's reader does)
        # (one kept open until closed ends only once closed: no such wait)
        grows = isinstance(items, Frontier) and items.ended and not items.closed
        self.limit = 0 if grows else HANDED_MAX
        self.finished: asyncio.Future[None] = loop.create_future()  # the thread is done
        self._engine: Any = None
        self._pump: asyncio.Task[None] | None = None
        self._source_error: BaseException | None = None
        if isinstance(items, AsyncIterable):
            fed = _Fed(until_closed=True)
            self._pump = loop.create_task(self._pump_from(items, fed))
            items = fed
        self.thread = threading.Thread(target=self._drive, args=(fn, items), daemon=True,
                                       name="gilwise-amap-driver")
        self.thread.start()

    # -- the loop's side
    async def _pump_from(self, source: AsyncIterable[Any], fed: _Fed) -> None:
        """Read the async iterable into ``fed``, never more than READ_AHEAD items ahead of
        what the engine took; close it at the end (an error is raised after the rest)."""
        taken: list[asyncio.Future[None]] = []

        def on_take() -> None:  # the driver's thread
            if taken:
                self._call(lambda: taken and not taken[0].done() and taken[0].set_result(None))

        fed.on_take = on_take
        try:
            async for item in source:
                while fed.pending >= READ_AHEAD and not self.stopping:
                    taken[:] = [self.loop.create_future()]
                    if fed.pending >= READ_AHEAD:  # not taken meanwhile
                        await taken[0]
                    taken.clear()
                if self.stopping:
                    break
                fed.add(item)
        except Exception as exc:  # noqa: BLE001 - raised after the items read, as map does
            self._source_error = exc
        finally:
            fed.close()

    def wait(self) -> asyncio.Future[None]:
        self.waiter = self.loop.create_future()
        return self.waiter

    def took(self) -> None:
        """The reader is done with a value (it asks for the next): the driver may step on
        once half of the max is read."""
        self.read += 1
        if not self.room.is_set() and self.handed - self.read <= self.limit // 2:
            self.room.set()

    def stop(self) -> None:
        """From any thread: end the batch now (queued work cancelled, workers stopped)."""
        if self.stopping:
            return
        self.stopping = True
        self.room.set()
        engine = self._engine
        if engine is not None:
            engine.wake()
        if self._pump is not None:
            self._call(self._pump.cancel)

    def _receive(self, values: list[Any], error: BaseException | None, ended: bool) -> None:
        """In the loop: what a step of the driver gave."""
        self.values.extend(values)
        if error is not None and self.error is None:
            self.error = error
        if ended:
            self.ended = True
            if not self.finished.done():
                self.finished.set_result(None)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _call(self, fn: Callable[[], Any]) -> bool:
        try:
            self.loop.call_soon_threadsafe(fn)
        except RuntimeError:  # the loop is closed: nobody reads any more
            self.stopping = True
            return False
        return True

    # -- the driver's thread
    def _hand(self, values: list[Any], error: BaseException | None = None,
              ended: bool = False) -> None:
        if values or error is not None or ended:
            self.handed += len(values)
            self._call(functools.partial(self._receive, values, error, ended))

    def _wait_for_reader(self) -> None:
        """Step no further while more than ``limit`` values wait for the reader."""
        while self.handed - self.read > self.limit and not self.stopping:
            self.room.clear()
            if self.handed - self.read > self.limit and not self.stopping:  # after the clear:
                self.room.wait()  # a read since then sets it again

    def _drive(self, fn: Callable[[Any], Any], items: Any) -> None:
        backends = _Backends()
        run = Run(fn, items, self.options, self.info, backends)
        finished = False
        error: BaseException | None = None
        try:
            run.settle()
            if not isinstance(items, Frontier):
                run.fit_to_batch()
            run.attach()
            self._engine = engine = run.start()
            if self.stopping:
                engine.wake()
            while not engine.over and not self.stopping:
                out: list[Any] = []
                try:
                    for value in run.results(engine.step(STEP_SECONDS)):
                        out.append(value)
                except BaseException as exc:  # on_error="raise": after the values before it
                    self._hand(out, exc)
                    return
                self._hand(out)
                self._wait_for_reader()
            if self._source_error is not None and not self.stopping:
                error = self._source_error
            finished = not self.stopping
        except BaseException as exc:  # noqa: BLE001 - the caller's to raise, in its loop
            error = exc
        finally:
            if not finished:
                self.info.stopped_early = self.stopping  # not an error's end: the reader's
                stop_coroutines(fn)
                if self._engine is not None:
                    self._engine.stop()
            try:
                run.close()
            finally:
                backends.close(kill=not finished)
                self.stop()  # the pump, if it still reads, stops too
                self._hand([], error, ended=True)


class AsyncMapResult(AsyncIterator[Any]):
    """Results of ``gilwise.amap``, an async iterator; ``.info`` says how it ran.

    Iterating starts the work. Stopping early (the reading task cancelled, ``aclose()``, the
    end of an ``async with`` block, or a ``break`` that lets go of it) cancels what is still
    queued and stops the workers still running.
    """

    def __init__(self, fn: Callable[[Any], Any], items: Iterable[Any] | AsyncIterable[Any],
                 options: Options) -> None:
        self.info: RunInfo = RunInfo()
        self._fn, self._items, self._options = fn, items, options
        self._driver: _Driver | None = None
        self._closed = False
        self._returned = False  # a value was returned: the next call says it was read

    def __aiter__(self) -> "AsyncMapResult":
        return self

    async def __anext__(self) -> Any:
        if self._closed:
            raise StopAsyncIteration
        driver = self._driver
        if driver is None:
            loop = asyncio.get_running_loop()
            driver = self._driver = _Driver(self._fn, self._items, self._options, self.info,
                                            loop)
            self._items = ()
        if self._returned:
            self._returned = False
            driver.took()
        try:
            while not driver.values:
                if driver.error is not None:
                    error, driver.error = driver.error, None
                    raise error
                if driver.ended:
                    raise StopAsyncIteration
                await driver.wait()
        except asyncio.CancelledError:
            driver.stop()
            raise
        self._returned = True
        return driver.values.popleft()

    async def aclose(self) -> None:
        """Cancel the work still out and stop the workers; returns once they are stopped."""
        self._closed = True
        driver = self._driver
        if driver is not None:
            driver.stop()
            await asyncio.shield(driver.finished)

    async def __aenter__(self) -> "AsyncMapResult":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        driver = getattr(self, "_driver", None)
        if driver is not None and not driver.ended:
            driver.stop()


def amap(
    fn: Callable[[Any], Any],
    items: Iterable[Any] | AsyncIterable[Any],
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
) -> AsyncMapResult:
    """:func:`gilwise.map` for an event loop: ``async for value in gilwise.amap(fn, items)``.

    The same options as ``map``, and its guarantees (order, ``on_error``, retries, timeouts,
    the journal); the caller's loop is never blocked: the batch is driven from a thread of
    its own. ``items`` may also be an async iterable, read from the caller's loop no more
    than a few dozen items ahead of the workers (its mode must then be chosen, not "auto").
    Cancelling the reading task, ``aclose()`` or a ``break`` stops the batch and its workers.
    """
    # an option this signature lacks yet takes its default (tests/test_api.py says which)
    given = locals()
    options = check_options(Options(**{k: given[k] for k in Options.__slots__ if k in given}))
    _check_function(fn, "gilwise.amap")
    fn, options = for_workers(fn, items, options)  # type: ignore[arg-type]
    if isinstance(items, (AsyncIterable, Frontier)) and options.mode == "auto":
        what = "a Frontier" if isinstance(items, Frontier) else "an async iterable"
        raise ValueError(f"gilwise.amap: {what} needs a mode (mode='threads' or "
                         "'processes', ...): auto mode would probe items it must wait for")
    if not isinstance(items, (Iterable, AsyncIterable, Frontier)):
        raise TypeError(f"gilwise.amap: items={items!r} is neither iterable nor async iterable")
    return AsyncMapResult(fn, items, options)


async def arun(
    fn: Callable[..., Any],
    /,
    *args: Any,
    mode: Literal["threads", "processes", "interpreters"] = "threads",
    timeout: float | None = None,
    retries: int = 0,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = (BaseException,),
    start_method: Literal["fork", "forkserver", "spawn"] | None = None,
    **kwargs: Any,
) -> Any:
    """``await gilwise.arun(fn, *args, **kwargs)``: one call in a worker, the loop free
    meanwhile (``loop.run_in_executor``'s job). ``mode="processes"`` isolates it: a worker
    that dies raises :class:`WorkerDied` here and the loop goes on; ``timeout`` stops it with
    :class:`TaskTimeout`; the call's own exception is raised as itself.

    The keywords named here are gilwise's; every other keyword goes to ``fn`` (one named like
    them: bind it with ``functools.partial``).
    """
    if not callable(fn):
        raise TypeError(f"gilwise.arun: fn={fn!r} is not callable")
    results = amap(_Call(fn), [(args, kwargs)], mode=mode, workers=1, timeout=timeout,
                   retries=retries, retry_on=retry_on, start_method=start_method,
                   on_error="return", progress=False)
    async with results:
        async for value in results:
            if isinstance(value, Failure):
                exc = value.exception
                if isinstance(exc, (WorkerDied, TaskTimeout, PayloadError)):
                    raise exc
                raise raised(value)
            return value
    raise RuntimeError("gilwise.arun: the call gave no result")  # pragma: no cover


class _Call:
    """``fn(*args, **kwargs)`` for one ``(args, kwargs)`` item; pickles as ``fn`` does."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self, call: tuple[tuple[Any, ...], dict[str, Any]]) -> Any:
        args, kwargs = call
        return self.fn(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return _Call, (self.fn,)

    def __repr__(self) -> str:
        return repr(self.fn)
