"""Sub-interpreters (Python 3.14+): one per worker thread, each with its own GIL.

A thread backend (each worker a thread with an inbox) whose threads each own an
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

import pickle
import platform
import sys
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from gilwise._chunk import SLOT_STOP, Chunk, decode_result, encode_result, run_chunk, undecodable
from gilwise._coro import cancelled_when
from gilwise._options import Options
from gilwise._outcome import ErrorInfo, InterpretersUnavailable, PayloadError, describe
from gilwise._pickling import dumps_to_worker
from gilwise.backends.threads import STOP, Died, InboxWorker, Outbox, ThreadBackend

MIN_VERSION = (3, 14)
#: an element of a worker's slot past the supervisor's: 1.0 once the parent stopped that worker
#: (a batch stopped early), so the coroutines its interpreter runs are cancelled there


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
    limit: int = 0,
) -> bytes:
    """Run one chunk here, in the worker interpreter (its first ``limit`` items only, where
    ``limit`` is set: the interpreter is then recycled); the ChunkResult goes back pickled."""

    if fn_blob is not None:
        try:
            _fns[fn_id] = pickle.loads(fn_blob)
        except BaseException as exc:  # noqa: BLE001 - e.g. an extension without subinterpreters
            _fns[fn_id] = _cannot_load(exc)
    try:
        items = pickle.loads(items_blob)
    except BaseException as exc:  # noqa: BLE001
        return pickle.dumps(undecodable(chunk_id, f"an argument could not be unpickled: {exc}"))
    if limit:
        items = items[:limit]
    fn = _fns[fn_id]
    with cancelled_when(fn, lambda: slot[SLOT_STOP] > 0):
        result = run_chunk(fn, chunk_id, items, tracked, slot)
    return encode_result(result)


# ------------------------------------------------------------------ the parent side


def serve_in_interpreter(worker: InboxWorker, outbox: Outbox,
                         fns: dict[int, bytes], init: tuple[bytes, int | None]) -> None:
    """A worker thread: make its interpreter, enter it (``sys.path``, the initializer), then
    run the chunks from the inbox there until told to stop; after ``max_tasks_per_child``
    items (``init[1]``), close it and go on in a new one."""
    from concurrent import interpreters

    init_blob, max_tasks = init
    while True:
        try:
            interp = interpreters.create()
        except BaseException as exc:  # noqa: BLE001
            outbox.put((worker.id, describe(exc)))
            return
        try:
            try:
                failed = interp.call(_enter, tuple(sys.path), init_blob)
            except interpreters.ExecutionFailed as exc:  # gilwise itself would not load there
                failed = pickle.dumps(ErrorInfo("ExecutionFailed", str(exc), ""))
            if failed is not None:
                outbox.put((worker.id, pickle.loads(failed)))
                return
            if not _serve(worker, interp, outbox, fns, max_tasks):
                return
        finally:
            interp.close()


def _serve(worker: InboxWorker, interp: Any, outbox: Outbox,
           fns: dict[int, bytes], max_tasks: int | None) -> bool:
    """Run chunks in ``interp``; True when it is spent (recycled), False at the end."""
    name = worker.thread.name
    known: set[int] = set()
    view = memoryview(worker.slot)  # type: ignore[arg-type]
    left = max_tasks or 0
    while (message := worker.inbox.get()) is not STOP:
        chunk_id, fn_id, tracked, items_blob = message
        fn_blob = None if fn_id in known else fns[fn_id]
        known.add(fn_id)
        try:
            blob = interp.call(_run_chunk, chunk_id, fn_id, fn_blob, tracked, items_blob, view,
                               left)
        except BaseException as exc:  # noqa: BLE001 - the worker is lost, not the run
            outbox.put((worker.id, Died(f"{name} failed: {type(exc).__name__}: {exc}")))
            return False
        result = decode_result(blob, chunk_id)
        result.worker = name
        if max_tasks and result.unreadable is None:
            left -= len(result.values)
            if left <= 0:
                result.leaving = f"{max_tasks} items (max_tasks_per_child)"
        outbox.put((worker.id, result))
        if result.leaving is not None:
            return True
        del message, blob, result  # not kept alive while this thread waits for the next
    return False


class InterpreterBackend(ThreadBackend):
    """Sub-interpreters in one process: parallel Python without processes (3.14+)."""

    name = "interpreters"
    thread_name = "gilwise-interpreter"
    start_on_first_chunk = False
    wait_for_idle = True
    init_failed = (
        "a new worker interpreter could not start (its initializer failed, or gilwise would "
        "not load there)"
    )
    abandoned = " (its interpreter is abandoned)"
    serve: Callable[..., None] = staticmethod(serve_in_interpreter)
    overlaps = False  # an interpreter runs one chunk at a time

    def __init__(self, options: Options) -> None:
        check_available()
        super().__init__(options)
        self._init = (self._init, options.max_tasks_per_child)  # what serve_in_interpreter takes

    def _travel(self, obj: Any, what: str) -> bytes:
        """Pickled: an interpreter shares nothing with this one but bytes."""
        try:
            return _dumps(obj)
        except Exception as exc:
            raise PayloadError(f"{what} could not be pickled: {exc}") from exc

    def _new_slot(self) -> Sequence[float]:
        slot = array("d", [-1.0] * (SLOT_STOP + 1))  # written by the interpreter, read here
        slot[SLOT_STOP] = 0.0  # but this, written here
        return slot

    def _stop(self, worker: int, reason: str | None) -> None:
        """As a thread's, and the coroutines its interpreter runs are cancelled there."""
        self._workers[worker].slot[SLOT_STOP] = 1.0  # type: ignore[index]
        super()._stop(worker, reason)

    def close(self, kill: bool = False) -> None:
        """As the threads'; with ``kill``, the coroutines still running are cancelled."""
        if kill:
            for w in self._workers.values():
                w.slot[SLOT_STOP] = 1.0  # type: ignore[index]
        super().close(kill)

    def _pack(self, chunk: Chunk) -> Any:
        items_blob = self._travel(chunk.items, "the argument")
        return (chunk.id, chunk.fn_id, chunk.tracked, items_blob)
