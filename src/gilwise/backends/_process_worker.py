"""A worker process of the processes backend: the messages on its pipe, and its loop.

Down the pipe: the initializer (with the parent's logging set-up and the recycling limits),
then :class:`Function` and :class:`ChunkMessage` messages, :data:`STOP` at the end. Up: a
ChunkResult per chunk (its ``leaving`` set when the worker is recycled), or
:class:`InitFailed`.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

from gilwise import _shm
from gilwise._chunk import (
    SLOT_STOP,
    ChunkResult,
    encode_result,
    run_chunk,
    run_chunks,
    undecodable,
)
from gilwise._coro import cancelled_when
from gilwise._outcome import ErrorInfo, describe
from gilwise._pickling import dumps
from gilwise._shm import ReadOnlyHint, Sender, loads
from gilwise._threadclock import ThreadClock
from gilwise.backends._logging import apply as apply_logging
from gilwise.backends._native import WorkerLimit
from gilwise.backends._recycle import Budget, leave
from gilwise.backends._tree import forget_inherited_forkserver, lead_own_group, watch_parent

WORKER_NAME = "gilwise-worker"  # _forkserver prepares processes of this name without __main__
# a new worker whose import of the main script (spawn does that) starts gilwise again exits
# with this code, and the parent raises MAIN_RERUN once
MAIN_RERUN_EXIT = 86
MAIN_RERUN = (
    "a new worker imported the main script again, and the script started gilwise there: "
    'put its top-level code under `if __name__ == "__main__":`'
)


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"signal {code}"


def exit_reason(pid: int, exitcode: int | None) -> str:
    """'worker 123 was killed by SIGKILL' / 'worker 123 exited with code 3'."""
    if exitcode is None:
        return f"worker {pid} stopped answering"
    if exitcode < 0:
        return f"worker {pid} was killed by {_signal_name(-exitcode)}"
    return f"worker {pid} exited with code {exitcode}"


# ---------------------------------------------------------------- the messages
# Down the pipe: the initializer first (a pickled (initializer, initargs)), then Function
# and Chunk messages, and STOP at the end. Up: a ChunkResult per Chunk, or InitFailed.

#: the empty message: the worker stops once its chunk ends
STOP = b""


class Function(NamedTuple):
    """A map's function, sent once per worker before the first chunk that names it."""

    fn_id: int
    blob: bytes


class ChunkMessage(NamedTuple):
    """A chunk to run: its items pickled apart, so a worker that cannot unpickle them says
    so for this chunk alone."""

    chunk_id: int
    fn_id: int
    tracked: bool
    items_blob: bytes
    #: the worker times its waits for a core (``ChunkResult.waited``: auto mode's watch)
    timed: bool = False


class InitFailed(NamedTuple):
    """The initializer raised in a new worker: the batch cannot run."""

    info: ErrorInfo


# ---------------------------------------------------------------- the worker process side


class _Pipe:
    """What the parent sends, read by the worker itself between chunks (a reader thread would
    cost a thread hand-over per message): the parent never sends more than its pipe holds to
    a worker that runs a chunk (``ProcessBackend._may_queue``)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self) -> bytes | None:
        """The next message; None once the parent is gone."""
        try:
            return self.conn.recv_bytes()
        except (EOFError, OSError):
            return None

    def get_nowait(self) -> bytes | None:
        """The next message if one has come; raises ``queue.Empty`` if none."""
        try:
            ready = self.conn.poll(0)
        except (EOFError, OSError):
            ready = True  # get() says None
        if not ready:
            raise queue.Empty
        return self.get()


def worker_main(conn: Connection, slot: Any, native: int | None = None,
                share_above: int | None = None) -> None:
    """Entry point of a worker process: init, then run chunks until told to stop; its native
    thread pools limited to ``native`` threads (None: untouched), its results' buffers of
    ``share_above`` bytes or more sent back through shared memory (None: by the pipe)."""
    limit = WorkerLimit(native)  # before anything here imports NumPy
    pickler = dumps if share_above is None else _result_pickler(Sender(share_above, False))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    lead_own_group()
    forget_inherited_forkserver()
    inbox = _Pipe(conn)
    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    name = str(os.getpid())
    fns: dict[int, Callable[[Any], Any]] = {}
    clock = ThreadClock()  # its waits for a core, per chunk (Linux): auto mode's watch reads them
    try:
        initializer, initargs, logs, max_tasks, max_memory = loads(inbox.get())
        apply_logging(logs)  # where not inherited (forkserver; spawn with a guarded setup)
        if initializer is not None:
            initializer(*initargs)
        limit.apply()
    except BaseException as exc:  # noqa: BLE001
        conn.send_bytes(dumps(InitFailed(describe(exc))))
        return
    budget = Budget(max_tasks, max_memory)
    later: list[bytes] = []  # a message read while a chunk's tail ran, not run beside it: next

    def stopped() -> bool:  # the parent asks this worker's coroutines to be cancelled
        return slot[SLOT_STOP] > 0

    def send(result: ChunkResult) -> None:
        result.worker = name
        conn.send_bytes(encode_result(result, pickler))

    def take() -> tuple[int, list[Any]] | None:
        """A chunk of the same coroutine function queued behind, to start in this one's tail."""
        if later:
            return None
        try:
            message = inbox.get_nowait()
        except queue.Empty:
            return None
        order = pickle.loads(message) if message else None
        if isinstance(order, ChunkMessage) and fns.get(order.fn_id) is fn:
            try:
                items = loads(order.items_blob)
            except BaseException:  # noqa: BLE001 - told when it runs on its own
                items = None
            if items is not None and len(items) > 1:
                return order.chunk_id, items
        later.append(message)
        return None

    while message := later.pop() if later else inbox.get():  # None: the pipe closed; STOP
        order = pickle.loads(message)
        if isinstance(order, Function):
            fns[order.fn_id] = loads(order.blob)
            limit.apply()  # the function may have brought NumPy
            continue
        chunk_id = order.chunk_id
        try:
            items = loads(order.items_blob)
        except BaseException as exc:  # noqa: BLE001
            why = f"an argument could not be unpickled: {exc}"
            conn.send_bytes(dumps(undecodable(chunk_id, why)))
            continue
        limit.apply()
        fn = fns[order.fn_id]
        if hasattr(fn, "run_chunks") and not budget.active:  # coroutines: chunks side by side
            with cancelled_when(fn, stopped):
                run_chunks(fn, chunk_id, items, order.tracked, slot, take, send, order.timed)
            limit.apply()
            continue
        waited = clock.sample().waiting if clock.exact and order.timed else None
        if budget.active:
            items = budget.feed(items)
        if _shm.received:  # a write into a shared array explained
            fn = ReadOnlyHint(fn)
        if hasattr(fn, "run_chunks"):  # a coroutine function's chunk, the budget counting
            with cancelled_when(fn, stopped):
                result = run_chunk(fn, chunk_id, items, order.tracked, slot, order.timed)
        else:
            result = run_chunk(fn, chunk_id, items, order.tracked, slot, order.timed)
        limit.apply()  # for the next chunks, where the task itself imported NumPy
        result.worker = name
        if waited is not None:
            result.waited = (clock.sample().waiting or waited) - waited
        result.leaving = budget.leaving
        conn.send_bytes(encode_result(result, pickler))
        if budget.leaving is not None:  # recycled: the parent starts another in its place
            leave()
        # the chunk's arguments and values are freed now, not when the next order comes
        del message, order, items, result


def _result_pickler(sender: Sender) -> Callable[[Any], bytes]:
    """A worker's results as bytes, big arrays in segments the parent takes over."""
    return lambda obj: sender.dumps(obj, dumps)[0]
