"""What crosses to a worker and back: the Chunk, its ChunkResult, and their bytes.

Every worker kind (threads, processes, interpreters, a Dask worker) runs chunks with
:func:`run_chunk`, so a task behaves the same wherever it runs; those in other processes or
interpreters send the result back as :func:`encode_result`'s bytes, read by
:func:`decode_result`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableSequence, Sequence
from typing import Any

from gilwise._outcome import ErrorInfo, PayloadError, describe
from gilwise._pickling import dumps
from gilwise._shm import loads

# Where a worker publishes what it is doing, read by the supervisor without a message:
# [chunk id, position within the chunk, time.monotonic() when that item started].
SLOT_CHUNK, SLOT_POSITION, SLOT_STARTED = 0, 1, 2
SLOT_SIZE = 3
#: one more element of a process's or an interpreter's slot, written by the parent: 1.0 asks
#: the coroutines its worker runs to be cancelled (``_coro.cancelled_when``)
SLOT_STOP = SLOT_SIZE


def running_in(slot: Sequence[float], chunk_id: int) -> tuple[int, float] | None:
    """(position, start time) of the item a worker's slot says it is running in chunk
    ``chunk_id``; None if it is between items or on another chunk."""
    if int(slot[SLOT_CHUNK]) != chunk_id or slot[SLOT_STARTED] <= 0:
        return None
    return int(slot[SLOT_POSITION]), slot[SLOT_STARTED]


class Chunk:
    """Items sent to one worker in one message; ``positions`` point into the owning Segment."""

    __slots__ = ("id", "fn_id", "items", "tracked", "segment", "positions", "lost", "timed")
    id: int
    fn_id: int
    items: list[Any]
    tracked: bool
    timed: bool  # its result tells its CPU seconds (auto mode's watch reads them)
    segment: Any
    positions: list[int] | range
    lost: int  # times a worker was lost while holding it

    def __init__(self, id: int, fn_id: int, items: list[Any], tracked: bool = False,
                 segment: Any = None, positions: list[int] | range | None = None,
                 lost: int = 0) -> None:
        self.id, self.fn_id, self.items, self.tracked = id, fn_id, items, tracked
        self.segment = segment
        self.positions = [] if positions is None else positions
        self.lost = lost
        self.timed = False

    def __repr__(self) -> str:
        return (f"Chunk(id={self.id!r}, fn_id={self.fn_id!r}, items={self.items!r}, "
                f"tracked={self.tracked!r}, lost={self.lost!r})")


class ChunkResult:
    """Values in item order (None where an item failed), errors by position, timings: wall
    ``seconds`` and, where the chunk was timed (auto mode's watch reads them), the CPU
    seconds of the thread that ran it and the seconds it waited for a core (a worker process
    tells them); 0.0 where not."""

    __slots__ = ("chunk_id", "values", "errors", "seconds", "item_seconds", "worker", "cpu",
                 "waited", "unreadable", "leaving")
    chunk_id: int
    values: list[Any]
    errors: dict[int, ErrorInfo]
    seconds: float
    item_seconds: list[float] | None
    worker: str
    cpu: float
    waited: float
    #: why the chunk's items or results could not be unpickled, or None: the engine then runs
    #: the items one by one, so only the culprit fails (see :func:`undecodable`)
    unreadable: str | None
    #: the worker is recycled after this chunk, and why ("50 items", "private memory ..."):
    #: it finished ``values`` (perhaps fewer than its items: the rest is sent again)
    leaving: str | None

    def __init__(self, chunk_id: int, values: list[Any], errors: dict[int, ErrorInfo],
                 seconds: float, item_seconds: list[float] | None = None, worker: str = "",
                 cpu: float = 0.0, waited: float = 0.0, unreadable: str | None = None) -> None:
        self.chunk_id, self.values, self.errors, self.seconds = chunk_id, values, errors, seconds
        self.item_seconds, self.worker, self.cpu, self.waited = item_seconds, worker, cpu, waited
        self.unreadable = unreadable
        self.leaving = None

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"ChunkResult({fields})"


#: a worker's look for a next chunk: its id and items, or None (none now, or the next message
#: is not a chunk to run beside this one)
Take = Callable[[], "tuple[int, list[Any]] | None"]


def run_chunks(fn: Callable[[Any], Any], chunk_id: int, items: list[Any], tracked: bool,
               slot: MutableSequence[float] | None, take: Take,
               send: Callable[[ChunkResult], None], timed: bool = True) -> None:
    """``run_chunk``, its result given to ``send``; where ``fn`` runs chunks side by side (a
    coroutine function's ``AsyncCall``), the chunks ``take()`` hands over start while this
    one's tail runs, so that its loop never idles between chunks; results go out in order."""
    overlapping = getattr(fn, "run_chunks", None)
    if overlapping is not None:
        overlapping(chunk_id, items, take, send)
    else:
        send(run_chunk(fn, chunk_id, items, tracked, slot, timed))


def run_chunk(
    fn: Callable[[Any], Any],
    chunk_id: int,
    items: list[Any],
    tracked: bool,
    slot: MutableSequence[float] | None,
    timed: bool = True,
) -> ChunkResult:
    """Apply ``fn`` to every item, keeping each exception as a value at its position.

    Untracked chunks take the lean path (one append per item) for tiny tasks; tracked chunks
    publish the current position and start time in ``slot`` (for timeouts and crash blame)
    and time each item. ``timed``: the result tells the CPU seconds of the thread that ran it
    (two reads of a clock that costs a system call: only auto mode's watch reads them). A
    coroutine function's wrapper (``_coro.AsyncCall``) runs the chunk itself, its items
    awaited concurrently on the worker's event loop.
    """
    concurrent = getattr(fn, "run_chunk", None)
    if concurrent is not None:
        return concurrent(chunk_id, items)  # type: ignore[no-any-return]
    values: list[Any] = []
    errors: dict[int, ErrorInfo] = {}
    append = values.append
    it = iter(items)
    started, cpu = time.perf_counter(), time.thread_time() if timed else 0.0
    item_seconds: list[float] | None = None
    if tracked and slot is not None:
        item_seconds = []
        slot[SLOT_CHUNK] = chunk_id
        clock, record = time.perf_counter, item_seconds.append
        monotonic = time.monotonic
        while True:
            try:
                for item in it:
                    slot[SLOT_POSITION] = len(values)
                    slot[SLOT_STARTED] = monotonic()
                    t0 = clock()
                    append(fn(item))
                    record(clock() - t0)
                break
            except BaseException as exc:  # noqa: BLE001 - every failure becomes a value
                if isinstance(exc, KeyboardInterrupt):
                    raise
                record(clock() - t0)
                errors[len(values)] = describe(exc)
                append(None)
        slot[SLOT_STARTED] = 0.0
    else:
        while True:
            try:
                values.extend(map(fn, it))  # on an error, the values before it stay
                break
            except BaseException as exc:  # noqa: BLE001
                if isinstance(exc, KeyboardInterrupt):
                    raise
                errors[len(values)] = describe(exc)
                append(None)
    result = ChunkResult(chunk_id, values, errors, time.perf_counter() - started, item_seconds,
                         cpu=time.thread_time() - cpu if timed else 0.0)
    if values and _awaiter is not None and (
        hasattr(values[0], "__await__") or hasattr(values[-1], "__await__")
    ):  # a plain function that returned awaitables (not an `async def`): awaited here
        return _awaiter(result)
    return result


#: awaits the awaitable values of a ChunkResult (``_coro.await_values``, set when it loads:
#: a layer above this one)
_awaiter: Callable[[ChunkResult], ChunkResult] | None = None


def set_awaiter(awaiter: Callable[[ChunkResult], ChunkResult]) -> None:
    """Install what awaits the awaitable results of a plain function (``_coro``'s)."""
    global _awaiter
    _awaiter = awaiter


def encode_result(result: ChunkResult, pickler: Callable[[Any], bytes] = dumps) -> bytes:
    """A ChunkResult as bytes (``pickler``'s: a worker process's puts big arrays in shared
    memory). A value that cannot be pickled fails only its own item; an exception that
    cannot be pickled travels as its type name, message and traceback (see ErrorInfo's own
    pickling)."""
    try:
        return pickler(result)
    except Exception:
        pass
    for pos, value in enumerate(result.values):
        try:
            dumps(value)
        except Exception as exc:
            result.values[pos] = None
            info = describe(PayloadError(f"the result could not be pickled: {exc}"), "payload")
            result.errors[pos] = info
    return pickler(result)


def decode_result(blob: bytes, chunk_id: int) -> Any:
    """What a worker sent back for chunk ``chunk_id``, unpickled. A value that pickled in the
    worker but cannot be rebuilt here makes the whole chunk undecodable: the engine then runs
    its items one by one, so only the culprit's item fails. One pickle per chunk stays the
    fast path. Big arrays that came through shared memory are mapped here, their files
    removed."""
    try:
        return loads(blob, take=True)
    except BaseException as exc:  # noqa: BLE001 - a SystemExit from a __reduce__ too
        if isinstance(exc, KeyboardInterrupt):
            raise
        return undecodable(chunk_id, f"the result could not be unpickled: {_name(exc)}")


def undecodable(chunk_id: int, why: str) -> ChunkResult:
    """A chunk whose items or results could not be unpickled: the engine runs its items one
    by one (a single item fails with a PayloadError saying ``why``)."""
    return ChunkResult(chunk_id, [], {}, 0.0, unreadable=why)


def _name(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
