"""Sub-interpreters (Python 3.14+): one per worker thread, each with its own GIL.

Like the thread backend, each worker is a thread with an inbox; the thread owns an
interpreter from ``concurrent.interpreters`` and runs each chunk inside it, so pure-Python
work runs in parallel in one process. Nothing is shared but bytes: the function and items go
in pickled (cloudpickle, so ``__main__`` functions and lambdas travel by value) and the
result comes back pickled. The interpreter writes its progress into a small shared buffer
(a memoryview, which crosses interpreters without a copy), so timeouts and blame work as in
the other modes. A task past its timeout cannot be stopped: its thread and interpreter are
abandoned, as in the thread backend, and replaced. As with threads, a task that crashes
the process (a segfault, ``os._exit``) takes the whole run with it.

This module is imported inside each worker interpreter too (the functions it runs there live
here), so it imports nothing at top level that a sub-interpreter cannot load.
"""

from __future__ import annotations

import itertools
import pickle
import platform
import queue
import sys
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable
from typing import Any

from gilwise._outcome import ErrorInfo, GilwiseError, PayloadError, WorkerInitError, describe
from gilwise._pickling import decode_result, dumps_to_worker
from gilwise._task import (
    SLOT_SIZE,
    held_position,
    run_chunk,
    running_in,
)
from gilwise.backends._base import Backend, Done, Event, Lost, drain

MIN_VERSION = (3, 14)
_STOP = None


class InterpretersUnavailable(GilwiseError, RuntimeError):
    """``mode="interpreters"`` was asked for on a Python without ``concurrent.interpreters``."""


def check_available() -> None:
    """Raise :class:`InterpretersUnavailable` unless this Python can run sub-interpreters."""
    if sys.version_info < MIN_VERSION:
        raise InterpretersUnavailable(
            f"mode='interpreters' needs Python 3.14+ (this is {platform.python_version()})"
        )
    try:
        import concurrent.interpreters  # noqa: F401
    except ImportError as exc:  # a build without them (WASI, some embedders)
        raise InterpretersUnavailable(
            f"mode='interpreters' needs concurrent.interpreters, which this Python "
            f"{platform.python_version()} lacks: {exc}"
        ) from exc


def _dumps(obj: Any) -> bytes:
    """A worker interpreter has its own ``__main__``, so what lives there travels by value
    (cpython#125865) and shares that ``__main__``'s globals; importable objects by reference."""
    return dumps_to_worker(obj)


# ------------------------------------------------------- run inside a worker interpreter
# Module globals here are per interpreter: each worker interpreter has its own copy.

_fns: dict[int, Callable[[Any], Any]] = {}


def _enter(path: tuple[str, ...], init_blob: bytes) -> bytes | None:
    """First call in a new interpreter: the parent's ``sys.path``, then the initializer.

    Returns None, or a pickled ErrorInfo when the initializer failed.
    """
    sys.path[:] = path  # the parent's, changes at run time included (pytest, scripts)
    try:
        initializer, initargs = pickle.loads(init_blob)
        if initializer is not None:
            initializer(*initargs)  # once per interpreter, as in InterpreterPoolExecutor
    except BaseException as exc:  # noqa: BLE001
        info = describe(exc)
        try:
            return pickle.dumps(info)
        except Exception:
            info.exception = None  # the type name, message and traceback still travel
            return pickle.dumps(info)
    return None


def _cannot_load(exc: BaseException) -> Callable[[Any], Any]:
    """Stands in for a function the interpreter could not load (say, its module imports an
    extension that does not support sub-interpreters): every item fails, saying why."""
    why = f"the function could not be loaded in a sub-interpreter: {type(exc).__name__}: {exc}"

    def fail(item: Any) -> Any:
        raise PayloadError(why)

    return fail


def _run_chunk(
    chunk_id: int,
    fn_id: int,
    fn_blob: bytes | None,
    tracked: bool,
    items_blob: bytes,
    slot: memoryview,
) -> bytes:
    """Run one chunk here, in the worker interpreter; the ChunkResult goes back pickled."""
    from gilwise._pickling import encode_result, undecodable  # worker side only

    if fn_blob is not None:
        try:
            _fns[fn_id] = pickle.loads(fn_blob)
        except BaseException as exc:  # noqa: BLE001 - e.g. an extension without subinterpreters
            _fns[fn_id] = _cannot_load(exc)
    try:
        items = pickle.loads(items_blob)
    except BaseException as exc:  # noqa: BLE001
        return pickle.dumps(undecodable(chunk_id, f"an argument could not be unpickled: {exc}"))
    return encode_result(run_chunk(_fns[fn_id], chunk_id, items, tracked, slot))


# ------------------------------------------------------------------ the parent side


class _Died:
    """A worker's interpreter failed outside any task: the worker is gone."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class _Worker:
    """A thread that owns one interpreter and runs the chunks put in its inbox there."""

    def __init__(
        self, wid: int, outbox: queue.SimpleQueue, fns: dict[int, bytes], init_blob: bytes
    ) -> None:
        self.id = wid
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.slot = array("d", [-1.0] * SLOT_SIZE)  # written by the interpreter, read here
        self.held: deque[int] = deque()
        self.thread = threading.Thread(
            target=self._run, args=(outbox, fns, init_blob), daemon=True,
            name=f"gilwise-interpreter-{wid}",
        )

    def _run(self, outbox: queue.SimpleQueue, fns: dict[int, bytes], init_blob: bytes) -> None:
        from concurrent import interpreters

        try:
            interp = interpreters.create()
        except BaseException as exc:  # noqa: BLE001
            outbox.put((self.id, describe(exc)))
            return
        try:
            try:
                failed = interp.call(_enter, tuple(sys.path), init_blob)
            except interpreters.ExecutionFailed as exc:  # gilwise itself would not load there
                failed = pickle.dumps(ErrorInfo("ExecutionFailed", str(exc), ""))
            if failed is not None:
                outbox.put((self.id, pickle.loads(failed)))
                return
            self._serve(interp, outbox, fns)
        finally:
            interp.close()

    def _serve(self, interp: Any, outbox: queue.SimpleQueue, fns: dict[int, bytes]) -> None:
        name = self.thread.name
        known: set[int] = set()
        view = memoryview(self.slot)
        while (message := self.inbox.get()) is not _STOP:
            chunk_id, fn_id, tracked, items_blob = message
            fn_blob = None if fn_id in known else fns[fn_id]
            known.add(fn_id)
            try:
                blob = interp.call(_run_chunk, chunk_id, fn_id, fn_blob, tracked, items_blob, view)
            except BaseException as exc:  # noqa: BLE001 - the worker is lost, not the run
                outbox.put((self.id, _Died(f"{name} failed: {type(exc).__name__}: {exc}")))
                return
            result = decode_result(blob, chunk_id)
            result.worker = name
            outbox.put((self.id, result))


class InterpreterBackend(Backend):
    """Sub-interpreters in one process: parallel Python without processes (3.14+)."""

    name = "interpreters"

    def __init__(self, options: Any) -> None:
        check_available()
        super().__init__(options)
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._workers: dict[int, _Worker] = {}
        self._ids = itertools.count()
        self._fns: dict[int, bytes] = {}
        self._fn_ids = itertools.count()
        self._lost: list[Lost] = []
        try:
            self._init = _dumps((options.initializer, options.initargs))
        except Exception as exc:
            raise PayloadError(f"the initializer could not be pickled: {exc}") from exc

    def start(self) -> None:
        while len(self._workers) < self.size:
            w = _Worker(next(self._ids), self._outbox, self._fns, self._init)
            self._workers[w.id] = w
            w.thread.start()

    def register(self, fn: Callable[[Any], Any]) -> int:
        fn_id = next(self._fn_ids)
        try:
            self._fns[fn_id] = _dumps(fn)
        except Exception as exc:
            raise PayloadError(f"the function {fn!r} could not be pickled: {exc}") from exc
        return fn_id

    def workers(self) -> list[int]:
        return list(self._workers)

    def submit(self, worker: int, chunk: Any) -> None:
        w = self._workers[worker]
        try:
            items_blob = _dumps(chunk.items)
        except Exception as exc:
            raise PayloadError(f"the argument could not be pickled: {exc}") from exc
        w.held.append(chunk.id)
        w.inbox.put((chunk.id, chunk.fn_id, chunk.tracked, items_blob))

    def poll(self, timeout: float) -> list[Event]:
        events: list[Event] = list(self._lost)
        self._lost.clear()
        died = False
        for wid, result in drain(self._outbox, 0 if events else timeout):
            if isinstance(result, ErrorInfo):
                self.close(kill=True)
                raise WorkerInitError(
                    f"a new worker interpreter could not start (its initializer failed, or "
                    f"gilwise would not load there): {result.exc_type}: {result.message}\n"
                    f"{result.traceback}"
                )
            w = self._workers.get(wid)
            if w is None:
                continue  # an abandoned or cancelled worker finished late: ignore it
            if isinstance(result, _Died):
                del self._workers[wid]
                events.append(Lost(wid, "died", result.reason, held_position(w.slot, w.held)))
                died = True
                continue
            w.held.popleft()
            events.append(Done(wid, result))
        if died:
            self.start()
        return events

    def running_since(self, worker: int, chunk_id: int) -> tuple[int, float] | None:
        w = self._workers.get(worker)
        return None if w is None else running_in(w.slot, chunk_id)

    def give_up(self, worker: int, reason: str) -> None:
        w = self._workers.pop(worker)
        w.inbox.put(_STOP)  # when its task ends, the thread closes its interpreter and stops
        reason += " (its interpreter is abandoned)"
        self._lost.append(Lost(worker, "timeout", reason, held_position(w.slot, w.held)))
        self.start()

    def cancel(self, workers: list[int]) -> None:
        for wid in workers:
            w = self._workers.pop(wid, None)
            if w is not None:
                w.inbox.put(_STOP)
        self.start()

    def close(self, kill: bool = False) -> None:
        workers = list(self._workers.values())
        self._workers.clear()
        for w in workers:
            w.inbox.put(_STOP)
        if not kill:
            deadline = time.monotonic() + 5.0
            for w in workers:
                w.thread.join(max(0.0, deadline - time.monotonic()))
