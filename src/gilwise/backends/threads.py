"""Worker threads, each with its own inbox, all answering into one outbox.

A thread cannot be killed: a task past its timeout is reported as timed out and its thread
is abandoned (left to finish on its own, its result ignored) and replaced by a fresh one.
The interpreter backend derives from this one, as CPython's ``InterpreterPoolExecutor``
derives from ``ThreadPoolExecutor``: only how a worker runs a chunk and how the function and
initializer travel differ.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from gilwise._chunk import SLOT_SIZE, Chunk, ChunkResult, run_chunks
from gilwise._options import Options
from gilwise._outcome import ErrorInfo, WorkerInitError, describe
from gilwise.backends._base import WAKE, drain
from gilwise.backends._native import ProcessWide, native_limit
from gilwise.backends._pool import Finished, Gone, WorkerPool

STOP = None
#: what the workers answer into: (worker id, its ChunkResult, ErrorInfo or Died), or WAKE
Outbox = queue.SimpleQueue[Any]
_stopping: weakref.WeakSet[threading.Thread] = weakref.WeakSet()  # told to stop, not joined


def join_stopping(timeout: float = 1.0) -> int:
    """Wait for idle threads told to stop by ``close`` to exit: before a fork, say, which is
    safe only while the parent has one thread. Returns how many there were."""
    deadline = time.monotonic() + timeout
    stopping = list(_stopping)
    for thread in stopping:
        thread.join(max(0.0, deadline - time.monotonic()))
    return len(stopping)


class Hush:
    """Results a driver need not be woken for (``ThreadBackend.hush``): a worker appends each
    result to ``box``, then puts a WAKE in the outbox only where ``loud(result)`` says so.
    Judged after the append, so a driver told of a change (an item added, the input closed)
    after a quiet result still finds that result at its next poll."""

    __slots__ = ("box", "loud")
    box: deque[tuple[int, Any]]
    loud: Callable[[Any], bool]

    def __init__(self, loud: Callable[[Any], bool]) -> None:
        self.box = deque()
        self.loud = loud


class Died:
    """A worker failed outside any task (its interpreter broke, say): the worker is gone."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class InboxWorker:
    """A thread with an inbox and a progress slot; ``serve`` is what the thread runs."""

    def __init__(self, wid: int, name: str, slot: Sequence[float], serve: Callable[..., None],
                 args: tuple[Any, ...]) -> None:
        self.id = wid
        #: the subclass's packed chunks (a Chunk, or what an interpreter receives), then STOP
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.slot = slot
        self.hush: Hush | None = None  # set by ThreadBackend.hush
        self.thread: threading.Thread = threading.Thread(
            target=serve, args=(self, *args), daemon=True, name=name
        )

    def start_once(self) -> None:
        if self.thread.ident is None:
            self.thread.start()


def serve_in_thread(worker: InboxWorker, outbox: Outbox, fns: dict[int, Callable[[Any], Any]],
                    init: tuple[Any, tuple[Any, ...]]) -> None:
    """A worker thread: the initializer, then chunks from the inbox until told to stop."""
    name = worker.thread.name
    initializer, initargs = init
    if initializer is not None:
        try:
            initializer(*initargs)  # per thread, as in ThreadPoolExecutor
        except BaseException as exc:  # noqa: BLE001
            outbox.put((worker.id, describe(exc)))
            return
    later: list[Any] = []  # a message read while a chunk's tail ran, not run beside it: next

    def send(result: ChunkResult) -> None:
        result.worker = name
        hush = worker.hush
        if hush is None:
            outbox.put((worker.id, result))
        else:
            hush.box.append((worker.id, result))
            if hush.loud(result):
                outbox.put(WAKE)

    def take() -> tuple[int, list[Any]] | None:
        """A chunk of the same coroutine function queued behind, to start in this one's tail."""
        if later:
            return None
        try:
            nxt = worker.inbox.get_nowait()
        except queue.Empty:
            return None
        if nxt is not STOP and fns.get(nxt.fn_id) is fn and len(nxt.items) > 1:
            return nxt.id, nxt.items
        later.append(nxt)
        return None

    while (chunk := later.pop() if later else worker.inbox.get()) is not STOP:
        fn = fns[chunk.fn_id]
        run_chunks(fn, chunk.id, chunk.items, chunk.tracked, worker.slot, take, send,
                   chunk.timed)
        del chunk  # not kept alive while this thread waits for the next chunk


class ThreadBackend(WorkerPool):
    """Threads share the parent's memory: nothing is pickled, the function may be anything."""

    name = "threads"
    thread_name = "gilwise-thread"
    #: a thread starts with its first chunk, so a wide pool (128 threads) begins working at
    #: once instead of after starting them all
    start_on_first_chunk = True
    init_failed = "the initializer failed in a new worker thread"
    abandoned = " (its thread is abandoned)"
    serve: Callable[..., None] = staticmethod(serve_in_thread)
    #: whether ``close`` waits for idle workers too (an interpreter takes a moment to close)
    wait_for_idle = False

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self._outbox: Outbox = queue.SimpleQueue()
        self._ids = itertools.count()
        self._fns: dict[int, Any] = {}
        self._fn_ids = itertools.count()
        self._gone: list[Gone] = []
        self._init = self._travel((options.initializer, options.initargs), "the initializer")
        self._native = ProcessWide()
        self._hush: Hush | None = None
        self._early: deque[Any] = deque()  # messages ``wait`` took from the outbox
        self._names = f"{self.thread_name}-"  # a worker thread's name, less its id

    def start(self) -> None:
        """As every worker pool starts, with the process's native thread pools limited so
        that threads × native threads ≤ cores (where NumPy or the like is loaded)."""
        super().start()
        asked = self.options.native_threads
        self._native.hold(native_limit(asked, self.size), isinstance(asked, int))

    # -- what the interpreter backend overrides
    def _travel(self, obj: Any, what: str) -> Any:
        """``obj`` as a worker receives it: itself, here."""
        return obj

    def _new_slot(self) -> Sequence[float]:
        return [-1.0] * SLOT_SIZE

    def _pack(self, chunk: Chunk) -> Any:
        chunk.timed = self.timed
        return chunk

    # -- workers
    def _start_workers(self) -> None:
        while len(self._workers) < self.size:
            wid = next(self._ids)
            w = InboxWorker(wid, f"{self._names}{wid}", self._new_slot(), self.serve,
                            (self._outbox, self._fns, self._init))
            w.hush = self._hush
            self._workers[wid] = w
            if not self.start_on_first_chunk:
                w.start_once()

    def worker_threads(self) -> list[threading.Thread]:
        return [w.thread for w in list(self._workers.values()) if w.thread.ident is not None]

    def name_workers(self, prefix: str) -> None:
        self._names = f"{prefix}_"
        for w in list(self._workers.values()):
            w.thread.name = f"{self._names}{w.id}"

    def register(self, fn: Callable[[Any], Any]) -> int:
        fn_id = next(self._fn_ids)
        self._fns[fn_id] = self._travel(fn, f"the function {fn!r}")
        self._overlapping(fn_id, fn)
        return fn_id

    def wake(self) -> None:
        self._outbox.put(WAKE)

    def hush(self, loud: Callable[[Any], bool] | None) -> None:
        """From now on a worker wakes a waiting ``poll`` or :meth:`wait` only for a result
        ``loud`` says matters now (None: for every result, again); the others wait, in
        order, for the next poll. An executor's lane, whose workers settle their futures
        themselves, so spares its driver a wake-up per call."""
        if loud is None and self._hush is not None:
            self._early.extend(self._hush.box)  # kept for the next poll
        self._hush = None if loud is None else Hush(loud)
        for w in self._workers.values():
            w.hush = self._hush

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for something to poll (a loud result, a wake),
        taking nothing: a driver waits outside the lock under which it and others poll."""
        hush = self._hush
        if hush is not None and hush.box:
            return
        self._early.extend(drain(self._outbox, timeout))

    def _send(self, worker: int, chunk: Chunk, packed: Any) -> None:
        w = self._workers[worker]
        w.inbox.put(packed)
        w.start_once()

    def _collect(self, timeout: float) -> list[Finished | Gone]:
        events: list[Finished | Gone] = list(self._gone)
        self._gone.clear()
        died = False
        messages = self._messages(0 if events else timeout)
        for wid, result in messages:
            if isinstance(result, ErrorInfo):
                self.close(kill=True)
                raise WorkerInitError(
                    f"{self.init_failed}: {result.exc_type}: {result.message}\n"
                    f"{result.traceback}"
                )
            w = self._workers.get(wid)
            if w is None:
                continue  # an abandoned or cancelled worker finished late: ignore it
            if isinstance(result, Died):
                del self._workers[wid]
                events.append(Gone(wid, "died", result.reason, w.slot))
                died = True
                continue
            events.append(Finished(wid, result))
        if died:
            self._start_workers()
        return events

    def _messages(self, timeout: float) -> list[Any]:
        """What the workers sent: taken by ``wait``, in the hush box (in the order the
        workers appended them), then in the outbox, waiting up to ``timeout`` for one."""
        early, hush = self._early, self._hush
        taken = [early.popleft() for _ in range(len(early))]
        box = hush.box if hush is not None else None
        if box:
            taken += [box.popleft() for _ in range(len(box))]
        more = drain(self._outbox, 0 if taken else timeout)
        if box:  # appended while the outbox was waited on
            taken += [box.popleft() for _ in range(len(box))]
        return taken + more

    def _slot(self, worker: int) -> Sequence[float]:
        return self._workers[worker].slot

    def _label(self, worker: int) -> str:
        return self._workers[worker].thread.name

    def _stop(self, worker: int, reason: str | None) -> None:
        w = self._workers.pop(worker)
        w.inbox.put(STOP)  # when its task ends, it stops
        if reason is not None:
            self._gone.append(Gone(worker, "timeout", reason + self.abandoned, w.slot))
            self._start_workers()

    def close(self, kill: bool = False) -> None:
        """Tell every thread to stop. Idle ones exit on their own, unwaited for (joining 128
        threads costs ~8 ms, as much as a round of 20 ms tasks; ``join_stopping`` waits for
        them where it matters). Without ``kill``, wait (up to 5 s) for those still running."""
        self._native.release()
        workers = list(self._workers.values())
        busy = {w.id for w in workers if self._busy(w.id)}
        self._workers.clear()
        self._forget()
        for w in workers:
            w.inbox.put(STOP)
            if w.thread.ident is not None and w.id not in busy:  # idle: gone in microseconds
                _stopping.add(w.thread)
        if not kill:
            deadline = time.monotonic() + 5.0
            for w in workers:
                if (w.id in busy or self.wait_for_idle) and w.thread.ident is not None:
                    w.thread.join(max(0.0, deadline - time.monotonic()))
