"""Worker threads, each with its own inbox, all answering into one outbox.

A thread cannot be killed: a task past its timeout is reported as timed out and its thread
is abandoned (left to finish on its own, its result ignored) and replaced by a fresh one.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from gilwise._outcome import ErrorInfo, WorkerInitError, describe
from gilwise._task import SLOT_SIZE, Chunk, held_position, run_chunk, running_in
from gilwise.backends._base import Backend, Done, Event, Lost, drain

_STOP = None
_stopping: weakref.WeakSet[threading.Thread] = weakref.WeakSet()  # told to stop, not joined


def join_stopping(timeout: float = 1.0) -> None:
    """Wait for idle threads told to stop by ``close`` to exit: before a fork, say, which is
    safe only while the parent has one thread."""
    deadline = time.monotonic() + timeout
    for thread in list(_stopping):
        thread.join(max(0.0, deadline - time.monotonic()))


class _Thread:
    def __init__(
        self, wid: int, outbox: queue.SimpleQueue, fns: dict[int, Callable], init: Any
    ) -> None:
        self.id = wid
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.slot: list[float] = [-1.0] * SLOT_SIZE
        self.held: deque[int] = deque()
        self.thread = threading.Thread(
            target=self._run, args=(outbox, fns, init), daemon=True, name=f"gilwise-thread-{wid}"
        )

    def _run(self, outbox: queue.SimpleQueue, fns: dict[int, Callable], init: Any) -> None:
        name = self.thread.name
        initializer, initargs = init
        if initializer is not None:
            try:
                initializer(*initargs)  # per thread, as in ThreadPoolExecutor
            except BaseException as exc:  # noqa: BLE001
                outbox.put((self.id, describe(exc)))
                return
        while (chunk := self.inbox.get()) is not _STOP:
            result = run_chunk(fns[chunk.fn_id], chunk.id, chunk.items, chunk.tracked, self.slot)
            result.worker = name
            outbox.put((self.id, result))


class ThreadBackend(Backend):
    """Threads share the parent's memory: nothing is pickled, the function may be anything."""

    name = "threads"

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._workers: dict[int, _Thread] = {}
        self._ids = itertools.count()
        self._fns: dict[int, Callable[[Any], Any]] = {}
        self._fn_ids = itertools.count()
        self._lost: list[Lost] = []

    def start(self) -> None:
        """Make the workers; each thread starts with its first chunk, so a wide pool (128
        threads) begins working at once instead of after starting them all."""
        init = (self.options.initializer, self.options.initargs)
        while len(self._workers) < self.size:
            t = _Thread(next(self._ids), self._outbox, self._fns, init)
            self._workers[t.id] = t

    def register(self, fn: Callable[[Any], Any]) -> int:
        fn_id = next(self._fn_ids)
        self._fns[fn_id] = fn
        return fn_id

    def workers(self) -> list[int]:
        return list(self._workers)

    def submit(self, worker: int, chunk: Chunk) -> None:
        t = self._workers[worker]
        t.held.append(chunk.id)
        t.inbox.put(chunk)
        if not t.thread.is_alive() and t.thread.ident is None:
            t.thread.start()

    def poll(self, timeout: float) -> list[Event]:
        events: list[Event] = list(self._lost)
        self._lost.clear()
        for wid, result in drain(self._outbox, 0 if events else timeout):
            if isinstance(result, ErrorInfo):
                self.close(kill=True)
                raise WorkerInitError(
                    f"the initializer failed in a new worker thread: {result.exc_type}: "
                    f"{result.message}\n{result.traceback}"
                )
            t = self._workers.get(wid)
            if t is None:
                continue  # an abandoned or cancelled thread finished late: ignore it
            t.held.popleft()
            events.append(Done(wid, result))
        return events

    def running_since(self, worker: int, chunk_id: int) -> tuple[int, float] | None:
        t = self._workers.get(worker)
        return None if t is None else running_in(t.slot, chunk_id)

    def give_up(self, worker: int, reason: str) -> None:
        t = self._workers.pop(worker)
        t.inbox.put(_STOP)  # if it ever comes back, it stops
        position = held_position(t.slot, t.held)
        self._lost.append(Lost(worker, "timeout", reason + " (its thread is abandoned)", position))
        self.start()

    def cancel(self, workers: list[int]) -> None:
        for wid in workers:
            t = self._workers.pop(wid, None)
            if t is not None:
                t.inbox.put(_STOP)
        self.start()

    def close(self, kill: bool = False) -> None:
        """Tell every thread to stop. Idle ones exit on their own, unwaited for (joining 128
        threads costs ~8 ms, as much as a round of 20 ms tasks; ``join_stopping`` waits for
        them where it matters). Without ``kill``, wait (up to 5 s) for those still running."""
        threads = list(self._workers.values())
        self._workers.clear()
        for t in threads:
            t.inbox.put(_STOP)
            if t.thread.ident is not None and not t.held:  # idle: gone in microseconds
                _stopping.add(t.thread)
        if not kill:
            deadline = time.monotonic() + 5.0
            for t in threads:
                if t.held and t.thread.ident is not None:
                    t.thread.join(max(0.0, deadline - time.monotonic()))

