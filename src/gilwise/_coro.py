"""Coroutine functions in ``map``: a chunk's items awaited concurrently on the worker's loop.

``map`` wraps an ``async def`` function (or a callable whose result is awaitable) in an
:class:`AsyncCall`; every worker kind runs chunks with ``run_chunk``, which hands a chunk to
``AsyncCall.run_chunk``: its items run as tasks on one event loop kept per worker thread
(uvloop's where installed), at most ``concurrency`` at once, each with its own timeout (a
real cancellation: the coroutine's ``finally`` runs), giving the same ChunkResult as the
plain path, so order, errors, retries and the journal work per item as for plain functions.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
import types
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from gilwise._chunk import ChunkResult, set_awaiter
from gilwise._lazy import LazyModule
from gilwise._outcome import ErrorInfo, TaskTimeout, describe
from gilwise._rate import RateGate

if TYPE_CHECKING:
    import asyncio
else:  # imported on first use: asyncio loads logging (cold start)
    asyncio = LazyModule("asyncio", globals())

#: coroutines one worker keeps in flight by default (``concurrency=None``)
DEFAULT_CONCURRENCY = 100
_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE: the code of an `async def`
_local = threading.local()


def is_async(fn: Any) -> bool:
    """Whether ``fn`` is a coroutine function: an ``async def``, a partial or bound method of
    one, or an object whose ``__call__`` is one."""
    target = fn
    while isinstance(target, (functools.partial, types.MethodType)):
        target = target.func if isinstance(target, functools.partial) else target.__func__
    if _is_coroutine_function(target):
        return True
    return not isinstance(target, type) and _is_coroutine_function(
        type(target).__call__)


def _is_coroutine_function(fn: Any) -> bool:
    """``inspect.iscoroutinefunction(fn)`` without importing inspect on a map's path (6 ms of
    a cold start): where it is not loaded, no function carries its mark."""
    inspect = sys.modules.get("inspect")
    if inspect is not None and inspect.iscoroutinefunction(fn):
        return True
    code = getattr(fn, "__code__", None)
    return isinstance(code, types.CodeType) and bool(code.co_flags & _CO_COROUTINE)


def auto_reason(concurrency: int | None) -> str:
    """Why auto mode runs a coroutine function on one worker thread's event loop."""
    return ("a coroutine function: one event loop awaits up to concurrency="
            f"{concurrency or DEFAULT_CONCURRENCY} of them at once (threads mode, a loop per "
            "worker thread); where that loop computes a core's worth of Python between "
            "awaits, auto moves the rest to processes, a loop in each")


def new_loop() -> asyncio.AbstractEventLoop:
    """An event loop: uvloop's where it is installed, asyncio's otherwise."""
    try:
        import uvloop  # type: ignore[import-not-found]  # noqa: PLC0415 - optional
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()  # type: ignore[no-any-return]


def thread_loop() -> asyncio.AbstractEventLoop:
    """This thread's event loop, made on first use and kept (a worker's aiohttp session or
    connection pool lives on from chunk to chunk); closed when the thread ends."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = new_loop()
        _local.closer = _LoopCloser(loop)
    return loop


class _LoopCloser:
    """Closes a thread's loop when the thread's locals go (the thread ended)."""

    __slots__ = ("loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def __del__(self) -> None:
        try:
            if not self.loop.is_running():
                self.loop.close()
        except Exception:  # noqa: BLE001, S110 - at interpreter exit
            pass


#: how long a worker's loop waits, doubling, between looks for a next chunk in a tail
_POLL_FIRST, _POLL_LAST = 0.001, 0.05


def _nothing() -> None:
    """No next chunk: ``run_chunk``'s ``take``."""


class _Batch:
    """One chunk's books while its items run on a worker's loop: its values, errors and
    timings fill in as its coroutines end; ``left``: those not ended yet, ``fed``: whether
    every item has started."""

    __slots__ = ("chunk_id", "items", "values", "errors", "item_seconds", "left", "fed",
                 "started", "cpu")

    def __init__(self, chunk_id: int, items: Iterable[Any]) -> None:
        # a worker recycled after so many tasks hands an iterator that stops at the count
        self.chunk_id = chunk_id
        self.items = items if isinstance(items, list) else list(items)
        n = self.left = len(self.items)
        self.values: list[Any] = [None] * n
        self.errors: dict[int, ErrorInfo] = {}
        self.item_seconds = [0.0] * n
        self.fed = False
        self.started, self.cpu = time.perf_counter(), time.thread_time()

    def result(self) -> ChunkResult:
        return ChunkResult(self.chunk_id, self.values, self.errors,
                           time.perf_counter() - self.started, self.item_seconds,
                           cpu=time.thread_time() - self.cpu)


def _ended(task: asyncio.Task[None], *, running: set[asyncio.Task[None]],
           room: asyncio.Semaphore, batch: _Batch, ended: asyncio.Event) -> None:
    """A coroutine of ``batch`` ended: its room is free, and the feeder is woken."""
    running.discard(task)
    room.release()
    batch.left -= 1
    ended.set()


class _Expired(Exception):
    """The item ran past its timeout and was cancelled."""


class AsyncCall:
    """A coroutine function as ``map`` sends it to workers: ``fn``, how many of its
    coroutines one worker runs at once, each one's timeout (None: none) and the batch's
    ``rate=`` turns (None: none), awaited before the coroutine starts."""

    __slots__ = ("fn", "concurrency", "timeout", "gate", "_running", "_lock", "_stopped")
    fn: Callable[[Any], Any]
    concurrency: int
    timeout: float | None
    gate: RateGate | None

    def __init__(self, fn: Callable[[Any], Any], concurrency: int | None,
                 timeout: float | None, gate: RateGate | None = None) -> None:
        self.fn, self.timeout, self.gate = fn, timeout, gate
        self.concurrency = concurrency or DEFAULT_CONCURRENCY
        # the chunks running in this process's threads, cancelled when the batch stops
        self._running: set[tuple[asyncio.AbstractEventLoop, asyncio.Task[None]]] = set()
        self._lock = threading.Lock()
        self._stopped = False

    def cancel(self) -> None:
        """The batch stopped (a break, Ctrl-C, an error): cancel the coroutines this process's
        worker threads run for it, their ``finally`` run, rather than let them finish."""
        with self._lock:
            self._stopped = True
            running = list(self._running)
        for loop, task in running:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # that loop closed meanwhile
                pass

    def __reduce__(self) -> tuple[Any, ...]:
        return (AsyncCall, (self.fn, self.concurrency, self.timeout, self.gate))

    def __repr__(self) -> str:
        return f"AsyncCall({self.fn!r}, concurrency={self.concurrency}, timeout={self.timeout})"

    def __call__(self, item: Any) -> Any:
        """One item, awaited on this thread's loop (what a probe or a lone call needs)."""
        result = self.run_chunk(-1, [item])
        if result.errors:
            raise _raised(result.errors[0])
        return result.values[0]

    def run_chunk(self, chunk_id: int, items: Iterable[Any]) -> ChunkResult:
        """Every item of a chunk, up to ``concurrency`` at once, on this thread's loop."""
        results: list[ChunkResult] = []
        self.run_chunks(chunk_id, items, _nothing, results.append)
        return results[0]

    def run_chunks(self, chunk_id: int, items: Iterable[Any],
                   take: Callable[[], tuple[int, list[Any]] | None],
                   send: Callable[[ChunkResult], None]) -> None:
        """A chunk's items, then those of each chunk ``take()`` hands over (its id and items;
        None: none now) once every item before has started, so that ``concurrency`` stays
        full across chunks rather than idling at each chunk's tail; every chunk's result goes
        to ``send`` once it and the chunks before it have ended, in order. A chunk of one item
        runs alone (no chunk is taken while it runs): where the worker dies in it, the death
        is that item's. On a KeyboardInterrupt every coroutine is cancelled (its ``finally``
        run) before it goes on."""
        loop = thread_loop()
        batches = deque([_Batch(chunk_id, items)])  # those not sent yet, in order
        main = loop.create_task(self._stream(take, batches, send))
        with self._lock:
            if self._stopped:
                main.cancel()
            self._running.add((loop, main))
        try:
            loop.run_until_complete(main)
        except asyncio.CancelledError:
            if not self._stopped:
                raise
            for batch in batches:  # the batch stopped: what did not finish is not wanted
                for pos in range(len(batch.items)):
                    batch.errors.setdefault(
                        pos, describe(asyncio.CancelledError("the batch stopped")))
                send(batch.result())
        except BaseException:
            main.cancel()
            try:
                loop.run_until_complete(main)
            except BaseException:  # noqa: BLE001, S110 - the first exception is the one told
                pass
            raise
        finally:
            with self._lock:
                self._running.discard((loop, main))

    async def _stream(self, take: Callable[[], tuple[int, list[Any]] | None],
                      batches: deque[_Batch], send: Callable[[ChunkResult], None]) -> None:
        room = asyncio.Semaphore(self.concurrency)
        running: set[asyncio.Task[None]] = set()
        ended = asyncio.Event()  # set as each coroutine ends: results to send, room to fill

        def flush() -> None:
            while batches and batches[0].fed and batches[0].left == 0:
                send(batches.popleft().result())

        batch = batches[-1]
        try:
            while True:
                for pos, item in enumerate(batch.items):
                    await room.acquire()
                    flush()
                    task = asyncio.ensure_future(
                        self._one(pos, item, batch.values, batch.errors, batch.item_seconds))
                    running.add(task)
                    task.add_done_callback(functools.partial(
                        _ended, running=running, room=room, batch=batch, ended=ended))
                batch.fed = True
                flush()
                alone = len(batch.items) < 2  # a single item: no other chunk beside it
                wait = _POLL_FIRST
                while (nxt := None if alone else take()) is None:
                    if not running:
                        flush()
                        return
                    # what ends first: a coroutine (results to send), or a short wait
                    # (another chunk may have come)
                    timer = asyncio.get_running_loop().call_later(wait, ended.set)
                    await ended.wait()
                    timer.cancel()
                    ended.clear()
                    flush()
                    wait = min(_POLL_LAST, wait * 2)
                batch = _Batch(*nxt)
                batches.append(batch)
        except BaseException:
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(set(running))
            raise

    async def _one(self, pos: int, item: Any, values: list[Any],
                   errors: dict[int, ErrorInfo], item_seconds: list[float]) -> None:
        if self.gate is not None:
            await self.gate.turn()
        t0 = time.perf_counter()
        try:
            if self.timeout is None:
                values[pos] = await self._call(item)
            else:
                values[pos] = await self._timed(item, self.timeout)
        except _Expired:
            reason = f"task ran longer than the timeout of {self.timeout} s (cancelled)"
            info = describe(TaskTimeout(reason), "timeout")
            info.traceback = ""
            errors[pos] = info
        except asyncio.CancelledError:
            raise  # the chunk is cancelled (Ctrl-C): not an item's failure
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a value
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            errors[pos] = describe(exc)
        finally:
            item_seconds[pos] = time.perf_counter() - t0

    async def _call(self, item: Any) -> Any:
        result = self.fn(item)
        if hasattr(result, "__await__"):
            result = await result
        return result

    async def _timed(self, item: Any, timeout: float) -> Any:
        task = asyncio.current_task()
        assert task is not None
        fired: list[bool] = []

        def expire() -> None:
            fired.append(True)
            task.cancel()

        handle = asyncio.get_running_loop().call_later(timeout, expire)
        try:
            return await self._call(item)
        except asyncio.CancelledError:
            if fired:
                raise _Expired from None
            raise
        finally:
            handle.cancel()


@contextmanager
def cancelled_when(fn: Any, stopped: Callable[[], bool], every: float = 0.025) -> Iterator[None]:
    """While a chunk of ``fn`` runs on this thread's loop: once ``stopped()`` says so (asked
    every ``every`` s by a timer of the loop), ``fn.cancel()`` cancels its coroutines, their
    ``finally`` run. For a copy of the AsyncCall that the parent's ``cancel`` cannot reach
    (one in a sub-interpreter, told through shared memory; one on a Dask worker)."""
    if not isinstance(fn, AsyncCall):
        yield
        return
    loop = thread_loop()

    def check() -> None:
        nonlocal timer
        if stopped():
            fn.cancel()
        else:
            timer = loop.call_later(every, check)

    timer = loop.call_later(every, check)
    if stopped():
        fn.cancel()
    try:
        yield
    finally:
        timer.cancel()  # a timer, not a task: nothing is left pending between chunks


def _raised(info: ErrorInfo) -> BaseException:
    return info.exception or RuntimeError(f"{info.exc_type}: {info.message}")


def await_values(result: ChunkResult) -> ChunkResult:
    """A plain function's chunk whose values are awaitables (it returned coroutines): each
    awaited on this thread's loop, up to DEFAULT_CONCURRENCY at once, its exception kept as
    its item's error."""
    loop = thread_loop()
    room = asyncio.Semaphore(DEFAULT_CONCURRENCY)
    values, errors = result.values, result.errors

    async def one(pos: int, awaitable: Any) -> None:
        async with room:
            try:
                values[pos] = await awaitable
            except Exception as exc:  # noqa: BLE001 - every failure becomes a value
                values[pos] = None
                errors[pos] = describe(exc)

    async def every() -> None:
        await asyncio.gather(*(one(pos, v) for pos, v in enumerate(values)
                               if pos not in errors and hasattr(v, "__await__")))

    loop.run_until_complete(every())
    return result


set_awaiter(await_values)
