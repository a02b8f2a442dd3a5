"""What the worker-pool backends share (threads, processes, interpreters): per-worker books.

Each worker holds a short queue of chunks, the running one first. A chunk is queued behind a
running one only on a worker whose chunks are quick: there it hides the round trip; behind a
slow task it would wait while another worker idles. When a worker is lost, the chunk it was
running is reported Lost with the item its slot names, and the chunks queued behind it, never
started, go to the next worker with room. Subclasses provide the workers themselves through a
few worker-level primitives (the ``_`` methods below).
"""

from __future__ import annotations

from abc import abstractmethod
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gilwise._task import Chunk, ChunkResult, running_in
from gilwise.backends._base import Backend, Done, Event, Lost, Supervised

#: chunks a worker whose chunks are quick may hold at once: one running, one queued behind
DEPTH = 2
QUICK_CHUNK_SECONDS = 0.005


@dataclass(eq=False)
class Finished:
    """Worker ``worker`` sent back a result (a worker-level event from ``_collect``)."""

    worker: int
    result: ChunkResult


@dataclass(eq=False)
class Gone:
    """Worker ``worker`` is gone ("died") or was stopped ("timeout"); ``slot`` is its last
    published progress (see ``_task``), read to blame the item it was running."""

    worker: int
    kind: str
    reason: str
    slot: Sequence[float]


class WorkerPool(Backend, Supervised):
    """A fixed number of workers of our own, each fed by id; subclasses say how a worker
    starts, is sent a chunk, answers, and is stopped."""

    depth = DEPTH

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        self._workers: dict[int, Any] = {}  # live workers by id: the subclass's objects
        self._held: dict[int, deque[tuple[Chunk, Any]]] = {}  # (chunk, what was sent)
        self._waiting: deque[tuple[Chunk, Any]] = deque()  # submitted, no worker had room
        self._where: dict[int, int] = {}  # chunk id -> the worker holding it
        self._last_seconds: dict[int, float] = {}  # per worker: how long its last chunk took
        self._stopping: set[int] = set()  # workers being killed, not reported yet

    def start(self) -> None:
        """Workers up to ``size``, all of them as yet unmeasured: a new map's tasks may be
        slow where the last map's were quick."""
        self._last_seconds.clear()
        self._start_workers()

    def resize(self, size: int) -> bool:
        """Run ``size`` workers from now on, between maps or during one: more are started at
        once; of those over the count, idle ones stop now, busy ones once their chunks are
        done (``_retire``). A ``Pool`` reuses its workers from map to map this way."""
        self.size = size
        self._retire()
        self._start_workers()
        return True

    def _retire(self) -> None:
        """Stop idle workers while there are more than ``size``."""
        extra = len(self._workers) - self.size
        for wid in [w for w in self._workers if not self._held.get(w)]:
            if extra <= 0:
                return
            self._held.pop(wid, None)
            self._last_seconds.pop(wid, None)
            self._stop(wid, None)
            extra -= 1

    # -- what each kind of worker pool provides
    @abstractmethod
    def _start_workers(self) -> None:
        """Bring the live workers up to ``size`` (also after a worker is lost)."""

    @abstractmethod
    def _pack(self, chunk: Chunk) -> Any:
        """What travels to a worker for ``chunk``; raises PayloadError if it cannot."""

    @abstractmethod
    def _send(self, worker: int, chunk: Chunk, packed: Any) -> None:
        """Queue ``packed`` on ``worker`` (a worker that just died is seen by ``_collect``)."""

    @abstractmethod
    def _collect(self, timeout: float) -> list[Finished | Gone]:
        """Results and lost workers, waiting up to ``timeout`` seconds for the first; a lost
        worker is out of ``_workers`` and replaced by the time it is reported."""

    @abstractmethod
    def _slot(self, worker: int) -> Sequence[float]:
        """The live worker's published progress."""

    @abstractmethod
    def _stop(self, worker: int, reason: str | None) -> None:
        """Stop ``worker`` now: with a ``reason`` it hung, and ``_collect`` reports it Gone
        ("timeout"); without, its work was cancelled and nothing is reported."""

    # -- the core contract, by chunk id
    def capacity(self) -> int:
        """Room on the live workers, plus the chunks still held by a worker being stopped
        (out until its loss is reported)."""
        gone = sum(len(held) for wid, held in self._held.items() if wid not in self._workers)
        return sum(self._room(wid) for wid in self._workers) + gone

    def _room(self, worker: int) -> int:
        quick = self._last_seconds.get(worker, 1.0) < QUICK_CHUNK_SECONDS
        return self.depth if quick else 1

    def submit(self, chunk: Chunk) -> None:
        self._waiting.append((chunk, self._pack(chunk)))
        self._place()

    def _place(self) -> None:
        """Hand waiting chunks to workers with room: idle ones first."""
        waiting, held_by = self._waiting, self._held
        for idle_only in (True, False):
            for wid in self._workers:
                if not waiting:
                    return
                held = held_by.get(wid)
                if held is None:
                    held = held_by[wid] = deque()
                elif idle_only and held:
                    continue
                while waiting and len(held) < self._room(wid):
                    chunk, packed = waiting.popleft()
                    held.append((chunk, packed))
                    self._where[chunk.id] = wid
                    self._send(wid, chunk, packed)

    def poll(self, timeout: float) -> list[Event]:
        events: list[Event] = []
        for event in self._collect(timeout):
            held = self._held.get(event.worker)
            if isinstance(event, Finished):
                if not held or held[0][0].id != event.result.chunk_id:
                    continue  # a cancelled chunk's late result: not this run's
                held.popleft()
                del self._where[event.result.chunk_id]
                self._last_seconds[event.worker] = event.result.seconds
                events.append(Done(event.result.chunk_id, event.result))
                if len(self._workers) > self.size and not held:
                    self._retire()  # it has shrunk: this worker is done and idle
                continue
            self._held.pop(event.worker, None)
            self._last_seconds.pop(event.worker, None)
            self._stopping.discard(event.worker)
            if held:
                for chunk, _ in held:
                    del self._where[chunk.id]
                chunk, _ = held.popleft()
                running = running_in(event.slot, chunk.id)
                position = running[0] if running else None
                events.append(Lost(chunk.id, event.kind, event.reason, position))
                self._waiting.extendleft(reversed(held))  # queued behind it, never started
        self._place()
        return events

    def cancel(self, chunk_ids: Iterable[int]) -> None:
        ids = set(chunk_ids)
        self._waiting = deque(w for w in self._waiting if w[0].id not in ids)
        for wid in [w for w, held in self._held.items() if any(c.id in ids for c, _ in held)]:
            held = self._held.pop(wid)
            for chunk, _ in held:
                del self._where[chunk.id]
            self._last_seconds.pop(wid, None)
            if wid in self._workers:
                self._stop(wid, None)
            self._waiting.extend(w for w in held if w[0].id not in ids)
        self._place()

    # -- supervision
    def _holder(self, chunk_id: int) -> int | None:
        """The worker running ``chunk_id`` (not merely holding it queued)."""
        wid = self._where.get(chunk_id)
        if wid is None or self._held[wid][0][0].id != chunk_id:
            return None
        return wid

    def running(self, chunk_id: int) -> tuple[int, float] | None:
        wid = self._holder(chunk_id)
        if wid is None or wid not in self._workers:
            return None
        return running_in(self._slot(wid), chunk_id)

    def kill(self, chunk_id: int, reason: str) -> None:
        wid = self._holder(chunk_id)
        if wid is None or wid in self._stopping or wid not in self._workers:
            return
        self._stopping.add(wid)
        self._stop(wid, reason)

    def _busy(self, worker: int) -> bool:
        return bool(self._held.get(worker))

    def _forget(self) -> None:
        """After close: nothing is held any more."""
        self._held.clear()
        self._waiting.clear()
        self._where.clear()
        self._last_seconds.clear()
        self._stopping.clear()
