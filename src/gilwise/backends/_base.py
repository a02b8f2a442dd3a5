"""The contract every backend fulfils, so one engine drives every mode.

A backend runs chunks and hands back what became of them. It knows nothing of ordering,
retries, journals or progress: those live in the engine, which keeps its books by chunk id.

The core (:class:`Backend`) is what any engine of work can offer: a pool of our own workers,
a Dask cluster, an event loop. Results may come back in any order, from any worker. Where a
backend can also say which item of a chunk runs now and stop the worker running it, it is
:class:`Supervised` too, and the engine uses that for blame and timeouts.
"""

from __future__ import annotations

import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

from gilwise._chunk import Chunk, ChunkResult
from gilwise._cores import usable_cores
from gilwise._options import Options

#: put in an outbox by :meth:`Backend.wake`: ends :func:`drain`'s wait, and is dropped there
WAKE = object()


def drain(outbox: queue.SimpleQueue, timeout: float) -> list[Any]:
    """Everything in ``outbox``, waiting up to ``timeout`` seconds for the first message
    (0: not at all, and a :data:`WAKE` ends the wait): how the in-process backends collect
    their workers' results."""
    if timeout <= 0 and outbox.empty():  # the common case, without raising queue.Empty
        return []
    try:
        pending = [outbox.get(timeout=timeout) if timeout > 0 else outbox.get_nowait()]
    except queue.Empty:
        return []
    while not outbox.empty():
        try:
            pending.append(outbox.get_nowait())
        except queue.Empty:  # another thread took it
            break
    return [message for message in pending if message is not WAKE]


class Done:
    """Chunk ``chunk_id`` ran: its values, per-item errors and timings."""

    __slots__ = ("chunk_id", "result")
    chunk_id: int
    result: ChunkResult

    def __init__(self, chunk_id: int, result: ChunkResult) -> None:
        self.chunk_id, self.result = chunk_id, result

    def __repr__(self) -> str:
        return f"Done(chunk_id={self.chunk_id!r}, result={self.result!r})"


class Lost:
    """Chunk ``chunk_id`` will not come back: its worker died (``kind`` "died") or was
    stopped past the timeout ("timeout"). ``position`` is the item of the chunk that was
    running then, when known (a tracked chunk on a supervised backend), else None."""

    __slots__ = ("chunk_id", "kind", "reason", "position")
    chunk_id: int
    kind: str
    reason: str
    position: int | None

    def __init__(self, chunk_id: int, kind: str, reason: str, position: int | None) -> None:
        self.chunk_id, self.kind, self.reason, self.position = chunk_id, kind, reason, position

    def _values(self) -> tuple[Any, ...]:
        return self.chunk_id, self.kind, self.reason, self.position

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Lost:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # equal by value and mutable

    def __repr__(self) -> str:
        return (f"Lost(chunk_id={self.chunk_id!r}, kind={self.kind!r}, "
                f"reason={self.reason!r}, position={self.position!r})")


Event = Done | Lost


class Backend(ABC):
    """Runs chunks somewhere. Methods are called from the engine's thread only, but
    :meth:`wake`, which any thread may call."""

    name: str = "?"
    #: workers replaced so far after their max_tasks_per_child or memory line (RunInfo's)
    recycled: int = 0
    #: whether each chunk's result tells its CPU seconds and, where a worker can tell, how
    #: long it waited for a core: auto mode's watch, which reads them, sets it; otherwise
    #: the clocks are spared (~1 µs a chunk in threads, ~12 µs in processes)
    timed: bool = False

    def __init__(self, options: Options) -> None:
        self.options: Options = options
        # workers (or cluster threads): sizes the chunks; the registry's make() gives a mode's
        # default where none was asked for
        self.size: int = options.workers if options.workers is not None else usable_cores()

    @abstractmethod
    def start(self) -> None:
        """Be ready for chunks (start workers, connect to a cluster); again after a map."""

    @abstractmethod
    def register(self, fn: Callable[[Any], Any]) -> int:
        """Make ``fn`` known to the workers; chunks name it by the returned id. Raises
        PayloadError when it cannot travel."""

    @abstractmethod
    def capacity(self) -> int:
        """How many chunks the engine may have submitted and not yet collected now: this
        backend's notion of a full pipeline."""

    @abstractmethod
    def submit(self, chunk: Chunk) -> None:
        """Run ``chunk`` where this backend sees fit. Raises PayloadError, having kept
        nothing, when the chunk cannot be sent."""

    @abstractmethod
    def poll(self, timeout: float) -> list[Event]:
        """Finished and lost chunks, in any order, waiting up to ``timeout`` seconds for the
        first (0: not at all)."""

    @abstractmethod
    def wake(self) -> None:
        """From any thread: make a ``poll`` waiting now (or the next one) return at once,
        with what it has: how an outside loop driving the engine is told of new work."""

    @abstractmethod
    def cancel(self, chunk_ids: Iterable[int]) -> None:
        """Best effort, after a run ends early or gives up on chunks: those not started are
        dropped, those running may finish (their results are then not reported) or be
        stopped."""

    @abstractmethod
    def close(self, kill: bool = False) -> None:
        """Stop every worker; with ``kill``, without waiting for them."""

    def signal_workers(self, kill: bool) -> None:
        """From any thread: SIGTERM (``kill``: SIGKILL) every worker process alive now, as
        ``ProcessPoolExecutor.terminate_workers``/``kill_workers`` do; their chunks are then
        lost as a dead worker's are. Threads, sub-interpreters and a cluster's workers cannot
        be stopped so: nothing."""
        return None

    def worker_threads(self) -> list[threading.Thread]:
        """The started threads of this process that run its workers now (an executor's
        ``_threads``, for code written against ``ThreadPoolExecutor``); none by default."""
        return []

    def worker_processes(self) -> dict[int, Any]:
        """pid -> ``multiprocessing`` Process of its worker processes now (an executor's
        ``_processes``, for code written against ``ProcessPoolExecutor``); none by default."""
        return {}

    def name_workers(self, prefix: str) -> None:
        """Name its worker threads ``{prefix}_{n}`` from now on, as ``ThreadPoolExecutor``
        names its own (an executor's); nothing where its workers are not threads."""
        return None

    def resize(self, size: int) -> bool:
        """Between maps, with nothing in flight: run ``size`` workers from now on. False where
        this backend cannot (a ``Pool`` then replaces it)."""
        return False

    def describe(self) -> str:
        return f"{self.name}×{self.size}"


class Supervised(ABC):
    """What a backend offers when it watches its workers item by item (threads, processes,
    interpreters), and the engine uses for blame and timeouts.

    Without it, a lost chunk is sent again whole, then item by item, to find the culprit;
    and a running task cannot be stopped: a chunk out longer than the timeout since it was
    submitted is cancelled (best effort, its late result ignored) and its items are sent
    alone, so an item that overstays the timeout on its own fails with TaskTimeout."""

    @abstractmethod
    def running(self, chunk_id: int) -> tuple[int, float] | None:
        """(position, ``time.monotonic()`` start) of the item of tracked chunk ``chunk_id``
        running now; None if none is (not started, between items, untracked)."""

    @abstractmethod
    def kill(self, chunk_id: int, reason: str) -> None:
        """Stop the worker running ``chunk_id`` (it hung); a later poll reports the chunk
        Lost with kind "timeout" and ``reason``."""
