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
from typing import Any

from gilwise._chunk import Chunk, ChunkResult, running_in
from gilwise._options import Options
from gilwise.backends._base import Backend, Done, Event, Lost, Supervised
from gilwise.backends._recycle import note

#: chunks a worker whose chunks are quick may hold at once: one running, one queued behind
DEPTH = 2
QUICK_CHUNK_SECONDS = 0.005


class Finished:
    """Worker ``worker`` sent back a result (a worker-level event from ``_collect``)."""

    __slots__ = ("worker", "result")
    worker: int
    result: ChunkResult

    def __init__(self, worker: int, result: ChunkResult) -> None:
        self.worker, self.result = worker, result

    def __repr__(self) -> str:
        return f"Finished(worker={self.worker!r}, result={self.result!r})"


class Gone:
    """Worker ``worker`` is gone ("died"), was stopped ("timeout") or left, recycled, after
    its last result ("recycled": what it still held never started); ``slot`` is its last
    published progress (see ``_task``), read to blame the item it was running."""

    __slots__ = ("worker", "kind", "reason", "slot")
    worker: int
    kind: str
    reason: str
    slot: Sequence[float]

    def __init__(self, worker: int, kind: str, reason: str, slot: Sequence[float]) -> None:
        self.worker, self.kind, self.reason, self.slot = worker, kind, reason, slot

    def __repr__(self) -> str:
        return (f"Gone(worker={self.worker!r}, kind={self.kind!r}, reason={self.reason!r}, "
                f"slot={self.slot!r})")


class WorkerPool(Backend, Supervised):
    """A fixed number of workers of our own, each fed by id; subclasses say how a worker
    starts, is sent a chunk, answers, and is stopped."""

    depth = DEPTH
    #: whether a worker runs the chunks of a coroutine function side by side (see
    #: ``_chunk.run_chunks``): then it holds ``depth`` of them, the next one started in the
    #: tail of the one before
    overlaps: bool = True

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self._workers: dict[int, Any] = {}  # live workers by id: the subclass's objects
        self._held: dict[int, deque[tuple[Chunk, Any]]] = {}  # (chunk, what was sent)
        self._waiting: deque[tuple[Chunk, Any]] = deque()  # submitted, no worker had room
        self._where: dict[int, int] = {}  # chunk id -> the worker holding it
        self._stopping: set[int] = set()  # workers being killed, not reported yet
        # kept as they change, so that placing a chunk does not scan a pool of 512 threads:
        self._idle: dict[int, None] = {}  # workers found holding nothing (a hint, checked)
        self._quick: set[int] = set()  # workers whose last chunk was quick: room for depth
        self._side_by_side: set[int] = set()  # functions whose chunks a worker overlaps
        self.recycled: int = 0  # workers replaced after their max_tasks_per_child or memory line

    def start(self) -> None:
        """Workers up to ``size``, all of them as yet unmeasured: a new map's tasks may be
        slow where the last map's were quick."""
        self._quick.clear()
        self._start_workers()
        self._find_idle()

    def resize(self, size: int) -> bool:
        """Run ``size`` workers from now on, between maps or during one: more are started at
        once; of those over the count, idle ones stop now, busy ones once their chunks are
        done (``_retire``). A ``Pool`` reuses its workers from map to map this way."""
        self.size = size
        self._retire()
        self._start_workers()
        self._find_idle()
        return True

    def _retire(self) -> None:
        """Stop idle workers while there are more than ``size``."""
        extra = len(self._workers) - self.size
        for wid in [w for w in self._workers if not self._held.get(w)]:
            if extra <= 0:
                return
            self._held.pop(wid, None)
            self._quick.discard(wid)
            self._stop(wid, None)
            extra -= 1

    def _overlapping(self, fn_id: int, fn: Any) -> None:
        """Note function ``fn_id`` as one whose chunks a worker runs side by side (a coroutine
        function's): a worker running one holds ``depth`` chunks (from ``register``)."""
        if self.overlaps and hasattr(fn, "run_chunks"):
            self._side_by_side.add(fn_id)

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

    def _may_queue(self, worker: int, chunk: Chunk, packed: Any) -> bool:
        """Whether ``chunk`` may be sent to ``worker`` while it runs another (a worker reads
        what it is sent only between chunks)."""
        return True

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
        workers, held_by = self._workers, self._held
        gone = sum(len(held_by.get(wid, ())) for wid in self._stopping
                   if wid not in workers) if self._stopping else 0
        quick = sum(1 for wid in self._quick if wid in workers)
        return len(workers) + (self.depth - 1) * quick + gone

    def _overlaps(self, held: deque[tuple[Chunk, Any]] | None) -> bool:
        """Whether the chunk a worker runs now is one of those the next starts beside."""
        if not held:
            return False
        running = held[0][0]
        return running.fn_id in self._side_by_side and len(running.items) > 1

    def _room(self, worker: int) -> int:
        return self.depth if worker in self._quick else 1

    def _find_idle(self) -> None:
        """Every live worker holding nothing (after workers started, stopped or replaced)."""
        held_by = self._held
        self._idle = {wid: None for wid in self._workers if not held_by.get(wid)}

    def submit(self, chunk: Chunk) -> None:
        self._waiting.append((chunk, self._pack(chunk)))
        self._place()

    def _place(self) -> None:
        """Hand waiting chunks to workers with room: idle ones first, then quick ones (which
        may hold ``depth`` chunks)."""
        waiting, held_by, workers, idle = self._waiting, self._held, self._workers, self._idle
        while waiting and idle:
            wid = next(iter(idle))
            del idle[wid]
            if wid in workers and not held_by.get(wid):
                self._fill(wid, held_by.setdefault(wid, deque()))
        for wid in list(self._quick) if waiting else ():
            if wid in workers:
                self._fill(wid, held_by.setdefault(wid, deque()))

    def _fill(self, wid: int, held: deque[tuple[Chunk, Any]]) -> None:
        waiting, room = self._waiting, self._room(wid)
        while waiting and len(held) < room:
            if held and not self._may_queue(wid, *waiting[0]):
                return  # it waits for a worker with nothing to do
            chunk, packed = waiting.popleft()
            held.append((chunk, packed))
            self._where[chunk.id] = wid
            self._send(wid, chunk, packed)
            if chunk.fn_id in self._side_by_side and len(chunk.items) > 1:
                self._quick.add(wid)  # the next chunk starts in this one's tail
                room = self.depth

    def poll(self, timeout: float) -> list[Event]:
        events: list[Event] = []
        replaced = False  # a worker was lost, and another started in its place
        for event in self._collect(timeout):
            held = self._held.get(event.worker)
            if isinstance(event, Finished):
                if event.result.leaving is not None:
                    self.recycled += 1
                    note(event.result.worker, event.result.leaving)
                if not held or held[0][0].id != event.result.chunk_id:
                    continue  # a cancelled chunk's late result: not this run's
                held.popleft()
                del self._where[event.result.chunk_id]
                if event.result.seconds < QUICK_CHUNK_SECONDS or self._overlaps(held):
                    self._quick.add(event.worker)
                else:
                    self._quick.discard(event.worker)
                events.append(Done(event.result.chunk_id, event.result))
                if not held:
                    self._idle[event.worker] = None
                    if len(self._workers) > self.size:
                        self._retire()  # it has shrunk: this worker is done and idle
                continue
            replaced = True
            self._held.pop(event.worker, None)
            self._quick.discard(event.worker)
            self._stopping.discard(event.worker)
            if held and event.kind == "recycled":  # what it held after its last chunk: unstarted
                for chunk, _ in held:
                    del self._where[chunk.id]
                self._waiting.extendleft(reversed(held))
            elif held:
                for chunk, _ in held:
                    del self._where[chunk.id]
                chunk, _ = held.popleft()
                running = running_in(event.slot, chunk.id)
                position = running[0] if running else None
                events.append(Lost(chunk.id, event.kind, event.reason, position))
                self._waiting.extendleft(reversed(held))  # queued behind it, never started
        if replaced:
            self._find_idle()
        self._place()
        return events

    def cancel(self, chunk_ids: Iterable[int]) -> None:
        ids = set(chunk_ids)
        self._waiting = deque(w for w in self._waiting if w[0].id not in ids)
        for wid in [w for w, held in self._held.items() if any(c.id in ids for c, _ in held)]:
            held = self._held.pop(wid)
            for chunk, _ in held:
                del self._where[chunk.id]
            self._quick.discard(wid)
            if wid in self._workers:
                self._stop(wid, None)
            self._waiting.extend(w for w in held if w[0].id not in ids)
        self._find_idle()
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

    def running_on(self, chunk_id: int) -> tuple[int, float, str] | None:
        """(position, start, worker's name) of the item of ``chunk_id`` running now."""
        wid = self._holder(chunk_id)
        if wid is None or wid not in self._workers:
            return None
        running = running_in(self._slot(wid), chunk_id)
        return None if running is None else (*running, self._label(wid))

    def _label(self, worker: int) -> str:
        """How results name the worker (a process's pid, a thread's name)."""
        return str(worker)

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
        self._stopping.clear()
        self._idle.clear()
        self._quick.clear()
