"""Supervised worker processes, each with its own pipe.

Unlike ``ProcessPoolExecutor``, the parent always knows which chunk each worker holds and
which item it is executing (a few shared floats per worker), so a worker that dies or hangs
costs only its own task: it is killed, replaced at once, and the batch goes on.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import pickle
import select
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from gilwise._chunk import (
    SLOT_STOP,
    Chunk,
    decode_result,
)
from gilwise._memory import PrivateMemory
from gilwise._options import Options
from gilwise._outcome import GilwiseError, PayloadError, WorkerInitError
from gilwise._pickling import dumps_to_worker, name_main_classes
from gilwise._shm import Sender, sweep
from gilwise.backends._logging import capture as capture_logging
from gilwise.backends._native import env_during, native_limit, prepare_fork
from gilwise.backends._pool import Finished, Gone, WorkerPool
from gilwise.backends._process_worker import (
    MAIN_RERUN,
    MAIN_RERUN_EXIT,
    STOP,
    WORKER_NAME,
    ChunkMessage,
    Function,
    InitFailed,
    exit_reason,
    worker_main,
)
from gilwise.backends._recycle import WATCH_SECONDS, kill_past_ceiling
from gilwise.backends._start import _context, _main_without_file
from gilwise.backends._tree import (
    kill_at_exit,
    kill_tree,
)

# ---------------------------------------------------------------- the parent side

#: how long a stop waits for a worker's coroutines to be cancelled (their ``finally`` run)
#: before it kills the worker
COROUTINES_STOP_SECONDS = 1.0
#: the most bytes sent to a worker while it runs a chunk: they wait in its pipe's buffer
#: (Linux: ~200 KB) until it reads them; more would block the sender, so bigger messages go
#: only to a worker with nothing to do, which reads them at once
QUEUED_BYTES_MAX = 64 * 1024


class _Worker:
    def __init__(self, wid: int, process: Any, conn: Connection, slot: Any) -> None:
        self.id, self.process, self.conn, self.slot = wid, process, conn, slot
        self.known_fns: set[int] = set()
        self.giving_up: str | None = None
        self.leaving: str | None = None  # it said it is recycled, and why
        self.killed_for: str | None = None  # killed past the memory ceiling, and why
        self.memory: PrivateMemory | None = None  # read while it runs an item (a ceiling)


class ProcessBackend(WorkerPool):
    """Worker processes supervised from the engine's thread, with no helper threads."""

    name = "processes"

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self._ids = itertools.count()
        self._fns: dict[int, bytes] = {}
        self._fn_ids = itertools.count()
        self._coroutines: set[int] = set()  # coroutine functions' ids: cancelled, not killed
        # big buffers (NumPy arrays) travel through shared memory (gilwise._shm); segments
        # a process killed with kill -9 left are removed first
        self._shared = Sender(options.share_above) if options.share_above else None
        if self._shared is not None:
            sweep()
        self._init, _ = self._dump((options.initializer, options.initargs, capture_logging(),
                                    options.max_tasks_per_child, options.max_memory_per_child))
        self.start_method: str | None = None  # how the latest worker started (RunInfo's)
        self._native: tuple[int, int | None] = (0, None)  # (pool size, its native threads)
        self._max_memory: int | None = options.max_memory_per_child
        # a worker recycled after so many tasks or so much memory counts them chunk by chunk
        self.overlaps: bool = options.max_tasks_per_child is None and self._max_memory is None
        self._watched = 0.0  # when the workers' memory was last read
        kill_at_exit(self, self._workers)
        # wake(): a byte here ends the wait of a poll on the workers' pipes
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        weakref.finalize(self, _close_fds, self._wake_r, self._wake_w)
        # what a poll waits on, kept while the workers stay the same (see ``_ready``)
        self._watching: tuple[int, ...] | None = None
        self._by_handle: dict[Any, _Worker] = {}
        self._by_fd: dict[int, Any] = {}
        self._poller: Any = None

    def wake(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except BlockingIOError:
            pass  # the pipe is full of wake-ups already

    # -- lifecycle
    def _start_workers(self) -> None:
        if multiprocessing.current_process().daemon:
            raise GilwiseError(
                "mode='processes' cannot start workers in a daemonic process (a worker of "
                "multiprocessing.Pool, say): use mode='threads' there; gilwise's own workers "
                "may nest a processes map"
            )
        while len(self._workers) < self.size:
            self._spawn()

    def _spawn(self) -> _Worker:
        me = multiprocessing.current_process()
        if me.name == WORKER_NAME and getattr(me, "_inheriting", False):
            raise SystemExit(MAIN_RERUN_EXIT)  # quietly: the parent says why, once
        ctx = _context(self.options.start_method)
        self.start_method = ctx.get_start_method()
        if self.start_method == "fork":
            name_main_classes()
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        slot = ctx.RawArray("d", SLOT_STOP + 1)
        if self._native[0] != self.size:  # once per pool size: it reads the cgroup files
            self._native = (self.size, native_limit(self.options.native_threads, self.size))
        native = self._native[1]
        if native is not None and self.start_method == "fork":
            prepare_fork()
        process = ctx.Process(
            # not daemonic, so a task may start processes (a nested map); kill_at_exit sees
            # to it that none outlives the parent or holds up its exit
            target=worker_main, args=(child_conn, slot, native, self.options.share_above),
            daemon=False,
            name=WORKER_NAME
        )
        spawn = ctx.get_start_method() == "spawn"
        with _main_without_file() if spawn else contextlib.nullcontext(), \
                env_during(native if spawn else None):
            process.start()
        child_conn.close()
        parent_conn.send_bytes(self._init)
        worker = _Worker(next(self._ids), process, parent_conn, slot)
        self._workers[worker.id] = worker
        return worker

    def _dump(self, obj: Any, keep: bool = False) -> tuple[bytes, list[str]]:
        """``obj`` for a worker, and the shared-memory segments it names (``keep``: see
        ``Sender.dumps``)."""
        if self._shared is None:
            return dumps_to_worker(obj), []
        return self._shared.dumps(obj, dumps_to_worker, keep)

    def register(self, fn: Callable[[Any], Any]) -> int:
        fn_id = next(self._fn_ids)
        try:
            self._fns[fn_id], paths = self._dump(fn, keep=True)
        except Exception as exc:
            raise PayloadError(f"the function {fn!r} could not be pickled: {exc}") from exc
        if self._shared is not None:
            self._shared.for_function(paths)
        self._overlapping(fn_id, fn)
        if hasattr(fn, "run_chunks"):
            self._coroutines.add(fn_id)
        return fn_id

    # -- work
    def _pack(self, chunk: Chunk) -> bytes:
        try:
            items_blob, paths = self._dump(chunk.items)
        except Exception as exc:
            raise PayloadError(f"the argument could not be pickled: {exc}") from exc
        if self._shared is not None:
            self._shared.for_chunk(chunk.id, paths)
        return pickle.dumps(ChunkMessage(chunk.id, chunk.fn_id, chunk.tracked, items_blob,
                                         self.timed))

    def _may_queue(self, worker: int, chunk: Chunk, packed: bytes) -> bool:
        w = self._workers[worker]
        size = len(packed)
        if chunk.fn_id not in w.known_fns:
            size += len(self._fns[chunk.fn_id])
        return size <= QUEUED_BYTES_MAX

    def _send(self, worker: int, chunk: Chunk, packed: bytes) -> None:
        w = self._workers[worker]
        try:
            if chunk.fn_id not in w.known_fns:
                w.conn.send_bytes(pickle.dumps(Function(chunk.fn_id, self._fns[chunk.fn_id])))
                w.known_fns.add(chunk.fn_id)
            w.conn.send_bytes(packed)
        except OSError:
            pass  # it just died: _collect sees its sentinel and the chunk goes on, unstarted

    def _ready(self, timeout: float) -> list[Any]:
        """The workers' pipes and sentinels, and the wake pipe, that are ready, waiting up to
        ``timeout`` seconds for one: one ``poll`` object kept while the workers stay the
        same (``multiprocessing.connection.wait`` builds a selector per call, ~10 µs)."""
        workers = tuple(self._workers)
        if workers != self._watching:
            self._watching = workers
            by_handle = self._by_handle = {}
            for w in self._workers.values():
                by_handle[w.conn] = w
                by_handle[w.process.sentinel] = w
            self._poller = getattr(select, "poll", lambda: None)()  # None on Windows
            if self._poller is not None:
                self._by_fd = {self._wake_r: self._wake_r}
                for handle in by_handle:
                    fd = handle if isinstance(handle, int) else handle.fileno()
                    self._by_fd[fd] = handle
                    self._poller.register(fd, select.POLLIN)
                self._poller.register(self._wake_r, select.POLLIN)
        if self._poller is None:
            return wait([*self._by_handle, self._wake_r], timeout)
        by_fd = self._by_fd
        return [by_fd[fd] for fd, _ in self._poller.poll(max(0.0, timeout) * 1000)]

    def _collect(self, timeout: float) -> list[Finished | Gone]:
        events: list[Finished | Gone] = []
        if self._max_memory is not None and self._held:
            timeout = min(timeout, WATCH_SECONDS)
        ready = self._ready(timeout)
        by_handle = self._by_handle
        if self._max_memory is not None:
            self._watch_memory()
        dead: list[_Worker] = []
        for handle in ready:
            if handle == self._wake_r:
                _read_all(self._wake_r)
                continue
            w = by_handle[handle]
            if handle is w.conn:
                if not self._receive(w, events):
                    dead.append(w)
            elif w not in dead:
                dead.append(w)
        for w in dead:
            if w.id in self._workers:
                while w.conn.poll(0) and self._receive(w, events):
                    pass  # results sent just before dying still count
                events.append(self._bury(w))
        if dead:
            self._start_workers()
        return events

    def _receive(self, w: _Worker, events: list[Finished | Gone]) -> bool:
        try:
            blob = w.conn.recv_bytes()
        except (EOFError, OSError):
            return False
        # the chunk this answers: the first held one not answered earlier in this collect
        answered = sum(1 for e in events if isinstance(e, Finished) and e.worker == w.id)
        held = self._held.get(w.id, ())
        message = decode_result(blob, held[answered][0].id if len(held) > answered else -1)
        if isinstance(message, InitFailed):
            info = message.info
            self.close(kill=True)
            raise WorkerInitError(
                f"the initializer failed in a new worker: {info.exc_type}: {info.message}\n"
                + info.traceback
            )
        if self._shared is not None:
            self._shared.chunk_done(getattr(message, "chunk_id", -1))
        events.append(Finished(w.id, message))
        if getattr(message, "leaving", None) is not None:
            w.leaving = message.leaving
            return False  # it exits now: buried, and another started in its place
        return True

    def _watch_memory(self) -> None:
        """Kill a worker whose private memory grew past the ceiling while running an item
        (every WATCH_SECONDS): that item fails alone, naming the ceiling."""
        now = time.monotonic()
        if now - self._watched < WATCH_SECONDS:
            return
        self._watched = now
        busy = [self._workers[wid] for wid, held in self._held.items()
                if held and wid in self._workers]
        kill_past_ceiling(busy, self._max_memory)  # type: ignore[arg-type]

    def _bury(self, w: _Worker) -> Gone:
        kill_tree(w.process)  # what its task started dies with it
        w.process.join(1)
        forked = isinstance(w.process, getattr(multiprocessing.context, "ForkProcess", ()))
        if not forked and w.process.exitcode == MAIN_RERUN_EXIT:
            self.close(kill=True)
            raise WorkerInitError(MAIN_RERUN)
        del self._workers[w.id]
        w.conn.close()
        sweep(w.process.pid)  # results it was writing when it died
        if w.giving_up is not None:
            return Gone(w.id, "timeout", w.giving_up, w.slot)
        if w.killed_for is not None:
            return Gone(w.id, "died", w.killed_for, w.slot)
        if w.leaving is not None:
            return Gone(w.id, "recycled", w.leaving, w.slot)
        return Gone(w.id, "died", exit_reason(w.process.pid, w.process.exitcode), w.slot)

    def _slot(self, worker: int) -> Sequence[float]:
        return self._workers[worker].slot

    def _label(self, worker: int) -> str:
        return str(self._workers[worker].process.pid)

    def cancel(self, chunk_ids: Iterable[int]) -> None:
        """As every pool cancels (the workers running those chunks stopped), but where they
        run a coroutine function's chunk, its coroutines are first cancelled there, their
        ``finally`` run (up to ``COROUTINES_STOP_SECONDS``), rather than killed mid-await."""
        ids = set(chunk_ids)
        self._cancel_coroutines(lambda chunk: chunk.id in ids)
        super().cancel(ids)

    def _cancel_coroutines(self, which: Callable[[Chunk], bool]) -> None:
        """Ask the workers running a coroutine function's chunk ``which`` picks to cancel its
        coroutines, and wait until each has sent the chunk back (or the time is up)."""
        workers = self._workers
        stopping = [workers[wid] for wid, held in self._held.items()
                    if held and wid in workers and held[0][0].fn_id in self._coroutines
                    and which(held[0][0])]
        for w in stopping:
            w.slot[SLOT_STOP] = 1.0
        deadline = time.monotonic() + COROUTINES_STOP_SECONDS
        for w in stopping:  # each sends its chunk's result once its coroutines are cancelled
            with contextlib.suppress(OSError, EOFError):
                w.conn.poll(max(0.0, deadline - time.monotonic()))

    def _stop(self, worker: int, reason: str | None) -> None:
        if reason is not None:  # it hung: killed, and reported Gone once its death is seen
            w = self._workers[worker]
            w.giving_up = reason
            kill_tree(w.process)
            return
        w = self._workers.pop(worker)
        kill_tree(w.process)
        w.process.join(1)
        w.conn.close()

    def worker_processes(self) -> dict[int, Any]:
        return {w.process.pid: w.process for w in list(self._workers.values())}

    def signal_workers(self, kill: bool) -> None:
        for w in list(self._workers.values()):  # the engine's thread may bury one meanwhile
            with contextlib.suppress(ValueError):  # closed: gone already
                if w.process.exitcode is not None:
                    continue
                if kill:
                    kill_tree(w.process)  # what its task started dies with it
                else:
                    w.process.terminate()

    def close(self, kill: bool = False) -> None:
        if kill:
            self._cancel_coroutines(lambda chunk: True)
        workers = list(self._workers.values())
        self._workers.clear()
        self._forget()
        for w in workers:
            if kill:
                kill_tree(w.process)
            else:
                try:
                    w.conn.send_bytes(STOP)
                except OSError:
                    pass
        deadline = time.monotonic() + (0 if kill else 2.0)
        for w in workers:
            w.process.join(max(0.0, deadline - time.monotonic()))
            if w.process.exitcode is None:
                kill_tree(w.process)
                w.process.join(1)
            w.conn.close()
            if self._shared is not None:
                sweep(w.process.pid)
        if self._shared is not None:
            self._shared.close()


def _read_all(fd: int) -> None:
    try:
        while len(os.read(fd, 4096)) == 4096:  # less: the pipe is empty now
            pass
    except BlockingIOError:
        pass


def _close_fds(*fds: int) -> None:
    for fd in fds:
        os.close(fd)
